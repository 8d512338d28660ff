"""Bad arguments and bad input: KMeans fails with a message naming the problem, and no
checkpoint changes."""
import re

import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke
from tests import kmeans_reference as ref


@pytest.fixture(scope="module")
def trained(tmp_path_factory, points):
    """A mini-batch KMeans with 3 random centers in 2-D, trained two steps; tests must not change it."""
    kmeans = ke.KMeans(3, model_dir=str(tmp_path_factory.mktemp("errors")), seed=1)
    kmeans.train(ref.repeated_input(points), steps=2)
    return kmeans


def run(kmeans, method, input_fn):
    """Calls a train, evaluate or predict method of kmeans on input_fn to its end."""
    if method == "train":
        kmeans.train(input_fn, steps=1)
    elif method == "evaluate":
        kmeans.evaluate(input_fn)
    else:
        list(kmeans.predict(input_fn))


def with_value_at(points, value):
    changed = points.copy()
    changed[7, 1] = value
    return changed


@pytest.mark.parametrize("method", ["train", "evaluate", "predict"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_points_are_rejected(trained, points, method, value):
    state = ref.checkpoint_state(trained.model_dir)
    with pytest.raises(tf.errors.InvalidArgumentError, match="KMeans input points contain NaN or Inf"):
        run(trained, method, ref.whole_input(with_value_at(points, value)))
    ref.assert_same_checkpoint(state, trained.model_dir)


def test_non_finite_points_are_rejected_before_initialization(tmp_path, points):
    kmeans = ke.KMeans(3, model_dir=str(tmp_path), seed=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN"):
        kmeans.train(ref.whole_input(with_value_at(points, np.nan)))
    assert tf.train.latest_checkpoint(kmeans.model_dir) is None


@pytest.mark.parametrize("method", ["train", "evaluate", "predict"])
def test_empty_batch_is_rejected(trained, method):
    state = ref.checkpoint_state(trained.model_dir)
    with pytest.raises(tf.errors.InvalidArgumentError, match="KMeans input is empty"):
        run(trained, method, ref.repeated_input(np.zeros((0, 2), np.float32)))
    ref.assert_same_checkpoint(state, trained.model_dir)


def test_input_without_any_batch_is_rejected_as_empty(tmp_path, points):
    kmeans = ke.KMeans(3, model_dir=str(tmp_path), seed=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"KMeans input is empty.*num_clusters=3"):
        kmeans.train(ref.batched_input(points[:0], batch_size=10))
    assert tf.train.latest_checkpoint(kmeans.model_dir) is None


@pytest.mark.parametrize("method", ["train", "evaluate", "predict"])
@pytest.mark.parametrize("shape, rank", [((90,), 1), ((90, 2, 1), 3)], ids=["rank1", "rank3"])
def test_points_of_rank_other_than_2_are_rejected(trained, points, method, shape, rank):
    state = ref.checkpoint_state(trained.model_dir)
    with pytest.raises(ValueError, match=rf"must have rank 2 .*got rank {rank}"):
        run(trained, method, ref.whole_input(points.ravel()[: np.prod(shape)].reshape(shape)))
    ref.assert_same_checkpoint(state, trained.model_dir)


@pytest.mark.parametrize("method", ["train", "evaluate", "predict"])
def test_points_of_another_dimension_than_the_centers_are_rejected(trained, method):
    state = ref.checkpoint_state(trained.model_dir)
    message = r"'clusters' has shape \[3, 2\].*dimension 1 is 2 in the checkpoint and 4 here"
    # The original's type: its Saver's restore failed on the shape.
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        run(trained, method, ref.whole_input(np.ones((10, 4), np.float32)))
    ref.assert_same_checkpoint(state, trained.model_dir)


def test_predict_on_a_model_from_given_centers_reports_the_trained_dimension(tmp_path, points):
    kmeans = ke.KMeans(3, model_dir=str(tmp_path), initial_clusters=points[:3], use_mini_batch=False)
    kmeans.train(ref.whole_input(points))
    with pytest.raises(tf.errors.InvalidArgumentError, match="dimension 1 is 2 in the checkpoint and 4 here"):
        list(kmeans.predict(ref.whole_input(np.ones((10, 4), np.float32))))


def test_initial_centers_of_another_dimension_than_the_points_are_rejected(tmp_path, points):
    kmeans = ke.KMeans(2, model_dir=str(tmp_path), initial_clusters=np.eye(2, 3, dtype=np.float32))
    # The original's type: it found the mismatch when the init ran.
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="initial_clusters have 3 features, but the input points have 2"):
        kmeans.train(ref.whole_input(points))
    assert tf.train.latest_checkpoint(kmeans.model_dir) is None


def test_feature_columns_need_dict_features(tmp_path, points):
    kmeans = ke.KMeans(2, model_dir=str(tmp_path), feature_columns=[tf.compat.v1.feature_column.numeric_column("x")])
    with pytest.raises(ValueError, match="feature_columns were given, so input_fn must return features as a dict"):
        kmeans.train(ref.whole_input(points))


# The original's types: TypeError for a non-integer, its init op's InvalidArgumentError below 1.
@pytest.mark.parametrize("num_clusters, error", [
    (0, tf.errors.InvalidArgumentError), (-1, tf.errors.InvalidArgumentError), (2.5, TypeError),
    ("three", TypeError), (None, TypeError), (True, TypeError), (np.float32(3.0), TypeError)])
def test_num_clusters_must_be_a_positive_integer(num_clusters, error):
    with pytest.raises(error, match=re.escape(f"num_clusters must be a positive integer, got {num_clusters!r}")):
        ke.KMeans(num_clusters)


@pytest.mark.parametrize("num_clusters", [np.int64(3), tf.constant(3)], ids=["numpy", "eager_tensor"])
def test_num_clusters_may_be_a_numpy_or_eager_integer(tmp_path, num_clusters):
    assert ke.KMeans(num_clusters, model_dir=str(tmp_path)).settings.num_clusters == 3


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"initial_clusters": "kmeans++"}, r"initial_clusters must be one of .*got 'kmeans\+\+'"),
        ({"initial_clusters": 5}, r"initial_clusters must be one of .*got 5"),
        ({"initial_clusters": np.ones(3)}, r"initial_clusters as an array must have rank 2 .*got shape \[3\]"),
        ({"initial_clusters": np.ones((0, 2))}, r"initial_clusters as an array .*got shape \[0, 2\]"),
        ({"initial_clusters": np.array([[0.0, np.nan]])}, "initial_clusters contains NaN or Inf"),
        ({"initial_clusters": np.array([["a", "b"]])}, "initial_clusters as an array must be numeric"),
        ({"distance_metric": "euclidean"}, r"distance_metric must be one of .*got 'euclidean'"),
        ({"feature_columns": "x"}, r"feature_columns must be an iterable of feature columns, got 'x'"),
    ],
    ids=lambda value: next(iter(value)) if isinstance(value, dict) else "",
)
def test_invalid_constructor_argument_is_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        ke.KMeans(3, **arguments)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"seed": 1.5}, r"seed must be an integer or None, got 1.5"),
        ({"mini_batch_steps_per_iteration": "3"}, r"mini_batch_steps_per_iteration must be an integer, got '3'"),
        ({"kmeans_plus_plus_num_retries": 1.5}, r"kmeans_plus_plus_num_retries must be an integer, got 1.5"),
        ({"relative_tolerance": "small"}, r"relative_tolerance must be a number or None, got 'small'"),
    ],
    ids=lambda value: next(iter(value)) if isinstance(value, dict) else "",
)
def test_constructor_argument_of_a_wrong_type_raises_type_error_naming_it(arguments, message):
    # The original's type: it failed on these while building the graph.
    with pytest.raises(TypeError, match=message):
        ke.KMeans(3, **arguments)


@pytest.mark.parametrize(
    "arguments, settings",
    [
        ({"use_mini_batch": "yes"}, {"use_mini_batch": True}),
        ({"use_mini_batch": 0}, {"use_mini_batch": False}),
        ({"mini_batch_steps_per_iteration": 0}, {"mini_batch_steps_per_iteration": 1}),
        ({"relative_tolerance": -0.1}, {"relative_tolerance": -0.1}),
    ],
    ids=["use_mini_batch_truthy", "use_mini_batch_falsy", "steps_per_iteration_0", "negative_tolerance"],
)
def test_constructor_accepts_what_the_original_accepted(arguments, settings):
    kmeans = ke.KMeans(3, **arguments)
    assert {name: getattr(kmeans.settings, name) for name in settings} == settings


def test_initial_clusters_as_a_graph_tensor_is_rejected():
    with tf.Graph().as_default():
        centers = tf.constant([[0.0, 1.0]])
        with pytest.raises(ValueError, match="initial_clusters as a Tensor must be an eager"):
            ke.KMeans(1, initial_clusters=centers)
