"""Fails the package import with an install hint when TensorFlow is missing.

TensorFlow is an extra of this package (``[cpu]`` or ``[gpu]``) so that
installing kmeans-estimator never replaces a TensorFlow build already present.
"""
import importlib.util

MIN_TF_VERSION = (2, 16)


def require_tensorflow():
    """Raises ImportError naming both extras when TensorFlow cannot be imported."""
    if importlib.util.find_spec("tensorflow") is None:
        raise ImportError(
            "kmeans_estimator needs TensorFlow 2.16 or newer, and none is installed. "
            "Install it with `pip install kmeans-estimator[cpu]` (tensorflow-cpu) or "
            "`pip install kmeans-estimator[gpu]` (tensorflow[and-cuda])."
        )
    import tensorflow as tf

    version = tuple(int(part) for part in tf.__version__.split(".")[:2])
    if version < MIN_TF_VERSION:
        raise ImportError(
            f"kmeans_estimator needs TensorFlow 2.16 or newer, found {tf.__version__}; "
            "upgrade with `pip install kmeans-estimator[cpu]` or `kmeans-estimator[gpu]`."
        )
