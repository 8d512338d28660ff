"""Test-wide settings: quiet TensorFlow logs before TensorFlow is imported."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# Shared by the KMeans tests (tests/test_kmeans_*.py).

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def points():
    """90 float32 points in 2-D, uniform in [0, 10): clusters Lloyd needs several steps to settle."""
    return np.random.default_rng(11).uniform(0.0, 10.0, size=(90, 2)).astype(np.float32)


@pytest.fixture(scope="session")
def blobs():
    """Four tight blobs of 20 points in 3-D, far apart in position and in direction."""
    rng = np.random.default_rng(5)
    means = np.array([[10.0, 0, 0], [0, 10, 0], [0, 0, 10], [-6, -6, -6]])
    return np.concatenate([mean + rng.normal(scale=0.1, size=(20, 3)) for mean in means]).astype(np.float32)
