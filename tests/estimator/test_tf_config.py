"""Tests for tf_config: TF_CONFIG parsed into a frozen TaskDescription (RunConfig's own
tests cover every rule through the environment)."""
import dataclasses
import json

import pytest
import tensorflow as tf

from kmeans_estimator.estimator import tf_config

CLUSTER = {"chief": ["a:1"], "ps": ["b:1", "c:1"], "worker": ["d:1", "e:1"]}


def test_dict_and_json_text_describe_the_same_task():
    value = {"cluster": CLUSTER, "task": {"type": "worker", "index": 1}}
    assert tf_config.parse(value) == tf_config.parse(json.dumps(value))


def test_worker_of_a_chief_cluster():
    task = tf_config.parse({"cluster": CLUSTER, "task": {"type": "worker", "index": 1}})
    assert dict(task.cluster) == {job: tuple(addresses) for job, addresses in CLUSTER.items()}
    assert (task.task_type, task.task_id, task.is_chief) == ("worker", 1, False)
    assert (task.master, task.evaluation_master) == ("grpc://e:1", "")
    assert (task.num_ps_replicas, task.num_worker_replicas, task.global_id_in_cluster) == (2, 3, 2)
    assert task.device == "/job:worker/task:1"
    assert task.cluster_spec().as_dict() == CLUSTER


@pytest.mark.parametrize("value", [None, "", "  ", {}])
def test_no_tf_config_is_worker_zero_of_a_local_run(value):
    task = tf_config.parse(value)
    assert (task.task_type, task.task_id, task.is_chief, task.master) == ("worker", 0, True, "")
    assert dict(task.cluster) == {} and task.cluster_spec().as_dict() == {}
    assert task.device == "/job:worker/task:0"


def test_description_is_frozen_and_its_cluster_read_only():
    task = tf_config.parse({"cluster": CLUSTER, "task": {"type": "chief"}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.is_chief = False
    with pytest.raises(TypeError):
        task.cluster["worker"] = ("x:1",)


def test_from_environment_reads_tf_config(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": CLUSTER, "task": {"type": "ps", "index": 1}}))
    assert tf_config.from_environment().device == "/job:ps/task:1"
    monkeypatch.delenv("TF_CONFIG")
    assert tf_config.from_environment() == tf_config.parse(None)


@pytest.mark.parametrize("jobs, chief", [
    (["chief", "ps", "worker"], "chief"), (["master", "worker"], "master"), (["ps", "worker"], "worker"),
])
def test_chief_job_from_a_mapping_or_a_cluster_spec(jobs, chief):
    cluster = {job: ["h:1"] for job in jobs}
    assert tf_config.chief_job(cluster) == chief
    assert tf_config.chief_job(tf.train.ClusterSpec(cluster)) == chief


def test_not_an_object_is_rejected():
    with pytest.raises(ValueError, match="TF_CONFIG must be a JSON object or a dict, got a list"):
        tf_config.parse([1])
