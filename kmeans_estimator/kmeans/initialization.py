"""Choosing the initial centers: the chief's init op, run batch after batch until all are chosen.

Rules (the original's, where it had one):
- Given centers, kmeans++ and k-means|| choose all `num_clusters` centers from one batch
  (or, with `mini_batch_init_size` other than 1 in mini-batch mode, from the batches
  gathered until they hold that many points). kmeans++ and k-means|| on fewer points than
  `num_clusters` raise `tf.errors.InvalidArgumentError` naming both numbers.
- Random and callable inits fill the centers batch after batch, each new center distinct
  from the others, in the order the batches arrive.
- A batch (or a callable's result) of `num_clusters` points or more but too few distinct
  ones completes the centers with repeats of the distinct ones (the hook then warns with
  both numbers); a smaller one that brings no new distinct point while centers are missing
  cannot complete them: the hook raises `tf.errors.InvalidArgumentError` naming both
  numbers (an input repeating the same too-few points would never complete them).
The init hook (`hooks.InitializeClustersHook`) runs the init op before the first step and
reports its outcome.
"""
import collections
import contextlib

import tensorflow as tf

from kmeans_estimator.clustering import init
from kmeans_estimator.kmeans import settings as settings_lib, variables
from kmeans_estimator.kmeans.features import COMPUTE_DTYPE, finite, unit_if_cosine
from kmeans_estimator.kmeans.settings import seed_pair

class InitialValues(collections.namedtuple("InitialValues", ["centers", "num_chosen", "distinct_found"])):
    """One choice of centers: the `[k, d]` centers after it, how many rows of them are chosen,
    and -1, or the number of distinct points the choice found when it found fewer than
    the centers it needed (repeated centers if `num_chosen` is k, a failed fill otherwise)."""


class Initialization(collections.namedtuple("Initialization", ["report", "from_gathered", "num_chosen"])):
    """The chief's init ops: `report` (an `InitReport` of tensors) chooses from one batch when
    run; `from_gathered` (another `InitReport`, None when batches are not gathered) chooses
    from the batches gathered so far, for an input that ends first; `num_chosen` is the
    local variable counting the centers chosen, read without reading the input."""


class InitPool:
    """The points a mini-batch chief gathers, batch by batch, to choose its initial centers from.

    Both variables are local: the pool is transient (emptied once the centers are chosen
    from it, gathered anew by a `train()` call that starts before they are), and saving it
    would write a few batches of points into every checkpoint for no use.

    Args:
      num_features: d, the points' number of columns.
      init_size: the points to gather, a positive int, or None for
        `settings.DEFAULT_INIT_BATCHES` times the first batch's size.
    """

    def __init__(self, num_features, init_size):
        self.points = tf.compat.v1.Variable(
            tf.zeros([0, num_features], COMPUTE_DTYPE), shape=tf.TensorShape([None, num_features]),
            trainable=False, collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES],
            name=variables.POOL_POINTS_VAR_NAME, use_resource=True,
        )
        # 0 while the pool is empty; the first batch gathered sets it.
        self.target = variables.local_variable(variables.POOL_TARGET_VAR_NAME, [], tf.int32, 0)
        self._init_size = init_size

    def gather(self, points):
        """Returns the pool with `points` added, its target size, and whether it is full."""
        pooled = tf.concat([self.points.read_value(), points], axis=0, name="pooled")
        if self._init_size is None:
            first_target = settings_lib.DEFAULT_INIT_BATCHES * tf.shape(points)[0]
        else:
            first_target = tf.constant(self._init_size)
        target = self.target.read_value()
        target = tf.where(target > 0, target, first_target)
        return pooled, target, tf.shape(pooled)[0] >= target

    def assign(self, points, target):
        """The assigns of the pool's new content and target."""
        return [self.points.assign(points), self.target.assign(target)]


def _cycled(rows, num_clusters):
    """`num_clusters` rows: `rows` in order, then again from the first, as often as needed."""
    return tf.gather(rows, tf.range(num_clusters) % tf.shape(rows)[0])


def _all_at_once(settings, points):
    """Given centers, kmeans++ and k-means||: every center from this batch (or pool)."""
    k = settings.num_clusters
    metric = settings.distance_metric
    if settings.given_centers is not None:
        chosen = unit_if_cosine(settings.distance_metric, tf.constant(settings.given_centers, COMPUTE_DTYPE))
        return InitialValues(chosen, tf.constant(k), tf.constant(-1))
    if settings.named_init == settings_lib.KMEANS_PLUS_PLUS_INIT:
        chosen = init.kmeans_plus_plus_init(
            points, k, settings.kmeans_plus_plus_num_retries, seed_pair(settings, 0), metric)
    else:
        chosen = init.kmeans_parallel_init(points, k, seed_pair(settings, 0), metric)
    distinct = init.distinct_centers(chosen, points)
    found = tf.shape(distinct)[0]
    repeated = found < k
    return InitialValues(
        tf.cond(repeated, lambda: _cycled(distinct, k), lambda: distinct), tf.constant(k),
        tf.where(repeated, found, -1))


def _fill(settings, points, centers, num_chosen):
    """Random and callable inits: new distinct centers from this batch, after those chosen."""
    k = settings.num_clusters
    before = num_chosen.read_value()
    needed = k - before
    current = centers.read_value()
    existing = current[:before]
    if settings.named_init == settings_lib.RANDOM_INIT:
        available = tf.shape(points)[0]
        fresh = init.random_init(points, needed, seed_pair(settings, before), existing=existing)
    else:
        offered = tf.convert_to_tensor(settings.initial_clusters(points, needed))
        offered = tf.cast(tf.reshape(offered, [-1, points.shape[1]]), COMPUTE_DTYPE)
        available = tf.shape(offered)[0]
        fresh = init.new_distinct_rows(existing, unit_if_cosine(settings.distance_metric, offered))[:needed]
    num_new = tf.shape(fresh)[0]
    so_far = tf.concat([existing, fresh], axis=0)
    chosen = before + num_new
    # A batch of num_clusters points or more but too few distinct ones: the rest of the
    # centers repeat them.
    repeats = tf.logical_and(num_new < needed, available >= k)
    new_centers = tf.cond(
        repeats, lambda: _cycled(so_far, k), lambda: tf.concat([so_far, current[chosen:]], axis=0))
    distinct_found = tf.where(repeats, chosen, tf.where(tf.equal(num_new, 0), before, -1))
    return InitialValues(new_centers, tf.where(repeats, k, chosen), distinct_found)


def initial_values(settings, points, centers, num_chosen):
    """The `InitialValues` of one choice from `points` (a batch, or the gathered pool)."""
    if settings.fills_batch_by_batch:
        return _fill(settings, points, centers, num_chosen)
    return _all_at_once(settings, points)


def _assign(settings, values, centers, initialized, num_chosen, distinct_found, copies=()):
    """The assigns of `values` (the centers also to each of `copies`), and whether every
    center is then chosen."""
    ready = tf.equal(values.num_chosen, settings.num_clusters)
    chosen_centers = tf.ensure_shape(values.centers, centers.shape)
    placed = [centers.assign(chosen_centers)] + [copy.assign(chosen_centers) for copy in copies]
    # A worker waiting for `initialized` steps as soon as it reads True: the centers come first.
    with tf.control_dependencies(placed):
        flagged = initialized.assign(ready)
    assigned = placed + [flagged, num_chosen.assign(values.num_chosen), distinct_found.assign(values.distinct_found)]
    return assigned, ready


def _pool(settings, num_features):
    """The `InitPool` of mini-batch training with a named init gathering batches, else None."""
    if not settings.gathers_batches:
        return None
    return InitPool(num_features, settings.mini_batch_init_size)


def _from_gathered(settings, pool, centers, initialized, num_chosen, distinct_found, copies):
    """The op choosing the centers from the points gathered, for an input that ends first.

    Does nothing when the centers are chosen or nothing was gathered; returns the `InitReport`.
    """
    with tf.name_scope("kmeans/init_from_gathered"):
        gathered = pool.points.read_value()
        pending = tf.logical_and(tf.logical_not(initialized.read_value()), tf.shape(gathered)[0] > 0)
        values = tf.cond(
            pending,
            lambda: tuple(initial_values(settings, gathered, centers, num_chosen)),
            lambda: (centers.read_value(), num_chosen.read_value(), distinct_found.read_value()),
            name="if_pending")
        assigned, _ = _assign(settings, InitialValues(*values), centers, initialized, num_chosen,
                              distinct_found, copies)
        with tf.control_dependencies(assigned + pool.assign(gathered[:0], 0)):
            return _report(initialized, num_chosen, distinct_found)


class InitReport(collections.namedtuple("InitReport", ["initialized", "num_chosen", "distinct_found"])):
    """What one run of the init op leaves: whether every center is chosen, how many are, and
    its `InitialValues.distinct_found`."""


def _report(initialized, num_chosen, distinct_found):
    return InitReport(initialized.read_value(), num_chosen.read_value(), distinct_found.read_value())


def build_init(settings, points, centers, initialized, local_device, *, center_copies=()):
    """The chief's init op: one run chooses centers from one batch (or gathers it).

    The init hook runs it, batch after batch, until every center is chosen, before the
    first training step, as the original's did: a `train()` call whose input holds one
    batch (`limit_epochs` with one epoch) spends it on the centers and trains no step
    (its run meeting the end of the input still counts in the global step, see
    `hooks.CountRunAtEndOfInputHook`).
    With a pool (see `InitPool`), batches are first gathered until it holds
    `mini_batch_init_size` points; the run that fills it chooses from the whole pool.

    Args:
      settings: the model's `settings.Settings`.
      points: the input's `[n, d]` batch, prepared for the metric.
      centers, initialized: the model's variables.
      local_device: the chief's own device on a cluster (its init state stays there, not
        on a ps task), or None.
      center_copies: variables shaped like `centers` that get every center chosen too
        (the running means of mini-batch iterations start as the initial centers).

    Returns:
      The `Initialization`.
    """
    with tf.device(local_device) if local_device else contextlib.nullcontext():
        num_chosen = variables.local_variable(variables.NUM_CHOSEN_VAR_NAME, [], tf.int32, 0)
        distinct_found = variables.local_variable(variables.INIT_DISTINCT_VAR_NAME, [], tf.int32, -1)
        pool = _pool(settings, points.shape[1])
    with tf.name_scope("kmeans/init"):
        with tf.name_scope("check_input"):
            init_points = finite(points)
        if pool is None:
            assigned, _ = _assign(settings, initial_values(settings, init_points, centers, num_chosen),
                                  centers, initialized, num_chosen, distinct_found, center_copies)
        else:
            pooled, target, full = pool.gather(init_points)

            def from_pool():  # The pool empties for good, or for a new gathering (random init).
                chosen, _ = _assign(settings, initial_values(settings, pooled, centers, num_chosen),
                                    centers, initialized, num_chosen, distinct_found, center_copies)
                with tf.control_dependencies(chosen + pool.assign(pooled[:0], 0)):
                    return tf.constant(True)

            def wait():
                with tf.control_dependencies(pool.assign(pooled, target)):
                    return tf.constant(False)

            assigned = [tf.cond(full, from_pool, wait, name="if_pool_full")]
        with tf.control_dependencies(assigned):
            report = _report(initialized, num_chosen, distinct_found)
    from_gathered = None
    if pool is not None:
        from_gathered = _from_gathered(settings, pool, centers, initialized, num_chosen, distinct_found,
                                       center_copies)
    return Initialization(report, from_gathered, num_chosen.read_value())


def init_source(settings):
    """Where the initial centers come from, as the hook's messages name it."""
    if settings.named_init in (settings_lib.KMEANS_PLUS_PLUS_INIT, settings_lib.KMEANS_PARALLEL_INIT):
        if settings.gathers_batches:
            return "the points gathered for initialization"
        return "the first batch"
    if callable(settings.initial_clusters):
        return "the initial_clusters callable's results"
    return "the input"


def check_given_dimension(settings, num_features):
    """Raises `tf.errors.InvalidArgumentError` (the original's type, which found it when the
    init ran) when given initial centers have another number of features than the points,
    here before anything is written."""
    given = settings.given_centers
    if given is not None and given.shape[1] != num_features:
        raise tf.errors.InvalidArgumentError(
            None, None, f"initial_clusters have {given.shape[1]} features, but the input points have {num_features}")


__all__ = [
    "InitReport", "InitialValues", "Initialization", "InitPool", "build_init", "check_given_dimension",
    "init_source", "initial_values",
]
