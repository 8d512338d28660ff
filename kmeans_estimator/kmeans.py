"""KMeans: the k-means Estimator, a drop-in for tf.compat.v1.estimator.experimental.KMeans.

This module wires the graph ops of `kmeans_estimator.clustering` into an
`EstimatorSpec`: the train op chooses the centers in its first run (in mini-batch
mode, once it has gathered a few batches), and hooks report that choice and stop on
a small change of the loss. Arguments are
validated here, once, before any graph is built.

Points are clustered in float32 whatever their input dtype (float64 and
integer inputs are cast), so the `clusters` variable and checkpoints are the
same as the original's.
"""
import collections
import contextlib
import numbers
import time

import numpy as np
import tensorflow as tf
from absl import logging

from kmeans_estimator.clustering import distances, init, update
from kmeans_estimator.estimator.estimator import Estimator
from kmeans_estimator.estimator.hooks import ScheduledHook
from kmeans_estimator.estimator.spec import EstimatorSpec, ModeKeys
from kmeans_estimator.estimator import distributed, export_outputs as export

COMPUTE_DTYPE = tf.float32

# Variables created besides `clusters` and `initialized`; mini-batch mode only (see
# `KMeans._mini_batch_step` for what they hold in each mode).
WORKING_CENTERS_VAR_NAME = "clusters_updated"
CLUSTER_COUNTS_VAR_NAME = "cluster_counts"
STEPS_TO_SYNC_VAR_NAME = "update_in_steps"
INITIALIZED_VAR_NAME = "initialized"

# Batches a mini-batch chief gathers for a named init when mini_batch_init_size is None:
# scikit-learn's MiniBatchKMeans runs its init on 3 * batch_size points.
DEFAULT_INIT_BATCHES = 3

# Nearly empty centers are moved about every this many points per center, as in
# scikit-learn's MiniBatchKMeans (10 * num_clusters points).
REASSIGNMENT_POINTS_PER_CENTER = 10

# The second element of the seed pair of reassignment draws; the inits use 0 to k - 1.
_REASSIGNMENT_SEED_STREAM = -1


# How often a non-chief worker checks whether the chief has chosen the initial centers.
_WAIT_FOR_CHIEF_SECS = 0.5


class _LossRelativeChangeHook(ScheduledHook):
    """Stops training once the loss changes by less than `tolerance`, relatively.

    The change is |loss - previous| / (1 + |previous|), measured between
    consecutive steps of one `train()` call. It reads the loss the training
    loop hands every hook after each step, so it adds no fetch to any step.
    """

    def __init__(self, tolerance):
        self._tolerance = tolerance
        self._previous = None
        self._last_step = None

    def observe(self, session, step, loss):
        if step == self._last_step:  # A run that only chose initial centers.
            return False
        self._last_step = step
        loss = float(loss)
        previous, self._previous = self._previous, loss
        if previous is not None:
            change = abs(loss - previous) / (1.0 + abs(previous))
            if change < self._tolerance:
                logging.info("Loss changed by %g < relative_tolerance=%g: stopping", change, self._tolerance)
                return True
        return False


class _InitializeClustersHook(ScheduledHook):
    """Reports the chief's choice of initial centers; makes other workers wait for it.

    On the chief, the train op itself chooses the centers from its batch (in mini-batch
    mode with a named init, from the batches it gathered) while they are not all chosen,
    then runs its step on that same batch. Centers are distinct points: a run that finds
    fewer distinct points than `num_clusters` assigns nothing, and this hook raises an
    error naming both numbers before anything is saved. An input that ends while the
    chief is still gathering batches has the centers chosen from the points gathered, at
    the end of the call; one that ends before every center is chosen raises an error
    (this hook is a chief hook, ended before the checkpoint hook). Other workers wait
    until the chief has initialized the centers.
    """

    def __init__(self, init, initialized, num_clusters, is_chief, source):
        self._init = init
        self._initialized = initialized
        self._num_clusters = num_clusters
        self._is_chief = is_chief
        self._source = source
        self._done = False

    def after_create_session(self, session, coord):
        self._done = False
        while not self._is_chief and not session.run(self._initialized):
            time.sleep(_WAIT_FOR_CHIEF_SECS)

    def observe(self, session, step, loss):
        if self._done or not self._is_chief:
            return False
        self._check_shortfall(session)
        return False

    def _check_shortfall(self, session):
        """Raises when the latest choice found too few distinct points; notes when all are chosen."""
        shortfall, self._done = session.run([self._init.shortfall, self._initialized])
        if shortfall >= 0:
            raise ValueError(
                f"num_clusters={self._num_clusters} is larger than the number of distinct "
                f"points available for initialization: {self._source} holds only "
                f"{shortfall} distinct points (repeated centers would stay empty)"
            )

    def end(self, session):
        if self._done or not self._is_chief or session.run(self._initialized):
            return
        if self._init.from_gathered is not None:
            session.run(self._init.from_gathered)
            self._check_shortfall(session)
            if self._done:
                return
        chosen = session.run(self._init.num_chosen)
        if chosen == 0:
            raise ValueError(
                f"KMeans input is empty: the input ended before any of the "
                f"num_clusters={self._num_clusters} initial centers was chosen"
            )
        raise ValueError(
            f"num_clusters={self._num_clusters} is larger than the number of distinct "
            f"points available for initialization: the input ended after {chosen} "
            f"distinct initial centers were chosen"
        )


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _own_task_device(config):
    """This task's device on a cluster (for state no other task reads), else None."""
    if not distributed.is_distributed(config):
        return None
    return f"/job:{config.task_type}/task:{config.task_id}"


def _grouped_with(anchor, ops):
    """`tf.group(ops)` placed with the variable `anchor`.

    On a cluster the variables and their assigns are on a ps task while a group would
    run on the worker; every group between assigns and the global step's increment
    then cost two more transfers per step.
    """
    with anchor.graph.colocate_with(anchor.op):
        return tf.group(*ops)


def _as_initial_centers(initial_clusters):
    """Returns user-given initial centers as a float32 [k, d] array, validated."""
    if isinstance(initial_clusters, tf.Tensor):
        if not hasattr(initial_clusters, "numpy"):
            raise ValueError(
                "initial_clusters as a Tensor must be an eager (concrete) tensor; build it "
                "outside any graph, or pass a numpy array"
            )
        initial_clusters = initial_clusters.numpy()
    centers = np.asarray(initial_clusters)
    if not np.issubdtype(centers.dtype, np.number):
        raise ValueError(f"initial_clusters as an array must be numeric, got dtype {centers.dtype}")
    if centers.ndim != 2 or centers.shape[0] < 1 or centers.shape[1] < 1:
        raise ValueError(
            f"initial_clusters as an array must have rank 2 [num_clusters, num_features] "
            f"with both at least 1, got shape {list(centers.shape)}"
        )
    if not np.all(np.isfinite(centers)):
        raise ValueError("initial_clusters contains NaN or Inf values")
    _, first_rows, inverse = np.unique(centers, axis=0, return_index=True, return_inverse=True)
    repeated = [row for row, group in enumerate(inverse.ravel()) if first_rows[group] != row]
    if repeated:
        row = repeated[0]
        raise ValueError(
            f"initial_clusters must hold distinct centers, got row {row} equal to row "
            f"{first_rows[inverse.ravel()[row]]} ({len(repeated)} repeated rows in all)"
        )
    return centers.astype(np.float32)


def _points_from_features(features, feature_columns):
    """Turns the model's features into one float32 [n, d] matrix of points."""
    if isinstance(features, dict):
        if feature_columns is not None:
            points = tf.compat.v1.feature_column.input_layer(features, list(feature_columns))
        else:
            if not features:
                raise ValueError("KMeans features dict is empty; give at least one feature")
            columns = []
            for key in sorted(features):
                value = tf.convert_to_tensor(features[key])
                if value.shape.rank == 1:
                    value = tf.expand_dims(value, 1)
                if value.shape.rank != 2:
                    raise ValueError(
                        f"KMeans feature {key!r} must have rank 1 or 2, got rank {value.shape.rank} "
                        f"with shape {value.shape}"
                    )
                columns.append(tf.cast(value, COMPUTE_DTYPE))
            points = columns[0] if len(columns) == 1 else tf.concat(columns, axis=1, name="points")
    else:
        if feature_columns is not None:
            raise ValueError(
                "feature_columns were given, so input_fn must return features as a dict of "
                f"name to Tensor, got {type(features).__name__}"
            )
        points = tf.convert_to_tensor(features)
    if points.shape.rank != 2:
        raise ValueError(
            f"KMeans points must have rank 2 [num_points, num_features], got rank "
            f"{points.shape.rank} with shape {points.shape}"
        )
    if points.shape[1] is None:
        raise ValueError(
            f"KMeans points must have a known number of features (columns), got shape {points.shape}"
        )
    if not (points.dtype.is_floating or points.dtype.is_integer):
        raise ValueError(f"KMeans points must be numeric, got dtype {points.dtype.name}")
    return tf.cast(points, COMPUTE_DTYPE)


_NON_FINITE_MESSAGE = (
    "KMeans input points contain NaN or Inf (or values so large that their squared distances "
    "overflow float32)"
)


def _non_empty(points):
    """Points that can only be read once the batch is known to hold at least one point."""
    with tf.name_scope("kmeans/check_input"):
        not_empty = tf.debugging.assert_positive(
            tf.shape(points)[0], message="KMeans input is empty: the batch has 0 points"
        )
        with tf.control_dependencies([not_empty]):
            return tf.identity(points)


def _finite(tensor):
    """`tensor`, readable only after a check that it holds no NaN or Inf.

    Training and prediction check the distances they compute anyway (a NaN or
    Inf point makes its distances NaN or Inf), which costs one pass over n
    values instead of n x d; initialization, which reads the points before any
    distance exists, checks the points themselves.
    """
    return tf.debugging.assert_all_finite(tensor, _NON_FINITE_MESSAGE)


class _Initialization(collections.namedtuple(
        "_Initialization", ["ready", "num_chosen", "shortfall", "from_gathered"])):
    """What initialization leaves for the step and its hook: whether every center is chosen
    (after this run's choice), the local count of centers chosen, a local variable
    holding -1, or the number of distinct points found when a run found too few, and the op
    choosing the centers from the batches gathered so far (None when none are gathered)."""


class _InitPool:
    """The points a mini-batch chief gathers, batch by batch, to choose its initial centers from.

    Both variables are local, so no checkpoint holds them: the pool is transient (emptied
    once the centers are chosen from it, and gathered anew by a `train()` call that starts
    before they are), and saving it would write a few batches of points into every
    checkpoint for no use.

    Args:
      num_features: d, the points' number of columns.
      init_size: the points to gather, a positive int, or None for `DEFAULT_INIT_BATCHES`
        times the first batch's size.
    """

    def __init__(self, num_features, init_size):
        self.points = tf.compat.v1.Variable(
            tf.zeros([0, num_features], COMPUTE_DTYPE), shape=tf.TensorShape([None, num_features]),
            trainable=False, collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES],
            name="kmeans_init_pool", use_resource=True,
        )
        # 0 while the pool is empty; the first batch gathered sets it.
        self.target = tf.compat.v1.get_local_variable(
            "kmeans_init_pool_target", shape=[], dtype=tf.int32,
            initializer=tf.compat.v1.zeros_initializer(),
        )
        self._init_size = init_size

    def gather(self, points):
        """Returns the pool with `points` added, its target size, and whether it is full."""
        pooled = tf.concat([self.points.read_value(), points], axis=0, name="pooled")
        if self._init_size is None:
            first_target = DEFAULT_INIT_BATCHES * tf.shape(points)[0]
        else:
            first_target = tf.constant(self._init_size)
        target = self.target.read_value()
        target = tf.where(target > 0, target, first_target)
        return pooled, target, tf.shape(pooled)[0] >= target

    def assign(self, points, target):
        """The assigns of the pool's new content and target."""
        return [self.points.assign(points), self.target.assign(target)]


class _Settings:
    """The validated constructor arguments the model_fn builds from."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


class KMeans(Estimator):
    """An Estimator for k-means clustering.

    The constructor, methods and class constants are those of
    `tf.compat.v1.estimator.experimental.KMeans`; see the README for what
    behaves better than the original (empty clusters keep their centers,
    kmeans++ works without a seed, bad input fails before training).

    Args:
      num_clusters: number of centers, a positive integer; ignored when
        `initial_clusters` is an array or tensor of centers.
      model_dir: directory for checkpoints and event files.
      initial_clusters: how to choose the first centers: `RANDOM_INIT`,
        `KMEANS_PLUS_PLUS_INIT`, `KMEANS_PARALLEL_INIT`, a [k, d] array or
        tensor of centers, or a callable `f(inputs, k)` returning 0 to k
        centers from an input batch (called on successive batches until all
        centers are chosen).
      distance_metric: `SQUARED_EUCLIDEAN_DISTANCE` or `COSINE_DISTANCE`.
        For cosine, points and centers are l2-normalized and distances are
        `1 - cos`; full-batch steps and iterations of more than one step
        store unit-length centers (spherical k-means), one-step mini-batch
        training stores the running means, as the original did.
      seed: integer seed for the initialization; None draws a random one.
      use_mini_batch: True for mini-batch k-means, False for full-batch Lloyd
        iterations (each step then needs the whole data set as one batch).
      mini_batch_steps_per_iteration: steps between syncs of the working copy
        into `clusters`. With 1, per-center counts accumulate over all of
        training (Sculley's mini-batch k-means); with more, counts restart at
        each sync, so an iteration over a whole epoch is one Lloyd step.
      kmeans_plus_plus_num_retries: extra candidates per kmeans++ center;
        negative for about 2 + log(k).
      relative_tolerance: stop training once the loss changes by less than
        this, relatively, between steps; None never stops early.
      config: a `RunConfig`.
      feature_columns: feature columns for `input_layer`; None uses the
        features themselves (a Tensor, or a dict concatenated in key order).
      mini_batch_init_size: mini-batch mode with a named init only: the
        chief gathers whole batches until it holds at least this many points
        and chooses the centers from all of them; None for three batches
        (three times the first batch's size), 1 for the first batch alone,
        as the original did. Runs that only gather train no step.
      reassignment_ratio: mini-batch mode with one step per iteration only:
        about every `10 * num_clusters` points, centers whose total count is
        below this times the largest count move to random points of the
        batch; a number in [0, 1], 0 never moves them, as the original did.

    Raises:
      ValueError: an argument is invalid; the message names it.
    """

    ALL_DISTANCES = "all_distances"
    CLUSTER_CENTERS_VAR_NAME = "clusters"
    CLUSTER_INDEX = "cluster_index"
    COSINE_DISTANCE = distances.COSINE
    KMEANS_PLUS_PLUS_INIT = "kmeans_plus_plus"
    KMEANS_PARALLEL_INIT = "kmeans_parallel"
    RANDOM_INIT = "random"
    SCORE = "score"
    SQUARED_EUCLIDEAN_DISTANCE = distances.SQUARED_EUCLIDEAN

    _INIT_NAMES = (RANDOM_INIT, KMEANS_PLUS_PLUS_INIT, KMEANS_PARALLEL_INIT)

    def __init__(
        self,
        num_clusters,
        model_dir=None,
        initial_clusters=RANDOM_INIT,
        distance_metric=SQUARED_EUCLIDEAN_DISTANCE,
        seed=None,
        use_mini_batch=True,
        mini_batch_steps_per_iteration=1,
        kmeans_plus_plus_num_retries=2,
        relative_tolerance=None,
        config=None,
        feature_columns=None,
        mini_batch_init_size=None,
        reassignment_ratio=0.01,
    ):
        initial_centers = None
        if isinstance(initial_clusters, str):
            if initial_clusters not in self._INIT_NAMES:
                raise ValueError(
                    f"initial_clusters must be one of {self._INIT_NAMES}, an array of centers or a "
                    f"callable, got {initial_clusters!r}"
                )
        elif isinstance(initial_clusters, (np.ndarray, tf.Tensor, list, tuple)):
            initial_centers = _as_initial_centers(initial_clusters)
            num_clusters = initial_centers.shape[0]
        elif not callable(initial_clusters):
            raise ValueError(
                f"initial_clusters must be one of {self._INIT_NAMES}, an array of centers or a "
                f"callable, got {initial_clusters!r}"
            )
        if isinstance(num_clusters, tf.Tensor) and hasattr(num_clusters, "numpy"):
            num_clusters = num_clusters.numpy()
        if isinstance(num_clusters, np.ndarray) and num_clusters.ndim == 0:
            num_clusters = num_clusters.item()
        if not _is_integer(num_clusters) or num_clusters < 1:
            raise ValueError(f"num_clusters must be a positive integer, got {num_clusters!r}")
        if distance_metric not in distances.METRICS:
            raise ValueError(f"distance_metric must be one of {distances.METRICS}, got {distance_metric!r}")
        if seed is not None and not _is_integer(seed):
            raise ValueError(f"seed must be an integer or None, got {seed!r}")
        if not isinstance(use_mini_batch, (bool, np.bool_)):
            raise ValueError(f"use_mini_batch must be True or False, got {use_mini_batch!r}")
        if not _is_integer(mini_batch_steps_per_iteration) or mini_batch_steps_per_iteration < 1:
            raise ValueError(
                f"mini_batch_steps_per_iteration must be a positive integer, got {mini_batch_steps_per_iteration!r}"
            )
        if not _is_integer(kmeans_plus_plus_num_retries):
            raise ValueError(
                f"kmeans_plus_plus_num_retries must be an integer, got {kmeans_plus_plus_num_retries!r}"
            )
        if relative_tolerance is not None and (
            isinstance(relative_tolerance, bool)
            or not isinstance(relative_tolerance, numbers.Real)
            or not relative_tolerance >= 0
        ):
            raise ValueError(f"relative_tolerance must be a non-negative number or None, got {relative_tolerance!r}")
        if feature_columns is not None:
            if isinstance(feature_columns, (str, bytes)) or not hasattr(feature_columns, "__iter__"):
                raise ValueError(f"feature_columns must be an iterable of feature columns, got {feature_columns!r}")
            feature_columns = tuple(feature_columns)
        if mini_batch_init_size is not None and (
            not _is_integer(mini_batch_init_size) or mini_batch_init_size < 1
        ):
            raise ValueError(
                f"mini_batch_init_size must be a positive integer (points) or None (three batches), "
                f"got {mini_batch_init_size!r}"
            )
        if (
            isinstance(reassignment_ratio, bool)
            or not isinstance(reassignment_ratio, numbers.Real)
            or not 0 <= reassignment_ratio <= 1
        ):
            raise ValueError(f"reassignment_ratio must be a number in [0, 1], got {reassignment_ratio!r}")
        self._settings = _Settings(
            num_clusters=int(num_clusters),
            initial_clusters=initial_clusters if initial_centers is None else initial_centers,
            distance_metric=distance_metric,
            seed=None if seed is None else int(seed),
            use_mini_batch=bool(use_mini_batch),
            mini_batch_steps_per_iteration=int(mini_batch_steps_per_iteration),
            kmeans_plus_plus_num_retries=int(kmeans_plus_plus_num_retries),
            relative_tolerance=None if relative_tolerance is None else float(relative_tolerance),
            feature_columns=feature_columns,
            mini_batch_init_size=None if mini_batch_init_size is None else int(mini_batch_init_size),
            reassignment_ratio=float(reassignment_ratio),
        )
        super().__init__(model_fn=self._kmeans_model_fn, model_dir=model_dir, config=config)

    # The model.

    def _graphs_reusable(self):
        """The k-means graph depends only on its input and the constructor's settings,
        unless initial centers come from the caller's callable."""
        initial = self._settings.initial_clusters
        return isinstance(initial, (str, np.ndarray))

    def _checkpoint_ready_for_evaluation(self, checkpoint_path):
        """False for a checkpoint saved before the centers were chosen (`initialized` False).

        Its centers are the zeros they start as: evaluating it would give a meaningless
        score, and exporting it a model that puts every point in cluster 0. A checkpoint
        without the variable (none of ours or the original's) counts as ready.
        """
        reader = tf.train.load_checkpoint(checkpoint_path)
        return not reader.has_tensor(INITIALIZED_VAR_NAME) or bool(reader.get_tensor(INITIALIZED_VAR_NAME))

    def _kmeans_model_fn(self, features, mode, config):
        """Builds the k-means graph for `mode` from the settings."""
        settings = self._settings
        k = settings.num_clusters
        metric = settings.distance_metric
        raw_points = _points_from_features(features, settings.feature_columns)
        num_features = raw_points.shape[1]
        initial = settings.initial_clusters
        # Only training reads the initial centers; evaluate and predict restore
        # the trained ones, and a checkpoint of another dimension is reported
        # by the Estimator's restore check with both shapes.
        if mode == ModeKeys.TRAIN and isinstance(initial, np.ndarray) and initial.shape[1] != num_features:
            raise ValueError(
                f"initial_clusters have {initial.shape[1]} features, but the input points have {num_features}"
            )
        points = distances.prepare_points(_non_empty(raw_points), metric)
        centers = tf.compat.v1.get_variable(
            self.CLUSTER_CENTERS_VAR_NAME,
            shape=[k, num_features],
            dtype=COMPUTE_DTYPE,
            initializer=tf.compat.v1.zeros_initializer(),
            trainable=False,
        )
        initialized = tf.compat.v1.get_variable(
            INITIALIZED_VAR_NAME, shape=[], dtype=tf.bool,
            initializer=tf.compat.v1.constant_initializer(False), trainable=False,
        )
        initialization = None
        if mode == ModeKeys.TRAIN and config.is_chief:
            initialization, centers_now = self._initialize_in_step(
                points, centers, initialized, _own_task_device(config))
        elif mode == ModeKeys.TRAIN:
            # Read once: on a cluster each read of a variable is a transfer from its ps task.
            centers_now = centers.read_value()
        else:
            centers_now = centers
        with tf.name_scope("kmeans/assign"):
            nearest, nearest_distance = distances.nearest_centers(points, centers_now, metric)
            nearest_distance = _finite(nearest_distance)
            # Every update reads the assignments, so none runs before the check.
            with tf.control_dependencies([nearest_distance]):
                nearest = tf.identity(nearest)
            loss = tf.reduce_sum(nearest_distance, name="loss")

        if mode == ModeKeys.PREDICT:
            return self._predict_spec(points, centers, nearest)
        if mode == ModeKeys.EVAL:
            return EstimatorSpec(
                mode, loss=loss, eval_metric_ops={self.SCORE: tf.compat.v1.metrics.mean(loss, name="score")}
            )

        tf.compat.v1.summary.scalar("loss/raw", loss)

        global_step = tf.compat.v1.train.get_global_step()

        def step_op():
            """The step's update, ending with the global step (see `_grouped_with`)."""
            with tf.control_dependencies([centers_now]):  # Reads of `centers` see the init.
                if settings.use_mini_batch:
                    update_op = self._mini_batch_step(points, centers, centers_now, nearest, k)
                else:
                    with tf.name_scope("kmeans/update"):
                        sums, counts = update.cluster_sums_and_counts(points, nearest, k)
                        update_op = centers.assign(
                            self._unit_if_cosine(update.lloyd_update(centers_now, sums, counts)))
            return _grouped_with(global_step, [update_op])

        def step():
            with tf.control_dependencies([step_op()]):
                return tf.constant(True)

        if initialization is None:
            # Made before the step, beside the global step: a constant made under the
            # step's control dependencies would wait for it on the worker, then travel.
            with global_step.graph.colocate_with(global_step.op):
                one = tf.constant(1, global_step.dtype.base_dtype)
            with tf.control_dependencies([step_op()]):
                train_op = tf.compat.v1.assign_add(global_step, one, name="train_op")
        else:
            # A run whose batch did not complete the centers (random or callable init on
            # batches smaller than k) trains no step: the global step stays.
            stepped = tf.cond(initialization.ready, step, lambda: tf.constant(False),
                              name="kmeans/step_if_initialized")
            train_op = tf.compat.v1.assign_add(
                global_step, tf.cast(stepped, global_step.dtype.base_dtype), name="train_op")
        init_hook = _InitializeClustersHook(initialization, initialized, k, config.is_chief,
                                            self._init_source())
        training_hooks = []
        if settings.relative_tolerance is not None:
            training_hooks.append(_LossRelativeChangeHook(settings.relative_tolerance))
        if config.is_chief:
            return EstimatorSpec(mode, loss=loss, train_op=train_op, training_hooks=training_hooks,
                                 training_chief_hooks=[init_hook])
        return EstimatorSpec(mode, loss=loss, train_op=train_op,
                             training_hooks=[init_hook] + training_hooks)

    def _initialize_in_step(self, points, centers, initialized, local_device):
        """Chooses the centers from this run's batch while they are not all chosen.

        In mini-batch mode with a named init, the batches are first gathered into an
        `_InitPool` until it holds `mini_batch_init_size` points; the run that fills it
        chooses the centers from the whole pool, and the runs before it choose nothing.

        Returns the `_Initialization` and the centers the step runs with, read after the
        choice. Choosing is a `tf.cond` that returns values (kmeans++ runs only while the
        centers are not chosen); the variables then take those values in every run.
        """
        # The chief's own state: on a cluster it stays on the chief, not on a ps task,
        # where every step would read and write the pool over the network.
        with tf.device(local_device) if local_device else contextlib.nullcontext():
            num_chosen = tf.compat.v1.get_local_variable(
                "kmeans_num_initialized_centers", shape=[], dtype=tf.int32,
                initializer=tf.compat.v1.zeros_initializer(),
            )
            shortfall = tf.compat.v1.get_local_variable(
                "kmeans_init_shortfall", shape=[], dtype=tf.int32,
                initializer=tf.compat.v1.constant_initializer(-1),
            )
            pool = self._init_pool(points.shape[1])
        with tf.name_scope("kmeans/init"):
            def keep():  # Initialized, maybe restored: every center is chosen.
                chosen = (centers.read_value(), tf.constant(self._settings.num_clusters), tf.constant(-1))
                if pool is None:
                    return chosen
                return chosen + (pool.points.read_value(), pool.target.read_value())

            def choose():
                with tf.name_scope("check_input"):
                    init_points = _finite(points)
                if pool is None:
                    return self._initial_values(init_points, centers, num_chosen)
                pooled, target, full = pool.gather(init_points)

                def from_pool():  # The pool empties for good, or for a new gathering (random init).
                    return self._initial_values(pooled, centers, num_chosen) + (pooled[:0], tf.constant(0))

                def wait():
                    return centers.read_value(), num_chosen.read_value(), tf.constant(-1), pooled, target

                return tf.cond(full, from_pool, wait, name="if_pool_full")

            values = tf.cond(initialized, keep, choose)
            assigned, ready = self._assign_initial_values(values[:3], centers, initialized, num_chosen, shortfall)
            if pool is not None:
                assigned += pool.assign(*values[3:])
            with tf.control_dependencies(assigned):
                centers_now = tf.identity(values[0], name="centers")
                ready = tf.identity(ready, name="ready")
        from_gathered = None
        if pool is not None:
            from_gathered = self._initialize_from_pool(pool, centers, initialized, num_chosen, shortfall)
        return _Initialization(ready, num_chosen, shortfall, from_gathered), centers_now

    def _init_pool(self, num_features):
        """The `_InitPool` of mini-batch training with a named init, else None.

        Full-batch mode chooses from its one batch; given centers need no points; a callable
        is called on each batch, as the original did.
        """
        settings = self._settings
        if not settings.use_mini_batch or not isinstance(settings.initial_clusters, str):
            return None
        return _InitPool(num_features, settings.mini_batch_init_size)

    def _assign_initial_values(self, values, centers, initialized, num_chosen, shortfall):
        """The assigns of `_initial_values`' (centers, count chosen, shortfall), and whether
        every center is then chosen."""
        new_centers, new_count, new_shortfall = values
        ready = tf.equal(new_count, self._settings.num_clusters)
        assigned = [
            centers.assign(new_centers), num_chosen.assign(new_count),
            initialized.assign(ready), shortfall.assign(new_shortfall),
        ]
        return assigned, ready

    def _initialize_from_pool(self, pool, centers, initialized, num_chosen, shortfall):
        """The op choosing the centers from the points gathered when the input ends first.

        Run by `_InitializeClustersHook.end`; does nothing when the centers are chosen or
        nothing was gathered.
        """
        with tf.name_scope("kmeans/init_from_gathered"):
            gathered = pool.points.read_value()
            pending = tf.logical_and(tf.logical_not(initialized.read_value()), tf.shape(gathered)[0] > 0)
            values = tf.cond(
                pending,
                lambda: self._initial_values(gathered, centers, num_chosen),
                lambda: (centers.read_value(), num_chosen.read_value(), shortfall.read_value()),
                name="if_pending")
            assigned, _ = self._assign_initial_values(values, centers, initialized, num_chosen, shortfall)
            return tf.group(assigned + pool.assign(gathered[:0], 0))

    def _seed_pair(self, counter):
        """The [2] int32 seed of the stateless init ops; random when no seed was given."""
        if self._settings.seed is None:
            base = tf.random.uniform([], maxval=2**31 - 1, dtype=tf.int32)
        else:
            base = tf.constant(self._settings.seed % (2**31 - 1), dtype=tf.int32)
        return tf.stack([base, tf.cast(counter, tf.int32)])

    def _init_source(self):
        """Where the initial centers come from, as the shortfall error names it."""
        initial = self._settings.initial_clusters
        if isinstance(initial, str) and initial != self.RANDOM_INIT:
            if self._settings.use_mini_batch:
                return (f"the points gathered for initialization (initial_clusters={initial!r} "
                        f"chooses all centers from them)")
            return f"the first batch (initial_clusters={initial!r} chooses all centers from it)"
        if callable(initial) and not isinstance(initial, str):
            return "the initial_clusters callable's result, over the batches seen,"
        return "the input"

    def _initial_values(self, points, centers, num_chosen):
        """Chooses centers from one batch (or pool): returns (centers, count chosen, shortfall).

        The shortfall is -1, or the number of distinct points available when the batch
        (for kmeans++, k-means|| and given centers) or the input so far (random and
        callable inits, which fill the centers batch by batch, or pool by pool) holds
        fewer than k.
        """
        settings = self._settings
        k = settings.num_clusters
        initial = settings.initial_clusters
        metric = settings.distance_metric
        # Given centers, kmeans++ and k-means|| choose all k centers at once.
        if isinstance(initial, np.ndarray):
            chosen = self._unit_if_cosine(tf.constant(initial, dtype=COMPUTE_DTYPE))
        elif initial == self.KMEANS_PLUS_PLUS_INIT:
            chosen = init.kmeans_plus_plus_init(
                points, k, settings.kmeans_plus_plus_num_retries, self._seed_pair(0), metric
            )
        elif initial == self.KMEANS_PARALLEL_INIT:
            chosen = init.kmeans_parallel_init(points, k, self._seed_pair(0), metric)
        else:
            chosen = None
        if chosen is not None:
            if not isinstance(initial, np.ndarray):  # Given centers were checked distinct.
                chosen = init.distinct_centers(chosen, points)
            found = tf.shape(chosen)[0]
            complete = found >= k
            padded = tf.pad(chosen, [[0, k - found], [0, 0]])
            return (tf.where(complete, padded, centers.read_value()),
                    tf.where(complete, k, 0), tf.where(complete, -1, found))
        # Random and callable inits fill the centers batch by batch, each new center
        # distinct from the others.
        before = num_chosen.read_value()
        needed = k - before
        existing = centers[:before]
        if initial == self.RANDOM_INIT:
            chosen = init.random_init(points, needed, self._seed_pair(before), existing=existing)
        else:
            chosen = tf.convert_to_tensor(initial(points, needed))
            chosen = tf.cast(tf.reshape(chosen, [-1, points.shape[1]]), COMPUTE_DTYPE)
            chosen = init.new_distinct_rows(existing, self._unit_if_cosine(chosen))[:needed]
        num_new = tf.shape(chosen)[0]
        rows = tf.range(before, before + num_new)
        filled = tf.tensor_scatter_nd_update(centers.read_value(), tf.expand_dims(rows, 1), chosen)
        return filled, before + num_new, tf.where(tf.equal(num_new, 0), before, -1)

    def _unit_if_cosine(self, new_centers):
        """Centers as stored after initialization, a Lloyd step or an iteration: unit length for cosine.

        Means of unit points are shorter than 1; scaling them back makes the
        stored centers the mean directions of spherical k-means, as the
        original did. Sculley's running means (one step per iteration) are
        stored as they are, as the original did: rescaling them would change
        the running mean. Distances use unit centers either way.
        """
        if self._settings.distance_metric == distances.COSINE:
            return tf.math.l2_normalize(new_centers, axis=1)
        return new_centers

    def _mini_batch_step(self, points, centers, centers_now, nearest, k):
        """One mini-batch step; with N = `mini_batch_steps_per_iteration` > 1, every N
        steps make one iteration.

        With N = 1 (Sculley's mini-batch k-means), every step moves the centers by running
        means: `clusters_updated` is a copy of the centers, `cluster_counts` the points
        each center has had so far, and nearly empty centers then move (see
        `_reassign_if_due`). On a cluster, workers' steps read and write the shared
        centers without locks, as the original's did: two concurrent steps may each move
        a center from the same start.

        With N > 1, `clusters_updated` sums the points assigned to each center during the
        iteration and `cluster_counts` counts them; the N-th step moves every center to
        its mean (empty ones stay) and restarts both. The sums grow by atomic adds, so on
        a cluster the steps of all workers add up: N steps over one epoch, however the
        workers share them, make exactly one Lloyd iteration. Nearly empty centers do
        not move in this mode: an exact Lloyd step keeps empty centers where they are.
        """
        steps_per_iteration = self._settings.mini_batch_steps_per_iteration
        num_features = centers.shape[1]
        working = tf.compat.v1.get_variable(
            WORKING_CENTERS_VAR_NAME, shape=[k, num_features], dtype=COMPUTE_DTYPE,
            initializer=tf.compat.v1.zeros_initializer(), trainable=False,
        )
        totals = tf.compat.v1.get_variable(
            CLUSTER_COUNTS_VAR_NAME, shape=[k], dtype=tf.int64,
            initializer=tf.compat.v1.zeros_initializer(), trainable=False,
        )
        steps_to_sync = tf.compat.v1.get_variable(
            STEPS_TO_SYNC_VAR_NAME, shape=[], dtype=tf.int64,
            initializer=tf.compat.v1.constant_initializer(steps_per_iteration), trainable=False,
        )
        with tf.name_scope("kmeans/update"):
            sums, counts = update.cluster_sums_and_counts(points, nearest, k)
            if steps_per_iteration == 1:
                # Every step is a whole iteration: both copies take the new centers,
                # and `update_in_steps` keeps its value of 1.
                new_centers, new_totals = update.mini_batch_update(
                    centers_now, tf.cast(totals, COMPUTE_DTYPE), sums, counts)
                new_totals = tf.cast(tf.round(new_totals), tf.int64)
                if self._settings.reassignment_ratio > 0:
                    new_centers, new_totals = self._reassign_if_due(points, new_centers, new_totals)
                return _grouped_with(centers, [
                    centers.assign(new_centers), working.assign(new_centers), totals.assign(new_totals)])
            # Sums and counts of the iteration grow by atomic adds, so that the steps of
            # all workers of a cluster add up, whatever their order. The step whose
            # countdown reaches exactly 0 is the iteration's last: every other step's
            # adds ran before its countdown, so they are all in.
            add_sums = working.assign_add(sums, use_locking=True)
            add_counts = totals.assign_add(tf.cast(tf.round(counts), tf.int64), use_locking=True)
            with tf.control_dependencies([add_sums, add_counts]):
                remaining = steps_to_sync.assign_sub(1, use_locking=True)

            def sync():
                iteration_counts = totals.read_value()
                means = update.lloyd_update(centers_now, working.read_value(), tf.cast(iteration_counts, COMPUTE_DTYPE))
                with tf.control_dependencies([means]):
                    ops = [
                        centers.assign(self._unit_if_cosine(means)),
                        working.assign(tf.zeros_like(working)),
                        totals.assign(tf.zeros_like(totals)),
                        steps_to_sync.assign(steps_per_iteration),
                    ]
                with tf.control_dependencies(ops):
                    return tf.constant(True)

            return tf.cond(tf.equal(remaining, 0), sync, lambda: tf.constant(False))

    def _reassign_if_due(self, points, centers, totals):
        """Moves nearly empty centers (see `update.reassign_nearly_empty`) on the steps due.

        A step is due when the points seen, counted as the global step times this batch's
        size, pass a multiple of `REASSIGNMENT_POINTS_PER_CENTER * num_clusters`:
        scikit-learn's cadence, kept without a variable of its own. Unlike scikit-learn, a
        center with a count of 0 does not make a step due: with batches not much larger
        than `num_clusters`, a center's blob is often missing from the first batches, and
        moving that center away leaves the blob without one for good. By the first due
        step, centers have seen about 10 points each on average.
        Draws are seeded by the seed and the global step, so a seeded run moves the same
        centers to the same points every time.

        Returns:
          `(centers, totals)` after the moves, shaped like the inputs.
        """
        settings = self._settings
        period = REASSIGNMENT_POINTS_PER_CENTER * settings.num_clusters
        with tf.name_scope("reassign"):
            step = tf.compat.v1.train.get_global_step().read_value()
            batch_size = tf.cast(tf.shape(points)[0], step.dtype)
            due = (step + 1) * batch_size // period > step * batch_size // period
            seed = tf.random.experimental.stateless_fold_in(self._seed_pair(_REASSIGNMENT_SEED_STREAM), step)
            return tf.cond(
                due,
                lambda: update.reassign_nearly_empty(points, centers, totals, settings.reassignment_ratio, seed),
                lambda: (centers, totals),
                name="if_due")

    def _predict_spec(self, points, centers, nearest):
        """The PREDICT spec: what `predict()` yields and what an exported SavedModel serves.

        `predict()` reads `nearest` from the blocked nearest-center search, which never
        holds the `[n, k]` distance matrix when only `cluster_index` is asked for. The
        signatures read the full matrix instead (serving batches are small): its argmin is
        made of TensorFlow Lite builtin ops, where the blocked search's while_loop over
        TensorArrays of unknown length cannot be converted.
        """
        with tf.name_scope("kmeans/distances"):
            all_distances = _finite(distances.pairwise_distances(points, centers, self._settings.distance_metric))
        predictions = {self.CLUSTER_INDEX: nearest, self.ALL_DISTANCES: all_distances}
        return EstimatorSpec(
            ModeKeys.PREDICT, predictions=predictions, export_outputs=self._serving_outputs(all_distances)
        )

    def _serving_outputs(self, all_distances):
        """The export outputs of the SavedModel, keyed by signature name, from `[n, k]` distances.

        Predict signatures `serving_default` and `cluster_index` (int64 `[n]` index of
        the nearest center), `all_distances` (`[n, k]`) and `score` (`[n]` distance to the
        nearest center); and `classification`, built only against a receiver of serialized
        tf.Example protos: classes are the cluster ids as strings, scores the negative
        distances, so the best class has the highest score.
        """
        k = self._settings.num_clusters
        with tf.name_scope("kmeans/serving"):
            index = tf.argmin(all_distances, axis=1, output_type=tf.int64, name="cluster_index")
            score = tf.reduce_min(all_distances, axis=1, name="score")
            class_names = tf.constant([[str(cluster) for cluster in range(k)]], name="class_names")
            classes = tf.tile(class_names, tf.stack([tf.shape(all_distances)[0], 1]), name="classes")
            scores = tf.negative(all_distances, name="class_scores")
        return {
            export.SERVING_DEFAULT: export.PredictOutput(index),
            self.CLUSTER_INDEX: export.PredictOutput(index),
            self.ALL_DISTANCES: export.PredictOutput(all_distances),
            self.SCORE: export.PredictOutput(score),
            "classification": export.ClassificationOutput(scores=scores, classes=classes),
        }

    # The k-means methods of the original.

    def cluster_centers(self):
        """Returns the cluster centers of the latest checkpoint, a [k, d] float32 array."""
        return self.get_variable_value(self.CLUSTER_CENTERS_VAR_NAME)

    def predict_cluster_index(self, input_fn):
        """Yields the index of the nearest center for each input point."""
        for prediction in self.predict(input_fn, predict_keys=[self.CLUSTER_INDEX]):
            yield prediction[self.CLUSTER_INDEX]

    def score(self, input_fn):
        """Returns the sum of distances of the first batch's points to their nearest centers.

        This is positive, where scikit-learn's `score` returns the negative sum.
        """
        return self.evaluate(input_fn=input_fn, steps=1)[self.SCORE]

    def transform(self, input_fn):
        """Yields each input point's distances to all centers.

        Euclidean distances (the square root, as in scikit-learn) for the
        squared-Euclidean metric, `1 - cos` for cosine: what the original did,
        whatever its docs said.
        """
        take_root = self._settings.distance_metric == self.SQUARED_EUCLIDEAN_DISTANCE
        for prediction in self.predict(input_fn, predict_keys=[self.ALL_DISTANCES]):
            row = prediction[self.ALL_DISTANCES]
            yield np.sqrt(row) if take_root else row
