"""TensorBoard event files of a model directory: one writer per directory, graphs without data.

TensorFlow's `FileWriterCache` makes each writer with the whole default graph, so a
training set captured with `tf.constant` or `Dataset.from_tensor_slices` went into
the event file on every call: each call wrote the data set out again, swelling the
file and slowing the call. These writers start without a graph; the training graph is
added with its large constants stripped (`add_graph`), as in `graph.pbtxt`.
"""
import collections
import threading
import time

import numpy as np
import tensorflow as tf

# The tag of the evaluated checkpoint's path in an evaluation's event file.
CHECKPOINT_PATH_TAG = "checkpoint_path"
# Writers of the directories used last; older ones are closed (each holds a thread and a file).
MAX_OPEN_WRITERS = 16
_WRITERS = collections.OrderedDict()
# output_dir -> the digest of the graph last added to its event file.
_GRAPHS_ADDED = {}
_LOCK = threading.Lock()


def writer(output_dir):
    """The process's `tf.compat.v1.summary.FileWriter` for `output_dir`.

    Made on first use, and again when the directory was removed since (its file went
    with it).
    """
    with _LOCK:
        found = _WRITERS.pop(output_dir, None)
        if found is not None and not tf.io.gfile.isdir(output_dir):
            found.close()
            found = None
            _GRAPHS_ADDED.pop(output_dir, None)
        if found is None:
            with tf.Graph().as_default():  # A graph-mode writer, whatever the caller's mode.
                found = tf.compat.v1.summary.FileWriter(output_dir)
        _WRITERS[output_dir] = found
        while len(_WRITERS) > MAX_OPEN_WRITERS:
            evicted, oldest = _WRITERS.popitem(last=False)
            oldest.close()
            _GRAPHS_ADDED.pop(evicted, None)
        return found


def add_graph(output_dir, graph_def, digest):
    """Adds `graph_def` to the event file of `output_dir`, unless the graph last added
    there has the same `digest` (a kept graph is added once, not on every call)."""
    with _LOCK:
        if _GRAPHS_ADDED.get(output_dir) == digest:
            return
        _GRAPHS_ADDED[output_dir] = digest
    # An Event of our own: FileWriter.add_graph(graph_def=...) logs a deprecation warning.
    event = tf.compat.v1.Event(wall_time=time.time(), graph_def=graph_def.SerializeToString())
    writer(output_dir).add_event(event)


def add_evaluation(output_dir, results, checkpoint_path=None):
    """Adds an evaluation's scalar metrics (`results`, {name: value} with its
    "global_step") to the event file of `output_dir`, at that step, and the path of the
    checkpoint evaluated as the string tensor `checkpoint_path`, as tf.estimator did."""
    step = int(results["global_step"])
    values = [
        tf.compat.v1.Summary.Value(tag=name, simple_value=float(value))
        for name, value in sorted(results.items())
        if name != "global_step" and np.ndim(value) == 0 and np.issubdtype(np.asarray(value).dtype, np.number)
    ]
    found = writer(output_dir)
    found.add_summary(tf.compat.v1.Summary(value=values), step)
    if checkpoint_path:
        path = tf.compat.v1.Summary.Value(
            tag=CHECKPOINT_PATH_TAG, tensor=tf.make_tensor_proto(checkpoint_path, dtype=tf.string))
        found.add_summary(tf.compat.v1.Summary(value=[path]), step)
    found.flush()
