"""One training step: a full-batch Lloyd step, or a mini-batch step; then the global step.

On a cluster the variables live on ps tasks while the step runs on a worker; the step's
groups are placed with their variables (`grouped_with`), so a step moves only the tensors
it needs between tasks.
"""
import tensorflow as tf

from kmeans_estimator.clustering import update
from kmeans_estimator.kmeans import variables
from kmeans_estimator.kmeans.features import COMPUTE_DTYPE, unit_if_cosine
from kmeans_estimator.kmeans.settings import REASSIGNMENT_SEED_STREAM, seed_pair

# Nearly empty centers are moved about every this many points per center, as in
# scikit-learn's MiniBatchKMeans (10 * num_clusters points).
REASSIGNMENT_POINTS_PER_CENTER = 10


def grouped_with(anchor, ops):
    """`tf.group(ops)` placed with the variable `anchor`.

    On a cluster a group placed on the worker, between assigns on a ps task and the
    global step's increment, would cost two more transfers per step.
    """
    with anchor.graph.colocate_with(anchor.op):
        return tf.group(*ops)


def full_batch_update(settings, points, centers, centers_now, nearest):
    """The Lloyd step: every center moves to the mean of its points (empty ones stay)."""
    with tf.name_scope("kmeans/update"):
        sums, counts = update.cluster_sums_and_counts(points, nearest, settings.num_clusters)
        return centers.assign(
            unit_if_cosine(settings.distance_metric, update.lloyd_update(centers_now, sums, counts)))


def _reassign_if_due(settings, points, centers, totals):
    """Moves nearly empty centers (see `update.reassign_nearly_empty`) on the steps due.

    A step is due when the points seen, counted as the global step times this batch's
    size, pass a multiple of `REASSIGNMENT_POINTS_PER_CENTER * num_clusters`, without a
    variable of its own. A center with a count of 0 does not make a step due by itself:
    with batches not much larger than `num_clusters` a center's blob is often missing
    from the first batches, and moving that center away would leave the blob without one.
    Draws are seeded by the seed and the global step, so a seeded run moves the same
    centers to the same points every time.

    Returns:
      `(centers, totals)` after the moves, shaped like the inputs.
    """
    period = REASSIGNMENT_POINTS_PER_CENTER * settings.num_clusters
    with tf.name_scope("reassign"):
        step = tf.compat.v1.train.get_global_step().read_value()
        batch_size = tf.cast(tf.shape(points)[0], step.dtype)
        due = (step + 1) * batch_size // period > step * batch_size // period
        seed = tf.random.experimental.stateless_fold_in(seed_pair(settings, REASSIGNMENT_SEED_STREAM), step)
        return tf.cond(
            due,
            lambda: update.reassign_nearly_empty(points, centers, totals, settings.reassignment_ratio, seed),
            lambda: (centers, totals),
            name="if_due")


def _running_means_update(settings, points, centers, centers_now, working, totals, sums, counts):
    """One step per iteration (Sculley's mini-batch k-means): running means, every step."""
    new_centers, new_totals = update.mini_batch_update(centers_now, tf.cast(totals, COMPUTE_DTYPE), sums, counts)
    new_totals = tf.cast(tf.round(new_totals), tf.int64)
    if settings.reassignment_ratio > 0:
        new_centers, new_totals = _reassign_if_due(settings, points, new_centers, new_totals)
    return grouped_with(centers, [
        centers.assign(new_centers), working.assign(new_centers), totals.assign(new_totals)])


def _iteration_update(settings, centers, centers_now, working, totals, steps_to_sync, sums, counts):
    """N > 1 steps per iteration: sums and counts grow; the N-th step moves every center."""
    steps_per_iteration = settings.mini_batch_steps_per_iteration
    # Atomic adds: the steps of all workers of a cluster add up, whatever their order. The
    # step whose countdown reaches exactly 0 is the iteration's last: every other step's
    # adds ran before its countdown, so they are all in.
    add_sums = working.assign_add(sums, use_locking=True)
    add_counts = totals.assign_add(tf.cast(tf.round(counts), tf.int64), use_locking=True)
    with tf.control_dependencies([add_sums, add_counts]):
        remaining = steps_to_sync.assign_sub(1, use_locking=True)

    def sync():
        iteration_counts = tf.cast(totals.read_value(), COMPUTE_DTYPE)
        means = update.lloyd_update(centers_now, working.read_value(), iteration_counts)
        with tf.control_dependencies([means]):
            ops = [
                centers.assign(unit_if_cosine(settings.distance_metric, means)),
                working.assign(tf.zeros_like(working)),
                totals.assign(tf.zeros_like(totals)),
                steps_to_sync.assign(steps_per_iteration),
            ]
        with tf.control_dependencies(ops):
            return tf.constant(True)

    return tf.cond(tf.equal(remaining, 0), sync, lambda: tf.constant(False))


def mini_batch_update(settings, points, centers, centers_now, nearest):
    """One mini-batch step; with N = `mini_batch_steps_per_iteration` > 1, N steps make one iteration.

    With N = 1, every step moves the centers by running means: `clusters_updated` is a
    copy of the centers, `cluster_counts` the points each center has had so far, and
    nearly empty centers then move when `reassignment_ratio` > 0. On a cluster, workers'
    steps read and write the shared centers without locks: two concurrent steps may each
    move a center from the same start.

    With N > 1, `clusters_updated` sums the points assigned to each center during the
    iteration and `cluster_counts` counts them; the N-th step moves every center to its
    mean (empty ones stay) and restarts both, so N steps over one epoch, however workers
    share them, make exactly one Lloyd iteration.
    """
    k = settings.num_clusters
    working, totals, steps_to_sync = variables.mini_batch_variables(
        k, centers.shape[1], settings.mini_batch_steps_per_iteration)
    with tf.name_scope("kmeans/update"):
        sums, counts = update.cluster_sums_and_counts(points, nearest, k)
        if settings.mini_batch_steps_per_iteration == 1:
            return _running_means_update(settings, points, centers, centers_now, working, totals, sums, counts)
        return _iteration_update(settings, centers, centers_now, working, totals, steps_to_sync, sums, counts)


def train_op(settings, points, centers, centers_now, nearest):
    """The train op: the step's update, then the global step's increment."""
    global_step = tf.compat.v1.train.get_global_step()
    # Made before the step, beside the global step: a constant made under the step's
    # control dependencies would wait for it on the worker, then travel.
    with global_step.graph.colocate_with(global_step.op):
        one = tf.constant(1, global_step.dtype.base_dtype)
    if settings.use_mini_batch:
        update_op = mini_batch_update(settings, points, centers, centers_now, nearest)
    else:
        update_op = full_batch_update(settings, points, centers, centers_now, nearest)
    with tf.control_dependencies([grouped_with(global_step, [update_op])]):
        return tf.compat.v1.assign_add(global_step, one, name="train_op")


def end_of_input_increment():
    """The global step's increment for the run that meets the end of the input
    (see `hooks.CountRunAtEndOfInputHook`)."""
    global_step = tf.compat.v1.train.get_global_step()
    with global_step.graph.colocate_with(global_step.op):
        return tf.compat.v1.assign_add(global_step, 1, name="end_of_input_step")
