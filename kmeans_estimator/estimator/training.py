"""train_and_evaluate and its specs: train, evaluate now and then, export; locally or as one
task of a TF_CONFIG cluster.

The names, arguments and checks are those of tf.estimator's `TrainSpec`, `EvalSpec` and
`train_and_evaluate`. The cluster's training tasks are run by `distributed`; the evaluator
and the evaluations of local training by `evaluator`.
"""
import collections

from kmeans_estimator._logger import log
from kmeans_estimator.estimator import distributed, evaluator
from kmeans_estimator.estimator.checks import (
    check_non_negative_number, check_optional_positive_int, type_name,
)
from kmeans_estimator.estimator.estimator import Estimator
from kmeans_estimator.estimator.exporters import Exporter
from kmeans_estimator.estimator.spec import check_hooks, check_saving_listeners

_EVALUATOR = "evaluator"


def _check_input_fn(input_fn):
    if not callable(input_fn):
        raise TypeError(f"input_fn must be callable, got {type_name(input_fn)}")


def _check_exporters(exporters):
    """Returns `exporters` (None, one Exporter or an iterable of them) as a tuple of Exporters
    with distinct non-empty names."""
    if exporters is None:
        return ()
    if isinstance(exporters, Exporter):
        exporters = (exporters,)
    elif isinstance(exporters, (str, bytes)) or not hasattr(exporters, "__iter__"):
        raise TypeError(f"exporters must be an Exporter, an iterable of Exporters or None, got {type_name(exporters)}")
    exporters = tuple(exporters)
    for exporter in exporters:
        if not isinstance(exporter, Exporter):
            raise TypeError(f"exporters must hold Exporter instances, got {type_name(exporter)}")
    names = [exporter.name for exporter in exporters]
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"exporters must have non-empty string names, got the names {names}")
    if len(set(names)) != len(names):
        raise ValueError(f"exporters must have distinct names (each is a directory), got the names {names}")
    return exporters


class TrainSpec(collections.namedtuple("TrainSpec", ["input_fn", "max_steps", "hooks", "saving_listeners"])):
    """The training part of `train_and_evaluate`: its input, length and hooks.

    Args:
      input_fn: the training input_fn, as for `Estimator.train`.
      max_steps: train until the global step reaches this positive integer; None trains
        until the input ends. (tf.estimator's docs: the only stop condition that behaves
        the same on one machine and on a cluster.)
      hooks: `SessionRunHook`s for every training task.
      saving_listeners: `CheckpointSaverListener`s for the chief.

    Raises:
      TypeError, ValueError: an argument is of the wrong kind or out of range.
    """

    def __new__(cls, input_fn, max_steps=None, hooks=None, saving_listeners=None):
        _check_input_fn(input_fn)
        check_optional_positive_int("max_steps", max_steps)
        return super().__new__(
            cls, input_fn, max_steps, check_hooks(hooks, "hooks"),
            check_saving_listeners(saving_listeners, "saving_listeners"))


class EvalSpec(collections.namedtuple(
        "EvalSpec", ["input_fn", "steps", "name", "hooks", "exporters", "start_delay_secs", "throttle_secs"])):
    """The evaluation part of `train_and_evaluate`: its input, how often, and the exporters.

    Args:
      input_fn: the evaluation input_fn, as for `Estimator.evaluate`.
      steps: evaluate this many batches (positive integer), or until the input ends (None).
      name: evaluations go to `model_dir/eval_<name>` (`model_dir/eval` when None).
      hooks: `SessionRunHook`s for the evaluations.
      exporters: an `Exporter`, an iterable of them, or None; run after each evaluation.
      start_delay_secs: the evaluator task waits this long before its first evaluation.
      throttle_secs: the least number of seconds between the starts of two evaluations;
        a checkpoint saved sooner is not evaluated (the last one of training always is).

    Raises:
      TypeError, ValueError: an argument is of the wrong kind or out of range, or two
        exporters have the same name.
    """

    def __new__(cls, input_fn, steps=100, name=None, hooks=None, exporters=None, start_delay_secs=120,
                throttle_secs=600):
        _check_input_fn(input_fn)
        check_optional_positive_int("steps", steps)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {type_name(name)}")
        check_non_negative_number("start_delay_secs", start_delay_secs, unit="seconds")
        check_non_negative_number("throttle_secs", throttle_secs, unit="seconds")
        return super().__new__(
            cls, input_fn, steps, name, check_hooks(hooks, "hooks"), _check_exporters(exporters),
            start_delay_secs, throttle_secs)


def _evaluating_listener(estimator, train_spec, eval_spec):
    checkpoint_evaluator = evaluator.CheckpointEvaluator(estimator, eval_spec, train_spec.max_steps)
    return evaluator.EvaluateAfterSaveListener(checkpoint_evaluator, eval_spec.throttle_secs)


def _run_local(estimator, train_spec, eval_spec):
    """Trains in this process, evaluating and exporting after checkpoint saves."""
    config = estimator.config
    log.info(
        "Training locally; evaluating after checkpoint saves (save_checkpoints_steps=%s, "
        "save_checkpoints_secs=%s), at most every throttle_secs=%g s, and at the end",
        config.save_checkpoints_steps, config.save_checkpoints_secs, eval_spec.throttle_secs)
    listener = _evaluating_listener(estimator, train_spec, eval_spec)
    estimator.train(train_spec.input_fn, hooks=train_spec.hooks, max_steps=train_spec.max_steps,
                    saving_listeners=train_spec.saving_listeners + (listener,))
    return listener.evaluator.eval_result, listener.evaluator.export_results


def _run_master(estimator, train_spec, eval_spec):
    """The legacy `master` task: the chief, evaluating after its checkpoint saves as locally."""
    listener = _evaluating_listener(estimator, train_spec, eval_spec)
    distributed.run_training_task(
        estimator, train_spec._replace(saving_listeners=train_spec.saving_listeners + (listener,)))
    return listener.evaluator.eval_result, listener.evaluator.export_results


def _run_training_task(estimator, train_spec, eval_spec):
    """The `chief`, `worker` and `ps` tasks, which `distributed` runs; they evaluate nothing."""
    run = {
        "chief": distributed.run_training_task,
        "worker": distributed.run_training_task,
        "ps": distributed.run_ps,
    }[estimator.config.task_type]
    run(estimator, train_spec)
    return None, None


_CLUSTER_TASKS = {
    "chief": _run_training_task,
    "master": _run_master,
    "worker": _run_training_task,
    "ps": _run_training_task,
    _EVALUATOR: evaluator.run_evaluator,
}


def train_and_evaluate(estimator, train_spec, eval_spec):
    """Trains `estimator`, evaluates it now and then, and runs the exporters on each evaluation.

    Without a cluster in `estimator.config` (no TF_CONFIG, one without "cluster", or a
    cluster of one task), this process trains until `train_spec.max_steps` (or the input's end). After a checkpoint save,
    when `eval_spec.throttle_secs` have passed since the last evaluation started, it
    evaluates that checkpoint and runs the exporters on the result; the last checkpoint of
    training is always evaluated. How often checkpoints are saved is
    `RunConfig(save_checkpoints_steps=...)` or `save_checkpoints_secs` (600 s by default).

    With a cluster, this process runs its task, `config.task_type`: `chief` (or the legacy
    `master`, which also evaluates as above), `worker` and `ps` train on the cluster
    (`distributed`); the `evaluator`, outside the cluster, evaluates each new checkpoint
    (see `evaluator.run_evaluator`) until one at or past `max_steps`.

    Exports go to `model_dir/export/<exporter name>/<version>`. An evaluation is the final
    export (`is_the_final_export=True`) when its global step is at or past `max_steps`.

    Args:
      estimator: an `Estimator`.
      train_spec: a `TrainSpec`.
      eval_spec: an `EvalSpec`.

    Returns:
      (eval_result, export_results): the metrics dict of the last evaluation and the list of
      what each exporter returned for it; (None, None) when nothing was evaluated (training
      had already reached max_steps) and on the chief, worker and ps tasks.

    Raises:
      TypeError: an argument is not of its type.
      ValueError: the task type is not one of a cluster's, or the evaluator's index is not 0.
    """
    if not isinstance(estimator, Estimator):
        raise TypeError(f"estimator must be a kmeans_estimator.Estimator, got {type_name(estimator)}")
    if not isinstance(train_spec, TrainSpec):
        raise TypeError(f"train_spec must be a TrainSpec, got {type_name(train_spec)}")
    if not isinstance(eval_spec, EvalSpec):
        raise TypeError(f"eval_spec must be an EvalSpec, got {type_name(eval_spec)}")
    config = estimator.config
    # A one-task cluster is a local run (RunConfig gives it a local master).
    if not distributed.is_distributed(config) and config.task_type != _EVALUATOR:
        return _run_local(estimator, train_spec, eval_spec)
    run_task = _CLUSTER_TASKS.get(config.task_type)
    if run_task is None:
        raise ValueError(
            f"TF_CONFIG task type {config.task_type!r} is not one train_and_evaluate runs; "
            f"it runs {sorted(_CLUSTER_TASKS)}")
    log.info("Running train_and_evaluate as task %s %d", config.task_type, config.task_id)
    return run_task(estimator, train_spec, eval_spec)
