"""The `experimental` namespace of the original: `tf.compat.v1.estimator.experimental.KMeans`."""
from kmeans_estimator.kmeans import KMeans

KMeansClustering = KMeans

__all__ = ["KMeans", "KMeansClustering"]
