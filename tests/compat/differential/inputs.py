"""The data and input_fns the scenarios train on, built as programs for the original built them."""
import numpy as np
import tensorflow as tf

# 30 points in three blobs of 10 around (-4, 4), (4, 4) and (0, 0), arriving in turn: point i is
# of blob i % 3, so every batch of 3 points or more holds each blob (an empty cluster in full-batch
# mode is a defect of the original's, shown by its own scenario only).
BLOB_CENTERS = np.array([[-4.0, 4.0], [4.0, 4.0], [0.0, 0.0]], np.float32)
_BY_BLOB = np.stack([np.random.RandomState(0).normal(center, 0.4, (10, 2)) for center in BLOB_CENTERS], axis=1)
POINTS = _BY_BLOB.reshape(30, 2).astype(np.float32)
# Initial centers near the blobs, so every scenario's centers are deterministic on both sides.
INITIAL_CENTERS = np.array([[-3.0, 3.0], [3.0, 5.0], [1.0, 1.0]], np.float32)
# Points whose predictions and distances the scenarios record, one or two of each blob.
PROBES = POINTS[[0, 1, 2, 3, 5]]


def constant(points=POINTS):
    """The whole array as one batch on every step: an input that never ends."""
    return lambda: tf.constant(points)


def limit_epochs(points=POINTS, num_epochs=1):
    """The docs' input: the whole array as one batch, `num_epochs` times, then the end."""
    return lambda: tf.compat.v1.train.limit_epochs(tf.convert_to_tensor(points), num_epochs=num_epochs)


def dataset(points=POINTS, batch_size=10, repeat=False):
    """A `tf.data` pipeline of the rows in order, in batches of `batch_size`, ending unless `repeat`."""

    def input_fn():
        batches = tf.data.Dataset.from_tensor_slices(points).batch(batch_size)
        return batches.repeat() if repeat else batches

    return input_fn


def feature_dict(points=POINTS, once=False):
    """The columns as a dict of `[n, 1]` features, keys not in column order; one batch if `once`."""

    def input_fn():
        features = {"b": tf.constant(points[:, 1:]), "a": tf.constant(points[:, :1])}
        return tf.data.Dataset.from_tensors(features) if once else features

    return input_fn


def queue_runner(points=POINTS):
    """The array again and again from a FIFOQueue that a QueueRunner fills."""

    def input_fn():
        queue = tf.queue.FIFOQueue(capacity=4, dtypes=tf.float32, shapes=[points.shape])
        tf.compat.v1.train.add_queue_runner(tf.compat.v1.train.QueueRunner(queue, [queue.enqueue(points)]))
        return queue.dequeue(), None

    return input_fn


def first_points(inputs, num_clusters):
    """A callable `initial_clusters`: the first `num_clusters` rows of the batch it is given."""
    batch = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
    return batch[:num_clusters]


def raw_receiver_fn(est, num_features=2):
    """`build_raw_serving_input_receiver_fn` for float32 `[None, num_features]` points named `x`."""
    with tf.Graph().as_default():
        spec = {"x": tf.compat.v1.placeholder(tf.float32, [None, num_features], name="x")}
        return est.export.build_raw_serving_input_receiver_fn(spec)
