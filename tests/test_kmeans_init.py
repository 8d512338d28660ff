"""How KMeans chooses its first centers: random, kmeans++, k-means||, given centers, a callable."""
import os

import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke
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


def test_first_train_call_on_one_batch_only_initializes(tmp_path, points):
    kmeans = ke.KMeans(4, model_dir=str(tmp_path), seed=2, use_mini_batch=False)
    kmeans.train(ref.whole_input(points))
    assert kmeans.get_variable_value("global_step") == 0
    assert kmeans.get_variable_value("initialized")
    assert_rows_of(kmeans.cluster_centers(), points)


def test_random_init_takes_centers_from_later_batches_when_a_batch_is_smaller_than_k(tmp_path, points):
    kmeans = ke.KMeans(5, model_dir=str(tmp_path), seed=3)
    # Three batches of two points: all of the first two batches and one point of the third.
    kmeans.train(ref.batched_input(points[:6], batch_size=2))
    chosen = assert_rows_of(kmeans.cluster_centers(), points[:6])
    assert sorted(chosen)[:4] == [0, 1, 2, 3]
    assert sorted(chosen)[4] in (4, 5)
    assert kmeans.get_variable_value("global_step") == 0


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
    chosen = assert_rows_of(kmeans.cluster_centers(), blobs)
    assert sorted(index // 20 for index in chosen) == [0, 1, 2, 3]


@pytest.mark.parametrize("as_tensor", [False, True], ids=["numpy", "eager_tensor"])
def test_given_initial_centers_are_used_and_num_clusters_is_ignored(tmp_path, points, as_tensor):
    initial = points[10:13] + 0.5
    kmeans = ke.KMeans(
        num_clusters=99, model_dir=str(tmp_path), use_mini_batch=False,
        initial_clusters=tf.constant(initial) if as_tensor else initial,
    )
    kmeans.train(ref.whole_input(points))
    # Given centers consume no input, so the batch makes one Lloyd step.
    assert kmeans.get_variable_value("global_step") == 1
    np.testing.assert_allclose(kmeans.cluster_centers(), ref.lloyd_step(points, initial), rtol=1e-5)


def test_callable_init_is_called_on_successive_batches_until_k_centers(tmp_path, points):
    kmeans = ke.KMeans(3, model_dir=str(tmp_path), initial_clusters=lambda inputs, k: inputs[:1])
    kmeans.train(ref.batched_input(points[:30], batch_size=10))
    np.testing.assert_array_equal(kmeans.cluster_centers(), points[[0, 10, 20]])


def test_callable_init_may_return_more_than_asked_for(tmp_path, points):
    kmeans = ke.KMeans(3, model_dir=str(tmp_path), initial_clusters=lambda inputs, k: inputs[:2])
    kmeans.train(ref.batched_input(points[:20], batch_size=10))
    np.testing.assert_array_equal(kmeans.cluster_centers(), points[[0, 1, 10]])


def test_kmeans_plus_plus_on_a_batch_smaller_than_k_raises_naming_both_numbers(tmp_path, points):
    kmeans = ke.KMeans(10, model_dir=str(tmp_path), initial_clusters=ke.KMeans.KMEANS_PLUS_PLUS_INIT)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"num_clusters=10 .*got 4"):
        kmeans.train(ref.batched_input(points[:20], batch_size=4))
    assert_no_checkpoint(kmeans.model_dir)


def test_more_clusters_than_points_raises_naming_both_numbers(tmp_path, points):
    kmeans = ke.KMeans(100, model_dir=str(tmp_path), seed=1)
    with pytest.raises(ValueError, match=r"num_clusters=100 .*after 60 "):
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
