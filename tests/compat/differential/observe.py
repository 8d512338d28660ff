"""What a scenario records of a model directory, a call or the logs, the same way on either side.

Runs under TensorFlow 2.15 with tensorflow-estimator (the original's side) and under the
TensorFlow this package supports (ours), so it uses only APIs both have.
"""
import glob
import logging
import os
import re

import numpy as np
import tensorflow as tf

# The progress lines a training call logs at INFO, as templates: floats masked as X and the
# model directory as PATH (see `LogRecorder.tracked`).
TRACKED_LOG_LINES = (
    re.compile(r"^loss = X, step = \d+$"),
    re.compile(r"^global_step/sec: X$"),
    re.compile(r"^loss = X, step = \d+ \(X sec\)$"),
    re.compile(r"^Saving checkpoints for \d+ into PATH\.$"),
    re.compile(r"^Loss for final step: X\.$"),
)
_FLOAT = re.compile(r"(?<![\w.])-?(\d+\.\d*|\d*\.\d+)([eE][-+]?\d+)?|\b(nan|inf)\b")


def plain(value):
    """`value` as JSON can hold it: arrays and numpy scalars become lists and Python numbers."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, (np.ndarray, np.generic)):
        return plain(value.tolist())
    return value


def checkpoint_numbers(model_dir):
    """The N of every `model.ckpt-N.index` in `model_dir`, ascending."""
    names = glob.glob(os.path.join(model_dir, "model.ckpt-*.index"))
    return sorted(int(re.search(r"model\.ckpt-(\d+)\.index$", name).group(1)) for name in names)


def checkpoint_variables(model_dir):
    """`{key: [dtype, shape]}` of the latest checkpoint in `model_dir`, or None without one."""
    path = tf.train.latest_checkpoint(model_dir)
    if path is None:
        return None
    reader = tf.train.load_checkpoint(path)
    dtypes = reader.get_variable_to_dtype_map()
    shapes = reader.get_variable_to_shape_map()
    return {key: [dtypes[key].name, list(shapes[key])] for key in sorted(shapes)}


def state(kmeans):
    """What a program can read of a trained model: its step, centers and checkpoints."""
    model_dir = kmeans.model_dir
    return {
        "global_step": int(kmeans.get_variable_value("global_step")),
        "centers": plain(kmeans.cluster_centers()),
        "checkpoints": checkpoint_numbers(model_dir),
        "variables": checkpoint_variables(model_dir),
    }


def summary_tags(directory):
    """The sorted tags of the summaries in the event files directly in `directory`."""
    tags = set()
    for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(value.tag for value in event.summary.value)
    return sorted(tags)


def files_under(directory):
    """Every file and folder under `directory`, relative and sorted ([] when it does not exist)."""
    if not os.path.isdir(directory):
        return []
    found = []
    for root, folders, files in os.walk(directory):
        found.extend(os.path.relpath(os.path.join(root, name), directory) for name in folders + files)
    # An event file is named for the time and host that wrote it.
    return sorted(re.sub(r"events\.out\.tfevents\..*$", "events.out.tfevents.*", name) for name in found)


def outcome(call, *args, **kwargs):
    """`{"raised": None, "value": ...}`, or `{"raised": "<exception type name>"}` if the call raised."""
    try:
        value = call(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - the type is what is observed
        return {"raised": type(error).__name__}
    return {"raised": None, "value": plain(value)}


def raised(call, *args, **kwargs):
    """The name of the exception type `call` raises, or None."""
    return outcome(call, *args, **kwargs)["raised"]


class LogRecorder(logging.Handler):
    """Collects the messages of the `tensorflow` Python logger (what `tf.compat.v1.logging` controls)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append((record.levelname, record.getMessage()))

    def tracked(self, model_dir):
        """The progress lines logged so far, as `"LEVEL message"` with floats as X and `model_dir` as PATH."""
        lines = []
        for level, message in self.records:
            masked = _FLOAT.sub("X", message.replace(os.path.join(model_dir, "model.ckpt"), "PATH"))
            if any(template.match(masked) for template in TRACKED_LOG_LINES):
                lines.append(f"{level} {masked}")
        return lines
