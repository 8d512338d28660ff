"""The k-means model's variables: their names and how each is created.

Every variable is a resource variable, also in a program that turned TensorFlow 2
behaviour off (`tf.compat.v1.disable_v2_behavior()`): a reference variable's read aliases
its buffer, so a read made before an assign in the same run could see the assigned value,
and initialization reads and assigns the centers and the count chosen in one run.
"""
import tensorflow as tf

from kmeans_estimator.kmeans.features import COMPUTE_DTYPE

CLUSTER_CENTERS_VAR_NAME = "clusters"
INITIALIZED_VAR_NAME = "initialized"
# Mini-batch mode only (see `step.mini_batch_update` for what they hold in each mode).
WORKING_CENTERS_VAR_NAME = "clusters_updated"
CLUSTER_COUNTS_VAR_NAME = "cluster_counts"
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


def mini_batch_variables(num_clusters, num_features, steps_per_iteration):
    """The working centers, the int64 counts per center and the steps left to the next sync."""
    working = _model_variable(WORKING_CENTERS_VAR_NAME, [num_clusters, num_features], COMPUTE_DTYPE, 0.0)
    totals = _model_variable(CLUSTER_COUNTS_VAR_NAME, [num_clusters], tf.int64, 0)
    steps_to_sync = _model_variable(STEPS_TO_SYNC_VAR_NAME, [], tf.int64, steps_per_iteration)
    return working, totals, steps_to_sync
