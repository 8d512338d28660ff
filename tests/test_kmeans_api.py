"""KMeans's public surface: constructor, constants, aliases, methods and what lands in model_dir."""
import inspect
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import kmeans_estimator as ke
from tests import kmeans_reference as ref

NUM_TRAIN_CALLS = 2
# Each call on the one-batch input steps once, then counts the run that meets the end of the
# input, as the original did (given centers spend no batch): global_step 2, 4 (measured on
# the original).
GLOBAL_STEPS_PER_CALL = 2


@pytest.fixture(scope="module")
def trained(tmp_path_factory, points):
    """Full-batch KMeans from points[:4], trained by two train() calls of one step each
    (the run meeting the end of the input moves only the global step, not the centers).

    Returns (estimator, the centers numpy Lloyd reaches from the same start).
    """
    initial = points[:4]
    kmeans = ke.KMeans(
        num_clusters=4, model_dir=str(tmp_path_factory.mktemp("api")), initial_clusters=initial,
        use_mini_batch=False,
    )
    expected = initial
    for _ in range(NUM_TRAIN_CALLS):
        kmeans.train(ref.whole_input(points))
        expected = ref.lloyd_step(points, expected)
    return kmeans, expected


@pytest.mark.parametrize(
    "name, value",
    [
        ("ALL_DISTANCES", "all_distances"),
        ("CLUSTER_CENTERS_VAR_NAME", "clusters"),
        ("CLUSTER_INDEX", "cluster_index"),
        ("COSINE_DISTANCE", "cosine"),
        ("KMEANS_PLUS_PLUS_INIT", "kmeans_plus_plus"),
        ("RANDOM_INIT", "random"),
        ("SCORE", "score"),
        ("SQUARED_EUCLIDEAN_DISTANCE", "squared_euclidean"),
    ],
)
def test_class_constant_has_the_reference_value(name, value):
    assert getattr(ke.KMeans, name) == value


def test_constructor_has_the_reference_signature():
    parameters = inspect.signature(ke.KMeans).parameters
    assert {name: parameter.default for name, parameter in parameters.items()} == {
        "num_clusters": inspect.Parameter.empty,
        "model_dir": None,
        "initial_clusters": ke.KMeans.RANDOM_INIT,
        "distance_metric": ke.KMeans.SQUARED_EUCLIDEAN_DISTANCE,
        "seed": None,
        "use_mini_batch": True,
        "mini_batch_steps_per_iteration": 1,
        "kmeans_plus_plus_num_retries": 2,
        "relative_tolerance": None,
        "config": None,
        "feature_columns": None,
        "mini_batch_init_size": 1,
        "reassignment_ratio": 0.0,
    }
    assert list(parameters)[:2] == ["num_clusters", "model_dir"]


@pytest.mark.parametrize(
    "alias",
    [ke.KMeansClustering, ke.experimental.KMeans, ke.experimental.KMeansClustering],
    ids=["KMeansClustering", "experimental.KMeans", "experimental.KMeansClustering"],
)
def test_alias_is_the_kmeans_class(alias):
    assert alias is ke.KMeans


def test_kmeans_is_an_estimator_with_the_given_model_dir_and_config(tmp_path):
    config = ke.RunConfig(save_summary_steps=7)
    kmeans = ke.KMeans(3, model_dir=str(tmp_path), config=config)
    assert isinstance(kmeans, ke.Estimator)
    assert kmeans.model_dir == str(tmp_path)
    assert kmeans.config.save_summary_steps == 7


def test_train_returns_the_estimator_and_advances_the_global_step(trained):
    kmeans, _ = trained
    assert kmeans.get_variable_value("global_step") == GLOBAL_STEPS_PER_CALL * NUM_TRAIN_CALLS


def test_cluster_centers_are_the_checkpointed_clusters_variable(trained):
    kmeans, expected = trained
    centers = kmeans.cluster_centers()
    assert centers.dtype == np.float32 and centers.shape == (4, 2)
    np.testing.assert_array_equal(centers, tf.compat.v1.train.load_variable(kmeans.model_dir, "clusters"))
    np.testing.assert_allclose(centers, expected, rtol=1e-5)


def test_evaluate_returns_loss_score_and_global_step(trained, points):
    kmeans, expected = trained
    results = kmeans.evaluate(ref.whole_input(points))
    assert sorted(results) == ["global_step", "loss", "score"]
    assert results["global_step"] == GLOBAL_STEPS_PER_CALL * NUM_TRAIN_CALLS
    np.testing.assert_allclose(results["score"], ref.score(points, expected), rtol=1e-4)
    np.testing.assert_allclose(results["loss"], results["score"], rtol=1e-6)


def test_score_is_the_positive_sum_of_distances_of_the_first_batch(trained, points):
    kmeans, expected = trained
    score = kmeans.score(ke.inputs.numpy_input_fn(points, batch_size=30, shuffle=False))
    assert score > 0
    np.testing.assert_allclose(score, ref.score(points[:30], expected), rtol=1e-4)


def test_predict_yields_int64_cluster_index_and_squared_distances(trained, points):
    kmeans, expected = trained
    predictions = list(kmeans.predict(ref.whole_input(points)))
    assert len(predictions) == len(points)
    assert all(sorted(prediction) == ["all_distances", "cluster_index"] for prediction in predictions)
    assert all(prediction["cluster_index"].dtype == np.int64 for prediction in predictions)
    distances = np.stack([prediction["all_distances"] for prediction in predictions])
    np.testing.assert_allclose(distances, ref.squared_distances(points, expected), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(
        [prediction["cluster_index"] for prediction in predictions], np.argmin(distances, axis=1)
    )


def test_predict_cluster_index_yields_each_points_nearest_center(trained, points):
    kmeans, expected = trained
    indices = list(kmeans.predict_cluster_index(ref.batched_input(points, 40)))
    np.testing.assert_array_equal(indices, np.argmin(ref.squared_distances(points, expected), axis=1))


def test_input_fn_may_return_features_and_no_labels(trained, points):
    kmeans, expected = trained
    indices = list(kmeans.predict_cluster_index(lambda: (ref.whole_input(points)(), None)))
    np.testing.assert_array_equal(indices, np.argmin(ref.squared_distances(points, expected), axis=1))


def test_transform_yields_euclidean_distances_for_squared_euclidean(trained, points):
    kmeans, expected = trained
    distances = np.stack(list(kmeans.transform(ref.whole_input(points))))
    np.testing.assert_allclose(distances, np.sqrt(ref.squared_distances(points, expected)), rtol=1e-4, atol=1e-3)


def test_model_dir_holds_checkpoints_graph_events_and_eval(trained, points):
    kmeans, _ = trained
    kmeans.evaluate(ref.whole_input(points))
    names = os.listdir(kmeans.model_dir)
    step = NUM_TRAIN_CALLS
    for name in ["checkpoint", "graph.pbtxt", f"model.ckpt-{step}.index", f"model.ckpt-{step}.meta", "eval"]:
        assert name in names
    assert any(name.startswith(f"model.ckpt-{step}.data-") for name in names)
    assert any(name.startswith("events.out.tfevents.") for name in names)
    assert any(name.startswith("events.out.tfevents.") for name in os.listdir(kmeans.eval_dir()))


def test_training_writes_the_loss_raw_scalar(trained):
    kmeans, _ = trained
    events = EventAccumulator(kmeans.model_dir)
    events.Reload()
    assert "loss/raw" in events.Tags()["scalars"]
    assert all(event.value > 0 for event in events.Scalars("loss/raw"))


@pytest.mark.parametrize(
    "use_mini_batch, extra_variables",
    [(False, []), (True, ["Variable"])],
    ids=["full_batch", "mini_batch"],
)
def test_checkpoint_holds_the_original_variables(tmp_path, points, use_mini_batch, extra_variables):
    kmeans = ke.KMeans(3, model_dir=str(tmp_path), use_mini_batch=use_mini_batch, seed=1)
    kmeans.train(ref.whole_input(points))
    assert sorted(kmeans.get_variable_names()) == sorted(["clusters", "global_step", "initialized"] + extra_variables)
    assert kmeans.get_variable_value("initialized")
