"""The model_fn contract: the modes a model is built for and what it returns.

`EstimatorSpec` is what every `model_fn` returns; it is checked once, here,
so that the rest of the machinery can trust its fields.
"""
import collections

import tensorflow as tf


class ModeKeys:
    """The three graphs an Estimator builds from one `model_fn`.

    The string values are those of `tf.estimator.ModeKeys`, so a `model_fn`
    that compares `mode` against string literals keeps working.
    """

    TRAIN = "train"
    EVAL = "eval"
    PREDICT = "infer"

    ALL = (TRAIN, EVAL, PREDICT)


_SPEC_FIELDS = (
    "mode",
    "predictions",
    "loss",
    "train_op",
    "eval_metric_ops",
    "export_outputs",
    "training_chief_hooks",
    "training_hooks",
    "scaffold",
    "evaluation_hooks",
    "prediction_hooks",
)


def _instances(values, argument, kind, kind_name):
    """Returns `values` (None or an iterable) as a tuple after checking each is a `kind`."""
    values = tuple(values or ())
    for value in values:
        if not isinstance(value, kind):
            raise TypeError(f"{argument} must hold {kind_name} instances, got {type(value).__name__}")
    return values


def check_hooks(hooks, argument):
    """Returns `hooks` as a tuple after checking each is a SessionRunHook.

    Raises:
      TypeError: naming `argument` and the offending object's type.
    """
    return _instances(hooks, argument, tf.compat.v1.train.SessionRunHook, "tf.compat.v1.train.SessionRunHook")


def check_saving_listeners(saving_listeners, argument):
    """Returns `saving_listeners` as a tuple after checking each is a CheckpointSaverListener.

    Raises:
      TypeError: naming `argument` and the offending object's type.
    """
    return _instances(saving_listeners, argument, tf.compat.v1.train.CheckpointSaverListener,
                      "tf.compat.v1.train.CheckpointSaverListener")


def _as_metric_dict(eval_metric_ops):
    """Checks metrics are `(value_tensor, update_op)` pairs keyed by name."""
    metrics = dict(eval_metric_ops or {})
    for name, metric in metrics.items():
        if not isinstance(name, str):
            raise TypeError(f"eval_metric_ops keys must be strings, got {name!r}")
        if not isinstance(metric, (tuple, list)) or len(metric) != 2:
            raise TypeError(
                f"eval_metric_ops[{name!r}] must be a (value_tensor, update_op) pair "
                f"such as tf.compat.v1.metrics.mean returns, got {metric!r}"
            )
    return {name: tuple(metric) for name, metric in metrics.items()}


class EstimatorSpec(collections.namedtuple("EstimatorSpec", _SPEC_FIELDS)):
    """What a `model_fn` returns: the ops and tensors of one mode's graph.

    Args:
      mode: a `ModeKeys` value.
      predictions: a Tensor or dict of Tensors; required for PREDICT.
      loss: a scalar Tensor; required for TRAIN and EVAL.
      train_op: the op that runs one training step; required for TRAIN.
      eval_metric_ops: dict of metric name to `(value_tensor, update_op)`.
      export_outputs: dict of signature name to `ExportOutput`, used by
        `export_saved_model`.
      training_chief_hooks, training_hooks, evaluation_hooks,
        prediction_hooks: `SessionRunHook`s run in the matching mode.
      scaffold: a `tf.compat.v1.train.Scaffold` (init ops, saver, ...).

    Raises:
      ValueError: a field the mode needs is missing, or `mode` is unknown.
      TypeError: a field holds the wrong kind of object.
    """

    def __new__(
        cls,
        mode,
        predictions=None,
        loss=None,
        train_op=None,
        eval_metric_ops=None,
        export_outputs=None,
        training_chief_hooks=None,
        training_hooks=None,
        scaffold=None,
        evaluation_hooks=None,
        prediction_hooks=None,
    ):
        if mode not in ModeKeys.ALL:
            raise ValueError(f"mode must be one of {ModeKeys.ALL}, got {mode!r}")
        if mode == ModeKeys.TRAIN and train_op is None:
            raise ValueError("EstimatorSpec for mode 'train' needs train_op, got None")
        if mode in (ModeKeys.TRAIN, ModeKeys.EVAL):
            if loss is None:
                raise ValueError(f"EstimatorSpec for mode {mode!r} needs loss, got None")
            if loss.shape.rank not in (None, 0) and loss.shape.num_elements() != 1:
                raise ValueError(f"EstimatorSpec loss must be a scalar, got shape {loss.shape}")
        if mode == ModeKeys.PREDICT and predictions is None:
            raise ValueError("EstimatorSpec for mode 'infer' needs predictions, got None")
        if predictions is not None and not isinstance(predictions, (dict, tf.Tensor)):
            raise TypeError(
                "EstimatorSpec predictions must be a Tensor or a dict of Tensors, "
                f"got {type(predictions).__name__}"
            )
        if scaffold is not None and not isinstance(scaffold, tf.compat.v1.train.Scaffold):
            raise TypeError(
                f"EstimatorSpec scaffold must be a tf.compat.v1.train.Scaffold, "
                f"got {type(scaffold).__name__}"
            )
        return super().__new__(
            cls,
            mode=mode,
            predictions=predictions,
            loss=loss,
            train_op=train_op,
            eval_metric_ops=_as_metric_dict(eval_metric_ops),
            export_outputs=dict(export_outputs) if export_outputs else None,
            training_chief_hooks=check_hooks(training_chief_hooks, "EstimatorSpec training_chief_hooks"),
            training_hooks=check_hooks(training_hooks, "EstimatorSpec training_hooks"),
            scaffold=scaffold or tf.compat.v1.train.Scaffold(),
            evaluation_hooks=check_hooks(evaluation_hooks, "EstimatorSpec evaluation_hooks"),
            prediction_hooks=check_hooks(prediction_hooks, "EstimatorSpec prediction_hooks"),
        )
