"""Exporters: which evaluated checkpoints `train_and_evaluate` writes as SavedModels.

Each exporter writes into its own directory, `model_dir/export/<name>`, one numeric version
per export (`Estimator.export_saved_model`), and may delete its older versions. The classes
and arguments are those of tf.estimator's.
"""
import abc
import inspect
import os
import shutil

import tensorflow as tf

from kmeans_estimator._logger import log
from kmeans_estimator.estimator.checks import check_optional_positive_int, type_name

_COMPARE_FN_ARGS = ("best_eval_result", "current_eval_result")


class Exporter(abc.ABC):
    """What `train_and_evaluate` calls after each evaluation: exports the model, or not."""

    @property
    @abc.abstractmethod
    def name(self):
        """The directory of this exporter's exports under `model_dir/export`; a non-empty str."""

    @abc.abstractmethod
    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        """Exports the model of `checkpoint_path`, or skips it.

        Args:
          estimator: the `Estimator` that was evaluated.
          export_path: the directory to export into, `model_dir/export/<name>`.
          checkpoint_path: the checkpoint that was evaluated.
          eval_result: the dict `Estimator.evaluate` returned for it.
          is_the_final_export: True when the evaluated global step is at or past
            `TrainSpec.max_steps`; always False when max_steps is None.

        Returns:
          The path of the new export, or None when this exporter skipped it.
        """


def _remove_old_versions(export_dir_base, exports_to_keep):
    """Deletes all but the `exports_to_keep` largest numeric version directories."""
    versions = sorted(
        (name for name in os.listdir(export_dir_base)
         if name.isdigit() and os.path.isdir(os.path.join(export_dir_base, name))),
        key=int,
    )
    for name in versions[:-exports_to_keep]:
        path = os.path.join(export_dir_base, name)
        log.info("Deleting old export %s (exports_to_keep=%d)", path, exports_to_keep)
        try:
            shutil.rmtree(path)
        except FileNotFoundError:
            log.warning("Old export %s was deleted by someone else meanwhile", path)


class _SavedModelExporter(Exporter):
    """An exporter writing the serving graph with the checkpoint's variables; the arguments
    are those of `LatestExporter`, checked here."""

    def __init__(self, name, serving_input_receiver_fn, assets_extra, as_text, exports_to_keep):
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        if not callable(serving_input_receiver_fn):
            raise TypeError(
                f"serving_input_receiver_fn must be callable, got {type_name(serving_input_receiver_fn)}")
        if assets_extra is not None and not isinstance(assets_extra, dict):
            raise TypeError(
                f"assets_extra must be a dict of destination to source file or None, got {type_name(assets_extra)}")
        if not isinstance(as_text, bool):
            raise TypeError(f"as_text must be True or False, got {as_text!r}")
        check_optional_positive_int("exports_to_keep", exports_to_keep)
        self._name = name
        self._serving_input_receiver_fn = serving_input_receiver_fn
        self._assets_extra = assets_extra
        self._as_text = as_text
        self._exports_to_keep = exports_to_keep

    @property
    def name(self):
        return self._name

    def _write(self, estimator, export_path, checkpoint_path):
        """Exports `checkpoint_path` as a new version, then deletes the versions beyond those kept."""
        path = estimator.export_saved_model(
            export_path, self._serving_input_receiver_fn, assets_extra=self._assets_extra,
            as_text=self._as_text, checkpoint_path=checkpoint_path)
        if self._exports_to_keep is not None:
            _remove_old_versions(export_path, self._exports_to_keep)
        return path


class LatestExporter(_SavedModelExporter):
    """Exports after every evaluation and keeps the `exports_to_keep` newest exports.

    Args:
      name: the exporter's directory name under `model_dir/export`, a non-empty str.
      serving_input_receiver_fn: a callable returning a `ServingInputReceiver`.
      assets_extra: dict of destination path under `assets.extra` to a source file, or None.
      as_text: write `saved_model.pbtxt` instead of `saved_model.pb`.
      exports_to_keep: after each export, keep this many newest (largest) versions, or all
        when None.

    Raises:
      TypeError, ValueError: an argument is of the wrong kind or out of range.
    """

    def __init__(self, name, serving_input_receiver_fn, assets_extra=None, as_text=False, exports_to_keep=5):
        super().__init__(name, serving_input_receiver_fn, assets_extra, as_text, exports_to_keep)

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        return self._write(estimator, export_path, checkpoint_path)


class FinalExporter(_SavedModelExporter):
    """Exports once, on the evaluation at or past `TrainSpec.max_steps`.

    With `max_steps=None` it never exports, as in tf.estimator. The arguments are those of
    `LatestExporter`.

    Raises:
      TypeError, ValueError: an argument is of the wrong kind.
    """

    def __init__(self, name, serving_input_receiver_fn, assets_extra=None, as_text=False):
        super().__init__(name, serving_input_receiver_fn, assets_extra, as_text, exports_to_keep=None)

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        if not is_the_final_export:
            return None
        log.info("Final export of %s", checkpoint_path)
        return self._write(estimator, export_path, checkpoint_path)


def _loss_smaller(best_eval_result, current_eval_result):
    """True when `current_eval_result` has a smaller `loss` than `best_eval_result`.

    Raises:
      ValueError: either result is empty or has no `loss`.
    """
    for argument, result in (("best_eval_result", best_eval_result), ("current_eval_result", current_eval_result)):
        if not result or "loss" not in result:
            raise ValueError(f"{argument} must hold a 'loss' to compare, got {result!r}")
    return current_eval_result["loss"] < best_eval_result["loss"]


def _check_compare_fn(compare_fn):
    if not callable(compare_fn):
        raise TypeError(f"compare_fn must be callable, got {type_name(compare_fn)}")
    parameters = inspect.signature(compare_fn).parameters
    missing = [name for name in _COMPARE_FN_ARGS if name not in parameters]
    others = [
        name for name, parameter in parameters.items()
        if name not in _COMPARE_FN_ARGS and parameter.default is inspect.Parameter.empty
        and parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if missing or others:
        raise ValueError(
            f"compare_fn must take the arguments {list(_COMPARE_FN_ARGS)} and no other required "
            f"ones, got a function of {list(parameters)}")


class BestExporter(_SavedModelExporter):
    """Exports when an evaluation is better than every earlier one, by `compare_fn`.

    On its first export for a model directory, the best earlier result is read from that
    directory's event files matching `event_file_pattern` (relative to `model_dir`), so a
    restarted job exports only a model better than those evaluated before. Events at the
    global step being evaluated are left out: the evaluation being judged has just been
    written there. (tf.estimator compared against that event too, and then exported every
    first evaluation after a start, even a worse one.) With `event_file_pattern=None` the first
    evaluation after a start is always exported.

    Args:
      name, serving_input_receiver_fn, assets_extra, as_text, exports_to_keep: as for
        `LatestExporter`.
      event_file_pattern: glob of the evaluation event files under `model_dir`, or None.
      compare_fn: `compare_fn(best_eval_result, current_eval_result)` returning True when the
        current result is better; by default, a smaller `loss`.

    Raises:
      TypeError, ValueError: an argument is of the wrong kind, or compare_fn does not take
        `best_eval_result` and `current_eval_result`.
    """

    def __init__(self, name="best_exporter", serving_input_receiver_fn=None, event_file_pattern="eval/*.tfevents.*",
                 compare_fn=_loss_smaller, assets_extra=None, as_text=False, exports_to_keep=5):
        super().__init__(name, serving_input_receiver_fn, assets_extra, as_text, exports_to_keep)
        _check_compare_fn(compare_fn)
        if event_file_pattern is not None and not isinstance(event_file_pattern, str):
            raise TypeError(f"event_file_pattern must be a str or None, got {type_name(event_file_pattern)}")
        self._compare_fn = compare_fn
        self._event_file_pattern = event_file_pattern
        self._model_dir = None
        self._best_eval_result = None

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        if self._event_file_pattern is not None and self._model_dir != estimator.model_dir:
            self._model_dir = estimator.model_dir
            self._best_eval_result = self._best_in_event_files(
                os.path.join(self._model_dir, self._event_file_pattern), eval_result.get("global_step"))
        if self._best_eval_result is not None and not self._compare_fn(
                best_eval_result=self._best_eval_result, current_eval_result=eval_result):
            log.info("Not exporting %s: its evaluation is not better than the best so far", checkpoint_path)
            return None
        log.info("Exporting %s, the best evaluated so far", checkpoint_path)
        self._best_eval_result = eval_result
        return self._write(estimator, export_path, checkpoint_path)

    def _best_in_event_files(self, pattern, skipped_step):
        """The best of the scalar summaries of each event in the files matching `pattern`,
        leaving out events at `skipped_step`; None when there are none."""
        best = None
        for path in tf.io.gfile.glob(pattern):
            for event in tf.compat.v1.train.summary_iterator(path):
                if event.step == skipped_step:
                    continue
                result = {value.tag: value.simple_value for value in event.summary.value
                          if value.HasField("simple_value")}
                if result and (best is None or self._compare_fn(best_eval_result=best, current_eval_result=result)):
                    best = result
        log.info("Best evaluation in %s before this one: %s", pattern, best)
        return best
