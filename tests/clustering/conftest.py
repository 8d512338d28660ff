"""Shared helpers of the clustering tests: running graph-mode code and reference data."""
from typing import Any, Callable

import numpy as np
import pytest
import tensorflow as tf


def run_in_session(build: Callable[[], Any]) -> Any:
    """Builds `build()` in a fresh graph and returns its fetches evaluated in one session run."""
    with tf.Graph().as_default():
        fetches = build()
        with tf.compat.v1.Session() as session:
            return session.run(fetches)


@pytest.fixture
def run() -> Callable[[Callable[[], Any]], Any]:
    return run_in_session


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request) -> type:
    return request.param


@pytest.fixture(scope="session")
def blobs() -> np.ndarray:
    """Four tight blobs of 25 points, far apart both in position and in direction."""
    rng = np.random.default_rng(7)
    means = np.array([[10.0, 0, 0], [0, 10, 0], [0, 0, 10], [-6, -6, -6]])
    return np.concatenate([mean + rng.normal(scale=0.1, size=(25, 3)) for mean in means])
