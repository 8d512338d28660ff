"""The KMeans constructor's arguments, checked once and frozen into `Settings`."""
import dataclasses
import warnings
from typing import Callable, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from kmeans_estimator.clustering import distances
from kmeans_estimator.estimator.checks import is_integer, is_number

RANDOM_INIT = "random"
KMEANS_PLUS_PLUS_INIT = "kmeans_plus_plus"
KMEANS_PARALLEL_INIT = "kmeans_parallel"
INIT_NAMES = (RANDOM_INIT, KMEANS_PLUS_PLUS_INIT, KMEANS_PARALLEL_INIT)

# With mini_batch_init_size=None a named init gathers this many batches before choosing,
# as scikit-learn's MiniBatchKMeans runs its init on 3 * batch_size points.
DEFAULT_INIT_BATCHES = 3

# The seed counter of reassignment draws; the inits use 0 to k - 1.
REASSIGNMENT_SEED_STREAM = -1


# Constructor arguments that make mini-batch training choose its centers from three batches
# and move nearly empty centers, as scikit-learn's MiniBatchKMeans does:
# `KMeans(k, **MINI_BATCH_QUALITY)`. Not the defaults, which are the original's.
MINI_BATCH_QUALITY = {"mini_batch_init_size": None, "reassignment_ratio": 0.01}


class ConvergenceWarning(UserWarning):
    """Training goes on with repeated centers: the data holds fewer distinct points than
    `num_clusters` (scikit-learn warns with a class of the same name)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Settings:
    """What the model_fn builds from: the constructor's arguments, validated.

    Attributes:
      num_clusters: k, a positive int (the rows of given centers, when given).
      initial_clusters: one of `INIT_NAMES`, a float32 `[k, d]` array of centers, or a
        callable `f(points, num_to_choose)`.
      distance_metric: one of `distances.METRICS`.
      seed: int seed of the initialization's random draws, or None for a random one.
      use_mini_batch: mini-batch steps (True) or full-batch Lloyd steps (False).
      mini_batch_steps_per_iteration: N >= 1, the steps of one iteration; after every N steps the
        next one first syncs the running means `clusters_updated` into `clusters` (N > 1).
      kmeans_plus_plus_num_retries: extra kmeans++ candidates per center; negative for 2 + log k.
      relative_tolerance: the relative loss change that stops training, or None.
      feature_columns: a tuple of feature columns, or None.
      mini_batch_init_size: points a mini-batch named init gathers before choosing, or None
        for `DEFAULT_INIT_BATCHES` batches.
      reassignment_ratio: the count ratio below which mini-batch centers move; 0 never.
    """

    num_clusters: int
    initial_clusters: Union[str, np.ndarray, Callable]
    distance_metric: str
    seed: Optional[int]
    use_mini_batch: bool
    mini_batch_steps_per_iteration: int
    kmeans_plus_plus_num_retries: int
    relative_tolerance: Optional[float]
    feature_columns: Optional[Sequence]
    mini_batch_init_size: Optional[int]
    reassignment_ratio: float

    @property
    def given_centers(self):
        """The `[k, d]` float32 centers given by the caller, or None."""
        return self.initial_clusters if isinstance(self.initial_clusters, np.ndarray) else None

    @property
    def named_init(self):
        """The name of the init (`INIT_NAMES`), or None for given centers and callables."""
        return self.initial_clusters if isinstance(self.initial_clusters, str) else None

    @property
    def gathers_batches(self):
        """True when a mini-batch named init gathers more than the first batch before choosing."""
        return self.use_mini_batch and self.named_init is not None and self.mini_batch_init_size != 1

    @property
    def fills_batch_by_batch(self):
        """True for inits that add centers batch after batch until all k are chosen."""
        return self.named_init == RANDOM_INIT or callable(self.initial_clusters)


def _init_error(initial_clusters):
    return ValueError(
        f"initial_clusters must be one of {INIT_NAMES}, an array of centers or a callable, "
        f"got {initial_clusters!r}"
    )


def as_initial_centers(initial_clusters):
    """Returns user-given initial centers as a float32 `[k, d]` array, validated.

    Repeated rows are kept (each repeat is a center that starts empty) with a
    `ConvergenceWarning` naming them.
    """
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
    centers = centers.astype(np.float32)
    distinct = len(np.unique(centers, axis=0))
    if distinct < len(centers):
        warnings.warn(
            f"initial_clusters holds {len(centers)} centers but only {distinct} distinct ones: "
            f"the repeated centers start empty",
            ConvergenceWarning, stacklevel=4)
    return centers


def _scalar_value(value):
    """A concrete scalar tensor or 0-d array as a Python number; anything else unchanged."""
    if isinstance(value, tf.Tensor) and hasattr(value, "numpy"):
        value = value.numpy()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    return value


def build_settings(
    num_clusters, initial_clusters, distance_metric, seed, use_mini_batch,
    mini_batch_steps_per_iteration, kmeans_plus_plus_num_retries, relative_tolerance,
    feature_columns, mini_batch_init_size, reassignment_ratio,
):
    """Checks the constructor's arguments and returns their `Settings`.

    Each argument is judged as the original judged it, with the original's exception
    type, but here before anything is built or written: a wrong type raises TypeError,
    `num_clusters` below 1 `tf.errors.InvalidArgumentError`, an unknown name ValueError.
    What the original accepted is accepted with its meaning: any truthy `use_mini_batch`,
    `mini_batch_steps_per_iteration` below 1 as 1 (one step per iteration), a negative
    `relative_tolerance` (which never stops training).

    Raises:
      TypeError, ValueError, tf.errors.InvalidArgumentError: an argument is invalid; the
        message names it, what it must be and what was given.
    """
    if isinstance(initial_clusters, str):
        if initial_clusters not in INIT_NAMES:
            raise _init_error(initial_clusters)
    elif isinstance(initial_clusters, (np.ndarray, tf.Tensor, list, tuple)):
        initial_clusters = as_initial_centers(initial_clusters)
        num_clusters = initial_clusters.shape[0]
    elif not callable(initial_clusters):
        raise _init_error(initial_clusters)
    num_clusters = _scalar_value(num_clusters)
    if not is_integer(num_clusters):
        raise TypeError(f"num_clusters must be a positive integer, got {num_clusters!r}")
    if num_clusters < 1:
        # The original's type: its init op rejected the count when training ran.
        raise tf.errors.InvalidArgumentError(
            None, None, f"num_clusters must be a positive integer, got {num_clusters!r}")
    if distance_metric not in distances.METRICS:
        raise ValueError(f"distance_metric must be one of {distances.METRICS}, got {distance_metric!r}")
    if seed is not None and not is_integer(seed):
        raise TypeError(f"seed must be an integer or None, got {seed!r}")
    if not is_integer(mini_batch_steps_per_iteration):
        raise TypeError(
            f"mini_batch_steps_per_iteration must be an integer, got {mini_batch_steps_per_iteration!r}")
    if not is_integer(kmeans_plus_plus_num_retries):
        raise TypeError(
            f"kmeans_plus_plus_num_retries must be an integer, got {kmeans_plus_plus_num_retries!r}"
        )
    if relative_tolerance is not None and not is_number(relative_tolerance):
        raise TypeError(f"relative_tolerance must be a number or None, got {relative_tolerance!r}")
    if feature_columns is not None:
        if isinstance(feature_columns, (str, bytes)) or not hasattr(feature_columns, "__iter__"):
            raise ValueError(f"feature_columns must be an iterable of feature columns, got {feature_columns!r}")
        feature_columns = tuple(feature_columns)
    if mini_batch_init_size is not None and not (is_integer(mini_batch_init_size) and mini_batch_init_size >= 1):
        raise ValueError(
            f"mini_batch_init_size must be a positive integer (points) or None (three batches), "
            f"got {mini_batch_init_size!r}"
        )
    if not (is_number(reassignment_ratio) and 0 <= reassignment_ratio <= 1):
        raise ValueError(f"reassignment_ratio must be a number in [0, 1], got {reassignment_ratio!r}")
    return Settings(
        num_clusters=int(num_clusters),
        initial_clusters=initial_clusters,
        distance_metric=distance_metric,
        seed=None if seed is None else int(seed),
        use_mini_batch=bool(use_mini_batch),
        mini_batch_steps_per_iteration=max(1, int(mini_batch_steps_per_iteration)),
        kmeans_plus_plus_num_retries=int(kmeans_plus_plus_num_retries),
        relative_tolerance=None if relative_tolerance is None else float(relative_tolerance),
        feature_columns=feature_columns,
        mini_batch_init_size=None if mini_batch_init_size is None else int(mini_batch_init_size),
        reassignment_ratio=float(reassignment_ratio),
    )


def seed_pair(settings, counter):
    """The `[2]` int32 seed of the stateless draws numbered `counter`; random when no seed was given.

    Initial centers use counters 0 to k - 1 and reassignment `REASSIGNMENT_SEED_STREAM`.
    """
    if settings.seed is None:
        base = tf.random.uniform([], maxval=2**31 - 1, dtype=tf.int32)
    else:
        base = tf.constant(settings.seed % (2**31 - 1), dtype=tf.int32)
    return tf.stack([base, tf.cast(counter, tf.int32)])
