"""Fixtures of the compatibility tests: small inputs built the way programs for the original built them."""
import os

import numpy as np
import pytest
import tensorflow as tf

FIVE_POINTS = np.array([[1, 2], [3, 4], [5, 6], [7, 8], [9, 0]], np.float32)


def queued_rows_input(points, batch_size):
    """An input_fn taking `batch_size` rows of `points` per batch, in order and round and round,
    through a FIFOQueue of row indices (the queue-based inputs of TF1 programs)."""
    num_points = len(points)

    def input_fn():
        queue = tf.queue.FIFOQueue(num_points, tf.int32, shapes=[])
        def fill():
            with tf.control_dependencies([queue.enqueue_many(tf.range(num_points))]):
                return tf.constant(True)

        refill = tf.cond(queue.size() <= 0, fill, lambda: tf.constant(False))
        with tf.control_dependencies([refill]):
            taken = queue.dequeue_many(batch_size)
            with tf.control_dependencies([queue.enqueue_many(taken)]):
                rows = tf.identity(taken)
        return tf.gather(tf.constant(points), rows), None

    return input_fn


def queue_runner_input(batch):
    """An input_fn reading `batch` again and again from a FIFOQueue filled by a QueueRunner."""

    def input_fn():
        queue = tf.queue.FIFOQueue(capacity=10, dtypes=tf.float32, shapes=[batch.shape])
        enqueue = queue.enqueue(tf.constant(batch))
        tf.compat.v1.train.add_queue_runner(tf.compat.v1.train.QueueRunner(queue, [enqueue]))
        return queue.dequeue(), None

    return input_fn


def limit_epochs_input(points, num_epochs=1):
    """The docs' input_fn: the whole array as one batch, `num_epochs` times."""

    def input_fn():
        return tf.compat.v1.train.limit_epochs(tf.convert_to_tensor(points), num_epochs=num_epochs)

    return input_fn


@pytest.fixture(scope="module")
def three_blobs():
    rng = np.random.RandomState(0)
    centers = np.array([[-4.0, 4.0], [4.0, 4.0], [0.0, 0.0]])
    return np.concatenate([rng.normal(center, 0.3, (40, 2)) for center in centers]).astype(np.float32)


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def original_python():
    """The Python of the original KMeans Estimator (TensorFlow 2.15 with tensorflow-estimator):
    `$KMEANS_ORIGINAL_PYTHON`, or `.venv-original` (`make original-env`). Under CI a missing one
    fails the tests that need it instead of skipping them."""
    python = os.environ.get("KMEANS_ORIGINAL_PYTHON") or os.path.join(REPO, ".venv-original", "bin", "python")
    if not os.access(python, os.X_OK):
        message = f"the original's Python {python} is missing: `make original-env` builds .venv-original"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return python
