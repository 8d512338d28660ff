"""Export outputs: what each signature of a served model returns, as SignatureDefs.

The counterparts of `tf.estimator.export.PredictOutput` and its siblings, and of
`TrainOutput`/`EvalOutput`, the signatures of exported TRAIN and EVAL graphs.
"""
import abc

import tensorflow as tf

from kmeans_estimator._logger import log
from kmeans_estimator.estimator.checks import as_tensor_dict, check_mapping, check_name, type_name
from kmeans_estimator.estimator.receivers import RECEIVER_TYPES, as_alternatives, as_receiver_dict

SERVING_DEFAULT = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
SINGLE_OUTPUT_KEY = "output"
_KEY_SEPARATOR = "/"
_LOSS = "loss"
_PREDICTIONS = "predictions"
_METRICS = "metrics"


class IncompatibleReceiverError(ValueError):
    """An export output cannot be served from the receiver tensors it was given."""


def _check_dense(tensor, dtype, argument):
    if not isinstance(tensor, tf.Tensor) or tensor.dtype != dtype:
        if isinstance(tensor, tf.Tensor):
            got = f"a {tensor.dtype.name} Tensor"
        else:
            got = type_name(tensor)
        raise TypeError(f"{argument} must be a {dtype.name} Tensor, got {got}")


def _single_string_input(receiver_tensors, method):
    """The one string receiver tensor a classify or regress signature reads examples from."""
    inputs = as_receiver_dict(receiver_tensors)
    if len(inputs) != 1:
        raise IncompatibleReceiverError(
            f"a {method} signature needs exactly one receiver tensor (serialized tf.Example "
            f"strings), got {len(inputs)}: {sorted(inputs)}"
        )
    ((name, tensor),) = inputs.items()
    if not isinstance(tensor, tf.Tensor) or tensor.dtype != tf.string:
        kind = "SparseTensor" if isinstance(tensor, tf.SparseTensor) else "Tensor"
        got = f"a {tensor.dtype.name} {kind}"
        raise IncompatibleReceiverError(
            f"a {method} signature needs a string Tensor of serialized tf.Example protos as "
            f"its receiver tensor, got {got} for {name!r}"
        )
    return tensor


class ExportOutput(abc.ABC):
    """One output of a served model, turned into a SignatureDef against given receiver tensors."""

    @abc.abstractmethod
    def as_signature_def(self, receiver_tensors):
        """Builds the SignatureDef serving this output from `receiver_tensors`.

        Args:
          receiver_tensors: a Tensor or SparseTensor, or a dict of str to them (a single
            tensor is named 'input').

        Returns:
          A SignatureDef proto.

        Raises:
          IncompatibleReceiverError: if this output cannot be served from these inputs.
          TypeError, ValueError: if `receiver_tensors` is malformed.
        """


class PredictOutput(ExportOutput):
    """Outputs served by the generic predict method (tensorflow/serving/predict).

    Args:
      outputs: a Tensor or SparseTensor (named 'output'), or a dict of str to them.

    Raises:
      TypeError: if `outputs` or one of its values is not a tensor, or a key is not a str.
      ValueError: if `outputs` is an empty dict or a key is empty.
    """

    def __init__(self, outputs):
        self._outputs = as_tensor_dict(outputs, SINGLE_OUTPUT_KEY, "outputs", RECEIVER_TYPES)

    @property
    def outputs(self):
        """The dict of output name to tensor."""
        return dict(self._outputs)

    def as_signature_def(self, receiver_tensors):
        """See `ExportOutput.as_signature_def`; every receiver tensor becomes an input."""
        inputs = as_receiver_dict(receiver_tensors)
        return tf.compat.v1.saved_model.predict_signature_def(inputs, self._outputs)


class NoInputPredictOutput(PredictOutput):
    """Outputs served by the predict method from a signature that takes no inputs.

    For what a model holds rather than computes from a request, such as a model's
    parameters: its SignatureDef lists no inputs whatever the receiver, so a caller asks
    for it without data (a TF Serving gRPC `PredictRequest` naming only the signature,
    `tf.saved_model.load(...).signatures[key]()`, a TFLite signature runner called with no
    arguments). The outputs must not depend on any receiver tensor, or running the
    signature fails for want of a fed placeholder.

    TF Serving's REST API refuses such a signature (its JSON request parser needs at
    least one input to fill from "instances" or "inputs"); a `PredictOutput` of the same
    tensors, which takes the receiver's inputs without reading them, serves REST clients.

    Takes the arguments, and raises the errors, of `PredictOutput`.
    """

    def as_signature_def(self, receiver_tensors):
        """See `ExportOutput.as_signature_def`; `receiver_tensors` become no input
        (`predict_signature_def` refuses an empty inputs dict)."""
        del receiver_tensors
        build_info = tf.compat.v1.saved_model.build_tensor_info
        return tf.compat.v1.saved_model.build_signature_def(
            inputs={},
            outputs={key: build_info(tensor) for key, tensor in self._outputs.items()},
            method_name=tf.saved_model.PREDICT_METHOD_NAME,
        )


class ClassificationOutput(ExportOutput):
    """Class scores and/or names served by the classify method (tensorflow/serving/classify).

    Its signature reads serialized tf.Example protos, so it can only be built against exactly
    one receiver tensor of dtype string; other receivers raise `IncompatibleReceiverError`
    from `as_signature_def`, and `build_signature_defs` then leaves the signature out.

    Args:
      scores: optional float32 Tensor of shape [batch, num_classes].
      classes: optional string Tensor of shape [batch, num_classes].

    Raises:
      ValueError: if neither `scores` nor `classes` is given.
      TypeError: if `scores` is not a float32 Tensor or `classes` not a string Tensor.
    """

    def __init__(self, scores=None, classes=None):
        if scores is None and classes is None:
            raise ValueError("ClassificationOutput needs scores, classes or both, got neither")
        if scores is not None:
            _check_dense(scores, tf.float32, "scores")
        if classes is not None:
            _check_dense(classes, tf.string, "classes")
        self._scores = scores
        self._classes = classes

    @property
    def scores(self):
        """The float32 scores Tensor, or None."""
        return self._scores

    @property
    def classes(self):
        """The string classes Tensor, or None."""
        return self._classes

    def as_signature_def(self, receiver_tensors):
        """See `ExportOutput.as_signature_def`; needs one string receiver tensor."""
        examples = _single_string_input(receiver_tensors, "classify")
        return tf.compat.v1.saved_model.classification_signature_def(
            examples, self._classes, self._scores
        )


class RegressionOutput(ExportOutput):
    """A predicted value served by the regress method (tensorflow/serving/regress).

    Like `ClassificationOutput`, it needs exactly one string receiver tensor.

    Args:
      value: float32 Tensor of predictions.

    Raises:
      TypeError: if `value` is not a float32 Tensor.
    """

    def __init__(self, value):
        _check_dense(value, tf.float32, "value")
        self._value = value

    @property
    def value(self):
        """The float32 predictions Tensor."""
        return self._value

    def as_signature_def(self, receiver_tensors):
        """See `ExportOutput.as_signature_def`; needs one string receiver tensor."""
        examples = _single_string_input(receiver_tensors, "regress")
        return tf.compat.v1.saved_model.regression_signature_def(examples, self._value)


def _output_key(key, argument):
    """A signature output key: a non-empty str, or a tuple of them joined by '/' (multi-head)."""
    if isinstance(key, tuple) and key and all(isinstance(part, str) for part in key):
        key = _KEY_SEPARATOR.join(key)
    check_name(key, argument)
    return key


def _prefixed(key, prefix):
    """`key` under `prefix/`, unless it already starts with `prefix` (as tf.estimator named them)."""
    return key if key.startswith(prefix) else f"{prefix}{_KEY_SEPARATOR}{key}"


def _prefixed_tensors(value, prefix):
    """A Tensor (named `prefix`) or dict of them, as a dict keyed under `prefix`."""
    named = value if isinstance(value, dict) else {prefix: value}
    outputs = {}
    for key, tensor in named.items():
        key = _output_key(key, prefix)
        if not isinstance(tensor, tf.Tensor):
            where = prefix if named is not value else f"{prefix}[{key!r}]"
            raise TypeError(f"{where} must be a Tensor, got {type_name(tensor)}")
        outputs[_prefixed(key, prefix)] = tensor
    return outputs


def _metric_tensors(metrics):
    """`{name: (value, update_op)}` (or one such pair, named 'metrics') as signature outputs.

    Each metric gives `metrics/<name>/value` and `metrics/<name>/update_op`. A SignatureDef
    holds tensors only, so an update op that is an Operation is stood in for by an empty
    constant that runs it (a control dependency).
    """
    named = metrics if isinstance(metrics, dict) else {_METRICS: metrics}
    outputs = {}
    for key, metric in named.items():
        key = _prefixed(_output_key(key, _METRICS), _METRICS)
        if not isinstance(metric, (tuple, list)) or len(metric) != 2:
            raise TypeError(
                f"metrics[{key!r}] must be a (value_tensor, update_op) pair such as "
                f"tf.compat.v1.metrics.mean returns, got {type_name(metric)}"
            )
        value, update_op = metric
        if not isinstance(value, tf.Tensor):
            raise TypeError(f"metrics[{key!r}] value must be a Tensor, got {type_name(value)}")
        if isinstance(update_op, tf.Operation):
            with tf.control_dependencies([update_op]):
                update_op = tf.constant([], name="metric_update_op")
        elif not isinstance(update_op, tf.Tensor):
            raise TypeError(
                f"metrics[{key!r}] update_op must be a Tensor or Operation, got {type_name(update_op)}"
            )
        outputs[f"{key}{_KEY_SEPARATOR}value"] = value
        outputs[f"{key}{_KEY_SEPARATOR}update_op"] = update_op
    return outputs


class _SupervisedOutput(ExportOutput):
    """Loss, predictions and metric tensors of a TRAIN or EVAL graph, as one signature.

    Output keys are those of tf.estimator: `loss` (or `loss/<key>` for a dict),
    `predictions` (or `predictions/<key>`), and `metrics/<name>/value` and
    `metrics/<name>/update_op` for each metric; a key that already starts with its
    prefix is kept as it is, and a tuple key is joined with '/'. Every receiver
    tensor (features and labels) becomes an input.

    Args:
      loss: optional Tensor, or dict of str to Tensor.
      predictions: optional Tensor, or dict of str to Tensor.
      metrics: optional dict of name to `(value_tensor, update_op)`, as in
        `EstimatorSpec.eval_metric_ops`, or a single such pair. An update op that is
        an Operation adds one constant to the default graph.

    Raises:
      TypeError: if a value is not a Tensor (an update op not a Tensor or Operation), a
        metric is not a pair, or a key is not a str or tuple of str.
      ValueError: if a key is empty.
    """

    _METHOD_NAME = None

    def __init__(self, loss=None, predictions=None, metrics=None):
        self._loss = None if loss is None else _prefixed_tensors(loss, _LOSS)
        self._predictions = None if predictions is None else _prefixed_tensors(predictions, _PREDICTIONS)
        self._metrics = None if metrics is None else _metric_tensors(metrics)

    @property
    def loss(self):
        """The dict of loss output name to Tensor, or None."""
        return None if self._loss is None else dict(self._loss)

    @property
    def predictions(self):
        """The dict of prediction output name to Tensor, or None."""
        return None if self._predictions is None else dict(self._predictions)

    @property
    def metrics(self):
        """The dict of `metrics/<name>/value` and `.../update_op` to Tensor, or None."""
        return None if self._metrics is None else dict(self._metrics)

    def as_signature_def(self, receiver_tensors):
        """See `ExportOutput.as_signature_def`; every receiver tensor becomes an input."""
        inputs = as_receiver_dict(receiver_tensors)
        outputs = {}
        for part in (self._loss, self._predictions, self._metrics):
            outputs.update(part or {})
        return tf.compat.v1.saved_model.build_signature_def(
            inputs={key: tf.compat.v1.saved_model.build_tensor_info(t) for key, t in inputs.items()},
            outputs={key: tf.compat.v1.saved_model.build_tensor_info(t) for key, t in outputs.items()},
            method_name=self._METHOD_NAME,
        )


class TrainOutput(_SupervisedOutput):
    """The supervised training signature (method tensorflow/supervised/training).

    See `_SupervisedOutput` for the arguments and output keys.
    """

    _METHOD_NAME = "tensorflow/supervised/training"


class EvalOutput(_SupervisedOutput):
    """The supervised evaluation signature (method tensorflow/supervised/eval).

    See `_SupervisedOutput` for the arguments and output keys.
    """

    _METHOD_NAME = "tensorflow/supervised/eval"


def build_signature_defs(export_outputs, receiver_tensors, receiver_tensors_alternatives=None):
    """Builds the signature map of a SavedModel from export outputs and receiver tensors.

    Args:
      export_outputs: a dict of signature key to `ExportOutput`; must hold 'serving_default'.
      receiver_tensors: the receiver tensors every signature reads (a Tensor, SparseTensor or
        dict of str to them), usually `ServingInputReceiver.receiver_tensors`.
      receiver_tensors_alternatives: optional dict of name to alternative receiver tensors;
        each adds the signatures `'{name}:{output_key}'`.

    Returns:
      A dict of signature key to SignatureDef. Signatures whose output cannot be served from
      their receiver (classify/regress without one string input) are left out, and logged at
      INFO under `Signatures EXCLUDED from export ...`, as tf.estimator reported them.

    Raises:
      ValueError: if 'serving_default' is missing from `export_outputs` or cannot be built
        against `receiver_tensors`, or an argument is an empty dict or has an empty key.
      TypeError: if an argument, key or value has the wrong type.
    """
    check_mapping(export_outputs, "export_outputs", "a dict of str to ExportOutput")
    for key, output in export_outputs.items():
        if not isinstance(output, ExportOutput):
            raise TypeError(
                f"export_outputs[{key!r}] must be an ExportOutput, got {type_name(output)}"
            )
    if SERVING_DEFAULT not in export_outputs:
        raise ValueError(
            f"export_outputs must contain the key {SERVING_DEFAULT!r}, "
            f"got keys {sorted(export_outputs)}"
        )
    receivers = {None: as_receiver_dict(receiver_tensors)}
    receivers.update(as_alternatives(receiver_tensors_alternatives))

    signature_defs = {}
    excluded = {}
    for receiver_name, inputs in receivers.items():
        for output_key, output in export_outputs.items():
            key = output_key if receiver_name is None else f"{receiver_name}:{output_key}"
            try:
                signature_defs[key] = output.as_signature_def(inputs)
            except IncompatibleReceiverError as error:
                if key == SERVING_DEFAULT:
                    raise ValueError(
                        f"the {SERVING_DEFAULT!r} signature cannot be built: {error}"
                    ) from error
                excluded[key] = error
    _log_excluded(excluded)
    return signature_defs


def _log_excluded(excluded):
    """Logs the signatures left out ({key: why}), one line each after a heading."""
    if not excluded:
        return
    log.info("Signatures EXCLUDED from export because they cannot be served via TensorFlow Serving APIs:")
    for key, error in excluded.items():
        log.info("'%s' : %s", key, error)
