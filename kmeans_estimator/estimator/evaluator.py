"""Evaluating and exporting new checkpoints for `train_and_evaluate`: after checkpoint saves
during local training, and in a cluster's `evaluator` task."""
import os
import time

import tensorflow as tf

from kmeans_estimator._logger import log

# How often the evaluator task looks for a new checkpoint, as tf.train.checkpoints_iterator does.
POLL_SECS = 1.0
EXPORT_DIRECTORY = "export"


class CheckpointEvaluator:
    """Evaluates the newest checkpoint of the Estimator's model directory, then runs the exporters.

    A checkpoint is evaluated once. One the Estimator says is not ready
    (`Estimator.ready_for_evaluation`: a KMeans checkpoint saved before its
    centers were chosen) is skipped with a log line, and asked about again on the next call.
    So is one that training deletes (`keep_checkpoint_max`) while it is being restored.

    Args:
      estimator: the `Estimator`.
      eval_spec: the `EvalSpec`: input, steps, name, hooks and exporters of the evaluations.
      max_steps: `TrainSpec.max_steps`; an evaluation at or past it is the final export.

    Attributes:
      eval_result: the metrics of the last evaluation, or None before the first.
      export_results: the list of what each exporter returned for it, or None.
      finished: True once a checkpoint at or past `max_steps` was evaluated.
    """

    def __init__(self, estimator, eval_spec, max_steps):
        self._estimator = estimator
        self._eval_spec = eval_spec
        self._max_steps = max_steps
        self._evaluated = None
        self._skipped = None
        self.eval_result = None
        self.export_results = None
        self.finished = False

    def evaluate_newest(self):
        """Evaluates and exports the newest checkpoint, unless it was evaluated or is not ready.

        Returns:
          True when a checkpoint was evaluated.
        """
        estimator = self._estimator
        path = estimator.latest_checkpoint()
        if path is None or path == self._evaluated:
            return False
        if not estimator.ready_for_evaluation(path):
            if path != self._skipped:
                log.info("Not evaluating %s: the model says it is not ready for evaluation yet", path)
                self._skipped = path
            return False
        spec = self._eval_spec
        try:
            metrics = estimator.evaluate(
                spec.input_fn, steps=spec.steps, hooks=spec.hooks, checkpoint_path=path, name=spec.name)
        except (tf.errors.OpError, ValueError):
            # Training may delete a checkpoint (keep_checkpoint_max) before or while it is
            # read (ValueError from the path check, an OpError from the restore); a newer one
            # then exists, and is evaluated next. Any other failure is raised.
            if tf.io.gfile.exists(path + ".index"):
                raise
            log.info("Not evaluating %s: training deleted it while it was being restored", path)
            return False
        final = self._max_steps is not None and metrics["global_step"] >= self._max_steps
        export_base = os.path.join(estimator.model_dir, EXPORT_DIRECTORY)
        self.export_results = [
            exporter.export(estimator=estimator, export_path=os.path.join(export_base, exporter.name),
                            checkpoint_path=path, eval_result=metrics, is_the_final_export=final)
            for exporter in spec.exporters
        ]
        self.eval_result = metrics
        self._evaluated = path
        self.finished = final
        return True


class EvaluateAfterSaveListener(tf.compat.v1.train.CheckpointSaverListener):
    """Evaluates after a checkpoint save when `throttle_secs` have passed since the last
    evaluation started, and after the last save of training if its step was not evaluated.

    The first save of a training session, made when it starts, is not evaluated: nothing
    has been trained since that step's checkpoint was written (as in tf.estimator).

    Args:
      evaluator: the `CheckpointEvaluator` to run.
      throttle_secs: the least number of seconds between the starts of two evaluations.
    """

    def __init__(self, evaluator, throttle_secs):
        self.evaluator = evaluator
        self._throttle_secs = throttle_secs
        self._last_started = None
        self._last_step = None
        self._at_session_start = True

    def begin(self):
        self._at_session_start = True

    def after_save(self, session, global_step_value):
        if self._at_session_start:
            self._at_session_start = False
            return
        if self._last_started is not None and time.time() - self._last_started < self._throttle_secs:
            log.info("Not evaluating the checkpoint of step %d: the last evaluation started less "
                     "than throttle_secs=%g s ago", global_step_value, self._throttle_secs)
            return
        self._evaluate(global_step_value)

    def end(self, session, global_step_value):
        if global_step_value != self._last_step:
            self._evaluate(global_step_value)

    def _evaluate(self, global_step_value):
        self._last_started = time.time()
        self._last_step = global_step_value
        self.evaluator.evaluate_newest()


def run_evaluator(estimator, train_spec, eval_spec):
    """Runs the `evaluator` task: evaluates each new checkpoint until one at or past max_steps.

    Waits `start_delay_secs`, then looks for a new checkpoint every `POLL_SECS`; two
    evaluations start at least `throttle_secs` apart, and a checkpoint superseded meanwhile
    is never evaluated. With `max_steps=None` it never stops, as in tf.estimator.

    Returns:
      (eval_result, export_results) of the last evaluation.

    Raises:
      ValueError: the task index is not 0 (there is one evaluator).
    """
    task_id = estimator.config.task_id
    if task_id != 0:
        raise ValueError(f"TF_CONFIG may have one evaluator task, index 0, got index {task_id}")
    if eval_spec.start_delay_secs:
        log.info("Waiting start_delay_secs=%g s before the first evaluation", eval_spec.start_delay_secs)
        time.sleep(eval_spec.start_delay_secs)
    log.info("Evaluating the new checkpoints of %s until the global step reaches max_steps=%s",
             estimator.model_dir, train_spec.max_steps)
    evaluator = CheckpointEvaluator(estimator, eval_spec, train_spec.max_steps)
    while not evaluator.finished:
        started = time.time()
        if not evaluator.evaluate_newest():
            time.sleep(POLL_SECS)
            continue
        remaining = eval_spec.throttle_secs - (time.time() - started)
        if remaining > 0 and not evaluator.finished:
            time.sleep(remaining)
    log.info("Evaluated global step %d, at or past max_steps=%d: the evaluator stops",
             evaluator.eval_result["global_step"], train_spec.max_steps)
    return evaluator.eval_result, evaluator.export_results
