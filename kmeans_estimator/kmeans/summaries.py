"""TensorBoard views of k-means training: cluster sizes, how far the centers move, and the
projector's labeled centers.

The summary ops join the graph's summaries, so the Estimator's summary hook writes them
every `save_summary_steps` steps with the loss; they run on those steps only. Their state
lives in local variables (in no checkpoint, so checkpoints keep the original's variables).
"""
import contextlib
import os

import tensorflow as tf

from kmeans_estimator.estimator import checkpoints
from kmeans_estimator.estimator.hooks import ScheduledHook
from kmeans_estimator.kmeans import variables
from kmeans_estimator.kmeans.features import COMPUTE_DTYPE

SIZES_TAG = "centers/points_per_cluster"
SHIFT_TAG = "centers/shift"
# The file name TensorBoard's projector plugin looks for in a log directory.
PROJECTOR_CONFIG_FILENAME = "projector_config.pbtxt"
METADATA_FILENAME = "clusters_metadata.tsv"
METADATA_HEADER = ("cluster", "count")
# Local variables: the batch counts and centers of the last summary, and whether this
# session has written one.
_COUNTS_VAR_NAME = "kmeans_summary_counts"
_CENTERS_VAR_NAME = "kmeans_summary_centers"
_WRITTEN_VAR_NAME = "kmeans_summary_written"


class SummaryState:
    """What the last summary of this session saw: its batch's counts, and whether there was one.

    Args:
      counts: the int64 `[k]` local variable of points per cluster in that batch.
      written: the bool local variable, True once this session has written a summary.
    """

    def __init__(self, counts, written):
        self.counts = counts
        self.written = written


def add_training_summaries(num_clusters, centers_now, nearest, device=None):
    """Adds the summaries of the centers to the graph's `SUMMARIES` collection.

    - `centers/points_per_cluster`, a histogram of the k counts of this step's batch
      points nearest each center (its `num` is k, its `sum` the batch size);
    - `centers/shift`, the largest Euclidean distance a center moved since the previous
      summary of this session; the first summary of a session has none.

    Both describe the centers the step starts from. Running either also records the counts
    and the centers in local variables for the next summary and for `ProjectorHook`.

    Args:
      num_clusters: k.
      centers_now: the `[k, d]` centers the step reads.
      nearest: the int64 `[n]` index of each batch point's nearest center.
      device: this task's own device on a cluster (see `distributed.own_task_device`), or
        None; the summaries and their state stay there.

    Returns:
      The `SummaryState` the summaries update.
    """
    with tf.device(device) if device else contextlib.nullcontext(), tf.name_scope("kmeans/summaries"):
        last_counts = variables.local_variable(_COUNTS_VAR_NAME, [num_clusters], tf.int64, 0)
        last_centers = variables.local_variable(_CENTERS_VAR_NAME, centers_now.shape, COMPUTE_DTYPE, 0.0)
        written = variables.local_variable(_WRITTEN_VAR_NAME, [], tf.bool, False)
        counts = tf.math.unsorted_segment_sum(tf.ones_like(nearest), nearest, num_clusters, name="counts")
        had_summary = written.read_value()
        shift = tf.reduce_max(tf.norm(centers_now - last_centers.read_value(), axis=1), name="shift")
        with tf.control_dependencies([had_summary, shift]):
            remember = tf.group(
                last_counts.assign(counts), last_centers.assign(centers_now), written.assign(True))
        with tf.control_dependencies([remember]):
            sizes_summary = tf.raw_ops.HistogramSummary(tag=SIZES_TAG, values=counts)
            shift_summary = tf.cond(
                had_summary,
                lambda: tf.raw_ops.ScalarSummary(tags=SHIFT_TAG, values=shift),
                # An empty serialized Summary: the merged summary then holds no shift.
                lambda: tf.constant(b""),
                name="shift_if_any")
    for summary in (sizes_summary, shift_summary):
        tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.SUMMARIES, summary)
    return SummaryState(last_counts, written)


def projector_config_text(metadata_filename=METADATA_FILENAME):
    """The text form of the projector's `ProjectorConfig` showing the `clusters` variable
    labeled by `metadata_filename`.

    Written as text so that the package needs no TensorBoard installed (TensorFlow does not
    depend on it); the tests parse it with TensorBoard's own projector plugin. The checkpoint
    is left unset: the projector reads the latest checkpoint of the directory holding the config.
    """
    return (f"embeddings {{\n  tensor_name: {_quoted(variables.CLUSTER_CENTERS_VAR_NAME)}\n"
            f"  metadata_path: {_quoted(metadata_filename)}\n}}\n")


def _quoted(text):
    """`text` as a protobuf text-format string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def metadata_text(counts):
    """The projector's metadata table: a header row, then each center's id and count."""
    rows = ["\t".join(METADATA_HEADER)]
    rows += [f"{cluster}\t{int(count)}" for cluster, count in enumerate(counts)]
    return "\n".join(rows) + "\n"


def write_projector_files(model_dir, counts):
    """Writes `projector_config.pbtxt` and `clusters_metadata.tsv` into `model_dir`.

    Each file is replaced atomically, the metadata first, so TensorBoard never reads a
    partial file nor a config naming a missing table.
    """
    checkpoints.replace_file(os.path.join(model_dir, METADATA_FILENAME), metadata_text(counts), "w")
    checkpoints.replace_file(os.path.join(model_dir, PROJECTOR_CONFIG_FILENAME), projector_config_text(), "w")


class ProjectorHook(ScheduledHook):
    """The chief's hook writing the projector's files every `every_steps` steps and at the end.

    The counts are those of the last summary (see `add_training_summaries`); before this
    session has written one, nothing is written, so a session that runs no step leaves the
    files of an earlier one. It never needs a hooked run: it reads the state after a step.

    Args:
      model_dir: the directory of the checkpoints and event files.
      state: the `SummaryState` that `add_training_summaries` returned.
      every_steps: positive int, the summaries' `save_summary_steps`.
    """

    def __init__(self, model_dir, state, every_steps):
        self._model_dir = model_dir
        self._state = state
        self._every_steps = every_steps
        self._next_step = None

    def begin(self):
        # A kept graph's hooks serve many train() calls; each starts afresh.
        self._next_step = None

    def observe(self, session, step, loss):
        if self._next_step is None or step >= self._next_step:
            self._write(session)
            self._next_step = step + self._every_steps
        return False

    def end(self, session):
        self._write(session)

    def _write(self, session):
        written, counts = session.run([self._state.written, self._state.counts])
        if written:
            tf.io.gfile.makedirs(self._model_dir)
            write_projector_files(self._model_dir, counts)
