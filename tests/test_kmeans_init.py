"""How KMeans chooses its first centers: random, kmeans++, k-means||, given centers, a callable."""
import os

import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke
from kmeans_estimator.kmeans import ConvergenceWarning
from tests import kmeans_reference as ref


def assert_rows_of(centers, points):
    """Every center is one of the points, and no two centers are the same point."""
    matches = [np.flatnonzero(np.all(np.isclose(points, center, rtol=1e-6), axis=1)) for center in centers]
    assert all(len(match) == 1 for match in matches), centers
    chosen = [int(match[0]) for match in matches]
    assert len(set(chosen)) == len(chosen)
    return chosen


def assert_no_checkpoint(model_dir):
    assert tf.train.latest_checkpoint(model_dir) is None
    assert not [name for name in os.listdir(model_dir) if name.startswith("model.ckpt")]


def test_first_train_call_chooses_centers_and_steps_on_the_same_batch(tmp_path, points):
    given = points[[0, 30, 60]]
    kmeans = ke.KMeans(3, model_dir=str(tmp_path), initial_clusters=given, use_mini_batch=False)
    kmeans.train(ref.whole_input(points))
    # One step on the batch, then the run that meets the end of the input counts too, as
    # on the original; it moves only the global step, not the centers.
    assert kmeans.get_variable_value("global_step") == 2
    assert kmeans.get_variable_value("initialized")
    np.testing.assert_allclose(kmeans.cluster_centers(), ref.lloyd_step(points, given), rtol=1e-5)


@pytest.mark.parametrize("use_mini_batch", [False, True], ids=["full_batch", "mini_batch"])
@pytest.mark.parametrize("initial_clusters", [ke.KMeans.RANDOM_INIT, ke.KMeans.KMEANS_PLUS_PLUS_INIT])
def test_train_calls_on_a_one_batch_input_reach_global_steps_1_3_5(tmp_path, points, initial_clusters,
                                                                    use_mini_batch):
    # The first call's one batch goes to choosing the centers, as in the original; every call
    # also counts the run that meets the end of the input, so the original's global_step
    # after calls 1, 2, 3 is 1, 3, 5 (measured for all four cases).
    kmeans = ke.KMeans(4, model_dir=str(tmp_path), initial_clusters=initial_clusters, seed=2,
                       use_mini_batch=use_mini_batch)
    kmeans.train(ref.whole_input(points))
    steps = [kmeans.get_variable_value("global_step")]
    assert kmeans.get_variable_value("initialized")
    # No step yet: the centers are still points of the batch.
    assert_rows_of(kmeans.cluster_centers(), points)
    for _ in range(2):
        kmeans.train(ref.whole_input(points))
        steps.append(kmeans.get_variable_value("global_step"))
    assert steps == [1, 3, 5]


def test_random_init_takes_centers_from_later_batches_when_a_batch_is_smaller_than_k(tmp_path, points):
    kmeans = ke.KMeans(5, model_dir=str(tmp_path), seed=3)
    # Three batches of two points: all of the first two batches and one point of the third;
    # the input then ends before any step. The run that meets its end counts in global_step,
    # as on the original.
    kmeans.train(ref.batched_input(points[:6], batch_size=2))
    assert kmeans.get_variable_value("global_step") == 1
    centers = kmeans.cluster_centers()
    # Batch by batch in arrival order; within a batch, in random order.
    rows = [{tuple(row) for row in part} for part in (centers[:2], centers[2:4], centers[4:])]
    assert rows[:2] == [{tuple(row) for row in points[:2]}, {tuple(row) for row in points[2:4]}], centers
    assert rows[2] <= {tuple(row) for row in points[4:6]}


@pytest.mark.parametrize(
    "initial_clusters, retries",
    [
        (ke.KMeans.KMEANS_PLUS_PLUS_INIT, 2),
        (ke.KMeans.KMEANS_PLUS_PLUS_INIT, 0),
        (ke.KMeans.KMEANS_PLUS_PLUS_INIT, -1),
        (ke.KMeans.KMEANS_PARALLEL_INIT, 2),
    ],
    ids=["kmeans++", "kmeans++_no_retries", "kmeans++_log_k_retries", "kmeans||"],
)
def test_seeding_init_without_a_seed_picks_one_point_per_blob(tmp_path, blobs, initial_clusters, retries):
    # seed=None draws the init's seed with a random op. The graph seed makes that draw
    # repeatable: without retries, kmeans++ puts two centers in one of these blobs for about
    # 2 in 1000 seeds (measured over 3000), so a free draw would fail that often.
    kmeans = ke.KMeans(
        4, model_dir=str(tmp_path), initial_clusters=initial_clusters, seed=None,
        kmeans_plus_plus_num_retries=retries, config=ke.RunConfig(tf_random_seed=11),
    )
    kmeans.train(ref.whole_input(blobs))
    # One center a blob: the first step then moves each to its blob's mean.
    blob_means = blobs.reshape(4, 20, -1).mean(axis=1)
    nearest_blob = np.argmin(ref.squared_distances(kmeans.cluster_centers(), blob_means), axis=1)
    assert sorted(nearest_blob) == [0, 1, 2, 3]


@pytest.mark.parametrize("as_tensor", [False, True], ids=["numpy", "eager_tensor"])
def test_given_initial_centers_are_used_and_num_clusters_is_ignored(tmp_path, points, as_tensor):
    initial = points[10:13] + 0.5
    kmeans = ke.KMeans(
        num_clusters=99, model_dir=str(tmp_path), use_mini_batch=False,
        initial_clusters=tf.constant(initial) if as_tensor else initial,
    )
    kmeans.train(ref.whole_input(points))
    # Given centers consume no input, so the batch makes one Lloyd step; the run that meets
    # the end of the input then counts too (the original's 2), moving no center.
    assert kmeans.get_variable_value("global_step") == 2
    np.testing.assert_allclose(kmeans.cluster_centers(), ref.lloyd_step(points, initial), rtol=1e-5)


def test_callable_init_is_called_on_successive_batches_until_k_centers(tmp_path, points):
    kmeans = ke.KMeans(3, model_dir=str(tmp_path), initial_clusters=lambda inputs, k: inputs[:1])
    kmeans.train(ref.batched_input(points[:40], batch_size=10))
    # Chosen from the first three batches, then one step on the fourth, then the run that
    # meets the end of the input, which counts in global_step (the original's 2) and moves
    # no center.
    assert kmeans.get_variable_value("global_step") == 2
    expected, _ = ref.original_mini_batch_step(points[30:40], (points[[0, 10, 20]], np.ones(3)))
    np.testing.assert_allclose(kmeans.cluster_centers(), expected, rtol=1e-5)


def test_callable_init_may_return_more_than_asked_for(tmp_path, points):
    kmeans = ke.KMeans(3, model_dir=str(tmp_path), initial_clusters=lambda inputs, k: inputs[:2])
    kmeans.train(ref.batched_input(points[:30], batch_size=10))
    expected, _ = ref.original_mini_batch_step(points[20:30], (points[[0, 1, 10]], np.ones(3)))
    np.testing.assert_allclose(kmeans.cluster_centers(), expected, rtol=1e-5)


def test_kmeans_plus_plus_on_a_batch_smaller_than_k_raises_naming_both_numbers(tmp_path, points):
    kmeans = ke.KMeans(10, model_dir=str(tmp_path), initial_clusters=ke.KMeans.KMEANS_PLUS_PLUS_INIT,
                       mini_batch_init_size=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"num_clusters=10 .*got 4"):
        kmeans.train(ref.batched_input(points[:20], batch_size=4))
    assert_no_checkpoint(kmeans.model_dir)


def test_more_clusters_than_points_raises_naming_both_numbers(tmp_path, points):
    kmeans = ke.KMeans(100, model_dir=str(tmp_path), seed=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"num_clusters=100 .*after 60 "):
        kmeans.train(ref.batched_input(points[:60], batch_size=25))
    assert_no_checkpoint(kmeans.model_dir)


@pytest.mark.parametrize(
    "initial_clusters",
    [ke.KMeans.RANDOM_INIT, ke.KMeans.KMEANS_PLUS_PLUS_INIT, ke.KMeans.KMEANS_PARALLEL_INIT],
)
def test_same_seed_gives_the_same_centers(tmp_path, points, initial_clusters):
    centers = []
    for run in range(2):
        kmeans = ke.KMeans(5, model_dir=str(tmp_path / str(run)), initial_clusters=initial_clusters, seed=7)
        kmeans.train(ref.whole_input(points))
        centers.append(kmeans.cluster_centers())
    np.testing.assert_array_equal(centers[0], centers[1])


THREE_DISTINCT = np.array([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]], np.float32)
ALL_INITS = [ke.KMeans.RANDOM_INIT, ke.KMeans.KMEANS_PLUS_PLUS_INIT, ke.KMeans.KMEANS_PARALLEL_INIT]


@pytest.mark.parametrize("initial_clusters", ALL_INITS)
def test_input_of_fewer_than_k_points_is_rejected_naming_both_numbers(tmp_path, initial_clusters):
    kmeans = ke.KMeans(5, model_dir=str(tmp_path), initial_clusters=initial_clusters, seed=1,
                       use_mini_batch=False)
    message = r"num_clusters=5 .*only 3 distinct points"
    if initial_clusters != ke.KMeans.RANDOM_INIT:
        message = r"num_clusters=5 points in its first batch, got 3"
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        kmeans.train(ref.repeated_input(THREE_DISTINCT), steps=1)
    assert_no_checkpoint(kmeans.model_dir)


@pytest.mark.parametrize("initial_clusters", ALL_INITS)
def test_batch_of_k_points_with_fewer_distinct_ones_trains_with_repeated_centers(tmp_path, initial_clusters):
    kmeans = ke.KMeans(5, model_dir=str(tmp_path), initial_clusters=initial_clusters, seed=1,
                       use_mini_batch=False)
    points = np.tile(THREE_DISTINCT, (4, 1))
    with pytest.warns(ConvergenceWarning, match=r"num_clusters=5 .*only 3 distinct points"):
        kmeans.train(ref.repeated_input(points), steps=1)
    assert kmeans.get_variable_value("global_step") == 1
    centers = kmeans.cluster_centers()
    assert centers.shape == (5, 2)
    # Every center is one of the three points (a repeat stays empty, where it started),
    # and each of the three points is a center.
    assert {tuple(row) for row in centers} == {tuple(row) for row in THREE_DISTINCT}


def test_input_that_ends_with_fewer_distinct_points_than_k_is_rejected(tmp_path):
    kmeans = ke.KMeans(5, model_dir=str(tmp_path), seed=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"num_clusters=5 .*after 3 distinct initial centers"):
        kmeans.train(ref.batched_input(THREE_DISTINCT, batch_size=2))
    assert_no_checkpoint(kmeans.model_dir)


@pytest.mark.parametrize("initial_clusters", ALL_INITS)
def test_initial_centers_are_distinct_when_the_input_repeats_points(tmp_path, initial_clusters):
    distinct = np.random.RandomState(0).uniform(-10, 10, (6, 2)).astype(np.float32)
    points = np.repeat(distinct, 20, axis=0)
    kmeans = ke.KMeans(6, model_dir=str(tmp_path), initial_clusters=initial_clusters, seed=4,
                       use_mini_batch=False)
    kmeans.train(ref.whole_input(points))
    assert sorted(assert_rows_of(kmeans.cluster_centers(), distinct)) == list(range(6))


def test_callable_init_repeating_its_centers_is_rejected(tmp_path, points):
    kmeans = ke.KMeans(3, model_dir=str(tmp_path), initial_clusters=lambda batch, k: batch[:1])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"num_clusters=3 .*callable.* 1 distinct points"):
        kmeans.train(ref.repeated_input(points), steps=1)
    assert_no_checkpoint(kmeans.model_dir)


def test_given_centers_with_a_repeated_row_warn_naming_both_numbers():
    centers = np.array([[0.0, 1.0], [2.0, 3.0], [0.0, 1.0]], np.float32)
    with pytest.warns(ConvergenceWarning, match=r"holds 3 centers but only 2 distinct ones"):
        kmeans = ke.KMeans(3, initial_clusters=centers)
    np.testing.assert_array_equal(kmeans.settings.given_centers, centers)
