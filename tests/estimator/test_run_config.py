"""Tests for RunConfig: defaults, validation, replace() and TF_CONFIG parsing."""
import json
import pathlib

import pytest
import tensorflow as tf

from kmeans_estimator.estimator.run_config import RunConfig

CLUSTER = {
    "chief": ["host0:2222"],
    "ps": ["host1:2222", "host2:2222"],
    "worker": ["host3:2222", "host4:2222", "host5:2222"],
}


@pytest.fixture(autouse=True)
def no_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)


def set_tf_config(monkeypatch, cluster, task_type=None, index=None, **extra):
    tf_config = dict(cluster=cluster, **extra)
    if task_type is not None:
        tf_config["task"] = {"type": task_type, "index": index}
    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))


def test_defaults_match_tf_estimator():
    config = RunConfig()
    assert config.model_dir is None
    assert config.tf_random_seed is None
    assert config.save_summary_steps == 100
    assert config.save_checkpoints_steps is None
    assert config.save_checkpoints_secs == 600
    assert config.session_config is None
    assert config.keep_checkpoint_max == 5
    assert config.keep_checkpoint_every_n_hours == 10000
    assert config.log_step_count_steps == 100
    assert config.device_fn is None


def test_local_run_without_tf_config_is_a_single_chief_worker():
    config = RunConfig()
    assert config.cluster_spec.as_dict() == {}
    assert config.task_type == "worker"
    assert config.task_id == 0
    assert config.is_chief
    assert config.master == ""
    assert config.evaluation_master == ""
    assert config.num_ps_replicas == 0
    assert config.num_worker_replicas == 1
    assert config.service is None


def test_given_arguments_are_exposed_as_properties():
    given = dict(
        model_dir="/tmp/model",
        tf_random_seed=7,
        save_summary_steps=3,
        save_checkpoints_steps=4,
        session_config=tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1),
        keep_checkpoint_max=2,
        keep_checkpoint_every_n_hours=0.5,
        log_step_count_steps=9,
        device_fn=lambda op: "/cpu:0",
    )
    config = RunConfig(**given)
    assert {name: getattr(config, name) for name in given} == given


def test_path_model_dir_is_stored_as_str(tmp_path):
    config = RunConfig(model_dir=pathlib.Path(tmp_path) / "model")
    assert config.model_dir == str(tmp_path / "model")
    assert isinstance(config.model_dir, str)


def test_checkpoint_steps_alone_turn_off_the_default_secs():
    config = RunConfig(save_checkpoints_steps=10)
    assert config.save_checkpoints_steps == 10
    assert config.save_checkpoints_secs is None


def test_both_checkpoint_schedules_none_disables_checkpoints():
    config = RunConfig(save_checkpoints_steps=None, save_checkpoints_secs=None)
    assert config.save_checkpoints_steps is None
    assert config.save_checkpoints_secs is None


def test_both_checkpoint_schedules_set_is_an_error():
    with pytest.raises(ValueError, match="save_checkpoints_steps and save_checkpoints_secs"):
        RunConfig(save_checkpoints_steps=10, save_checkpoints_secs=60)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"save_summary_steps": -1}, ValueError, r"save_summary_steps must be a non-negative integer or None, got -1"),
        ({"save_summary_steps": 1.5}, ValueError, r"save_summary_steps .* got 1.5"),
        ({"save_checkpoints_steps": -2}, ValueError, r"save_checkpoints_steps must be a non-negative integer or None, got -2"),
        ({"save_checkpoints_secs": -1}, ValueError, r"save_checkpoints_secs must be a non-negative number or None, got -1"),
        ({"save_checkpoints_secs": "60"}, ValueError, r"save_checkpoints_secs .* got '60'"),
        ({"keep_checkpoint_max": -1}, ValueError, r"keep_checkpoint_max must be a non-negative integer or None, got -1"),
        ({"keep_checkpoint_every_n_hours": 0}, ValueError, r"keep_checkpoint_every_n_hours must be a positive number, got 0"),
        ({"log_step_count_steps": True}, ValueError, r"log_step_count_steps .* got True"),
        ({"tf_random_seed": 1.0}, ValueError, r"tf_random_seed must be an integer or None, got 1.0"),
        ({"model_dir": 3}, TypeError, r"model_dir must be a str, an os.PathLike or None, got int"),
        ({"model_dir": ""}, ValueError, r"model_dir must be a non-empty path"),
        ({"session_config": {}}, TypeError, r"session_config must be a tf.compat.v1.ConfigProto or None, got dict"),
        ({"device_fn": "/cpu:0"}, TypeError, r"device_fn must be a callable or None, got str"),
    ],
)
def test_invalid_argument_is_rejected_with_its_name(kwargs, error, message):
    with pytest.raises(error, match=message):
        RunConfig(**kwargs)


def test_replace_returns_a_new_config_with_changed_fields():
    config = RunConfig(model_dir="/tmp/a", tf_random_seed=1)
    replaced = config.replace(model_dir="/tmp/b", save_summary_steps=5)
    assert replaced is not config
    assert (replaced.model_dir, replaced.save_summary_steps) == ("/tmp/b", 5)
    assert replaced.tf_random_seed == 1
    assert (config.model_dir, config.save_summary_steps) == ("/tmp/a", 100)


@pytest.mark.parametrize(
    "start, change, expected",
    [
        ({}, {"save_checkpoints_steps": 10}, (10, None)),
        ({"save_checkpoints_steps": 10}, {"save_checkpoints_secs": 30}, (None, 30)),
        ({"save_checkpoints_steps": 10}, {"save_summary_steps": 1}, (10, None)),
        ({}, {"save_checkpoints_steps": None, "save_checkpoints_secs": None}, (None, None)),
    ],
)
def test_replace_switches_the_checkpoint_schedule(start, change, expected):
    replaced = RunConfig(**start).replace(**change)
    assert (replaced.save_checkpoints_steps, replaced.save_checkpoints_secs) == expected


def test_replace_with_both_checkpoint_schedules_is_an_error():
    with pytest.raises(ValueError, match="cannot both be set"):
        RunConfig().replace(save_checkpoints_steps=1, save_checkpoints_secs=1)


def test_replace_with_unknown_key_is_an_error():
    with pytest.raises(ValueError, match=r"unknown RunConfig argument\(s\) \['num_clusters'\]"):
        RunConfig().replace(num_clusters=3)


def test_replace_validates_new_values():
    with pytest.raises(ValueError, match="save_summary_steps must be a non-negative integer or None, got -1"):
        RunConfig().replace(save_summary_steps=-1)


def test_replace_keeps_cluster_fields_when_tf_config_changes(monkeypatch):
    set_tf_config(monkeypatch, CLUSTER, "worker", 1)
    config = RunConfig()
    monkeypatch.delenv("TF_CONFIG")
    replaced = config.replace(tf_random_seed=3)
    assert (replaced.task_type, replaced.task_id, replaced.master) == ("worker", 1, "grpc://host4:2222")


def test_repr_names_settings_and_task():
    text = repr(RunConfig(model_dir="/tmp/m", save_checkpoints_steps=7))
    assert text.startswith("RunConfig(")
    for part in ("model_dir='/tmp/m'", "save_checkpoints_steps=7", "task_type='worker'", "is_chief=True"):
        assert part in text


@pytest.mark.parametrize(
    "task_type, index, is_chief, master",
    [
        ("chief", 0, True, "grpc://host0:2222"),
        ("worker", 0, False, "grpc://host3:2222"),
        ("worker", 2, False, "grpc://host5:2222"),
        ("ps", 1, False, "grpc://host2:2222"),
    ],
)
def test_tf_config_task_of_a_chief_cluster(monkeypatch, task_type, index, is_chief, master):
    set_tf_config(monkeypatch, CLUSTER, task_type, index)
    config = RunConfig()
    assert config.cluster_spec.as_dict() == CLUSTER
    assert (config.task_type, config.task_id) == (task_type, index)
    assert config.is_chief is is_chief
    assert config.master == master
    assert config.num_ps_replicas == 2
    assert config.num_worker_replicas == 4
    assert config.evaluation_master == ""


@pytest.mark.parametrize("index, is_chief", [(0, True), (1, False)])
def test_worker_zero_is_chief_when_cluster_has_no_chief(monkeypatch, index, is_chief):
    set_tf_config(monkeypatch, {"worker": ["a:1", "b:1"], "ps": ["c:1"]}, "worker", index)
    config = RunConfig()
    assert config.is_chief is is_chief
    assert config.num_worker_replicas == 2
    assert config.num_ps_replicas == 1


def test_master_task_is_chief_and_counted_as_a_worker(monkeypatch):
    set_tf_config(monkeypatch, {"master": ["m:1"], "worker": ["w:1"]}, "master", 0)
    config = RunConfig()
    assert config.is_chief
    assert config.master == "grpc://m:1"
    assert config.num_worker_replicas == 2


def test_single_task_cluster_runs_locally(monkeypatch):
    set_tf_config(monkeypatch, {"chief": ["host0:2222"]}, "chief", 0)
    assert RunConfig().master == ""


def test_evaluator_outside_the_cluster_is_accepted_and_not_chief(monkeypatch):
    set_tf_config(monkeypatch, CLUSTER, "evaluator", 0)
    config = RunConfig()
    assert config.task_type == "evaluator"
    assert not config.is_chief
    assert config.master == ""


def test_evaluator_config_describes_no_training_cluster(monkeypatch):
    set_tf_config(monkeypatch, CLUSTER, "evaluator", 0)
    config = RunConfig()
    assert config.cluster_spec.as_dict() == {}
    assert (config.num_ps_replicas, config.num_worker_replicas) == (0, 0)
    assert config.global_id_in_cluster is None
    assert config.evaluation_master == ""


@pytest.mark.parametrize(
    "task_type, index, global_id",
    [("chief", 0, 0), ("worker", 0, 1), ("worker", 2, 3), ("ps", 0, 4), ("ps", 1, 5)],
)
def test_global_id_numbers_chief_then_workers_then_ps(monkeypatch, task_type, index, global_id):
    set_tf_config(monkeypatch, CLUSTER, task_type, index)
    assert RunConfig().global_id_in_cluster == global_id


def test_global_id_orders_other_jobs_alphabetically_before_ps(monkeypatch):
    cluster = {"master": ["m:1"], "worker": ["w:1"], "ps": ["p:1"], "extra": ["e:1", "f:1"]}
    set_tf_config(monkeypatch, cluster, "worker", 0)
    assert RunConfig().global_id_in_cluster == 3


def test_local_run_has_global_id_zero():
    assert RunConfig().global_id_in_cluster == 0


def test_distribution_arguments_have_tf_estimator_defaults():
    config = RunConfig()
    assert config.train_distribute is None and config.eval_distribute is None
    assert config.protocol is None
    assert config.experimental_max_worker_delay_secs is None
    assert config.session_creation_timeout_secs == 7200


@pytest.mark.parametrize("name", ["train_distribute", "eval_distribute"])
def test_distribution_strategy_is_rejected_with_its_name(name):
    with pytest.raises(ValueError, match=name + " must be None"):
        RunConfig(**{name: object()})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"protocol": "http"}, "protocol must be None or a gRPC protocol"),
        ({"session_creation_timeout_secs": 0}, "session_creation_timeout_secs must be a positive integer"),
        ({"experimental_max_worker_delay_secs": -1}, "experimental_max_worker_delay_secs must be"),
    ],
)
def test_bad_distribution_setting_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(**kwargs)


def test_replace_accepts_distribution_settings():
    config = RunConfig().replace(protocol="grpc", session_creation_timeout_secs=30)
    assert (config.protocol, config.session_creation_timeout_secs) == ("grpc", 30)


def test_service_is_read_from_tf_config(monkeypatch):
    set_tf_config(monkeypatch, CLUSTER, "chief", 0, service={"name": "x"})
    assert RunConfig().service == {"name": "x"}


@pytest.mark.parametrize(
    "raw, message",
    [
        ("{not json", r"TF_CONFIG is not valid JSON .*\{not json"),
        ("[1, 2]", r"TF_CONFIG must be a JSON object, got a list"),
        (json.dumps({"cluster": CLUSTER, "task": {"type": "trainer", "index": 0}}),
         r"task\" type 'trainer' is not a job of the cluster, whose jobs are \['chief', 'ps', 'worker'\]"),
        (json.dumps({"cluster": CLUSTER, "task": {"type": "worker", "index": 3}}),
         r"index 3 is out of range for job 'worker', which has 3 task"),
        (json.dumps({"cluster": CLUSTER, "task": {"type": "worker", "index": -1}}),
         r"index must be a non-negative integer, got -1"),
        (json.dumps({"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}}),
         r"job 'worker' must be a list of \"host:port\" strings, got 'a:1'"),
        (json.dumps({"cluster": {"chief": ["a:1", "b:1"]}, "task": {"type": "chief", "index": 0}}),
         r"job 'chief' must have exactly one task"),
        (json.dumps({"cluster": {"chief": ["a:1"], "master": ["b:1"]}, "task": {"type": "chief"}}),
         r"a \"chief\" or a \"master\" job, not both"),
        (json.dumps({"task": {"type": "ps", "index": 0}}), r"'ps' index 0 but TF_CONFIG has no \"cluster\""),
        (json.dumps({"cluster": CLUSTER, "task": {"type": "chief"}, "service": [1]}),
         r"\"service\" must be an object, got \[1\]"),
    ],
)
def test_malformed_tf_config_is_rejected(monkeypatch, raw, message):
    monkeypatch.setenv("TF_CONFIG", raw)
    with pytest.raises(ValueError, match=message):
        RunConfig()
