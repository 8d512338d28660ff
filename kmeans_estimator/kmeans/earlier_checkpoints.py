"""Model directories of earlier releases of this package: their checkpoint keys, restored
into today's variables (see `variables`) and converted to today's meaning.

Earlier releases saved the per-center counts as `cluster_counts` rather than the
original's `Variable`, and in both mini-batch modes also `clusters_updated` and
`update_in_steps`. A training graph restores such a checkpoint (through an
`estimator.checkpoints.RestoreFallback`) by these rules:
- One step per iteration (N = 1): `cluster_counts` counted the points only; each count
  gains one on restore, for the initial center the original counts as a point. The
  checkpoint's `clusters_updated` (a copy of `clusters`) and `update_in_steps` (unused)
  are not read.
- N > 1: `clusters_updated` held the sums of the points of the iteration under way and
  `cluster_counts` their number; the running means today's iteration moves become
  sum / count on restore, a center without points yet taking its position in `clusters`.
  The counts are kept, and `update_in_steps` too: it counted the same steps still to
  accumulate, the sync now running at the start of the step after them.
A checkpoint is read by the rules of the graph's own N (the keys are the same for every N).
Evaluation, prediction and export read `clusters` alone, under the same key as ever.
"""
import tensorflow as tf

from kmeans_estimator.estimator import checkpoints
from kmeans_estimator.kmeans import variables
from kmeans_estimator.kmeans.features import COMPUTE_DTYPE

EARLIER_COUNTS_KEY = "cluster_counts"


def _converted(state, centers):
    """The op turning an earlier release's restored values into today's."""
    with tf.name_scope("kmeans/earlier_checkpoint"):
        counts = state.counts.read_value()
        if state.working is None:
            return tf.group(state.counts.assign(counts + 1))
        float_counts = tf.cast(counts, COMPUTE_DTYPE)[:, tf.newaxis]
        means = state.working.read_value() / tf.maximum(float_counts, 1.0)
        return tf.group(state.working.assign(tf.where(float_counts > 0, means, centers.read_value())))


def add_fallback(*, centers: tf.Variable, state: variables.MiniBatchState) -> None:
    """Lets the default graph, a mini-batch training graph with all its variables made,
    restore an earlier release's checkpoint by the rules above."""
    graph = tf.compat.v1.get_default_graph()
    var_list = checkpoints.saved_variables(graph)
    del var_list[state.counts.op.name]
    var_list[EARLIER_COUNTS_KEY] = state.counts
    checkpoints.add_restore_fallback(checkpoints.RestoreFallback(var_list, _converted(state, centers)), graph)
