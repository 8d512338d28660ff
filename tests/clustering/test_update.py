import numpy as np
import pytest
import tensorflow as tf

from kmeans_estimator.clustering import update


@pytest.fixture(scope="module")
def assigned_points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.normal(size=(50, 4)), rng.integers(0, 6, size=50)


@pytest.mark.parametrize(
    "sum_up",
    [update._sums_by_scatter, update._sums_by_one_hot, update.cluster_sums_and_counts],
    ids=["scatter", "one_hot", "chosen_by_shape"],
)
def test_cluster_sums_and_counts_match_numpy(run, assigned_points, dtype, sum_up):
    points, indices = assigned_points
    sums, counts = run(lambda: sum_up(tf.constant(points, dtype), tf.constant(indices), 7))
    expected_sums = np.zeros((7, 4))
    np.add.at(expected_sums, indices, points)
    assert sums.dtype == counts.dtype == dtype
    np.testing.assert_allclose(sums, expected_sums, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(counts, np.bincount(indices, minlength=7))


@pytest.mark.parametrize("num_clusters", [update._ONE_HOT_MAX_CLUSTERS, update._ONE_HOT_MAX_CLUSTERS + 1],
                         ids=["one_hot_sized", "scatter_sized"])
def test_cluster_sums_and_counts_match_numpy_on_both_sides_of_the_switch(run, num_clusters):
    rng = np.random.default_rng(5)
    points, indices = rng.normal(size=(300, 3)), rng.integers(0, num_clusters, size=300)
    sums, counts = run(lambda: update.cluster_sums_and_counts(
        tf.constant(points), tf.constant(indices), num_clusters))
    expected_sums = np.zeros((num_clusters, 3))
    np.add.at(expected_sums, indices, points)
    np.testing.assert_allclose(sums, expected_sums, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(counts, np.bincount(indices, minlength=num_clusters))


def test_lloyd_update_moves_centers_to_means(run, dtype):
    centers = np.array([[0.0, 0.0], [5.0, 5.0]], dtype)
    sums = np.array([[2.0, 4.0], [9.0, 3.0]], dtype)
    counts = np.array([2.0, 3.0], dtype)
    new_centers = run(lambda: update.lloyd_update(centers, sums, counts))
    np.testing.assert_allclose(new_centers, [[1.0, 2.0], [3.0, 1.0]])


def test_lloyd_update_keeps_empty_cluster_center(run, dtype):
    centers = np.array([[1.0, 1.0], [7.0, -3.0]], dtype)
    sums = np.array([[4.0, 2.0], [0.0, 0.0]], dtype)
    counts = np.array([2.0, 0.0], dtype)
    new_centers = run(lambda: update.lloyd_update(centers, sums, counts))
    np.testing.assert_array_equal(new_centers[1], centers[1])


def test_mini_batch_update_from_zero_counts_equals_batch_mean(run, dtype):
    centers = np.array([[4.0, 4.0], [-1.0, 2.0]], dtype)
    sums = np.array([[3.0, 6.0], [10.0, 5.0]], dtype)
    counts = np.array([3.0, 5.0], dtype)
    new_centers, totals = run(
        lambda: update.mini_batch_update(centers, np.zeros(2, dtype), sums, counts))
    np.testing.assert_allclose(new_centers, [[1.0, 2.0], [2.0, 1.0]], rtol=1e-6)
    np.testing.assert_array_equal(totals, counts)


def test_mini_batch_update_moves_by_one_over_total_count(run, dtype):
    centers = np.array([[2.0, 0.0]], dtype)
    new_centers, totals = run(lambda: update.mini_batch_update(
        centers, np.array([3.0], dtype), np.array([[6.0, 4.0]], dtype), np.array([1.0], dtype)))
    np.testing.assert_allclose(new_centers, [[2.0 + (6.0 - 2.0) / 4, (4.0 - 0.0) / 4]])
    np.testing.assert_array_equal(totals, [4.0])


def test_mini_batch_update_keeps_centers_without_points(run, dtype):
    centers = np.array([[2.0, 0.0], [1.0, 1.0]], dtype)
    new_centers, totals = run(lambda: update.mini_batch_update(
        centers, np.array([3.0, 8.0], dtype), np.array([[6.0, 4.0], [0.0, 0.0]], dtype),
        np.array([1.0, 0.0], dtype)))
    np.testing.assert_array_equal(new_centers[1], centers[1])
    np.testing.assert_array_equal(totals, [4.0, 8.0])


def test_relative_change_divides_by_one_plus_previous(run, dtype):
    change = run(lambda: update.relative_change(tf.constant(3.0, dtype), tf.constant(-4.0, dtype)))
    assert change == pytest.approx(7.0 / 5.0)


@pytest.mark.parametrize("known_rows", [True, False], ids=["static_rows", "unknown_rows"])
def test_large_batches_are_summed_in_two_halves_that_match_numpy(run, known_rows):
    rng = np.random.default_rng(9)
    num_points = update._HALVES_MIN_POINTS + 37  # halves of unequal size
    points = rng.normal(size=(num_points, 3)).astype(np.float32)
    indices = rng.integers(0, 20, size=num_points)

    def build():
        batch = tf.constant(points)
        if not known_rows:
            batch = tf.compat.v1.placeholder_with_default(batch, [None, 3])
        return update.cluster_sums_and_counts(batch, tf.constant(indices), 20)

    sums, counts = run(build)
    expected_sums = np.zeros((20, 3))
    np.add.at(expected_sums, indices, points.astype(np.float64))
    np.testing.assert_allclose(sums, expected_sums, rtol=1e-4, atol=1e-2)
    np.testing.assert_array_equal(counts, np.bincount(indices, minlength=20))


def test_halves_are_cut_at_an_aligned_row_and_cover_every_point(run):
    num_points = update._HALVES_MIN_POINTS + 37
    points = np.ones((num_points, 3), np.float32)
    indices = np.arange(num_points) % 2  # center 0 takes even rows, center 1 odd rows
    sums = run(lambda: update._scatter_sums_in_halves(
        tf.constant(points), tf.constant(indices), 2))
    np.testing.assert_array_equal(sums[:, 0], [(num_points + 1) // 2, num_points // 2])
