"""The model's features as one float32 `[n, d]` matrix of points, and the checks on it.

Points are clustered in float32 whatever their input dtype (float64 and integer inputs are
cast), so the `clusters` variable and checkpoints have the original's dtype.
"""
import tensorflow as tf

from kmeans_estimator.clustering import distances

COMPUTE_DTYPE = tf.float32

NON_FINITE_MESSAGE = (
    "KMeans input points contain NaN or Inf (or values so large that their squared distances "
    "overflow float32)"
)


def _dict_points(features):
    """A dict of rank-1 or rank-2 tensors, concatenated as columns in key order."""
    if not features:
        raise ValueError("KMeans features dict is empty; give at least one feature")
    columns = []
    for key in sorted(features):
        value = tf.convert_to_tensor(features[key])
        if value.shape.rank == 1:
            value = tf.expand_dims(value, 1)
        if value.shape.rank != 2:
            raise ValueError(
                f"KMeans feature {key!r} must have rank 1 or 2, got rank {value.shape.rank} "
                f"with shape {value.shape}"
            )
        columns.append(tf.cast(value, COMPUTE_DTYPE))
    return columns[0] if len(columns) == 1 else tf.concat(columns, axis=1, name="points")


def points_from_features(features, feature_columns):
    """Turns the model's features into one float32 `[n, d]` matrix of points.

    Args:
      features: a Tensor of points, or a dict of name to Tensor.
      feature_columns: feature columns for `input_layer` (then `features` must be a dict),
        or None to use the features themselves.

    Raises:
      ValueError: the features cannot make an `[n, d]` numeric matrix with d known; the
        message says which feature and what shape or dtype it has.
    """
    if isinstance(features, dict):
        if feature_columns is not None:
            points = tf.compat.v1.feature_column.input_layer(features, list(feature_columns))
        else:
            points = _dict_points(features)
    else:
        if feature_columns is not None:
            raise ValueError(
                "feature_columns were given, so input_fn must return features as a dict of "
                f"name to Tensor, got {type(features).__name__}"
            )
        points = tf.convert_to_tensor(features)
    if points.shape.rank != 2:
        raise ValueError(
            f"KMeans points must have rank 2 [num_points, num_features], got rank "
            f"{points.shape.rank} with shape {points.shape}"
        )
    if points.shape[1] is None:
        raise ValueError(
            f"KMeans points must have a known number of features (columns), got shape {points.shape}"
        )
    if not (points.dtype.is_floating or points.dtype.is_integer):
        raise ValueError(f"KMeans points must be numeric, got dtype {points.dtype.name}")
    return tf.cast(points, COMPUTE_DTYPE)


def non_empty(points):
    """`points`, readable only once the batch is known to hold at least one point."""
    with tf.name_scope("kmeans/check_input"):
        not_empty = tf.debugging.assert_positive(
            tf.shape(points)[0], message="KMeans input is empty: the batch has 0 points"
        )
        with tf.control_dependencies([not_empty]):
            return tf.identity(points)


def finite(tensor):
    """`tensor`, readable only after a check that it holds no NaN or Inf.

    Training and prediction check the distances they compute anyway (a NaN or Inf point
    makes its distances NaN or Inf), which costs one pass over n values instead of n x d;
    initialization, which reads the points before any distance exists, checks the points.
    """
    return tf.debugging.assert_all_finite(tensor, NON_FINITE_MESSAGE)


def unit_if_cosine(metric, centers):
    """Centers as stored after initialization, a Lloyd step or an iteration: unit length for cosine.

    Means of unit points are shorter than 1; scaling them back makes the stored centers the
    mean directions of spherical k-means. Sculley's running means (one step per iteration)
    are stored as they are, since rescaling them would change the running mean; distances
    use unit centers either way.
    """
    if metric == distances.COSINE:
        return tf.math.l2_normalize(centers, axis=1)
    return centers
