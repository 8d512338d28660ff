"""The original KMeans's observable behaviour under the defaults: what programs written for it see.

Written here from the original's docs and from running it (TensorFlow 2.15 with
tensorflow-estimator 2.15); each test names the behaviour it pins.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke
from kmeans_estimator.kmeans import ConvergenceWarning
from tests.compat.conftest import FIVE_POINTS, limit_epochs_input, queue_runner_input, queued_rows_input

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROGRAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs")


def test_random_init_takes_centers_in_the_order_batches_arrive(tmp_path):
    # One point per batch, an iteration longer than the call: the centers are the points
    # as they arrived, not yet moved by any step.
    kmeans = ke.experimental.KMeans(5, model_dir=str(tmp_path), initial_clusters=ke.KMeans.RANDOM_INIT,
                                    use_mini_batch=True, mini_batch_steps_per_iteration=100, seed=24)
    kmeans.train(queued_rows_input(FIVE_POINTS, batch_size=1), steps=1)
    np.testing.assert_array_equal(kmeans.cluster_centers(), FIVE_POINTS)


def test_kmeans_plus_plus_on_a_batch_of_exactly_k_points_takes_them(tmp_path):
    point = FIVE_POINTS[:1]
    kmeans = ke.experimental.KMeans(1, model_dir=str(tmp_path), initial_clusters=ke.KMeans.KMEANS_PLUS_PLUS_INIT,
                                    use_mini_batch=True, mini_batch_steps_per_iteration=100, seed=24)
    kmeans.train(queued_rows_input(point, batch_size=1), steps=1)
    np.testing.assert_array_equal(kmeans.cluster_centers(), point)


def test_kmeans_plus_plus_on_a_first_batch_smaller_than_k_raises_an_op_error(tmp_path):
    kmeans = ke.experimental.KMeans(5, model_dir=str(tmp_path), initial_clusters=ke.KMeans.KMEANS_PLUS_PLUS_INIT,
                                    use_mini_batch=True, mini_batch_steps_per_iteration=100, seed=24)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"num_clusters=5 .*got 4"):
        kmeans.train(queued_rows_input(FIVE_POINTS, batch_size=4), steps=1)
    assert tf.train.latest_checkpoint(str(tmp_path)) is None


def test_queue_runner_input_of_identical_points_trains_with_the_defaults(tmp_path):
    kmeans = ke.experimental.KMeans(5, model_dir=str(tmp_path))
    with pytest.warns(ConvergenceWarning, match=r"num_clusters=5 .*only 1 distinct points"):
        kmeans.train(queue_runner_input(np.zeros([10, 3], np.float32)), steps=1)
    assert kmeans.get_variable_value("global_step") == 1
    np.testing.assert_array_equal(kmeans.cluster_centers(), np.zeros([5, 3], np.float32))


def test_one_epoch_input_counts_the_run_that_meets_its_end(tmp_path, three_blobs):
    kmeans = ke.experimental.KMeans(3, model_dir=str(tmp_path), use_mini_batch=False, seed=1)
    input_fn = limit_epochs_input(three_blobs)
    scores, steps = [], []
    for _ in range(3):
        kmeans.train(input_fn)
        scores.append(kmeans.score(input_fn))
        steps.append(kmeans.get_variable_value("global_step"))
    # The first call's one batch chooses the initial centers; each later call steps once.
    # Every call also counts the run that finds the input exhausted, as the original did.
    assert steps == [1, 3, 5]
    assert scores[0] >= scores[1] >= scores[2] > 0
    assert sorted(kmeans.evaluate(input_fn, steps=1)) == ["global_step", "loss", "score"]
    indices = list(kmeans.predict_cluster_index(input_fn))
    assert len(indices) == len(three_blobs) and {int(index) for index in indices} <= {0, 1, 2}


def test_checkpoint_holds_the_original_variables(tmp_path, three_blobs):
    kmeans = ke.experimental.KMeans(3, model_dir=str(tmp_path), use_mini_batch=False, seed=1)
    kmeans.train(limit_epochs_input(three_blobs))
    assert sorted(kmeans.get_variable_names()) == ["clusters", "global_step", "initialized"]
    np.testing.assert_array_equal(tf.train.load_variable(str(tmp_path), "clusters"), kmeans.cluster_centers())


def test_original_module_feature_parsing_concatenates_dict_features_in_key_order():
    from kmeans_estimator import kmeans as kmeans_lib

    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        parsed = kmeans_lib._parse_features_if_necessary(
            {"y": [[2.0], [4.0]], "x": [[1.0], [3.0]]}, None)
        np.testing.assert_array_equal(session.run(parsed), [[1.0, 2.0], [3.0, 4.0]])


def test_tf1_program_with_v2_behaviour_disabled_runs_as_on_the_original(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    completed = subprocess.run(
        [sys.executable, os.path.join(PROGRAMS, "tf1_limit_epochs.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=env, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    # Five calls: 1, 3, 5, 7, 9 (the original's, measured), the first call's batch spent on the
    # centers and every call counting the run that meets the end of the input.
    assert report["steps"] == 9
    assert report["scores"][-1] <= report["scores"][0]
    assert report["num_indices"] == 120 and report["indices_in_range"]
    assert os.path.isfile(os.path.join(report["export_dir"], "saved_model.pb"))
    assert report["same_centers_again"]


def _five_points_input():
    return tf.constant(FIVE_POINTS), None


def _serving_input_receiver_fn():
    points = tf.compat.v1.placeholder(tf.float32, [None, 2], name="x")
    return ke.export.TensorServingInputReceiver(points, {"x": points})


@pytest.mark.parametrize(
    "call, error, words",
    [
        # The original's constructor: "ValueError: An invalid argument was passed to
        # initial_clusters or distance_metric".
        (lambda model_dir: ke.KMeans(2, initial_clusters="bogus", model_dir=model_dir), ValueError,
         "initial_clusters"),
        (lambda model_dir: ke.KMeans(2, distance_metric="bogus", model_dir=model_dir), ValueError,
         "distance_metric"),
        # tf.estimator's Estimator methods.
        (lambda model_dir: ke.KMeans(2, model_dir=model_dir).train(_five_points_input, steps=0), ValueError,
         "steps"),
        (lambda model_dir: ke.KMeans(2, model_dir=model_dir).train(_five_points_input, steps=1, max_steps=2),
         ValueError, "steps"),
        (lambda model_dir: ke.KMeans(2, model_dir=model_dir).evaluate(_five_points_input, steps=0), ValueError,
         "steps"),
        (lambda model_dir: ke.KMeans(2, model_dir=model_dir).export_saved_model(model_dir, None), ValueError,
         "serving_input_receiver_fn"),
        (lambda model_dir: ke.KMeans(2, model_dir=model_dir).export_saved_model(
            os.path.join(model_dir, "export"), _serving_input_receiver_fn), ValueError, "checkpoint"),
    ],
    ids=["initial_clusters", "distance_metric", "train_steps_0", "steps_and_max_steps", "evaluate_steps_0",
         "export_without_receiver", "export_without_checkpoint"],
)
def test_bad_arguments_raise_the_original_exception_type_and_write_nothing(tmp_path, call, error, words):
    model_dir = str(tmp_path / "model")
    with pytest.raises(error, match=words):
        call(model_dir)
    written = [str(path) for path in (tmp_path / "model").rglob("*")] if (tmp_path / "model").exists() else []
    assert written == []


# Measured on the original (TF 2.15, tensorflow-estimator 2.15): KMeans(3, initial_clusters=
# MEASURED_INITIAL, use_mini_batch=True, seed=2, config=RunConfig(session_config=ConfigProto(
# inter_op_parallelism_threads=-1))) trained by train(steps=1) calls on this one batch; its ops
# then run one at a time, so it reads its counts before adding to them (in parallel sessions
# that order is a race, see `update.mini_batch_update`). The same figures in two runs.
MEASURED_BATCH = np.array([[0.06286511, -0.06605243], [4.6481323, 4.367289], [-0.2721295, 5.84185],
                           [0.32021132, 0.05245006]], np.float32)
MEASURED_INITIAL = np.array([[1.0, 1.0], [2.0, 4.0], [3.0, 3.0]], np.float32)


def _measured_batch_input():
    return tf.data.Dataset.from_tensors(MEASURED_BATCH).repeat()


def _measured_kmeans(model_dir, steps_per_iteration):
    return ke.experimental.KMeans(3, model_dir=str(model_dir), initial_clusters=MEASURED_INITIAL, use_mini_batch=True,
                                  mini_batch_steps_per_iteration=steps_per_iteration, seed=2)


def test_one_step_iterations_count_the_initial_center_and_move_at_one_over_n_plus_m(tmp_path):
    kmeans = _measured_kmeans(tmp_path, 1)
    kmeans.train(_measured_batch_input, steps=1)
    np.testing.assert_allclose(kmeans.cluster_centers(), [[0.46102548, 0.32879925], [0.86393523, 4.9209251],
                                                          [3.8240662, 3.6836445]], rtol=1e-5)
    np.testing.assert_array_equal(kmeans.get_variable_value("Variable"), [3, 2, 2])


def test_iterations_of_three_steps_sync_the_running_means_at_the_start_of_the_fourth(tmp_path):
    kmeans = _measured_kmeans(tmp_path, 3)
    for _ in range(3):
        kmeans.train(_measured_batch_input, steps=1)
        np.testing.assert_array_equal(kmeans.cluster_centers(), MEASURED_INITIAL)
    assert kmeans.get_variable_value("update_in_steps") == 0
    kmeans.train(_measured_batch_input, steps=1)
    batch_means = [[0.19153821, -0.00680117], [-0.27212954, 5.8418498], [4.6481323, 4.3672891]]
    np.testing.assert_allclose(kmeans.cluster_centers(), batch_means, rtol=1e-5)
    np.testing.assert_allclose(kmeans.get_variable_value("clusters_updated"), batch_means, rtol=1e-5)
    np.testing.assert_array_equal(kmeans.get_variable_value("Variable"), [2, 1, 1])
    assert kmeans.get_variable_value("update_in_steps") == 2
