"""Session hooks the Estimator adds to every train or evaluate call.

TensorFlow's own hooks do most of the work (step counting, summaries, NaN
checks); the two here exist because their TensorFlow counterparts either write
the whole graph, constants included, with every checkpoint, or are gone.
"""
import tensorflow as tf

from kmeans_estimator.estimator import checkpoints


class CheckpointHook(tf.compat.v1.train.SessionRunHook):
    """Saves checkpoints every N steps or seconds and once at the end of training.

    Unlike `tf.compat.v1.train.CheckpointSaverHook` it writes `graph.pbtxt`
    and the `.meta` files with large constants stripped, and it does not save
    a checkpoint when the session starts (nothing has changed then), which
    keeps short `train()` calls cheap.

    Args:
      model_dir: directory for `model.ckpt-N.*`, `checkpoint` and `graph.pbtxt`.
      saver: the `tf.compat.v1.train.Saver` of the training graph.
      save_steps, save_secs: how often to save; at most one of them is set, and
        neither (None or 0) saves only at the end.
      listeners: `tf.compat.v1.train.CheckpointSaverListener`s called around saves.
    """

    def __init__(self, model_dir, saver, save_steps=None, save_secs=None, listeners=None):
        self._model_dir = model_dir
        self._saver = saver
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

    def after_create_session(self, session, coord):
        graph = tf.compat.v1.get_default_graph()
        self._meta_graph = checkpoints.write_graph_files(graph, self._saver, self._model_dir)
        step = session.run(self._global_step)
        if self._timer:
            self._timer.update_last_triggered_step(step)
        # A session that restored this step's checkpoint need not save it again
        # unless it trains; a fresh one (or one whose hooks only initialized
        # state, as k-means initialization does) saves at the end.
        restored = tf.io.gfile.exists(f"{checkpoints.checkpoint_prefix(self._model_dir)}-{step}.index")
        self._last_saved_step = step if restored else None

    def before_run(self, run_context):
        return tf.compat.v1.train.SessionRunArgs(self._global_step)

    def after_run(self, run_context, run_values):
        # The step the fetch saw is the one before this run's update.
        step = run_values.results + 1
        if self._timer and self._timer.should_trigger_for_step(step):
            step = run_context.session.run(self._global_step)
            self._timer.update_last_triggered_step(step)
            if self._save(run_context.session, step):
                run_context.request_stop()

    def end(self, session):
        step = session.run(self._global_step)
        if step != self._last_saved_step:
            self._save(session, step)
        for listener in self._listeners:
            listener.end(session, step)

    def _save(self, session, step):
        """Saves one checkpoint; returns True when a listener asks to stop training."""
        for listener in self._listeners:
            listener.before_save(session, step)
        path = self._saver.save(
            session, checkpoints.checkpoint_prefix(self._model_dir), global_step=step,
            write_meta_graph=False,
        )
        checkpoints.write_meta_graph(self._meta_graph, path)
        self._last_saved_step = step
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
