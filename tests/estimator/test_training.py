"""train_and_evaluate, TrainSpec and EvalSpec on the linear model: local runs and task dispatch."""
import json
import os

import pytest
import tensorflow as tf

import kmeans_estimator as ke
from kmeans_estimator.estimator import distributed
from tests.estimator.linear_model import linear_model_fn
from tests.events import scalars_by_step

FEATURES = {"x": tf.TensorSpec([None, 3], tf.float32)}
MAX_STEPS = 15
SAVE_EVERY = 5


def _noop_input_fn():
    return tf.constant([[0.0, 0.0, 0.0]])


def _receiver_fn():
    return ke.export.build_raw_serving_input_receiver_fn(FEATURES)()


def _estimator(model_dir):
    return ke.Estimator(linear_model_fn, model_dir=str(model_dir), params={"learning_rate": 0.2},
                        config=ke.RunConfig(save_checkpoints_steps=SAVE_EVERY))


def _specs(linear_data, throttle_secs, exporters=None):
    x, y = linear_data
    train = ke.TrainSpec(ke.inputs.numpy_input_fn({"x": x}, y, batch_size=64, num_epochs=None), max_steps=MAX_STEPS)
    evaluation = ke.EvalSpec(ke.inputs.numpy_input_fn({"x": x}, y, batch_size=64, shuffle=False), steps=None,
                             exporters=exporters, throttle_secs=throttle_secs)
    return train, evaluation


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, linear_data):
    """One local train_and_evaluate evaluating after every save (throttle_secs=0), with two exporters."""
    estimator = _estimator(tmp_path_factory.mktemp("local"))
    exporters = [ke.LatestExporter("latest", _receiver_fn, exports_to_keep=2), ke.FinalExporter("final", _receiver_fn)]
    result = ke.train_and_evaluate(estimator, *_specs(linear_data, throttle_secs=0, exporters=exporters))
    return estimator, result


# The specs.


def test_eval_spec_defaults_are_tf_estimators():
    spec = ke.EvalSpec(_noop_input_fn)
    assert (spec.steps, spec.name, spec.hooks, spec.exporters, spec.start_delay_secs, spec.throttle_secs) == (
        100, None, (), (), 120, 600)


def test_train_spec_defaults_are_tf_estimators():
    spec = ke.TrainSpec(_noop_input_fn)
    assert (spec.max_steps, spec.hooks, spec.saving_listeners) == (None, (), ())


def test_eval_spec_takes_a_single_exporter():
    exporter = ke.LatestExporter("latest", _receiver_fn)
    assert ke.EvalSpec(_noop_input_fn, exporters=exporter).exporters == (exporter,)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"input_fn": 3}, TypeError, "input_fn must be callable, got int"),
    ({"max_steps": 0}, ValueError, "max_steps must be a positive integer or None, got 0"),
    ({"hooks": [object()]}, TypeError, "hooks must hold tf.compat.v1.train.SessionRunHook instances, got object"),
    ({"saving_listeners": [object()]}, TypeError,
     "saving_listeners must hold tf.compat.v1.train.CheckpointSaverListener instances, got object"),
])
def test_train_spec_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ke.TrainSpec(**{"input_fn": _noop_input_fn, **kwargs})


@pytest.mark.parametrize("kwargs, error, match", [
    ({"input_fn": None}, TypeError, "input_fn must be callable, got NoneType"),
    ({"steps": -1}, ValueError, "steps must be a positive integer or None, got -1"),
    ({"name": 1}, TypeError, "name must be a str or None, got int"),
    ({"start_delay_secs": -1}, ValueError, "start_delay_secs must be a non-negative number of seconds, got -1"),
    ({"throttle_secs": "600"}, ValueError, "throttle_secs must be a non-negative number of seconds, got '600'"),
    ({"exporters": "latest"}, TypeError, "exporters must be an Exporter, an iterable of Exporters or None, got str"),
    ({"exporters": [object()]}, TypeError, "exporters must hold Exporter instances, got object"),
])
def test_eval_spec_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ke.EvalSpec(**{"input_fn": _noop_input_fn, **kwargs})


def test_eval_spec_rejects_exporters_of_the_same_name():
    exporters = [ke.LatestExporter("serving", _receiver_fn), ke.FinalExporter("serving", _receiver_fn)]
    with pytest.raises(ValueError, match=r"distinct names .* got the names \['serving', 'serving'\]"):
        ke.EvalSpec(_noop_input_fn, exporters=exporters)


@pytest.mark.parametrize("argument, match", [
    ("estimator", "estimator must be a kmeans_estimator.Estimator, got str"),
    ("train_spec", "train_spec must be a TrainSpec, got str"),
    ("eval_spec", "eval_spec must be an EvalSpec, got str"),
])
def test_train_and_evaluate_checks_argument_types(tmp_path, argument, match):
    arguments = {"estimator": _estimator(tmp_path), "train_spec": ke.TrainSpec(_noop_input_fn),
                 "eval_spec": ke.EvalSpec(_noop_input_fn), argument: "wrong"}
    with pytest.raises(TypeError, match=match):
        ke.train_and_evaluate(**arguments)


# Local runs.


def test_local_run_evaluates_after_every_checkpoint_save(local_run):
    estimator, _ = local_run
    steps = scalars_by_step(estimator.eval_dir())
    assert sorted(steps) == [5, 10, 15]
    assert {"loss", "mae"} <= set(steps[15])


def test_local_run_returns_the_last_evaluation_and_its_exports(local_run):
    estimator, (eval_result, export_results) = local_run
    assert eval_result["global_step"] == MAX_STEPS
    assert eval_result["loss"] == pytest.approx(scalars_by_step(estimator.eval_dir())[MAX_STEPS]["loss"])
    latest, final = export_results
    assert os.path.dirname(latest) == os.path.join(estimator.model_dir, "export", "latest").encode()
    assert os.path.dirname(final) == os.path.join(estimator.model_dir, "export", "final").encode()


def test_local_run_latest_exporter_keeps_the_newest_exports(local_run):
    estimator, (_, (latest, _)) = local_run
    versions = sorted(os.listdir(os.path.join(estimator.model_dir, "export", "latest")), key=int)
    assert len(versions) == 2
    assert versions[-1] == os.path.basename(latest).decode()


def test_local_run_final_exporter_exports_once_a_loadable_model(local_run, linear_data):
    estimator, _ = local_run
    base = os.path.join(estimator.model_dir, "export", "final")
    (version,) = os.listdir(base)
    x, _ = linear_data
    outputs = tf.saved_model.load(os.path.join(base, version)).signatures["serving_default"](x=tf.constant(x))
    expected = x @ estimator.get_variable_value("w") + estimator.get_variable_value("b")
    assert outputs["y"].numpy() == pytest.approx(expected[:, 0], rel=1e-5, abs=1e-6)


def test_local_run_throttle_leaves_out_saves_but_not_the_last(tmp_path, linear_data):
    estimator = _estimator(tmp_path)
    ke.train_and_evaluate(estimator, *_specs(linear_data, throttle_secs=3600))
    assert sorted(scalars_by_step(estimator.eval_dir())) == [SAVE_EVERY, MAX_STEPS]


def test_local_run_past_max_steps_trains_and_evaluates_nothing(local_run, linear_data):
    estimator, _ = local_run
    again = _estimator(estimator.model_dir)
    assert ke.train_and_evaluate(again, *_specs(linear_data, throttle_secs=0)) == (None, None)
    assert sorted(scalars_by_step(estimator.eval_dir())) == [5, 10, 15]


# Cluster tasks.

CLUSTER = {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"], "ps": ["127.0.0.1:3"]}


def _cluster_estimator(monkeypatch, tmp_path, task_type, cluster=CLUSTER):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": task_type, "index": 0}}))
    return _estimator(tmp_path)


@pytest.mark.parametrize("task_type, function", [
    ("chief", "run_training_task"), ("master", "run_training_task"), ("worker", "run_training_task"),
    ("ps", "run_ps"),
])
def test_cluster_training_tasks_run_the_distributed_function(monkeypatch, tmp_path, task_type, function):
    cluster = dict(CLUSTER)
    if task_type == "master":
        cluster["master"] = cluster.pop("chief")
    estimator = _cluster_estimator(monkeypatch, tmp_path, task_type, cluster)
    calls = []
    monkeypatch.setattr(distributed, function, lambda *arguments: calls.append(arguments))
    train_spec = ke.TrainSpec(_noop_input_fn, max_steps=3)
    assert ke.train_and_evaluate(estimator, train_spec, ke.EvalSpec(_noop_input_fn)) == (None, None)
    ((called_estimator, called_spec),) = calls
    assert called_estimator is estimator
    assert (called_spec.input_fn, called_spec.max_steps) == (train_spec.input_fn, 3)


def test_master_task_evaluates_after_its_checkpoint_saves(monkeypatch, tmp_path):
    estimator = _cluster_estimator(monkeypatch, tmp_path, "master", {"master": ["127.0.0.1:1"], "ps": ["127.0.0.1:3"]})
    calls = []
    monkeypatch.setattr(distributed, "run_training_task", lambda *arguments: calls.append(arguments))
    ke.train_and_evaluate(estimator, ke.TrainSpec(_noop_input_fn), ke.EvalSpec(_noop_input_fn))
    ((_, train_spec),) = calls
    (listener,) = train_spec.saving_listeners
    assert isinstance(listener, tf.compat.v1.train.CheckpointSaverListener)


def test_unknown_cluster_task_type_is_an_error(monkeypatch, tmp_path):
    estimator = _cluster_estimator(monkeypatch, tmp_path, "trainer", {"chief": ["127.0.0.1:1"], "trainer": ["127.0.0.1:2"]})
    with pytest.raises(ValueError, match=r"task type 'trainer' is not one train_and_evaluate runs; it runs \["):
        ke.train_and_evaluate(estimator, ke.TrainSpec(_noop_input_fn), ke.EvalSpec(_noop_input_fn))
