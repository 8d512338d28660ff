"""One training step: a full-batch Lloyd step, or a mini-batch step; then the global step.

On a cluster the variables live on ps tasks while the step runs on a worker; the step's
groups are placed with their variables (`grouped_with`), so a step moves only the tensors
it needs between tasks.
"""
import tensorflow as tf

from kmeans_estimator.clustering import update
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

    The rule compares the points assigned to each center: `totals` less the one every
    count starts at for its initial center. A moved center's count becomes, by the same
    measure, that of the least-used center that stays.

    Returns:
      `(centers, totals)` after the moves, shaped like the inputs.
    """
    period = REASSIGNMENT_POINTS_PER_CENTER * settings.num_clusters
    with tf.name_scope("reassign"):
        step = tf.compat.v1.train.get_global_step().read_value()
        batch_size = tf.cast(tf.shape(points)[0], step.dtype)
        due = (step + 1) * batch_size // period > step * batch_size // period
        seed = tf.random.experimental.stateless_fold_in(seed_pair(settings, REASSIGNMENT_SEED_STREAM), step)

        def reassign():
            moved, assigned = update.reassign_nearly_empty(
                points, centers, totals - 1, settings.reassignment_ratio, seed)
            return moved, assigned + 1

        return tf.cond(due, reassign, lambda: (centers, totals), name="if_due")


def _moved_by_batch(centers_now, counts_now, sums, counts):
    """`update.mini_batch_update` of int64 counts: `(new_centers, new_counts)`."""
    new_centers, new_counts = update.mini_batch_update(centers_now, tf.cast(counts_now, COMPUTE_DTYPE), sums, counts)
    return new_centers, tf.cast(tf.round(new_counts), tf.int64)


def _one_step_iteration_update(settings, points, centers, centers_now, state, sums, counts):
    """N = 1: `clusters` itself moves every step; nearly empty centers then move when due."""
    new_centers, new_counts = _moved_by_batch(centers_now, state.counts.read_value(), sums, counts)
    if settings.reassignment_ratio > 0:
        new_centers, new_counts = _reassign_if_due(settings, points, new_centers, new_counts)
    return grouped_with(centers, [centers.assign(new_centers), state.counts.assign(new_counts)])


def _sync_if_due(settings, centers, state):
    """Counts the step down; when no step was left, first copies the running means into the
    centers (unit length for cosine) and restarts the counts. Returns True when it synced."""
    steps_per_iteration = settings.mini_batch_steps_per_iteration

    def sync():
        # The countdown restarts first, so that a concurrent step of another worker does
        # not sync again.
        with tf.control_dependencies([state.steps_to_sync.assign(steps_per_iteration - 1)]):
            copied = centers.assign(unit_if_cosine(settings.distance_metric, state.working.read_value()))
        with tf.control_dependencies([copied]):
            restarted = state.counts.assign(tf.zeros_like(state.counts))
        with tf.control_dependencies([restarted]):
            return tf.constant(True)

    def count_down():
        with tf.control_dependencies([state.steps_to_sync.assign_sub(1)]):
            return tf.constant(False)

    return tf.cond(state.steps_to_sync.read_value() <= 0, sync, count_down, name="sync_if_due")


def _iteration_update(settings, centers, centers_now, state, sums, counts):
    """N > 1: the sync when due, then the running means move by this step's points."""
    # The step's reading of the centers (its assignments, loss and summaries) comes first.
    with tf.control_dependencies([centers_now]):
        synced = _sync_if_due(settings, centers, state)
    with tf.control_dependencies([synced]):
        working_now = state.working.read_value()
        counts_now = state.counts.read_value()
    new_working, new_counts = _moved_by_batch(working_now, counts_now, sums, counts)
    # Adds, not assigns: concurrent steps of a cluster's workers each add their points.
    return grouped_with(state.working, [
        state.working.assign_add(new_working - working_now, use_locking=True),
        state.counts.assign_add(new_counts - counts_now, use_locking=True),
    ])


def mini_batch_update(settings, points, centers, centers_now, nearest, state):
    """One mini-batch step, the original's; N = `mini_batch_steps_per_iteration`.

    Each step's points are assigned to `centers_now`, the centers as the step found them
    (on a sync step too, see below). A center then moves towards its points at the rate
    of `update.mini_batch_update`, `1 / (n + m)` for a count `n` before the step and `m`
    points in it, and its count grows by `m`; centers without points stay.

    With N = 1 the centers in `clusters` move every step, their counts starting at one
    (the initial center counts as a point); nearly empty centers then move when
    `reassignment_ratio` > 0. On a cluster, workers' steps read and write the shared
    centers without locks: two concurrent steps may each move a center from the same start.

    With N > 1 `clusters` holds still during an iteration: the running means in
    `clusters_updated` (the initial centers at first) move instead, with counts starting
    at zero, and `update_in_steps` counts N steps down. The step that finds no step left
    first syncs: `clusters` gets the running means (l2-normalized for cosine), the counts
    restart at zero and `update_in_steps` at N - 1; then its points move the running means.
    So `clusters` changes at the start of steps N + 1, 2N + 1, ...; its points were
    assigned to the centers before that sync (the original's order there is a race; in
    the train(steps=1) calls measured it assigned them so). During an iteration every step
    assigns to the same centers, so the counts of an iteration are exact however a
    cluster's workers share its steps.
    """
    k = settings.num_clusters
    with tf.name_scope("kmeans/update"):
        sums, counts = update.cluster_sums_and_counts(points, nearest, k)
        if settings.mini_batch_steps_per_iteration == 1:
            return _one_step_iteration_update(settings, points, centers, centers_now, state, sums, counts)
        return _iteration_update(settings, centers, centers_now, state, sums, counts)


def train_op(settings, points, centers, centers_now, nearest, *, state=None):
    """The train op: the step's update, then the global step's increment.

    `state` is the `variables.MiniBatchState` of mini-batch training, else None.
    """
    global_step = tf.compat.v1.train.get_global_step()
    # Made before the step, beside the global step: a constant made under the step's
    # control dependencies would wait for it on the worker, then travel.
    with global_step.graph.colocate_with(global_step.op):
        one = tf.constant(1, global_step.dtype.base_dtype)
    if settings.use_mini_batch:
        update_op = mini_batch_update(settings, points, centers, centers_now, nearest, state)
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
