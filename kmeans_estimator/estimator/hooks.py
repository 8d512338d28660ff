"""Session hooks the Estimator adds to train and evaluate calls.

Training hooks here are `ScheduledHook`s: they act on some steps only and say
which, so the training loop (`training_loop.py`) runs every other step without
any hook. TensorFlow's StopAtStepHook, StepCounterHook, SummarySaverHook,
LoggingTensorHook, NanTensorHook and CheckpointSaverHook each fetch the global
step or the loss on every step, which makes every mini-batch step a hooked
run (see `training_loop` for its cost); their jobs are done here by hooks that
read what the loop hands them after each step. The checkpoint hook also writes `graph.pbtxt` and
`.meta` files with large constants stripped. Their log lines are tf.estimator's, at its levels,
on TensorFlow's `tensorflow` logger (`kmeans_estimator._logger`).
"""
import re
import time

import tensorflow as tf

from kmeans_estimator._logger import log
from kmeans_estimator.estimator import checkpoints, event_files, temp_files

# The directory TensorFlow's sharded Saver writes a checkpoint's parts into before merging them.
_SAVE_TEMP_SUFFIX = "_temp"


class ScheduledHook(tf.compat.v1.train.SessionRunHook):
    """A hook that needs a hooked `session.run` on some training steps only.

    The training loop asks `is_due(step)` before each step; when no hook is due
    (and no hook of another kind needs every run), the step runs on the raw
    session without `before_run`/`after_run`. Once a session is ready (every
    hook's `after_create_session` has run) and before its first step, the loop
    calls `session_started(session, step)`; after every step, hooked or not, it
    calls `observe(session, step, loss)`.
    """

    def session_started(self, session, step):
        """Called with the raw session and the global step before the first step of a
        session, after the hooks have prepared it (k-means chooses its centers then)."""
        del session, step

    def is_due(self, step):
        """True when this hook's `before_run`/`after_run` must see the run that
        takes the global step to `step`."""
        del step
        return False

    def observe(self, session, step, loss):
        """Called after every training step with the raw session, the global step
        after the step, and the step's loss; returns True to end training."""
        del session, step, loss
        return False

    def input_ended(self, session):
        """Called with the raw session when a training run met the end of the input
        (an `OutOfRangeError`, which ends training normally), before any hook's `end`."""
        del session


class StepLimitHook(ScheduledHook):
    """Ends training after `num_steps` more steps, or at the absolute `last_step`."""

    def __init__(self, num_steps=None, last_step=None):
        self._num_steps = num_steps
        self._last_step = last_step

    def after_create_session(self, session, coord):
        if self._num_steps is not None:
            start = session.run(tf.compat.v1.train.get_global_step())
            self._last_step = start + self._num_steps

    def observe(self, session, step, loss):
        return step >= self._last_step


class _EventWritingHook(ScheduledHook):
    """A ScheduledHook acting every `every_steps` steps that writes to the event files of
    `output_dir` (through `event_files`, whose writers hold no graph data)."""

    def __init__(self, every_steps, output_dir):
        self._every_steps = every_steps
        self._output_dir = output_dir
        self._next_step = None
        self._event_writer = None

    def begin(self):
        # Taken again by each session: the process's writers are closed when evicted.
        self._event_writer = None

    @property
    def _writer(self):
        """The event writer of `output_dir`, taken on the session's first write: a call
        that fails before its first step leaves no event file."""
        if self._event_writer is None:
            self._event_writer = event_files.writer(self._output_dir)
        return self._event_writer

    def end(self, session):
        if self._event_writer is not None:
            self._event_writer.flush()


class ProgressHook(_EventWritingHook):
    """Every `every_steps` steps, logs the loss and step and the steps per second.

    The lines are tf.estimator's: `loss = L, step = N` on the first step of a call,
    then `global_step/sec: R` and `loss = L, step = N (S sec)` every `every_steps`
    steps, where N is the global step the logged step started from (as the original's
    LoggingTensorHook read it) and L that step's loss. The rate is also written to
    TensorBoard as `global_step/sec` at the step reached, the tag and step tf.estimator
    used. Every step comes from the loop, so none gets a run of its own for logging.
    """

    def __init__(self, every_steps, output_dir):
        super().__init__(every_steps, output_dir)
        self._last = None
        self._step_before = None

    def session_started(self, session, step):
        self._step_before = step

    def observe(self, session, step, loss):
        step_before, self._step_before = self._step_before, step
        if self._next_step is not None and step < self._next_step:
            return False
        now = time.time()
        if self._last is None:
            log.info("loss = %s, step = %d", loss, step_before)
        else:
            last_step, last_time = self._last
            elapsed = max(now - last_time, 1e-9)
            rate = (step - last_step) / elapsed
            log.info("global_step/sec: %g", rate)
            log.info("loss = %s, step = %d (%.3f sec)", loss, step_before, elapsed)
            value = tf.compat.v1.Summary.Value(tag="global_step/sec", simple_value=rate)
            self._writer.add_summary(tf.compat.v1.Summary(value=[value]), step)
        self._last = (step, now)
        self._next_step = step + self._every_steps
        return False


class SummaryHook(_EventWritingHook):
    """Writes the graph's summaries on the first step and every `every_steps` after.

    Summaries are computed in the training step they describe, so this is the
    one Estimator hook that needs hooked runs, on the steps it writes.

    Args:
      every_steps: positive int.
      output_dir: directory of the event files.
      scaffold: the training Scaffold; its `summary_op`, or all summaries of the
        graph when it has none, merged when the session begins.
      summary_op: the op to write instead, merged beforehand (a kept graph is final).
    """

    def __init__(self, every_steps, output_dir, scaffold, summary_op=None):
        super().__init__(every_steps, output_dir)
        self._scaffold = scaffold
        self._summary_op = summary_op
        self._upcoming_step = None
        self._summary = None

    def begin(self):
        super().begin()
        if self._summary_op is None:
            self._summary_op = self._scaffold.summary_op
        if self._summary_op is None:
            self._summary_op = tf.compat.v1.summary.merge_all()

    def is_due(self, step):
        return self._summary_op is not None and (self._next_step is None or step >= self._next_step)

    def before_run(self, run_context):
        if self._summary_op is None:
            return None
        # Without user hooks, the loop only runs hooked steps when a hook is
        # due; with them, every step comes here and this hook decides itself.
        if self._upcoming_step is None or self.is_due(self._upcoming_step):
            return tf.compat.v1.train.SessionRunArgs(self._summary_op)
        return None

    def after_run(self, run_context, run_values):
        self._summary = run_values.results

    def observe(self, session, step, loss):
        if self._summary is not None:
            self._writer.add_summary(self._summary, step)
            self._summary = None
            self._next_step = step + self._every_steps
        self._upcoming_step = step + 1
        return False


class CheckpointHook(ScheduledHook):
    """Saves a checkpoint when a training session starts, every N steps or seconds, and at the end.

    As `tf.compat.v1.train.CheckpointSaverHook` did, it saves when the session starts
    (a fresh model's `model.ckpt-0`; a call resuming from step N writes `model.ckpt-N`
    again), on its schedule and at the end, never the same step twice in one session,
    and logs each save as the original did: `Saving checkpoints for N into PREFIX.`
    between the lines about calling the listeners. Unlike it, it writes `graph.pbtxt`
    and the `.meta` files with large constants stripped; it makes the first save once
    the session is ready (`session_started`), after the hooks that prepare it, so a
    k-means `model.ckpt-0` holds the initial centers and an initialization that fails
    saves nothing; and it needs no hooked run: the loop hands it the session and step
    after each step.

    Args:
      model_dir: directory for `model.ckpt-N.*`, `checkpoint` and `graph.pbtxt`.
      saver: the `tf.compat.v1.train.Saver` of the training graph.
      save_steps, save_secs: how often to save; at most one of them is set, and
        neither (None or 0) saves only at the end.
      listeners: `tf.compat.v1.train.CheckpointSaverListener`s called around saves.
      graph_files: the `checkpoints.GraphFiles` of the graph, when several calls share it.
    """

    def __init__(self, model_dir, saver, save_steps=None, save_secs=None, listeners=None, graph_files=None):
        self._model_dir = model_dir
        self._saver = saver
        self._graph_files = graph_files
        # 0 or None for both turns periodic saving off; the final save always happens.
        self._timer = None
        if save_steps or save_secs:
            self._timer = tf.compat.v1.train.SecondOrStepTimer(
                every_secs=save_secs or None, every_steps=save_steps or None
            )
        self._listeners = list(listeners or ())
        self._meta_graph = None
        self._last_saved_step = None
        self._global_step = None

    def begin(self):
        self._global_step = tf.compat.v1.train.get_global_step()
        if self._global_step is None:
            raise RuntimeError("CheckpointHook needs a global step in the graph")
        for listener in self._listeners:
            listener.begin()

    def session_started(self, session, step):
        # The graph files too wait for a ready session: a session whose hooks fail (an
        # initialization that cannot complete) leaves the model directory as it was.
        if self._graph_files is None:
            self._graph_files = checkpoints.GraphFiles(session.graph, self._saver)
        self._meta_graph = self._graph_files.write(self._model_dir)
        event_files.add_graph(self._model_dir, self._graph_files.graph_def, self._graph_files.digest)
        if self._timer:
            self._timer.update_last_triggered_step(step)
        self._save(session, step)

    def observe(self, session, step, loss):
        if self._timer and self._timer.should_trigger_for_step(step):
            self._timer.update_last_triggered_step(step)
            return self._save(session, step)
        return False

    def end(self, session):
        step = int(session.run(self._global_step))
        if step != self._last_saved_step:
            self._save(session, step)
        for listener in self._listeners:
            listener.end(session, step)

    def _save(self, session, step):
        """Saves one checkpoint; returns True when a listener asks to stop training."""
        log.info("Calling checkpoint listeners before saving checkpoint %d...", step)
        for listener in self._listeners:
            listener.before_save(session, step)
        prefix = checkpoints.checkpoint_prefix(self._model_dir)
        log.info("Saving checkpoints for %d into %s.", step, prefix)
        # The .meta file comes first: the save records the checkpoint in the `checkpoint`
        # file last, so a process killed at any point never leaves a recorded checkpoint
        # without its .meta (at worst an unrecorded .meta, overwritten by the next save).
        checkpoints.write_meta_graph(self._meta_graph, f"{prefix}-{step}")
        # The sharded Saver writes the parts into `model.ckpt-N_temp` before merging them;
        # one killed meanwhile leaves it. Stale ones are removed first, and this save holds
        # `model.ckpt-N_temp.lock` (see temp_files) from before the Saver creates the
        # directory until it has merged and removed it.
        temp_files.remove_stale(
            self._model_dir, re.escape(checkpoints.CHECKPOINT_PREFIX) + r"-\d+" + _SAVE_TEMP_SUFFIX)
        with temp_files.held_lock(f"{prefix}-{step}{_SAVE_TEMP_SUFFIX}"):
            self._saver.save(session, prefix, global_step=step, write_meta_graph=False)
        self._last_saved_step = step
        log.info("Calling checkpoint listeners after saving checkpoint %d...", step)
        stop = False
        for listener in self._listeners:
            stop = bool(listener.after_save(session, step)) or stop
        return stop


class StopAfterRunsHook(tf.compat.v1.train.SessionRunHook):
    """Requests a stop after a fixed number of `session.run` calls.

    Used by `evaluate(steps=N)`, where the global step does not move.
    """

    def __init__(self, num_runs):
        self._num_runs = num_runs
        self._runs = 0

    def after_run(self, run_context, run_values):
        self._runs += 1
        if self._runs >= self._num_runs:
            run_context.request_stop()
