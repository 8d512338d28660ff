"""Numpy k-means the KMeans tests compare against, and helpers to feed and inspect KMeans."""
import os

import numpy as np
import tensorflow as tf


def squared_distances(points, centers):
    """[n, k] squared Euclidean distances, in float64."""
    difference = np.asarray(points, np.float64)[:, None, :] - np.asarray(centers, np.float64)[None, :, :]
    return np.sum(difference**2, axis=2)


def normalized(rows):
    rows = np.asarray(rows, np.float64)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def cosine_distances(points, centers):
    """[n, k] distances 1 - cos between the rows of points and centers."""
    return 1.0 - normalized(points) @ normalized(centers).T


def lloyd_step(points, centers):
    """One full-batch Lloyd iteration; a center without points stays where it is."""
    nearest = np.argmin(squared_distances(points, centers), axis=1)
    new_centers = np.array(centers, np.float64)
    for cluster in range(len(centers)):
        members = points[nearest == cluster]
        if len(members):
            new_centers[cluster] = members.mean(axis=0)
    return new_centers


def spherical_lloyd_step(points, centers):
    """One Lloyd iteration for 1 - cos: unit points, centers moved to the unit mean direction."""
    unit_points = normalized(points)
    nearest = np.argmin(cosine_distances(unit_points, centers), axis=1)
    new_centers = normalized(centers)
    for cluster in range(len(centers)):
        members = unit_points[nearest == cluster]
        if len(members):
            new_centers[cluster] = normalized(members.mean(axis=0, keepdims=True))[0]
    return new_centers


def _moved_by_batch(batch, nearest, centers, counts):
    """The original's mini-batch move: rate 1 / (n + m) for a count n and m points, count n + m."""
    centers = np.array(centers, np.float64)
    counts = np.array(counts, np.int64)
    for cluster in range(len(centers)):
        members = batch[nearest == cluster]
        if len(members):
            m = len(members)
            centers[cluster] += (members.sum(axis=0) - m * centers[cluster]) / (counts[cluster] + m)
            counts[cluster] += m
    return centers, counts


def _nearest(batch, centers, cosine):
    if cosine:
        return np.argmin(cosine_distances(batch, centers), axis=1)
    return np.argmin(squared_distances(batch, centers), axis=1)


def original_mini_batch_step(batch, state, cosine=False):
    """One step of the original's mini-batch k-means with one step per iteration.

    `state` is `(centers, counts)`; counts start at ones (the initial center counts as a
    point), as the original's did. Returns the new state.
    """
    centers, counts = state
    batch = normalized(batch) if cosine else np.asarray(batch, np.float64)
    return _moved_by_batch(batch, _nearest(batch, centers, cosine), centers, counts)


def original_iteration_step(batch, state, steps_per_iteration, cosine=False):
    """One step of the original's mini-batch k-means with N > 1 steps per iteration.

    `state` is `(centers, running_means, counts, steps_left)`, from
    `(initial, initial, zeros, N)`. The step assigns its points to `centers`; when no step
    is left it first syncs (centers := running means, unit for cosine; counts := 0;
    steps_left := N - 1), else counts down; then its points move the running means.
    Returns the new state.
    """
    centers, running, counts, steps_left = state
    batch = normalized(batch) if cosine else np.asarray(batch, np.float64)
    nearest = _nearest(batch, centers, cosine)
    if steps_left <= 0:
        centers = normalized(running) if cosine else np.array(running)
        counts = np.zeros_like(counts)
        steps_left = steps_per_iteration - 1
    else:
        steps_left -= 1
    running, counts = _moved_by_batch(batch, nearest, running, counts)
    return centers, running, counts, steps_left


def score(points, centers):
    """Sum of squared distances of the points to their nearest centers."""
    return float(np.sum(np.min(squared_distances(points, centers), axis=1)))


def whole_input(points):
    """An input_fn giving all points as one batch, once: one step per train() call once the
    centers are chosen; the run that then meets the end of the input counts in global_step too."""
    return lambda: tf.compat.v1.train.limit_epochs(tf.constant(points), num_epochs=1)


def repeated_input(points):
    """An input_fn giving all points as one batch, forever."""
    return lambda: tf.constant(points)


def batched_input(points, batch_size, repeat=False):
    """An input_fn giving the points in order in batches of batch_size, once or forever."""

    def input_fn():
        dataset = tf.data.Dataset.from_tensor_slices(points).batch(batch_size)
        return dataset.repeat() if repeat else dataset

    return input_fn


def checkpoint_state(model_dir):
    """The checkpoint files of model_dir and the variables of its latest checkpoint."""
    files = sorted(name for name in os.listdir(model_dir) if name == "checkpoint" or name.startswith("model.ckpt"))
    latest = tf.train.latest_checkpoint(model_dir)
    values = {} if latest is None else {
        name: tf.train.load_variable(latest, name) for name, _ in tf.train.list_variables(latest)
    }
    return files, values


def assert_same_checkpoint(state, model_dir):
    files, values = checkpoint_state(model_dir)
    assert files == state[0]
    assert sorted(values) == sorted(state[1])
    for name, value in values.items():
        np.testing.assert_array_equal(value, state[1][name], err_msg=name)
