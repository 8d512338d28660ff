import numpy as np
import pytest
import tensorflow as tf

from kmeans_estimator.clustering import update


@pytest.fixture(scope="module")
def assigned_points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.normal(size=(50, 4)), rng.integers(0, 6, size=50)


def _numpy_sums(points, indices, num_clusters):
    sums = np.zeros((num_clusters, points.shape[1]))
    np.add.at(sums, indices, points.astype(np.float64))
    return sums, np.bincount(indices, minlength=num_clusters)


def _batch(points, known_rows):
    """`points` as a constant, or behind a placeholder hiding its number of rows."""
    batch = tf.constant(points)
    if known_rows:
        return batch
    return tf.compat.v1.placeholder_with_default(batch, [None, points.shape[1]])


@pytest.mark.parametrize(
    "sum_up", [update._scatter_sums, update._compiled_sums, update.cluster_sums_and_counts],
    ids=["op_by_op", "compiled", "cluster_sums_and_counts"])
def test_cluster_sums_and_counts_match_numpy(run, assigned_points, dtype, sum_up):
    points, indices = assigned_points
    sums, counts = run(lambda: sum_up(tf.constant(points, dtype), tf.constant(indices, tf.int32), 7))
    expected_sums, expected_counts = _numpy_sums(points, indices, 7)
    assert sums.dtype == counts.dtype == dtype
    np.testing.assert_allclose(sums, expected_sums, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(counts, expected_counts)


@pytest.mark.parametrize("known_rows", [True, False], ids=["static_rows", "unknown_rows"])
@pytest.mark.parametrize("num_points", [1, 15, 1024, 1151, update._HALVES_MIN_POINTS + 37])
def test_cluster_sums_and_counts_match_numpy_for_any_row_count(run, num_points, known_rows):
    rng = np.random.default_rng(num_points)
    points = rng.normal(size=(num_points, 3)).astype(np.float32)
    indices = rng.integers(0, 20, size=num_points)
    sums, counts = run(lambda: update.cluster_sums_and_counts(
        _batch(points, known_rows), tf.constant(indices), 20))
    expected_sums, expected_counts = _numpy_sums(points, indices, 20)
    np.testing.assert_allclose(sums, expected_sums, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(counts, expected_counts)


@pytest.mark.parametrize("num_rows", [0, 1, 15, 16, 17, 1000, 1024, 1151, 65573, 500000, 2**31 - 1])
def test_compiled_row_count_keeps_the_four_highest_bits(run, num_rows):
    expected = int(bin(num_rows)[:6].ljust(len(bin(num_rows)), "0"), 2) if num_rows else 0
    assert update.compiled_row_count(num_rows) == expected
    assert run(lambda: update.compiled_row_count(tf.constant(num_rows, tf.int32))) == expected


def test_compiled_row_count_leaves_at_most_an_eighth_and_few_distinct_counts():
    sizes = range(16, 70000)
    counts = [update.compiled_row_count(size) for size in sizes]
    assert all(size - count <= size / 8 for size, count in zip(sizes, counts))
    for low in (16, 1024, 32768):
        assert len({update.compiled_row_count(size) for size in range(low, 2 * low)}) == 8
    assert update.compiled_row_count(1024) == 1024
    assert update.compiled_row_count(500000) == 491520


def test_compiled_sums_of_a_large_batch_run_as_two_halves_that_cover_every_point(run):
    num_points = 2 * update._HALVES_MIN_POINTS
    points = np.ones((num_points, 3), np.float32)
    indices = np.arange(num_points) % 2  # center 0 takes even rows, center 1 odd rows

    calls = []

    def build():
        sums_and_counts = update._compiled_sums(tf.constant(points), tf.constant(indices, tf.int32), 2)
        calls.extend(op for op in tf.compat.v1.get_default_graph().get_operations()
                     if op.type in ("PartitionedCall", "StatefulPartitionedCall"))
        return sums_and_counts

    sums, counts = run(build)
    assert len(calls) == 2
    np.testing.assert_array_equal(sums[:, 0], [num_points // 2, num_points // 2])
    np.testing.assert_array_equal(counts, [num_points // 2, num_points // 2])


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


def test_mini_batch_update_from_zero_counts_goes_to_the_batch_mean(run, dtype):
    centers = np.array([[4.0, 4.0], [-1.0, 2.0]], dtype)
    sums = np.array([[3.0, 6.0], [10.0, 5.0]], dtype)
    counts = np.array([3.0, 5.0], dtype)
    new_centers, totals = run(
        lambda: update.mini_batch_update(centers, np.zeros(2, dtype), sums, counts))
    # The running mean's rate 1 / (n + m): from n = 0, the batch mean.
    np.testing.assert_allclose(new_centers, [[1.0, 2.0], [2.0, 1.0]], rtol=1e-6)
    np.testing.assert_array_equal(totals, counts)


def test_mini_batch_update_moves_by_one_over_count_plus_the_batch(run, dtype):
    centers = np.array([[2.0, 0.0]], dtype)
    new_centers, totals = run(lambda: update.mini_batch_update(
        centers, np.array([3.0], dtype), np.array([[6.0, 4.0]], dtype), np.array([1.0], dtype)))
    np.testing.assert_allclose(new_centers, [[2.0 + (6.0 - 2.0) / 4, (4.0 - 0.0) / 4]], rtol=1e-6)
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


def _executed_op_types(fetches, feed_dict=None):
    """The types of the ops one traced session run of `fetches` executed."""
    metadata = tf.compat.v1.RunMetadata()
    with tf.compat.v1.Session() as session:
        session.run(fetches, feed_dict, options=tf.compat.v1.RunOptions(
            trace_level=tf.compat.v1.RunOptions.FULL_TRACE), run_metadata=metadata)
    return {node.timeline_label.split(" = ")[-1].split("(")[0]
            for device in metadata.step_stats.dev_stats for node in device.node_stats}


@pytest.mark.parametrize("num_points, op_by_op", [(1024, False), (1151, True)])
def test_a_batch_of_a_compiled_row_count_skips_the_op_by_op_sums(num_points, op_by_op):
    rng = np.random.default_rng(2)
    with tf.Graph().as_default():
        batch = tf.compat.v1.placeholder(tf.float32, [None, 3])
        indices = tf.compat.v1.placeholder(tf.int64, [None])
        sums_and_counts = update.cluster_sums_and_counts(batch, indices, 5)
        executed = _executed_op_types(sums_and_counts, {
            batch: rng.normal(size=(num_points, 3)), indices: rng.integers(0, 5, num_points)})
    assert ("TensorScatterAdd" in executed) == op_by_op


@pytest.mark.parametrize("num_points, compiled", [(1024, False), (update._HALVES_MIN_POINTS, True)])
def test_only_batches_known_to_be_large_build_the_compiled_sums(num_points, compiled):
    with tf.Graph().as_default() as graph:
        update.cluster_sums_and_counts(
            tf.zeros([num_points, 3]), tf.zeros([num_points], tf.int32), 5)
    calls = [op for op in graph.get_operations()
             if op.type in ("PartitionedCall", "StatefulPartitionedCall")]
    assert bool(calls) == compiled
