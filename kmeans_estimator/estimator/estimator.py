"""Estimator: train, evaluate, predict and export any `model_fn`.

The public methods and their arguments are those of `tf.estimator.Estimator`,
so code written for it ports by changing the import. Each method validates its
arguments, then hands over to `calls` (running a call) or `saved_model`
(writing an export).
"""
import contextlib
import copy
import inspect
import os
import tempfile
import warnings

import tensorflow as tf

from kmeans_estimator._logger import log
from kmeans_estimator.estimator import calls, checkpoints, graphs, kept_sessions, saved_model, warm_start
from kmeans_estimator.estimator.checks import check_optional_positive_int
from kmeans_estimator.estimator.run_config import RunConfig
from kmeans_estimator.estimator.spec import EstimatorSpec, ModeKeys, check_hooks, check_saving_listeners

_MODEL_FN_ARGS = ("features", "labels", "mode", "params", "config")


def _model_fn_arg_names(model_fn):
    """Returns the argument names model_fn takes, after checking it can be called."""
    if not callable(model_fn):
        raise TypeError(f"model_fn must be callable, got {type(model_fn).__name__}")
    parameters = inspect.signature(model_fn).parameters
    names = set(parameters)
    if "features" not in names:
        raise ValueError(f"model_fn must take a 'features' argument, it takes {list(parameters)}")
    unknown = [
        name
        for name, parameter in parameters.items()
        if name not in _MODEL_FN_ARGS
        and parameter.default is inspect.Parameter.empty
        and parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if unknown:
        raise ValueError(
            f"model_fn has required arguments {unknown} the Estimator cannot pass; "
            f"it passes only {list(_MODEL_FN_ARGS)}"
        )
    return names & set(_MODEL_FN_ARGS)


def _resolve_config(model_dir, config):
    if config is None:
        log.info("Using default config.")
        config = RunConfig()
    elif not isinstance(config, RunConfig):
        # ValueError, as tf.estimator raised.
        raise ValueError(f"config must be a kmeans_estimator.RunConfig or None, got {type(config).__name__}")
    if model_dir is not None:
        model_dir = os.fspath(model_dir)
        if config.model_dir is not None and config.model_dir != model_dir:
            raise ValueError(
                f"model_dir={model_dir!r} differs from config.model_dir={config.model_dir!r}; "
                "give one of them, or the same directory in both"
            )
    model_dir = model_dir or config.model_dir
    if model_dir is None:
        model_dir = tempfile.mkdtemp(prefix="kmeans_estimator_")
        log.warning("Using temporary folder as model directory: %s", model_dir)
    config = config.replace(model_dir=model_dir)
    log.info("Using config: %r", config)
    return config


class Estimator:
    """Trains, evaluates, predicts with and exports the model a `model_fn` builds.

    Args:
      model_fn: `model_fn(features, labels, mode, params, config)` returning an
        `EstimatorSpec`; it may take any subset of those argument names, but
        must take `features`.
      model_dir: directory for checkpoints and event files; a new temporary
        directory when both it and `config.model_dir` are None.
      config: a `RunConfig`.
      params: dict of hyperparameters handed to `model_fn`.
      warm_start_from: what initializes the model's variables when `model_dir`
        has no checkpoint yet: a `WarmStartSettings`, or a checkpoint path, model
        directory or SavedModel directory whose variables initialize every
        variable of the same name (trainable or not, the global step excepted).

    Raises:
      TypeError, ValueError: an argument is of the wrong kind or inconsistent.
    """

    def __init__(self, model_fn, model_dir=None, config=None, params=None, warm_start_from=None):
        self._model_fn_args = _model_fn_arg_names(model_fn)
        if params is not None and not isinstance(params, dict):
            raise TypeError(f"params must be a dict or None, got {type(params).__name__}")
        if params and "params" not in self._model_fn_args:
            raise ValueError(f"params={params!r} was given, but model_fn does not take a 'params' argument")
        warm_start_from = warm_start.check_warm_start_from(warm_start_from)
        self._model_fn = model_fn
        self._params = copy.deepcopy(params or {})
        self._config = _resolve_config(model_dir, config)
        self._warm_start_from = warm_start_from
        self._keeper = kept_sessions.GraphKeeper()

    @property
    def config(self):
        return self._config

    @property
    def model_dir(self):
        return self._config.model_dir

    @property
    def params(self):
        return copy.deepcopy(self._params)

    @property
    def model_fn(self):
        """The model_fn bound to `params`: `model_fn(features, labels, mode, config)`."""

        def bound_model_fn(features, labels, mode, config):
            return self._call_model_fn(features, labels, mode, config)

        return bound_model_fn

    def _call_model_fn(self, features, labels, mode, config):
        kwargs = {"features": features}
        if "labels" in self._model_fn_args:
            kwargs["labels"] = labels
        elif labels is not None:
            raise ValueError("input_fn returned labels, but model_fn does not take a 'labels' argument")
        if "mode" in self._model_fn_args:
            kwargs["mode"] = mode
        if "params" in self._model_fn_args:
            kwargs["params"] = self.params
        if "config" in self._model_fn_args:
            kwargs["config"] = config
        log.info("Calling model_fn.")
        spec = self._model_fn(**kwargs)
        log.info("Done calling model_fn.")
        if not isinstance(spec, EstimatorSpec):
            raise ValueError(f"model_fn must return an EstimatorSpec, got {type(spec).__name__}")
        return spec

    def _build_spec(self, features, labels, mode):
        return self._call_model_fn(features, labels, mode, self._config)

    def _build(self, input_fn, mode):
        if not callable(input_fn):
            raise TypeError(f"input_fn must be callable, got {type(input_fn).__name__}")
        return graphs.build_model_graph(self._build_spec, input_fn, mode, self._config, self.params)

    # Extension points: what the machinery asks the model, for subclasses to answer.

    def reuses_graphs(self):
        """Whether model_fn builds the same graph whenever its input graph is the same.

        An extension point: the Estimator asks it before every train, evaluate and
        predict call. False here: a model_fn may read anything (a global, a file, a
        counter), and tf.estimator called it on every call. A subclass whose model_fn
        depends on nothing but its arguments and the Estimator's fixed settings returns
        True, and its calls then run in graphs and sessions kept from earlier calls
        (`kept_sessions`) when their input graphs are the same.

        Returns:
          bool.
        """
        return False

    def ready_for_evaluation(self, checkpoint_path):
        """Whether `train_and_evaluate` should evaluate (and export) `checkpoint_path`.

        An extension point: `train_and_evaluate` asks it about each new checkpoint before
        evaluating it. True here. A subclass whose checkpoints can be saved before its
        model means anything returns False for those; the checkpoint is then skipped with
        a log line, and asked about again when it is still the newest (KMeans: a
        checkpoint saved before the centers were chosen).

        Args:
          checkpoint_path: the path of the checkpoint, as `latest_checkpoint` gives it.

        Returns:
          bool.
        """
        del checkpoint_path
        return True

    def _graph_for_call(self, input_fn, mode, checkpoint_path, caller_hooks):
        """The model graph for one call, and the `KeptGraph` holding it when kept.

        The input_fn is called once, into a new graph. When this call may use a kept
        graph (the Estimator's graphs are reusable, the caller gave no hooks or
        listeners, training is local, and a checkpoint exists to restore) and the new
        input graph equals the kept one's (but for the values its large constants are
        fed, which this call's input gives), the call runs in the kept graph; otherwise the
        model is built on the new input graph, which is kept for the next calls when it
        may be.
        """
        config = self._config
        input_graph = graphs.build_input_graph(input_fn, mode, config, self.params)
        local = not config.master and config.is_chief and not config.cluster_spec
        # The input's own ops decide first: a graph holding a large data set is never
        # kept, and digesting it would copy the data twice for nothing.
        if not (self.reuses_graphs() and local and not caller_hooks
                and kept_sessions.reusable(input_graph.graph, config)):
            return graphs.add_model(input_graph, self._build_spec, mode, config), None
        digest = kept_sessions.input_digest(
            input_graph.graph.as_graph_def(), input_graph.features, input_graph.labels, input_graph.feeds,
            input_graph.graph.get_collection(kept_sessions.PYTHON_INPUTS_COLLECTION))
        kept = self._keeper.take(mode, digest) if checkpoint_path else None
        if kept is not None:
            # Equal digests mean equal graphs but for the values fed: this call's are fed.
            kept.model.refeed(input_graph.feeds)
            return kept.model, kept
        model = graphs.add_model(input_graph, self._build_spec, mode, config)
        if digest is None or not kept_sessions.reusable(model.graph, config):
            return model, None
        return model, self._keeper.keep(mode, model, digest)

    @contextlib.contextmanager
    def _running(self, kept):
        """Around a call's run: gives a kept graph back after it, to reuse, or to close
        when the call failed. A caller who stops reading `predict` leaves a sound session."""
        if kept is None:
            yield
            return
        try:
            yield
        except GeneratorExit:
            self._keeper.release(kept)
            raise
        except BaseException:
            self._keeper.discard(kept)
            raise
        self._keeper.release(kept)

    # Checkpoints.

    def latest_checkpoint(self):
        """Returns the path of the newest checkpoint in `model_dir`, or None."""
        return checkpoints.latest_checkpoint(self.model_dir)

    def _require_checkpoint(self, what):
        path = self.latest_checkpoint()
        if path is None:
            raise ValueError(f"{what} needs a checkpoint, and {self.model_dir} has none yet; call train() first")
        return path

    def get_variable_names(self):
        """Returns the names of the variables in the latest checkpoint."""
        path = self._require_checkpoint("get_variable_names()")
        with checkpoints.reading_checkpoint(path):
            return [name for name, _ in tf.train.list_variables(path)]

    def get_variable_value(self, name):
        """Returns a variable's value in the latest checkpoint, as a numpy array."""
        path = self._require_checkpoint("get_variable_value()")
        with checkpoints.reading_checkpoint(path):
            return tf.train.load_variable(path, name)

    def eval_dir(self, name=None):
        """The directory evaluation events go to: `model_dir/eval` or `model_dir/eval_<name>`."""
        return os.path.join(self.model_dir, "eval" if not name else "eval_" + name)

    # Running.

    def train(self, input_fn, hooks=None, steps=None, max_steps=None, saving_listeners=None):
        """Trains the model on batches from `input_fn`.

        Args:
          input_fn: returns features, `(features, labels)` or a `tf.data.Dataset`.
          hooks: extra `SessionRunHook`s.
          steps: train this many more steps (incremental).
          max_steps: train until the global step reaches this (absolute);
            nothing runs when it is already reached.
          saving_listeners: `CheckpointSaverListener`s called around saves.

        Returns:
          self, for chaining.

        Raises:
          ValueError: both steps and max_steps are set, or either is <= 0.
        """
        return self._train(input_fn, hooks, steps, max_steps, saving_listeners, report_end=False)

    def train_and_report_end(self, input_fn, hooks=None, steps=None, max_steps=None, saving_listeners=None):
        """Trains as `train` does, as this task's last training.

        Locally the same as `train`. On a cluster, the task then reports the end of its
        training to the ps tasks, which exit once every training task has, and the chief
        waits for the other workers before its last checkpoint (see `distributed`).
        `train_and_evaluate` trains this way; a script that may train again must call
        `train`, which leaves the ps tasks serving.

        Returns:
          self, for chaining.

        Raises:
          ValueError: as `train`.
        """
        return self._train(input_fn, hooks, steps, max_steps, saving_listeners, report_end=True)

    def _train(self, input_fn, hooks, steps, max_steps, saving_listeners, report_end):
        if steps is not None and max_steps is not None:
            raise ValueError(f"give steps or max_steps, not both (got steps={steps}, max_steps={max_steps})")
        check_optional_positive_int("steps", steps)
        check_optional_positive_int("max_steps", max_steps)
        hooks = list(check_hooks(hooks, "hooks"))
        listeners = list(check_saving_listeners(saving_listeners, "saving_listeners"))
        if max_steps is not None:
            step = checkpoints.checkpoint_global_step(self.latest_checkpoint())
            if step >= max_steps:
                log.info("Skipping training: global step %d already reached max_steps=%d", step, max_steps)
                return self
        model, kept = self._graph_for_call(input_fn, ModeKeys.TRAIN, self.latest_checkpoint(), hooks or listeners)
        with self._running(kept):
            loss = calls.run_training(
                model, self._config, hooks, steps, max_steps, listeners, self._warm_start_from, kept,
                report_end=report_end,
            )
        log.info("Loss for final step: %s.", loss)
        return self

    def evaluate(self, input_fn, steps=None, hooks=None, checkpoint_path=None, name=None):
        """Evaluates the model's metrics over `input_fn`.

        Returns:
          dict of metric name to value, with `loss` and `global_step`.

        Raises:
          ValueError: steps <= 0, or checkpoint_path does not exist.
        """
        check_optional_positive_int("steps", steps)
        hooks = list(check_hooks(hooks, "hooks"))
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string or None, got {type(name).__name__}")
        checkpoint_path = self._checkpoint_to_use(checkpoint_path)
        model, kept = self._graph_for_call(input_fn, ModeKeys.EVAL, checkpoint_path, hooks)
        with self._running(kept):
            return calls.run_evaluation(
                model, self._config, hooks, steps, checkpoint_path, self.eval_dir(name), kept)

    def predict(self, input_fn, predict_keys=None, hooks=None, checkpoint_path=None, yield_single_examples=True):
        """Yields the model's predictions for the features from `input_fn`.

        Yields:
          one prediction (a dict when the model's predictions are a dict) per
          example, or per batch when `yield_single_examples` is False.

        Raises:
          ValueError: a predict key is unknown, or batch sizes differ.
        """
        hooks = list(check_hooks(hooks, "hooks"))
        if predict_keys is not None:
            if isinstance(predict_keys, str):
                predict_keys = [predict_keys]
            predict_keys = list(predict_keys)
        checkpoint_path = self._checkpoint_to_use(checkpoint_path)
        model, kept = self._graph_for_call(input_fn, ModeKeys.PREDICT, checkpoint_path, hooks)
        with self._running(kept):
            yield from calls.iterate_predictions(
                model, self._config, hooks, checkpoint_path, predict_keys, yield_single_examples, kept
            )

    def _checkpoint_to_use(self, checkpoint_path):
        if checkpoint_path is None:
            return self.latest_checkpoint()
        return checkpoints.checkpoint_named_by(os.fspath(checkpoint_path), "checkpoint_path")

    # Exporting.

    def export_saved_model(
        self,
        export_dir_base,
        serving_input_receiver_fn,
        assets_extra=None,
        as_text=False,
        checkpoint_path=None,
        experimental_mode=ModeKeys.PREDICT,
    ):
        """Writes a SavedModel of the `experimental_mode` graph into a new version directory.

        Returns:
          the path of the new version directory, as bytes (as tf.estimator did).

        Raises:
          ValueError: no receiver fn, no checkpoint, or no export outputs.
        """
        if serving_input_receiver_fn is None:
            raise ValueError("serving_input_receiver_fn must be given, got None")
        return self.experimental_export_all_saved_models(
            export_dir_base,
            {experimental_mode: serving_input_receiver_fn},
            assets_extra=assets_extra,
            as_text=as_text,
            checkpoint_path=checkpoint_path,
        )

    def export_savedmodel(
        self,
        export_dir_base,
        serving_input_receiver_fn,
        assets_extra=None,
        as_text=False,
        checkpoint_path=None,
        strip_default_attrs=False,
    ):
        """Deprecated name of `export_saved_model` (default attributes are always stripped)."""
        warnings.warn(
            "export_savedmodel is deprecated; use export_saved_model", DeprecationWarning, stacklevel=2
        )
        return self.export_saved_model(
            export_dir_base, serving_input_receiver_fn, assets_extra, as_text, checkpoint_path
        )

    def experimental_export_all_saved_models(
        self, export_dir_base, input_receiver_fn_map, assets_extra=None, as_text=False, checkpoint_path=None
    ):
        """Writes one SavedModel holding a MetaGraphDef per mode in `input_receiver_fn_map`.

        Returns:
          the path of the new version directory, as bytes.

        Raises:
          ValueError: a receiver fn is None, a mode is unknown, or there is no checkpoint.
        """
        if not isinstance(input_receiver_fn_map, dict) or not input_receiver_fn_map:
            raise ValueError(
                f"input_receiver_fn_map must be a non-empty dict of mode to receiver fn, got {input_receiver_fn_map!r}"
            )
        for mode, receiver_fn in input_receiver_fn_map.items():
            if mode not in ModeKeys.ALL:
                raise ValueError(f"input_receiver_fn_map has unknown mode {mode!r}; modes are {ModeKeys.ALL}")
            if receiver_fn is None:
                raise ValueError(f"input_receiver_fn_map[{mode!r}] is None; give a receiver fn")
        if checkpoint_path is None:
            checkpoint_path = self._require_checkpoint("export_saved_model()")
        else:
            checkpoint_path = self._checkpoint_to_use(checkpoint_path)
        path = saved_model.export_modes(
            os.fspath(export_dir_base),
            input_receiver_fn_map,
            self._build_spec,
            self._config,
            checkpoint_path,
            assets_extra=assets_extra,
            as_text=as_text,
        )
        return path.encode() if isinstance(path, str) else path
