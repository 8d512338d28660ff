"""Serving input receivers: what a SavedModel's signatures read, and what model_fn sees.

The counterparts of `tf.estimator.export.ServingInputReceiver` and its builders.
"""
import collections

import tensorflow as tf

from kmeans_estimator.estimator.checks import (
    as_tensor_dict, check_mapping, check_mapping_values, check_optional_positive_int, type_name,
)

SINGLE_FEATURE_KEY = "feature"
SINGLE_RECEIVER_KEY = "input"
EXAMPLES_RECEIVER_KEY = "examples"
EXAMPLES_PLACEHOLDER_NAME = "input_example_tensor"

_FEATURE_TYPES = (tf.Tensor, tf.SparseTensor, tf.RaggedTensor)
RECEIVER_TYPES = (tf.Tensor, tf.SparseTensor)
_TEMPLATE_TYPES = (tf.Tensor, tf.TensorSpec)
_FEATURE_CONFIG_TYPES = (
    tf.io.FixedLenFeature,
    tf.io.VarLenFeature,
    tf.io.SparseFeature,
    tf.io.FixedLenSequenceFeature,
    tf.io.RaggedFeature,
)


def as_receiver_dict(receiver_tensors, argument="receiver_tensors"):
    return as_tensor_dict(receiver_tensors, SINGLE_RECEIVER_KEY, argument, RECEIVER_TYPES)


def as_alternatives(alternatives):
    """Returns alternative receivers as a dict of name to dict of tensors ({} for None or {})."""
    if alternatives is None or (isinstance(alternatives, dict) and not alternatives):
        return {}
    check_mapping(
        alternatives, "receiver_tensors_alternatives", "a dict of str to receiver tensors"
    )
    return {
        name: as_receiver_dict(tensors, f"receiver_tensors_alternatives[{name!r}]")
        for name, tensors in alternatives.items()
    }


_ReceiverFields = collections.namedtuple(
    "_ReceiverFields", ["features", "receiver_tensors", "receiver_tensors_alternatives"]
)


class ServingInputReceiver(_ReceiverFields):
    """What a serving_input_receiver_fn returns: the features for the model and the inputs to feed.

    Args:
      features: a Tensor, SparseTensor or RaggedTensor, or a dict of str to them; what
        `model_fn` receives as `features`. A single tensor is wrapped as `{'feature': t}`.
      receiver_tensors: a Tensor or SparseTensor, or a dict of str to them; the inputs of
        every signature built from this receiver. A single tensor is wrapped as `{'input': t}`.
      receiver_tensors_alternatives: optional dict of alternative receiver name to a Tensor,
        SparseTensor or dict of them; each gives extra signatures named `'{name}:{output_key}'`.
        Stored as `{}` when not given.

    Raises:
      TypeError: if an argument or one of its values has the wrong type, or a key is not a str.
      ValueError: if a dict is empty or a key is an empty string.
    """

    __slots__ = ()

    def __new__(cls, features, receiver_tensors, receiver_tensors_alternatives=None):
        return super().__new__(
            cls,
            as_tensor_dict(features, SINGLE_FEATURE_KEY, "features", _FEATURE_TYPES),
            as_receiver_dict(receiver_tensors),
            as_alternatives(receiver_tensors_alternatives),
        )


class TensorServingInputReceiver(_ReceiverFields):
    """A ServingInputReceiver whose single feature tensor reaches `model_fn` unwrapped.

    Args:
      features: a Tensor, SparseTensor or RaggedTensor, handed to `model_fn` as is.
      receiver_tensors: as for `ServingInputReceiver`.
      receiver_tensors_alternatives: as for `ServingInputReceiver`.

    Raises:
      TypeError: if `features` is not a single tensor, or as for `ServingInputReceiver`.
      ValueError: as for `ServingInputReceiver`.
    """

    __slots__ = ()

    def __new__(cls, features, receiver_tensors, receiver_tensors_alternatives=None):
        if not isinstance(features, _FEATURE_TYPES):
            raise TypeError(
                "TensorServingInputReceiver features must be a single Tensor, SparseTensor or "
                f"RaggedTensor, got {type_name(features)}; use ServingInputReceiver for a dict"
            )
        return super().__new__(
            cls,
            features,
            as_receiver_dict(receiver_tensors),
            as_alternatives(receiver_tensors_alternatives),
        )


def _check_templates(templates, argument):
    check_mapping_values(
        templates, argument, _TEMPLATE_TYPES, "a tf.Tensor or tf.TensorSpec",
        "a tf.Tensor, tf.TensorSpec or a dict of str to them",
    )


def _placeholder_like(name, template, default_batch_size):
    """A placeholder of the template's dtype and shape, its first dimension the batch size."""
    shape = template.shape
    if shape.rank:
        shape = tf.TensorShape([default_batch_size]).concatenate(shape[1:])
    return tf.compat.v1.placeholder(template.dtype, shape, name=name)


def build_raw_serving_input_receiver_fn(features, default_batch_size=None):
    """Builds a serving_input_receiver_fn that feeds raw tensors straight to the model.

    Args:
      features: a dict of str to tf.Tensor (placeholders included) or tf.TensorSpec, or a
        single one of those. Only dtype and shape are read from each.
      default_batch_size: the first dimension of every placeholder; None accepts any batch.

    Returns:
      A function of no arguments that, in the current default graph, creates one placeholder
      per feature (named after its key; a single template is named 'input'), with the
      template's dtype and shape and its first dimension replaced by `default_batch_size`
      (scalars and tensors of unknown rank keep their shape), and returns a
      `ServingInputReceiver` that uses the placeholders as both features and receiver
      tensors. A single template is wrapped like any single tensor: `model_fn` sees
      `{'feature': placeholder}` and the signatures take the input `'input'`.

    Raises:
      TypeError: if `features` or one of its values is not a Tensor or TensorSpec, a key is
        not a str, or `default_batch_size` is not None or an int.
      ValueError: if `features` is an empty dict, a key is empty, or `default_batch_size` < 1.
    """
    single = isinstance(features, _TEMPLATE_TYPES)
    templates = {SINGLE_RECEIVER_KEY: features} if single else features
    _check_templates(templates, "features")
    check_optional_positive_int("default_batch_size", default_batch_size, type_error=TypeError)
    templates = dict(templates)

    def serving_input_receiver_fn():
        placeholders = {
            name: _placeholder_like(name, template, default_batch_size)
            for name, template in templates.items()
        }
        if single:
            placeholder = placeholders[SINGLE_RECEIVER_KEY]
            return ServingInputReceiver(placeholder, placeholder)
        return ServingInputReceiver(placeholders, dict(placeholders))

    return serving_input_receiver_fn


def build_parsing_serving_input_receiver_fn(feature_spec, default_batch_size=None):
    """Builds a serving_input_receiver_fn that parses serialized tf.Example protos.

    Args:
      feature_spec: a dict of feature name to a `tf.io` feature config (FixedLenFeature,
        VarLenFeature, SparseFeature, FixedLenSequenceFeature or RaggedFeature).
      default_batch_size: the number of serialized examples per request; None for any.

    Returns:
      A function of no arguments that, in the current default graph, creates the string
      placeholder 'input_example_tensor' of shape [default_batch_size], parses it with
      `tf.io.parse_example(serialized, feature_spec)` and returns a `ServingInputReceiver`
      with the parsed dict as features and `{'examples': placeholder}` as receiver tensors.

    Raises:
      TypeError: if `feature_spec` is not a dict, a key is not a str, a value is not a
        feature config, or `default_batch_size` is not None or an int.
      ValueError: if `feature_spec` is empty, a key is empty, or `default_batch_size` < 1.
    """
    check_mapping_values(
        feature_spec, "feature_spec", _FEATURE_CONFIG_TYPES,
        "a tf.io feature config such as tf.io.FixedLenFeature", "a dict of str to tf.io feature configs",
    )
    check_optional_positive_int("default_batch_size", default_batch_size, type_error=TypeError)
    feature_spec = dict(feature_spec)

    def serving_input_receiver_fn():
        serialized = tf.compat.v1.placeholder(
            tf.string, [default_batch_size], name=EXAMPLES_PLACEHOLDER_NAME
        )
        features = tf.io.parse_example(serialized, feature_spec)
        return ServingInputReceiver(features, {EXAMPLES_RECEIVER_KEY: serialized})

    return serving_input_receiver_fn


_SupervisedFields = collections.namedtuple("_SupervisedFields", ["features", "labels", "receiver_tensors"])


class SupervisedInputReceiver(_SupervisedFields):
    """What a receiver fn returns for a TRAIN or EVAL export: features, labels and their inputs.

    Args:
      features: a Tensor or dict of str to Tensor, handed to `model_fn` as is.
      labels: a Tensor or dict of str to Tensor, handed to `model_fn` as is.
      receiver_tensors: a Tensor or dict of str to Tensor; the inputs of the
        exported signature (a single tensor is named 'input').

    Raises:
      TypeError, ValueError: an argument is not a tensor or a dict of them.
    """

    __slots__ = ()

    def __new__(cls, features, labels, receiver_tensors):
        for value, argument in ((features, "features"), (labels, "labels")):
            if not isinstance(value, _FEATURE_TYPES):
                as_tensor_dict(value, SINGLE_FEATURE_KEY, argument, _FEATURE_TYPES)
        return super().__new__(cls, features, labels, as_receiver_dict(receiver_tensors))


def build_raw_supervised_input_receiver_fn(features, labels, default_batch_size=None):
    """Builds a receiver fn for TRAIN and EVAL exports that feeds features and labels raw.

    Args:
      features: a tf.Tensor or tf.TensorSpec, or a dict of str to them.
      labels: a tf.Tensor or tf.TensorSpec, or a dict of str to them.
      default_batch_size: the first dimension of every placeholder; None for any.

    Returns:
      A function of no arguments returning a `SupervisedInputReceiver` whose
      receiver tensors are the feature placeholders (named after their keys, a
      single one 'input') and the label placeholders (a single one 'label').

    Raises:
      TypeError, ValueError: as for `build_raw_serving_input_receiver_fn`, or a
        feature and a label share a name.
    """
    feature_templates = features if isinstance(features, dict) else {SINGLE_RECEIVER_KEY: features}
    label_templates = labels if isinstance(labels, dict) else {"label": labels}
    _check_templates(feature_templates, "features")
    _check_templates(label_templates, "labels")
    shared = sorted(set(feature_templates) & set(label_templates))
    if shared:
        raise ValueError(f"features and labels must have different names, both have {shared}")
    check_optional_positive_int("default_batch_size", default_batch_size, type_error=TypeError)

    def supervised_input_receiver_fn():
        feature_placeholders = {
            name: _placeholder_like(name, template, default_batch_size) for name, template in feature_templates.items()
        }
        label_placeholders = {
            name: _placeholder_like(name, template, default_batch_size) for name, template in label_templates.items()
        }
        receiver_tensors = {**feature_placeholders, **label_placeholders}
        return SupervisedInputReceiver(
            feature_placeholders if isinstance(features, dict) else feature_placeholders[SINGLE_RECEIVER_KEY],
            label_placeholders if isinstance(labels, dict) else label_placeholders["label"],
            receiver_tensors,
        )

    return supervised_input_receiver_fn
