"""The hooks of k-means training: the report of the initial centers, and the early stop."""
import warnings

import tensorflow as tf

from kmeans_estimator._logger import log
from kmeans_estimator.estimator import distributed
from kmeans_estimator.estimator.hooks import ScheduledHook
from kmeans_estimator.kmeans.settings import ConvergenceWarning

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
                log.info("Loss changed by %g < relative_tolerance=%g: stopping", change, self._tolerance)
                return True
        return False


class CountRunAtEndOfInputHook(ScheduledHook):
    """Counts the training run that meets the end of the input as a step, as the original did.

    The original's train op incremented the global step beside the step itself, not after
    it, so the run that found the input exhausted still moved the global step: `train()`
    on an input of B batches ends B + 1 steps later (B steps if the call began by choosing
    the centers from the first batch). Programs that loop on the global step, checkpoint
    numbers and TensorBoard's x-axis all count that way, so this hook runs `increment`
    (the global step's `assign_add(1)`) when the loop reports that the input ended, before
    the final checkpoint is saved.
    """

    def __init__(self, increment):
        self._increment = increment

    def input_ended(self, session):
        session.run(self._increment)


def _init_error(message):
    # The original's type for input that cannot initialize the centers.
    return tf.errors.InvalidArgumentError(None, None, message)


class InitializeClustersHook(tf.compat.v1.train.SessionRunHook):
    """Chooses the initial centers when a training session starts, before its first step.

    On the chief, while the centers are not all chosen, it runs the init op (see
    `initialization.build_init`), each run reading the next batch, as the original did. It
    is a training hook, after the input's hooks: the input is initialized (and queue
    runners started) first. Repeated centers give one `ConvergenceWarning` naming both
    numbers; a fill that cannot complete, or an input that ends first, raises
    `tf.errors.InvalidArgumentError` naming both numbers. Both happen while the session
    is being created, so nothing is saved. An input that ends while batches are being
    gathered has the centers chosen from the points gathered. Other workers wait until
    the chief has initialized the centers.

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
        self._num_chosen = None if initialization is None else initialization.num_chosen

    def after_create_session(self, session, coord):
        if self._init is None:
            distributed.wait_for_chief(lambda: session.run(self._initialized))
            return
        if session.run(self._initialized):
            return
        while True:
            try:
                report = session.run(self._init.report)
            except tf.errors.OutOfRangeError:
                self._input_ended(session)
                return
            if self._checked(report):
                return

    def _checked(self, report):
        """True once every center is chosen; warns about repeats, raises on a fill that cannot complete."""
        k = self._num_clusters
        if report.distinct_found >= 0 and report.initialized:
            warnings.warn(
                f"num_clusters={k} but {self._source} held only {report.distinct_found} distinct points: "
                f"{k - report.distinct_found} initial centers repeat others and may stay empty",
                ConvergenceWarning, stacklevel=2)
        elif report.distinct_found >= 0:
            raise _init_error(
                f"num_clusters={k} initial centers cannot be chosen: {self._source} offered only "
                f"{report.distinct_found} distinct points, and its latest batch was too small and "
                f"brought no new one")
        return bool(report.initialized)

    def _input_ended(self, session):
        """Chooses from the points gathered, if any; raises when the centers stay incomplete."""
        if self._init.from_gathered is not None and self._checked(session.run(self._init.from_gathered)):
            return
        chosen = session.run(self._num_chosen)
        if chosen == 0:
            raise _init_error(
                f"KMeans input is empty: the input ended before any of the num_clusters="
                f"{self._num_clusters} initial centers was chosen")
        raise _init_error(
            f"num_clusters={self._num_clusters} is larger than the number of distinct points "
            f"available for initialization: the input ended after {chosen} distinct initial "
            f"centers were chosen")
