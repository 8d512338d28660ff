"""KMeans training against numpy k-means: full batch, mini-batch, cosine, tolerance, inputs
(dicts, feature columns, DataFrames, dtypes)."""
import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke
from tests import kmeans_reference as ref

LLOYD_STEPS = 3


@pytest.fixture(scope="module")
def lloyd_run(tmp_path_factory, points):
    """Full-batch KMeans: one train() call spending its one batch on choosing the centers,
    then LLOYD_STEPS one-batch calls of one step each.

    Returns (estimator, centers after the first call).
    """
    kmeans = ke.KMeans(4, model_dir=str(tmp_path_factory.mktemp("lloyd")), seed=5, use_mini_batch=False)
    kmeans.train(ref.whole_input(points))
    initial = kmeans.cluster_centers()
    for _ in range(LLOYD_STEPS):
        kmeans.train(ref.whole_input(points))
    return kmeans, initial


def numpy_lloyd(points, centers, steps):
    for _ in range(steps):
        centers = ref.lloyd_step(points, centers)
    return centers


def test_full_batch_centers_match_numpy_lloyd(lloyd_run, points):
    kmeans, initial = lloyd_run
    expected = numpy_lloyd(points, initial, LLOYD_STEPS)
    assert not np.allclose(expected, initial, atol=0.1), "the data should need several Lloyd steps"
    # The first call's one batch chose the centers; each later call took one step. Every call
    # also counted the run that met the end of the input, as the original did (1, 3, 5, 7):
    # that run moves only the global step, so the centers are LLOYD_STEPS Lloyd steps on.
    assert kmeans.get_variable_value("global_step") == 2 * LLOYD_STEPS + 1
    np.testing.assert_allclose(kmeans.cluster_centers(), expected, rtol=1e-5, atol=1e-5)


def test_full_batch_score_matches_numpy_lloyd(lloyd_run, points):
    kmeans, initial = lloyd_run
    expected = numpy_lloyd(points, initial, LLOYD_STEPS)
    np.testing.assert_allclose(kmeans.score(ref.whole_input(points)), ref.score(points, expected), rtol=1e-5)


@pytest.mark.parametrize("use_mini_batch", [False, True], ids=["full_batch", "mini_batch"])
def test_empty_cluster_keeps_its_center(tmp_path, points, use_mini_batch):
    far_away = np.array([[100.0, -100.0]], np.float32)
    initial = np.concatenate([points[:3], far_away])
    kmeans = ke.KMeans(
        4, model_dir=str(tmp_path), initial_clusters=initial, use_mini_batch=use_mini_batch,
        reassignment_ratio=0.0,
    )
    kmeans.train(ref.repeated_input(points), steps=2)
    centers = kmeans.cluster_centers()
    np.testing.assert_array_equal(centers[3], far_away[0])
    if not use_mini_batch:
        np.testing.assert_allclose(centers[:3], numpy_lloyd(points, points[:3], 2), rtol=1e-5)


@pytest.mark.parametrize("metric", [ke.KMeans.SQUARED_EUCLIDEAN_DISTANCE, ke.KMeans.COSINE_DISTANCE])
def test_mini_batch_with_one_step_per_iteration_moves_as_the_original(tmp_path, points, metric):
    cosine = metric == ke.KMeans.COSINE_DISTANCE
    centered = points - 5.0
    initial = centered[[0, 1, 2]]
    kmeans = ke.KMeans(3, model_dir=str(tmp_path), initial_clusters=initial, distance_metric=metric,
                       use_mini_batch=True, reassignment_ratio=0.0)
    kmeans.train(ref.batched_input(centered, batch_size=30, repeat=True), steps=6)
    # Counts start at one (the initial center is a point); the rate is 1 / (n + m).
    state = (ref.normalized(initial) if cosine else initial, np.ones(3, np.int64))
    for step in range(6):
        state = ref.original_mini_batch_step(centered[30 * (step % 3): 30 * (step % 3) + 30], state, cosine)
    np.testing.assert_array_equal(kmeans.get_variable_value("Variable"), state[1])
    np.testing.assert_allclose(kmeans.cluster_centers(), state[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("metric", [ke.KMeans.SQUARED_EUCLIDEAN_DISTANCE, ke.KMeans.COSINE_DISTANCE])
def test_mini_batch_iterations_sync_the_running_means_as_the_original(tmp_path, points, metric):
    cosine = metric == ke.KMeans.COSINE_DISTANCE
    centered = points - 5.0
    initial = ref.normalized(centered[[0, 1, 2]]) if cosine else centered[[0, 1, 2]]
    kmeans = ke.KMeans(
        3, model_dir=str(tmp_path), initial_clusters=centered[[0, 1, 2]], distance_metric=metric,
        use_mini_batch=True, mini_batch_steps_per_iteration=3,
    )
    state = (initial, initial, np.zeros(3, np.int64), 3)
    for calls, steps in enumerate([2, 3, 3], start=1):
        kmeans.train(ref.batched_input(centered, batch_size=30, repeat=True), steps=steps)
        for step in range(steps):
            state = ref.original_iteration_step(centered[30 * (step % 3): 30 * (step % 3) + 30], state, 3, cosine)
        np.testing.assert_allclose(kmeans.cluster_centers(), state[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(kmeans.get_variable_value("clusters_updated"), state[1], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(kmeans.get_variable_value("Variable"), state[2])
        assert kmeans.get_variable_value("update_in_steps") == state[3]


@pytest.fixture(scope="module")
def cosine_run(tmp_path_factory, points):
    """Full-batch cosine KMeans, two steps from given (not unit-length) centers.

    Returns (estimator, the points around the origin, the numpy spherical k-means centers).
    """
    centered = points - 5.0
    initial = 3.0 * centered[[0, 1, 2]]
    kmeans = ke.KMeans(
        3, model_dir=str(tmp_path_factory.mktemp("cosine")), initial_clusters=initial,
        distance_metric=ke.KMeans.COSINE_DISTANCE, use_mini_batch=False,
    )
    kmeans.train(ref.repeated_input(centered), steps=2)
    expected = ref.spherical_lloyd_step(centered, ref.spherical_lloyd_step(centered, initial))
    return kmeans, centered, expected


def test_cosine_centers_are_unit_mean_directions(cosine_run):
    kmeans, _, expected = cosine_run
    np.testing.assert_allclose(kmeans.cluster_centers(), expected, rtol=1e-5, atol=1e-5)


def test_cosine_predict_and_transform_yield_one_minus_cos(cosine_run):
    kmeans, centered, expected = cosine_run
    wanted = ref.cosine_distances(centered, expected)
    predictions = list(kmeans.predict(ref.whole_input(centered)))
    np.testing.assert_allclose(np.stack([p["all_distances"] for p in predictions]), wanted, atol=1e-5)
    np.testing.assert_array_equal([p["cluster_index"] for p in predictions], np.argmin(wanted, axis=1))
    np.testing.assert_allclose(np.stack(list(kmeans.transform(ref.whole_input(centered)))), wanted, atol=1e-5)


def test_cosine_score_sums_one_minus_cos(cosine_run):
    kmeans, centered, expected = cosine_run
    wanted = np.sum(np.min(ref.cosine_distances(centered, expected), axis=1))
    np.testing.assert_allclose(kmeans.score(ref.whole_input(centered)), wanted, rtol=1e-4)


@pytest.mark.parametrize("relative_tolerance, stops_early", [(1e-3, True), (None, False)])
def test_relative_tolerance_stops_training_once_the_loss_settles(tmp_path, points, relative_tolerance, stops_early):
    kmeans = ke.KMeans(
        4, model_dir=str(tmp_path), initial_clusters=points[:4], use_mini_batch=False,
        relative_tolerance=relative_tolerance,
    )
    kmeans.train(ref.repeated_input(points), steps=40)
    global_step = kmeans.get_variable_value("global_step")
    if stops_early:
        assert 1 < global_step < 40
    else:
        assert global_step == 40


@pytest.mark.parametrize("with_feature_columns", [False, True], ids=["dict", "feature_columns"])
def test_dict_features_are_columns_in_sorted_key_order(tmp_path, points, with_feature_columns):
    columns = None
    if with_feature_columns:
        columns = [tf.compat.v1.feature_column.numeric_column(key) for key in ("y", "x")]
    initial = points[:3]
    kmeans = ke.KMeans(
        3, model_dir=str(tmp_path), initial_clusters=initial, use_mini_batch=False, feature_columns=columns,
    )

    def input_fn():
        return {"y": tf.constant(points[:, 1:]), "x": tf.constant(points[:, :1])}

    kmeans.train(input_fn, steps=2)
    np.testing.assert_allclose(kmeans.cluster_centers(), numpy_lloyd(points, initial, 2), rtol=1e-5)


def test_a_pandas_dataframe_trains_full_batch_like_numpy_lloyd(tmp_path, points):
    import pandas

    frame = pandas.DataFrame({"x": points[:, 0], "y": points[:, 1]})
    initial = points[:3]
    kmeans = ke.KMeans(3, model_dir=str(tmp_path), initial_clusters=initial, use_mini_batch=False)
    input_fn = ke.inputs.pandas_input_fn(frame, batch_size=len(frame), num_epochs=None, shuffle=False)
    kmeans.train(input_fn, steps=2)
    np.testing.assert_allclose(kmeans.cluster_centers(), numpy_lloyd(points, initial, 2), rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_input_dtype_is_clustered_in_float32(tmp_path, dtype):
    grid_points = np.random.default_rng(3).integers(0, 20, size=(60, 2)).astype(dtype)
    initial = grid_points[:3].astype(np.float32) + 0.25
    kmeans = ke.KMeans(3, model_dir=str(tmp_path), initial_clusters=initial, use_mini_batch=False)
    kmeans.train(ref.repeated_input(grid_points), steps=2)
    centers = kmeans.cluster_centers()
    assert centers.dtype == np.float32
    np.testing.assert_allclose(centers, numpy_lloyd(grid_points.astype(np.float64), initial, 2), rtol=1e-5)
    indices = list(kmeans.predict_cluster_index(ref.whole_input(grid_points)))
    np.testing.assert_array_equal(indices, np.argmin(ref.squared_distances(grid_points, centers), axis=1))
