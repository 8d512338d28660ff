"""Warm-starting: which checkpoint and which variables initialize a new model's variables.

`WarmStartSettings` is tf.estimator's; the work is done by TensorFlow's own
`tf.compat.v1.train.warm_start`, on the training graph before its session is made,
when the model directory has no checkpoint yet.
"""
import collections
import os
import re

import tensorflow as tf

from kmeans_estimator._logger import log
from kmeans_estimator.estimator import checkpoints
from kmeans_estimator.estimator.checks import type_name

VocabInfo = tf.compat.v1.train.VocabInfo

# Where a SavedModel directory keeps its variables, as a checkpoint prefix.
_SAVED_MODEL_VARIABLES = os.path.join("variables", "variables")


def _check_path(path, argument):
    """Returns `path` (str, bytes or os.PathLike, non-empty) as a str."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(
            f"{argument} must be a checkpoint path or a directory (str or os.PathLike), "
            f"got {type_name(path)}"
        )
    path = os.fsdecode(path)
    if not path:
        raise ValueError(f"{argument} must name a checkpoint or a directory, got ''")
    return path


def _check_regex(pattern, argument):
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"{argument} must be a regular expression, got {pattern!r} ({error})") from None


def _check_vars_to_warm_start(value):
    """Returns `vars_to_warm_start` as tf.compat.v1.train.warm_start takes it (a list, not a tuple)."""
    argument = "vars_to_warm_start"
    if value is None:
        return None
    if isinstance(value, str):
        _check_regex(value, argument)
        return value
    if not isinstance(value, (list, tuple)):
        raise TypeError(
            f"{argument} must be a regular expression, a list of them, a list of tf.Variable "
            f"or None, got {type_name(value)}"
        )
    value = list(value)
    if all(isinstance(item, str) for item in value):
        for position, pattern in enumerate(value):
            _check_regex(pattern, f"{argument}[{position}]")
    elif not all(isinstance(item, tf.Variable) for item in value):
        kinds = sorted({type_name(item) for item in value})
        raise TypeError(f"{argument} as a list must hold only str or only tf.Variable, got {kinds}")
    return value


def _check_name_map(value, argument, value_type, value_description):
    """Returns `value` (None or a dict of str variable name to `value_type`) as a dict."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"{argument} must be a dict of variable name to {value_description}, got {type_name(value)}")
    for name, item in value.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"{argument} keys must be variable names (non-empty str), got {name!r}")
        if not isinstance(item, value_type):
            raise TypeError(f"{argument}[{name!r}] must be {value_description}, got {type_name(item)}")
    return dict(value)


_FIELDS = ("ckpt_to_initialize_from", "vars_to_warm_start", "var_name_to_vocab_info", "var_name_to_prev_var_name")


class WarmStartSettings(collections.namedtuple("WarmStartSettings", _FIELDS)):
    """Which checkpoint and variables warm-start an Estimator, as `tf.estimator.WarmStartSettings`.

    Given as `Estimator(warm_start_from=...)`: when `train()` finds no checkpoint in the
    model directory, `tf.compat.v1.train.warm_start` initializes the chosen variables
    from `ckpt_to_initialize_from` instead of their initializers.

    Args:
      ckpt_to_initialize_from: a checkpoint path (prefix), or a directory: its latest
        checkpoint, or a SavedModel directory's variables.
      vars_to_warm_start: which variables: a regular expression matched from the start of
        the names of the TRAINABLE variables (the default '.*' takes them all); a list of
        such expressions matched against ALL global variables (optimizer slots, the global
        step included); a list of `tf.Variable`s; or None, for only the variables named in
        `var_name_to_vocab_info`.
      var_name_to_vocab_info: dict of variable name to `tf.compat.v1.train.VocabInfo`
        (also `kmeans_estimator.VocabInfo`), for embeddings whose vocabulary changed.
      var_name_to_prev_var_name: dict of variable name to the name it has in the
        checkpoint, for variables renamed since; it renames only, and does not choose.

    Raises:
      TypeError: an argument is of the wrong type.
      ValueError: `ckpt_to_initialize_from` is empty, or a regular expression is invalid.
    """

    def __new__(cls, ckpt_to_initialize_from, vars_to_warm_start=".*", var_name_to_vocab_info=None,
                var_name_to_prev_var_name=None):
        return super().__new__(
            cls,
            _check_path(ckpt_to_initialize_from, "ckpt_to_initialize_from"),
            _check_vars_to_warm_start(vars_to_warm_start),
            _check_name_map(var_name_to_vocab_info, "var_name_to_vocab_info", VocabInfo,
                            "a tf.compat.v1.train.VocabInfo"),
            _check_name_map(var_name_to_prev_var_name, "var_name_to_prev_var_name", str,
                            "a variable name (str)"),
        )


def check_warm_start_from(warm_start_from):
    """`Estimator(warm_start_from=...)` checked: None, a path as str, or `WarmStartSettings`.

    Raises:
      TypeError: for any other kind of value.
    """
    if warm_start_from is None or isinstance(warm_start_from, WarmStartSettings):
        return warm_start_from
    if not isinstance(warm_start_from, (str, bytes, os.PathLike)):
        raise TypeError(
            "warm_start_from must be a checkpoint path, a model or SavedModel directory, or a "
            f"kmeans_estimator.WarmStartSettings, got {type_name(warm_start_from)}"
        )
    return _check_path(warm_start_from, "warm_start_from")


def _checkpoint_of(path, argument):
    """The checkpoint `path` names: a SavedModel directory's variables, a directory's
    newest checkpoint, or `path` itself."""
    saved_model_variables = os.path.join(path, _SAVED_MODEL_VARIABLES)
    if tf.io.gfile.exists(saved_model_variables + ".index"):
        return saved_model_variables
    return checkpoints.checkpoint_named_by(path, argument)


def warm_start(warm_start_from, graph):
    """Makes the initializers of `graph`'s variables read them from a checkpoint.

    Call with `graph` as the default graph, after the model is built and before its
    session is created.

    Args:
      warm_start_from: what `check_warm_start_from` returned (not None). A path
        warm-starts every variable, trainable or not, whose name the checkpoint holds
        (the global step excepted); `WarmStartSettings` choose as they say.
      graph: the training graph.

    Raises:
      ValueError: the checkpoint does not exist, or (from TensorFlow) a variable the
        settings choose is missing from it or a rename or vocabulary entry was not used.
    """
    if isinstance(warm_start_from, WarmStartSettings):
        source = _checkpoint_of(warm_start_from.ckpt_to_initialize_from, "ckpt_to_initialize_from")
        log.info("Warm-starting from %s with %s", source, warm_start_from)
        tf.compat.v1.train.warm_start(
            source,
            vars_to_warm_start=warm_start_from.vars_to_warm_start,
            var_name_to_vocab_info=warm_start_from.var_name_to_vocab_info,
            var_name_to_prev_var_name=warm_start_from.var_name_to_prev_var_name,
        )
        return
    source = _checkpoint_of(warm_start_from, "warm_start_from")
    stored = dict(tf.train.list_variables(source))
    variables = [
        variable
        for variable in graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)
        if variable.op.name in stored and variable.op.name != tf.compat.v1.GraphKeys.GLOBAL_STEP
    ]
    log.info("Warm-starting %d variables from %s", len(variables), source)
    if variables:
        tf.compat.v1.train.warm_start(source, vars_to_warm_start=variables)
