"""The k-means model's variables: their names and how each is created.

The saved ones are the original's, by checkpoint key, dtype and shape, so that model
directories cross between the two in both directions:
- every mode: `clusters` float32 `[k, d]`, `initialized` bool `[]` (and the global step);
- mini-batch mode: the per-center counts, int64 `[k]`, under the key `Variable` (the
  original never named them);
- mini-batch mode with `mini_batch_steps_per_iteration` N > 1: also `clusters_updated`
  float32 `[k, d]`, the running means the next sync copies into `clusters`, and
  `update_in_steps` int64 `[]`, the steps still to run before it.
`step.mini_batch_update` says what they hold; `earlier_checkpoints` reads the keys of
earlier releases of this package.

Every variable is a resource variable, also in a program that turned TensorFlow 2
behaviour off (`tf.compat.v1.disable_v2_behavior()`): a reference variable's read aliases
its buffer, so a read made before an assign in the same run could see the assigned value,
and initialization reads and assigns the centers and the count chosen in one run.
"""
import collections

import tensorflow as tf

from kmeans_estimator.kmeans.features import COMPUTE_DTYPE

CLUSTER_CENTERS_VAR_NAME = "clusters"
INITIALIZED_VAR_NAME = "initialized"
# Mini-batch mode only (see `step.mini_batch_update` for what they hold in each mode).
CLUSTER_COUNTS_VAR_NAME = "Variable"
# Mini-batch mode with more than one step per iteration only.
WORKING_CENTERS_VAR_NAME = "clusters_updated"
STEPS_TO_SYNC_VAR_NAME = "update_in_steps"
# Local to the chief, never saved: the state of an initialization in progress.
NUM_CHOSEN_VAR_NAME = "kmeans_num_initialized_centers"
INIT_DISTINCT_VAR_NAME = "kmeans_init_distinct_found"
POOL_POINTS_VAR_NAME = "kmeans_init_pool"
POOL_TARGET_VAR_NAME = "kmeans_init_pool_target"


def _model_variable(name, shape, dtype, initial_value):
    return tf.compat.v1.get_variable(
        name, shape=shape, dtype=dtype, initializer=tf.compat.v1.constant_initializer(initial_value),
        trainable=False, use_resource=True)


def local_variable(name, shape, dtype, initial_value):
    """A resource variable of this process only: in no checkpoint, initialized by each session."""
    return tf.compat.v1.get_variable(
        name, shape=shape, dtype=dtype, initializer=tf.compat.v1.constant_initializer(initial_value),
        trainable=False, use_resource=True, collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES])


def centers_and_initialized(num_clusters, num_features):
    """The `[k, d]` centers (zeros until chosen) and the bool saying they are chosen."""
    centers = _model_variable(CLUSTER_CENTERS_VAR_NAME, [num_clusters, num_features], COMPUTE_DTYPE, 0.0)
    initialized = _model_variable(INITIALIZED_VAR_NAME, [], tf.bool, False)
    return centers, initialized


class MiniBatchState(collections.namedtuple("MiniBatchState", ["counts", "working", "steps_to_sync"])):
    """The mini-batch variables: the int64 `[k]` counts; with N > 1 steps per iteration also
    the `[k, d]` running means and the int64 steps left before the next sync, else None."""


def mini_batch_variables(*, num_clusters: int, num_features: int, steps_per_iteration: int) -> MiniBatchState:
    """Creates the `MiniBatchState` of mini-batch training with `steps_per_iteration` (N).

    With N = 1 the counts start at one each, the initial center counting as one point;
    with N > 1 at zero, and the steps left at N. The running means start as zeros until
    the init op copies the initial centers into them.
    """
    if steps_per_iteration == 1:
        counts = _model_variable(CLUSTER_COUNTS_VAR_NAME, [num_clusters], tf.int64, 1)
        return MiniBatchState(counts, None, None)
    counts = _model_variable(CLUSTER_COUNTS_VAR_NAME, [num_clusters], tf.int64, 0)
    working = _model_variable(WORKING_CENTERS_VAR_NAME, [num_clusters, num_features], COMPUTE_DTYPE, 0.0)
    steps_to_sync = _model_variable(STEPS_TO_SYNC_VAR_NAME, [], tf.int64, steps_per_iteration)
    return MiniBatchState(counts, working, steps_to_sync)
