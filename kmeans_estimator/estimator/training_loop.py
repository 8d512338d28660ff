"""The training loop: steps go through the session's hooks only when a hook needs them.

A hooked `MonitoredSession.run` adds Python to every step (hook calls, fetch
merging and parsing), a sizeable share of a mini-batch step. Steps on
which no hook is due therefore run as one callable of the raw session, reached
through `MonitoredSession.run_step_fn`, TensorFlow's own door to it.
"""
import math

import tensorflow as tf

from kmeans_estimator._logger import log
from kmeans_estimator.estimator.hooks import ScheduledHook

_BASE_HOOK = tf.compat.v1.train.SessionRunHook


def _needs_every_run(hook):
    """True for hooks that expect `before_run`/`after_run` on every step."""
    if isinstance(hook, ScheduledHook):
        return False
    kind = type(hook)
    return kind.before_run is not _BASE_HOOK.before_run or kind.after_run is not _BASE_HOOK.after_run


def step_fetches(train_op, loss):
    """What every training step fetches: the train op, the loss and the global step after it.

    Built once per graph (a kept graph is final after its first call).
    """
    global_step = tf.compat.v1.train.get_global_step()
    with tf.name_scope("training_loop"), tf.control_dependencies([train_op]):
        step_after = tf.identity(global_step.read_value(), name="global_step_after")
    return [train_op, loss, step_after]


class TrainingLoop:
    """Runs a graph's train op in a MonitoredSession until training ends.

    Every step fetches the train op, the loss and the global step read after
    the train op, one `session.run` each. A step runs through the session's
    hooks when any hook is not a `ScheduledHook` but has `before_run` or
    `after_run` (user hooks, for instance), or when a `ScheduledHook` is due;
    otherwise it runs on the raw session. Before a session's first step, every
    ScheduledHook's `session_started` is called with the step it starts from. A run
    that meets the end of the input (`OutOfRangeError`) is reported to every
    ScheduledHook's `input_ended` before the error ends training. After each step the
    loop checks the loss (a NaN loss raises
    `tf.compat.v1.train.NanLossDuringTrainingError`, as tf.estimator's
    NanTensorHook did) and calls every ScheduledHook's `observe`; one of them
    returning True ends training.

    Args:
      fetches: what `step_fetches` returned for the graph's train op and loss.
      hooks: every hook the MonitoredSession was given, chief-only ones included.
    """

    def __init__(self, fetches, hooks):
        self._global_step = tf.compat.v1.train.get_global_step()
        self._fetches = list(fetches)
        scheduled = [hook for hook in hooks if isinstance(hook, ScheduledHook)]
        self._due_checks = [hook.is_due for hook in scheduled if type(hook).is_due is not ScheduledHook.is_due]
        self._starters = [hook.session_started for hook in scheduled
                          if type(hook).session_started is not ScheduledHook.session_started]
        self._observers = [hook.observe for hook in scheduled]
        self._end_listeners = [
            hook.input_ended for hook in scheduled if type(hook).input_ended is not ScheduledHook.input_ended]
        self._every_run_hooked = any(_needs_every_run(hook) for hook in hooks)
        self._raw_session = None
        self._raw_step = None
        self._step = None
        self.last_loss = None

    def run(self, session):
        """Trains until `session` (a MonitoredSession) should stop.

        A stop requested by an observer leaves through the StopIteration that
        `StepContext.request_stop` raises, which the MonitoredSession's `with`
        block takes as a normal end, so call this inside that block.
        """
        while not session.should_stop():
            session.run_step_fn(self._run_steps)

    def _run_steps(self, step_context):
        """Runs raw steps while no hook is due, then one hooked step; returns after it."""
        raw_session = step_context.session
        if raw_session is not self._raw_session:
            # The first call, or a session recreated after a recoverable error.
            self._raw_session = raw_session
            self._raw_step = raw_session.make_callable(self._fetches)
            self._step = int(raw_session.run(self._global_step))
            for session_started in self._starters:
                session_started(raw_session, self._step)
        while True:
            upcoming = self._step + 1
            hooked = self._every_run_hooked or any(is_due(upcoming) for is_due in self._due_checks)
            try:
                if hooked:
                    _, loss, step = step_context.run_with_hooks(self._fetches)
                else:
                    _, loss, step = self._raw_step()
            except tf.errors.OutOfRangeError:
                for input_ended in self._end_listeners:
                    input_ended(raw_session)
                raise
            self._finish_step(step_context, raw_session, int(step), loss)
            if hooked:
                return

    def _finish_step(self, step_context, raw_session, step, loss):
        if math.isnan(loss):
            log.error("Model diverged with loss = NaN at global step %d", step)
            raise tf.compat.v1.train.NanLossDuringTrainingError
        self._step = step
        self.last_loss = loss
        stop = False
        for observe in self._observers:
            stop = bool(observe(raw_session, step, loss)) or stop
        if stop:
            step_context.request_stop()
