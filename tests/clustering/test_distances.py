import numpy as np
import pytest
import tensorflow as tf

from kmeans_estimator.clustering import distances


def numpy_distances(points: np.ndarray, centers: np.ndarray, metric: str) -> np.ndarray:
    if metric == distances.COSINE:
        points = points / np.linalg.norm(points, axis=1, keepdims=True)
        centers = centers / np.linalg.norm(centers, axis=1, keepdims=True)
        return 1.0 - points @ centers.T
    return ((points[:, np.newaxis, :] - centers[np.newaxis, :, :]) ** 2).sum(axis=2)


@pytest.fixture(params=distances.METRICS)
def metric(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def points_and_centers() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    return rng.normal(size=(37, 5)), rng.normal(size=(4, 5))


def test_prepare_points_normalizes_rows_for_cosine_only(run, metric, dtype, points_and_centers):
    points = points_and_centers[0].astype(dtype)
    prepared = run(lambda: distances.prepare_points(tf.constant(points), metric))
    if metric == distances.COSINE:
        expected = points / np.linalg.norm(points, axis=1, keepdims=True)
    else:
        expected = points
    np.testing.assert_allclose(prepared, expected, rtol=1e-5)


def test_pairwise_distances_match_numpy(run, metric, dtype, points_and_centers):
    points, centers = (array.astype(dtype) for array in points_and_centers)
    result = run(lambda: distances.pairwise_distances(
        distances.prepare_points(tf.constant(points), metric), tf.constant(centers), metric))
    assert result.dtype == dtype
    np.testing.assert_allclose(result, numpy_distances(points, centers, metric),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "block_rows, static_rows",
    [(None, True), (8, True), (8, False), (None, False)],
    ids=["one_block", "blocks_of_8", "blocks_of_8_unknown_n", "default_blocks_unknown_n"],
)
def test_nearest_centers_match_numpy(run, metric, dtype, points_and_centers, block_rows,
                                     static_rows):
    points, centers = (array.astype(dtype) for array in points_and_centers)

    def build():
        inputs = tf.constant(points)
        if not static_rows:
            inputs = tf.compat.v1.placeholder_with_default(inputs, [None, points.shape[1]])
        prepared = distances.prepare_points(inputs, metric)
        return distances.nearest_centers(prepared, tf.constant(centers), metric, block_rows)

    indices, nearest = run(build)
    expected = numpy_distances(points, centers, metric)
    assert indices.dtype == np.int64 and nearest.dtype == dtype
    np.testing.assert_array_equal(indices, expected.argmin(axis=1))
    np.testing.assert_allclose(nearest, expected.min(axis=1), rtol=1e-4, atol=1e-4)


def test_nearest_centers_add_the_given_squared_norms(run, points_and_centers):
    """Norms taken once by the caller (k-means|| searches the same points every round) are
    the ones added to the winning scores."""
    points, centers = (array.astype(np.float32) for array in points_and_centers)

    def build():
        inputs, centers_tensor = tf.constant(points), tf.constant(centers)
        norms = distances.row_squared_norms(inputs)
        metric = distances.SQUARED_EUCLIDEAN
        return (distances.nearest_centers(inputs, centers_tensor, metric),
                distances.nearest_centers(inputs, centers_tensor, metric, squared_norms=norms),
                distances.nearest_centers(inputs, centers_tensor, metric,
                                          squared_norms=norms + 1e6))

    (indices, nearest), (given_indices, given), (_, shifted) = run(build)
    np.testing.assert_array_equal(given_indices, indices)
    np.testing.assert_array_equal(given, nearest)
    np.testing.assert_allclose(shifted, nearest + 1e6, rtol=1e-6)


def test_nearest_centers_keeps_static_row_count_across_blocks(metric, points_and_centers):
    points, centers = points_and_centers
    with tf.Graph().as_default():
        indices, nearest = distances.nearest_centers(
            tf.constant(points), tf.constant(centers), metric, block_rows=8)
    assert indices.shape.as_list() == nearest.shape.as_list() == [37]


def test_squared_distance_to_a_coinciding_center_is_not_negative(run, dtype):
    points = np.array([[1e4, 3.3e3, 1.7e-3]], dtype)
    _, nearest = run(lambda: distances.nearest_centers(
        tf.constant(points), tf.constant(points), distances.SQUARED_EUCLIDEAN))
    assert nearest[0] >= 0.0


def test_unknown_metric_is_rejected():
    with tf.Graph().as_default(), pytest.raises(ValueError, match="metric must be one of"):
        distances.prepare_points(tf.zeros([2, 2]), "manhattan")


@pytest.mark.parametrize("num_points", [100, distances._BLOCK_ENTRIES // 4 + 1], ids=["small", "large"])
@pytest.mark.parametrize("known_rows", [True, False], ids=["static_rows", "unknown_rows"])
def test_row_squared_norms_match_numpy_for_small_and_large_batches(run, num_points, known_rows):
    points = np.random.default_rng(4).normal(size=(num_points, 4)).astype(np.float32)

    def build():
        batch = tf.constant(points)
        if not known_rows:
            batch = tf.compat.v1.placeholder_with_default(batch, [None, 4])
        return distances.row_squared_norms(batch)

    np.testing.assert_allclose(run(build), np.sum(points.astype(np.float64) ** 2, axis=1), rtol=1e-5)
