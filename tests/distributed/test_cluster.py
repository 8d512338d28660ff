"""train_and_evaluate on a real cluster: ps, chief, worker and evaluator processes on
127.0.0.1, talking over TensorFlow's gRPC runtime."""
import glob
import os
import time

import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke
from tests.distributed.conftest import BLOB_CENTERS, blob_points

# How long a whole cluster run may take before the test fails (the tasks' own hard
# timeout is longer; teardown kills them by pid).
RUN_TIMEOUT_SECS = 75


def _sorted_rows(centers):
    return centers[np.lexsort(centers.T[::-1])]


def _assert_all_exited_cleanly(cluster, codes):
    for task, code in codes.items():
        assert code == 0, f"{task} exited with {code}:\n{cluster.log(task)[-3000:]}"


def _eval_tags(model_dir):
    tags = set()
    for path in glob.glob(os.path.join(model_dir, "eval", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(value.tag for value in event.summary.value)
    return tags


def _assert_servable_export(model_dir):
    versions = glob.glob(os.path.join(model_dir, "export", "kmeans", "*"))
    assert versions and all(os.path.basename(path).isdigit() for path in versions), versions
    loaded = tf.saved_model.load(sorted(versions)[-1])
    serve = loaded.signatures["serving_default"]
    output = serve(points=tf.constant(BLOB_CENTERS))
    assert output, "the exported serving signature returned nothing"


@pytest.mark.parametrize(
    "mini_batch, start_order",
    [
        (True, ("evaluator", "worker", "chief", "ps")),
        (False, ("ps", "chief", "worker", "evaluator")),
    ],
    ids=["mini_batch-reversed_start", "full_batch"],
)
def test_train_and_evaluate_on_a_cluster_finds_the_blobs(make_cluster, mini_batch, start_order):
    # Full-batch mode: every task reads all points, so each step is an exact Lloyd step.
    cluster = make_cluster(mini_batch=mini_batch, shard=mini_batch, max_steps=200 if mini_batch else 20,
                           batch_size=50 if mini_batch else None, checkpoint_steps=50 if mini_batch else 5)
    for task in start_order:
        cluster.start(task)
        time.sleep(0.5)
    codes = cluster.wait_all(RUN_TIMEOUT_SECS)
    _assert_all_exited_cleanly(cluster, codes)
    centers = tf.train.load_variable(cluster.model_dir, "clusters")
    np.testing.assert_allclose(_sorted_rows(centers), _sorted_rows(BLOB_CENTERS), atol=0.3)
    assert tf.train.load_variable(cluster.model_dir, "global_step") >= cluster.settings["max_steps"]
    assert {"score", "loss"} <= _eval_tags(cluster.model_dir)
    _assert_servable_export(cluster.model_dir)


def _wait_for_marker(directory, task, seen, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = set(glob.glob(os.path.join(directory, task + "0-*"))) - seen
        if found:
            return found.pop()
        time.sleep(0.2)
    raise AssertionError(f"{task} did not train within {timeout} s")


def test_killed_worker_and_chief_rejoin_and_training_ends(make_cluster, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    cluster = make_cluster(max_steps=500, step_sleep=0.02, marker=str(markers), checkpoint_steps=20)
    for task in ("ps", "chief", "worker"):
        cluster.start(task)
    seen = {_wait_for_marker(markers, "worker", set(), 45)}
    cluster.kill("worker")
    cluster.start("worker")
    seen.add(_wait_for_marker(markers, "worker", seen, 45))
    _wait_for_marker(markers, "chief", set(), 45)
    while tf.train.latest_checkpoint(cluster.model_dir) is None:
        time.sleep(0.2)
    cluster.kill("chief")
    cluster.start("chief")
    codes = cluster.wait_all(RUN_TIMEOUT_SECS)
    _assert_all_exited_cleanly(cluster, codes)
    assert "Restoring parameters from" in cluster.log("chief")
    assert tf.train.load_variable(cluster.model_dir, "global_step") >= 500
    centers = tf.train.load_variable(cluster.model_dir, "clusters")
    np.testing.assert_allclose(_sorted_rows(centers), _sorted_rows(BLOB_CENTERS), atol=0.3)


def test_steps_of_all_workers_count_every_point_of_one_iteration(make_cluster, tmp_path):
    # 600 points, two shards of 300, batches of 50: 12 steps over all workers are one
    # epoch, and with mini_batch_steps_per_iteration=12 one iteration. Every step of it
    # assigns to the same centers, which the step after it (the 13th) syncs: the counts
    # are exact however the workers share the steps.
    initial = np.array([[1.0, 1.0], [8.0, 8.0], [-8.0, 8.0]], np.float32)
    np.save(tmp_path / "initial.npy", initial)
    cluster = make_cluster(repeat=False, max_steps=None, steps_per_iteration=12,
                           initial_centers=str(tmp_path / "initial.npy"))
    for task in ("ps", "chief", "worker"):
        cluster.start(task)
    codes = cluster.wait_all(RUN_TIMEOUT_SECS)
    _assert_all_exited_cleanly(cluster, codes)
    # 12 steps, plus each task's run that met the end of its shard, which counts as in the
    # original (the chief's last checkpoint waits for the worker to finish).
    assert tf.train.load_variable(cluster.model_dir, "global_step") == 14
    np.testing.assert_array_equal(tf.train.load_variable(cluster.model_dir, "clusters"), initial)
    assert tf.train.load_variable(cluster.model_dir, "update_in_steps") == 0

    points = blob_points()
    single = ke.KMeans(3, initial_clusters=initial, use_mini_batch=True, mini_batch_steps_per_iteration=12,
                       model_dir=str(tmp_path / "single"))
    single.train(lambda: tf.data.Dataset.from_tensor_slices(points).batch(50), steps=12)
    np.testing.assert_array_equal(tf.train.load_variable(cluster.model_dir, "Variable"),
                                  single.get_variable_value("Variable"))
