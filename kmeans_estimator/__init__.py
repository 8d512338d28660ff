"""kmeans-estimator: the KMeans Estimator and Estimator machinery for TensorFlow 2.16+."""
from kmeans_estimator._tensorflow_check import require_tensorflow

require_tensorflow()
