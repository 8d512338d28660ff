"""k-means on the Estimator machinery: `KMeans`, a drop-in for the original's class.

Modules, each depending only on those before it: `settings` (the constructor's arguments,
checked and frozen), `features` (points from features), `variables` (the model's
variables), `hooks` (initial-center report, early stop), `initialization` and `step`
(the graph of choosing centers and of one training step), `model_fn` (the specs of each
mode), `estimator` (the `KMeans` class).
"""
from kmeans_estimator.kmeans.estimator import KMeans
from kmeans_estimator.kmeans.features import COMPUTE_DTYPE, points_from_features
from kmeans_estimator.kmeans.settings import MINI_BATCH_QUALITY, ConvergenceWarning, Settings


def _parse_features_if_necessary(features, feature_columns):
    """The original module's name for turning features into points, which its tests call:
    `points_from_features`, for programs and tests written against the original's module."""
    return points_from_features(features, feature_columns)


__all__ = ["COMPUTE_DTYPE", "ConvergenceWarning", "MINI_BATCH_QUALITY", "KMeans", "Settings", "points_from_features"]
