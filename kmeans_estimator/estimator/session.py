"""One Estimator call: its graph, its session, its hooks, its checkpoints and summaries.

Each function here serves one public Estimator method. They build on
TensorFlow's MonitoredSession, hooks, Saver and summary writers; the Estimator
class only validates arguments and hands over.
"""
import collections
import os

import numpy as np
import tensorflow as tf
from absl import logging

from kmeans_estimator.estimator import checkpoints, hooks as estimator_hooks, inputs
from kmeans_estimator.estimator.spec import ModeKeys
from kmeans_estimator.estimator.training_loop import TrainingLoop

ModelGraph = collections.namedtuple("ModelGraph", ["graph", "spec", "input_hooks"])


def _num_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # Not on Linux.
        return os.cpu_count() or 1


def session_config(config, graph=None):
    """The session options for a call: the RunConfig's, or defaults suited to `graph`.

    The defaults place softly and use every core this process may run on, within an
    op and across ops. When `graph` holds a constant larger than
    `checkpoints.MAX_WRITTEN_CONSTANT_BYTES` (typically a data set captured with
    `tf.constant`), they also switch off TensorFlow's graph optimizer (grappler): it
    copies the whole graph, constant included, for each of its passes and for every
    distinct `session.run` of a call, which made one `train(steps=1)` call on
    200000 x 64 float32 points take 5.9 s instead of 1.0 s.

    A graph-mode session given options does not see the logical CPU devices made
    with `tf.config.set_logical_device_configuration`, so their number is added
    to the options (unless they set `device_count['CPU']` themselves); ops that
    `RunConfig.device_fn` puts on '/cpu:1' then really run there.
    """
    if config.session_config is not None:
        options = tf.compat.v1.ConfigProto()
        options.CopyFrom(config.session_config)
    else:
        cores = _num_cores()
        options = tf.compat.v1.ConfigProto(
            allow_soft_placement=True,
            intra_op_parallelism_threads=cores,
            inter_op_parallelism_threads=cores,
        )
        if graph is not None and checkpoints.has_large_constant(graph):
            options.graph_options.rewrite_options.disable_meta_optimizer = True
    physical_cpus = tf.config.list_physical_devices("CPU")
    logical_cpus = tf.config.get_logical_device_configuration(physical_cpus[0]) if physical_cpus else None
    if logical_cpus and "CPU" not in options.device_count:
        options.device_count["CPU"] = len(logical_cpus)
    return options


def build_model_graph(build_spec, input_fn, mode, config, params):
    """Builds a new graph holding the input pipeline and the model for `mode`.

    The input pipeline is placed on the CPU, as tf.estimator did, and the model
    under `config.device_fn`.

    Args:
      build_spec: callable `(features, labels, mode) -> EstimatorSpec`.
      input_fn: the user's input function.
      mode: a `ModeKeys` value.
      config: the Estimator's `RunConfig`.
      params: the Estimator's params dict.

    Returns:
      A `ModelGraph` of the graph, the spec and the hooks the input needs.
    """
    graph = tf.Graph()
    with graph.as_default():
        if config.tf_random_seed is not None:
            tf.compat.v1.set_random_seed(config.tf_random_seed)
        tf.compat.v1.train.get_or_create_global_step()
        with tf.device("/cpu:0"):
            result = inputs.call_input_fn(input_fn, mode, params, config)
            features, labels, input_hooks = inputs.parse_input_fn_result(result)
        if mode == ModeKeys.PREDICT:
            labels = None
        with tf.compat.v1.device(config.device_fn):
            spec = build_spec(features, labels, mode)
    return ModelGraph(graph, spec, list(input_hooks))


def _scaffold_with_saver(scaffold, config):
    if scaffold.saver is not None:
        return scaffold
    saver = tf.compat.v1.train.Saver(
        sharded=True,
        max_to_keep=config.keep_checkpoint_max,
        keep_checkpoint_every_n_hours=config.keep_checkpoint_every_n_hours,
        save_relative_paths=True,
    )
    return tf.compat.v1.train.Scaffold(saver=saver, copy_from_scaffold=scaffold)


def _warm_start(warm_start_from, graph):
    """Initializes the variables present in `warm_start_from` from it."""
    source = tf.train.latest_checkpoint(warm_start_from) if os.path.isdir(warm_start_from) else warm_start_from
    if not source:
        raise ValueError(f"warm_start_from={warm_start_from!r} holds no checkpoint")
    stored = dict(tf.train.list_variables(source))
    variables = [
        variable
        for variable in graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)
        if variable.op.name in stored and variable.op.name != tf.compat.v1.GraphKeys.GLOBAL_STEP
    ]
    logging.info("Warm-starting %d variables from %s", len(variables), source)
    if variables:
        tf.compat.v1.train.warm_start(source, vars_to_warm_start=variables)


def run_training(model, config, hooks, steps, max_steps, saving_listeners, warm_start_from):
    """Runs training steps until a stop condition; returns the last loss or None."""
    spec = model.spec
    with model.graph.as_default():
        tf.compat.v1.summary.scalar("loss", spec.loss)
        restore_from = checkpoints.latest_checkpoint(config.model_dir)
        if restore_from:
            checkpoints.check_restorable(restore_from, model.graph)
        elif warm_start_from:
            _warm_start(warm_start_from, model.graph)
        scaffold = _scaffold_with_saver(spec.scaffold, config)
        all_hooks = model.input_hooks + list(hooks) + list(spec.training_hooks)
        if steps is not None or max_steps is not None:
            all_hooks.append(estimator_hooks.StepLimitHook(num_steps=steps, last_step=max_steps))
        chief_hooks = list(spec.training_chief_hooks)
        if config.log_step_count_steps:
            chief_hooks.append(estimator_hooks.ProgressHook(config.log_step_count_steps, config.model_dir))
        if config.save_summary_steps:
            chief_hooks.append(estimator_hooks.SummaryHook(config.save_summary_steps, config.model_dir, scaffold))
        chief_hooks.append(
            estimator_hooks.CheckpointHook(
                config.model_dir,
                scaffold.saver,
                save_steps=config.save_checkpoints_steps,
                save_secs=config.save_checkpoints_secs,
                listeners=saving_listeners,
            )
        )
        loop = TrainingLoop(spec.train_op, spec.loss, all_hooks + (chief_hooks if config.is_chief else []))
        # The session adds no hooks of its own: summaries, step rates and
        # checkpoints come from the ScheduledHooks above. It restores the
        # checkpoint when created, so only its creation reads the checkpoint.
        with checkpoints.reading_checkpoint(restore_from):
            session = tf.compat.v1.train.MonitoredTrainingSession(
                master=config.master,
                is_chief=config.is_chief,
                checkpoint_dir=config.model_dir,
                scaffold=scaffold,
                hooks=all_hooks,
                chief_only_hooks=chief_hooks,
                save_checkpoint_secs=None,
                save_checkpoint_steps=None,
                save_summaries_steps=None,
                save_summaries_secs=None,
                config=session_config(config, model.graph),
                log_step_count_steps=None,
                save_graph_def=False,
            )
        with session:
            loop.run(session)
    return loop.last_loss


def _session_creator(model, config, checkpoint_path):
    """A session creator restoring `checkpoint_path`, or initializing fresh variables."""
    if checkpoint_path:
        checkpoints.check_restorable(checkpoint_path, model.graph)
    else:
        logging.warning(
            "No checkpoint in %s: running with freshly initialized variables", config.model_dir
        )
    return tf.compat.v1.train.ChiefSessionCreator(
        scaffold=_scaffold_with_saver(model.spec.scaffold, config),
        master=config.master,
        config=session_config(config, model.graph),
        checkpoint_filename_with_path=checkpoint_path,
    )


def run_evaluation(model, config, hooks, steps, checkpoint_path, eval_dir):
    """Runs the metrics' update ops over the input; returns the final metric values."""
    spec = model.spec
    with model.graph.as_default():
        metrics = dict(spec.eval_metric_ops)
        if "loss" not in metrics:
            metrics["loss"] = tf.compat.v1.metrics.mean(spec.loss, name="mean_loss")
        update_op = tf.group(*(update for _, update in metrics.values()))
        final_values = {name: value for name, (value, _) in metrics.items()}
        final_values["global_step"] = tf.compat.v1.train.get_global_step()
        final_hook = tf.compat.v1.train.FinalOpsHook(final_values)
        all_hooks = model.input_hooks + list(hooks) + list(spec.evaluation_hooks) + [final_hook]
        if steps is not None:
            all_hooks.append(estimator_hooks.StopAfterRunsHook(steps))
        creator = _session_creator(model, config, checkpoint_path)
        with checkpoints.reading_checkpoint(checkpoint_path):
            session = tf.compat.v1.train.MonitoredSession(session_creator=creator, hooks=all_hooks)
        with session:
            while not session.should_stop():
                session.run(update_op)
        results = final_hook.final_ops_values
        _write_eval_summaries(eval_dir, results)
    return results


def _write_eval_summaries(eval_dir, results):
    """Writes the scalar metrics as TensorBoard events at the evaluated global step."""
    values = [
        tf.compat.v1.Summary.Value(tag=name, simple_value=float(value))
        for name, value in sorted(results.items())
        if name != "global_step" and np.ndim(value) == 0 and np.issubdtype(np.asarray(value).dtype, np.number)
    ]
    writer = tf.compat.v1.summary.FileWriter(eval_dir)
    try:
        writer.add_summary(tf.compat.v1.Summary(value=values), int(results["global_step"]))
    finally:
        writer.close()


def _select_predictions(predictions, predict_keys):
    if predict_keys is None:
        return predictions
    if not isinstance(predictions, dict):
        raise ValueError(
            f"predict_keys={predict_keys!r} needs the model_fn's predictions to be a dict, "
            f"got a {type(predictions).__name__}"
        )
    missing = [key for key in predict_keys if key not in predictions]
    if missing:
        raise ValueError(
            f"predict_keys {missing} are not among the model's predictions {sorted(predictions)}"
        )
    return {key: predictions[key] for key in predict_keys}


def _single_examples(values):
    """Splits one batch of predictions into per-example values."""
    named = values if isinstance(values, dict) else {"predictions": values}
    scalars = sorted(key for key, value in named.items() if np.ndim(value) == 0)
    if scalars:
        raise ValueError(
            f"predictions {scalars} have no batch dimension, so they cannot be yielded one "
            "example at a time; pass yield_single_examples=False"
        )
    sizes = {key: len(value) for key, value in named.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(
            "predictions have different batch sizes, so they cannot be yielded one example "
            f"at a time: {sizes}; pass yield_single_examples=False"
        )
    if not isinstance(values, dict):
        yield from values
        return
    for row in range(next(iter(sizes.values()), 0)):
        yield {key: value[row] for key, value in values.items()}


def iterate_predictions(model, config, hooks, checkpoint_path, predict_keys, yield_single_examples):
    """Yields predictions batch by batch, or example by example."""
    spec = model.spec
    with model.graph.as_default():
        predictions = _select_predictions(spec.predictions, predict_keys)
        creator = _session_creator(model, config, checkpoint_path)
        all_hooks = model.input_hooks + list(hooks) + list(spec.prediction_hooks)
        with checkpoints.reading_checkpoint(checkpoint_path):
            session = tf.compat.v1.train.MonitoredSession(session_creator=creator, hooks=all_hooks)
        with session:
            while not session.should_stop():
                values = session.run(predictions)
                if yield_single_examples:
                    yield from _single_examples(values)
                else:
                    yield values
