"""Export outputs: what each signature of a served model returns, as SignatureDefs.

The counterparts of `tf.estimator.export.PredictOutput` and its siblings.
"""
import abc

import tensorflow as tf
from absl import logging

from kmeans_estimator.estimator.checks import as_tensor_dict, check_mapping, type_name
from kmeans_estimator.estimator.receivers import RECEIVER_TYPES, as_alternatives, as_receiver_dict

SERVING_DEFAULT = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
SINGLE_OUTPUT_KEY = "output"


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
      their receiver (classify/regress without one string input) are left out with a logged
      warning.

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
                logging.warning("Leaving signature %r out of the export: %s", key, error)
    return signature_defs
