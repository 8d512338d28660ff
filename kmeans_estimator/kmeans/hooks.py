"""The hooks of k-means training: the report of the initial centers, and the early stop."""
import time
import warnings

import tensorflow as tf
from absl import logging

from kmeans_estimator.estimator.hooks import ScheduledHook
from kmeans_estimator.kmeans.settings import ConvergenceWarning

# How often a non-chief worker checks whether the chief has chosen the initial centers.
WAIT_FOR_CHIEF_SECS = 0.5


class LossRelativeChangeHook(ScheduledHook):
    """Stops training once the loss changes by less than `tolerance`, relatively.

    The change is |loss - previous| / (1 + |previous|), between consecutive steps of one
    `train()` call. It reads the loss the training loop hands every hook after each step,
    so it adds no fetch to any step.
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


def _init_error(message):
    # The original's type for input that cannot initialize the centers.
    return tf.errors.InvalidArgumentError(None, None, message)


class InitializeClustersHook(ScheduledHook):
    """Reports the chief's choice of initial centers; makes other workers wait for it.

    The chief's train op chooses the centers (see `initialization`). After each run while
    they are not all chosen, this hook reads the choice's outcome: repeated centers give one
    `ConvergenceWarning` naming both numbers; a fill that cannot complete raises
    `tf.errors.InvalidArgumentError` naming both numbers. An input that ends first has the
    centers chosen from the points gathered, if any, else raises the same error. The hook is
    a chief hook, so its `end` runs before the checkpoint hook's: nothing is saved after an
    error. Other workers wait until the chief has initialized the centers.

    Args:
      initialization: the chief's `initialization.Initialization`, or None on other workers.
      initialized: the model's `initialized` variable.
      num_clusters: k.
      source: where the centers come from, as the messages name it.
    """

    def __init__(self, initialization, initialized, num_clusters, source):
        self._init = initialization
        self._initialized = initialized
        self._num_clusters = num_clusters
        self._source = source
        self._done = False

    def after_create_session(self, session, coord):
        self._done = False
        while self._init is None and not session.run(self._initialized):
            time.sleep(WAIT_FOR_CHIEF_SECS)

    def observe(self, session, step, loss):
        if not self._done and self._init is not None:
            self._check_choice(session)
        return False

    def _check_choice(self, session):
        """Warns about repeated centers, raises on a fill that cannot complete; notes completion."""
        distinct_found, self._done = session.run([self._init.distinct_found, self._initialized])
        if distinct_found < 0:
            return
        k = self._num_clusters
        if self._done:
            warnings.warn(
                f"num_clusters={k} but {self._source} held only {distinct_found} distinct points: "
                f"{k - distinct_found} initial centers repeat others and may stay empty",
                ConvergenceWarning, stacklevel=2)
            return
        raise _init_error(
            f"num_clusters={k} initial centers cannot be chosen: {self._source} offered only "
            f"{distinct_found} distinct points, and its latest batch was too small and brought no new one")

    def end(self, session):
        if self._done or self._init is None or session.run(self._initialized):
            return
        if self._init.from_gathered is not None:
            session.run(self._init.from_gathered)
            self._check_choice(session)
            if self._done:
                return
        chosen = session.run(self._init.num_chosen)
        if chosen == 0:
            raise _init_error(
                f"KMeans input is empty: the input ended before any of the num_clusters="
                f"{self._num_clusters} initial centers was chosen")
        raise _init_error(
            f"num_clusters={self._num_clusters} is larger than the number of distinct points "
            f"available for initialization: the input ended after {chosen} distinct initial "
            f"centers were chosen")
