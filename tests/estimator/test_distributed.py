"""Graph placement and session options of cluster tasks, without starting servers
(tests/distributed runs real clusters)."""
import json

import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke
from kmeans_estimator.estimator import calls, distributed, graphs
from tests.estimator.linear_model import linear_model_fn

CLUSTER = {"chief": ["127.0.0.1:1"], "ps": ["127.0.0.1:2", "127.0.0.1:3"], "worker": ["127.0.0.1:4"]}


def _config(monkeypatch, task_type, index=0, **kwargs):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": CLUSTER, "task": {"type": task_type, "index": index}}))
    return ke.RunConfig(**kwargs)


def _input_fn():
    x = np.zeros([4, 3], np.float32)
    return tf.data.Dataset.from_tensor_slices(({"x": x}, np.zeros([4], np.float32))).batch(2)


def _model_graph(config, mode):
    estimator = ke.Estimator(linear_model_fn, config=config, params={"learning_rate": 0.1})
    def build_spec(features, labels, mode):
        return estimator.model_fn(features, labels, mode, estimator.config)

    return graphs.build_model_graph(build_spec, _input_fn, mode, estimator.config, estimator.params)


def _devices_by_type(graph, op_type):
    return {op.name: op.device for op in graph.get_operations() if op.type == op_type}


def test_training_graph_keeps_every_variable_on_the_ps_tasks(monkeypatch, tmp_path):
    graph = _model_graph(_config(monkeypatch, "worker", model_dir=str(tmp_path)), ke.ModeKeys.TRAIN).graph
    variables = _devices_by_type(graph, "VarHandleOp")
    assert set(variables) >= {"global_step", "w", "b"}
    assert all(device.startswith("/job:ps/task:") for device in variables.values()), variables
    assert {device.split("/")[2] for device in variables.values()} == {"task:0", "task:1"}


def test_training_graph_runs_its_input_and_math_on_its_own_task(monkeypatch, tmp_path):
    graph = _model_graph(_config(monkeypatch, "worker", model_dir=str(tmp_path)), ke.ModeKeys.TRAIN).graph
    iterators = _devices_by_type(graph, "IteratorGetNext")
    assert iterators and all(device == "/job:worker/task:0/device:CPU:0" for device in iterators.values())
    matmuls = _devices_by_type(graph, "MatMul")
    assert matmuls and all(device.startswith("/job:worker/task:0") for device in matmuls.values())


@pytest.mark.parametrize("mode", [ke.ModeKeys.EVAL, ke.ModeKeys.PREDICT])
def test_evaluation_and_prediction_graphs_stay_local(monkeypatch, tmp_path, mode):
    graph = _model_graph(_config(monkeypatch, "chief", model_dir=str(tmp_path)), mode).graph
    assert all("/job:" not in op.device for op in graph.get_operations())


def test_given_device_fn_replaces_the_replica_device_setter(monkeypatch, tmp_path):
    config = _config(monkeypatch, "worker", model_dir=str(tmp_path), device_fn=lambda op: "/cpu:0")
    graph = _model_graph(config, ke.ModeKeys.TRAIN).graph
    assert all(device == "/cpu:0" for device in _devices_by_type(graph, "VarHandleOp").values())


@pytest.mark.parametrize(
    "task_type, index, filters",
    [("chief", 0, ["/job:ps", "/job:chief/task:0"]), ("worker", 0, ["/job:ps", "/job:worker/task:0"]),
     ("ps", 1, ["/job:ps/task:1"])],
)
def test_training_session_sees_only_the_ps_tasks_and_itself(monkeypatch, task_type, index, filters):
    options = calls.session_config(_config(monkeypatch, task_type, index), training=True)
    assert list(options.device_filters) == filters


def test_given_device_filters_are_kept(monkeypatch):
    given = tf.compat.v1.ConfigProto(device_filters=["/job:ps/task:0", "/job:chief"])
    options = calls.session_config(_config(monkeypatch, "chief", session_config=given), training=True)
    assert list(options.device_filters) == ["/job:ps/task:0", "/job:chief"]


def test_local_sessions_get_no_device_filters(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert not calls.session_config(ke.RunConfig(), training=True).device_filters
    assert not calls.session_config(_config(monkeypatch, "chief")).device_filters


def test_local_config_needs_no_server(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    config = ke.RunConfig()
    assert not distributed.is_distributed(config)
    assert distributed.replica_device_fn(config) is None


def test_ps_started_after_training_ended_returns_at_once(monkeypatch, tmp_path):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    local = ke.Estimator(linear_model_fn, model_dir=str(tmp_path), params={"learning_rate": 0.1})
    local.train(_input_fn, max_steps=2)
    ps = ke.Estimator(linear_model_fn, config=_config(monkeypatch, "ps", model_dir=str(tmp_path)),
                      params={"learning_rate": 0.1})
    distributed.run_ps(ps, ke.TrainSpec(_input_fn, max_steps=2))
    assert not distributed._servers, "a ps task with nothing to serve started a server"


@pytest.mark.parametrize("task_type", ["chief", "worker"])
def test_only_train_and_evaluate_training_reports_its_end(monkeypatch, tmp_path, task_type):
    estimator = ke.Estimator(linear_model_fn, config=_config(monkeypatch, task_type, model_dir=str(tmp_path)),
                             params={"learning_rate": 0.1})
    calls = []
    monkeypatch.setattr(distributed, "start_server", lambda config: None)
    monkeypatch.setattr(estimator, "train", lambda *arguments, **keywords: calls.append("train"))
    monkeypatch.setattr(estimator, "train_and_report_end",
                        lambda *arguments, **keywords: calls.append("train_and_report_end"))
    ke.train_and_evaluate(estimator, ke.TrainSpec(_input_fn, max_steps=2), ke.EvalSpec(_input_fn))
    assert calls == ["train_and_report_end"]


def test_wait_for_chief_returns_the_first_true_answer():
    answers = iter([None, 0, "ready"])
    assert distributed.wait_for_chief(lambda: next(answers)) == "ready"


def test_wait_for_chief_gives_up_after_max_wait_secs():
    asked = []
    with pytest.raises(tf.errors.DeadlineExceededError, match="not ready after waiting 0 s"):
        distributed.wait_for_chief(lambda: asked.append(1), max_wait_secs=0)
    assert asked == [1]


def test_own_task_device_names_the_task_on_a_cluster_only(monkeypatch):
    assert distributed.own_task_device(_config(monkeypatch, "worker")) == "/job:worker/task:0"
    assert distributed.own_task_device(_config(monkeypatch, "ps", 1)) == "/job:ps/task:1"
    monkeypatch.delenv("TF_CONFIG")
    assert distributed.own_task_device(ke.RunConfig()) is None


def test_a_fed_training_input_keeps_the_devices_it_has_unfed(monkeypatch, tmp_path):
    """A dataset of large constants is built again with them fed (fed_constants); its ops
    keep the devices the replica device setter and the input's CPU scope gave them."""
    config = _config(monkeypatch, "worker", model_dir=str(tmp_path))
    points = np.zeros([300, 1000], np.float32)  # 1.2 MB, over checkpoints.MAX_WRITTEN_CONSTANT_BYTES

    def input_fn(fed):
        if not fed:
            tf.compat.v1.add_to_collection("unrelated", 0)  # Leaves the graph as it is.
        return tf.data.Dataset.from_tensor_slices(points).repeat().batch(10)

    input_graphs = [graphs.build_input_graph(lambda: input_fn(fed), ke.ModeKeys.TRAIN, config, None)
                    for fed in (True, False)]
    assert input_graphs[0].feeds and not input_graphs[1].feeds
    devices = [{op.name: op.device for op in graph.graph.get_operations()} for graph in input_graphs]
    assert devices[0] == devices[1]
    assert devices[0]["global_step"].startswith("/job:ps/")
    assert devices[0]["IteratorGetNext"] == "/job:worker/task:0/device:CPU:0"
