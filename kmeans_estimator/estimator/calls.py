"""One Estimator call run: its session, its hooks, its checkpoints and summaries (its graph
comes from `graphs`).

Each function here serves one public Estimator method. They build on
TensorFlow's MonitoredSession, hooks, Saver and summary writers; the Estimator
class only validates arguments and hands over.
"""
import collections
import os
import time

import numpy as np
import tensorflow as tf

from kmeans_estimator._logger import log
from kmeans_estimator.estimator import (
    checkpoints, distributed, event_files, hooks as estimator_hooks, kept_sessions, warm_start,
)
from kmeans_estimator.estimator.spec import ModeKeys
from kmeans_estimator.estimator.training_loop import TrainingLoop, step_fetches


def _num_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # Not on Linux.
        return os.cpu_count() or 1


def session_config(config, graph=None, training=False):
    """The session options for a call: the RunConfig's, or defaults suited to `graph`.

    A `training` session of a cluster task also gets device filters (its own task and
    the ps tasks) unless the options already have some, so that it never waits for
    the other workers (see `distributed.device_filters`).

    The defaults place softly and use every core this process may run on, within an
    op and across ops. When `graph` holds a constant larger than
    `checkpoints.MAX_WRITTEN_CONSTANT_BYTES` (typically a data set captured with
    `tf.constant`), they also switch off TensorFlow's graph optimizer (grappler): it
    copies the whole graph, constant included, for each of its passes and for every
    distinct `session.run` of a call, and those copies then take most of the
    call's time.

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
    if training and distributed.is_distributed(config) and not options.device_filters:
        options.device_filters.extend(distributed.device_filters(config))
    return options


def _scaffold_with_saver(scaffold, config):
    """`scaffold`, or a copy of it with the RunConfig's Saver when it has none.

    The Saver restores through the graph's `checkpoints.RestoreFallback`s when a
    checkpoint needs one.

    That Saver also goes into the graph's SAVERS collection (unless one is there), as
    tf.estimator put it: a caller's `CheckpointSaverHook` given no saver looks there.
    """
    if scaffold.saver is not None:
        return scaffold
    saver = checkpoints.build_saver(
        sharded=True,
        max_to_keep=config.keep_checkpoint_max,
        keep_checkpoint_every_n_hours=config.keep_checkpoint_every_n_hours,
        save_relative_paths=True,
    )
    if not tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.SAVERS):
        tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.SAVERS, saver)
    return tf.compat.v1.train.Scaffold(saver=saver, copy_from_scaffold=scaffold)


TrainingGraph = collections.namedtuple("TrainingGraph", ["scaffold", "summary_op", "fetches", "graph_files"])


def _prepared_training(model, config, kept):
    """The ops every training call adds to `model`'s graph, added on its first call.

    A kept graph also gets its merged summary op here, before any call's hooks begin:
    once its first session has finalized it, no op can be added.
    """
    prepared = model.prepared.get(ModeKeys.TRAIN)
    if prepared is None:
        with model.graph.as_default():
            tf.compat.v1.summary.scalar("loss", model.spec.loss)
            scaffold = _scaffold_with_saver(model.spec.scaffold, config)
            summary_op = None
            if kept is not None:
                summary_op = scaffold.summary_op
                if summary_op is None:
                    summary_op = tf.compat.v1.summary.merge_all()
            fetches = step_fetches(model.spec.train_op, model.spec.loss)
        prepared = TrainingGraph(scaffold, summary_op, fetches, checkpoints.GraphFiles(model.graph, scaffold.saver))
        model.prepared[ModeKeys.TRAIN] = prepared
    return prepared


def _check_restorable(checkpoint_path, model, kept):
    """Checks the checkpoint fits the graph, once per checkpoint path for a kept graph."""
    if kept is not None and kept.checked_checkpoint == checkpoint_path:
        return
    checkpoints.check_restorable(checkpoint_path, model.graph)
    if kept is not None:
        kept.checked_checkpoint = checkpoint_path


def _session_creator(model, config, scaffold, checkpoint_path, kept):
    """A session creator restoring `checkpoint_path`, or initializing fresh variables.

    With `kept`, a graph kept for later calls: its session, when it has one, restored
    and with its local state reset; otherwise a new session handed to it to keep.
    """
    if checkpoint_path:
        _check_restorable(checkpoint_path, model, kept)
    if kept is not None and kept.session is not None:
        return kept_sessions.RestoringSessionCreator(kept, scaffold.saver, checkpoint_path, scaffold.local_init_op)
    # Evaluation and prediction run in this process, as tf.estimator's did (its
    # evaluation_master is local), also on a cluster task.
    creator = tf.compat.v1.train.ChiefSessionCreator(
        scaffold=scaffold,
        master=config.evaluation_master,
        config=session_config(config, model.graph),
        checkpoint_filename_with_path=checkpoint_path,
    )
    return creator if kept is None else kept_sessions.KeepingSessionCreator(creator, kept)


def run_training(model, config, hooks, steps, max_steps, saving_listeners, warm_start_from, kept=None,
                 report_end=False):
    """Runs training steps until a stop condition; returns the last loss or None.

    `kept` is the `kept_sessions.KeptGraph` holding `model` when the call may run in a
    kept session (local, chief, no caller hooks): see `Estimator._graph_for_call`.
    With `report_end`, this training is the task's last: on a cluster, the task reports
    its end to the ps tasks, and the chief waits for the other workers before its last
    checkpoint (see `distributed`).
    """
    spec = model.spec
    prepared = _prepared_training(model, config, kept)
    scaffold = prepared.scaffold
    with model.graph.as_default():
        restore_from = checkpoints.latest_checkpoint(config.model_dir)
        if not restore_from and warm_start_from:
            warm_start.warm_start(warm_start_from, model.graph)
        all_hooks = model.input_hooks + list(hooks) + list(spec.training_hooks)
        if steps is not None or max_steps is not None:
            all_hooks.append(estimator_hooks.StepLimitHook(num_steps=steps, last_step=max_steps))
        chief_hooks = list(spec.training_chief_hooks)
        if config.log_step_count_steps:
            chief_hooks.append(estimator_hooks.ProgressHook(config.log_step_count_steps, config.model_dir))
        if config.save_summary_steps:
            chief_hooks.append(estimator_hooks.SummaryHook(
                config.save_summary_steps, config.model_dir, scaffold, summary_op=prepared.summary_op))
        if distributed.is_distributed(config) and report_end:
            # Before the checkpoint hook: the last checkpoint then holds every worker's steps.
            chief_hooks.append(distributed.WorkersDoneHook(config))
        # The original's line for the checkpoint hook it made, which this one stands for.
        log.info("Create CheckpointSaverHook.")
        chief_hooks.append(
            estimator_hooks.CheckpointHook(
                config.model_dir,
                scaffold.saver,
                save_steps=config.save_checkpoints_steps,
                save_secs=config.save_checkpoints_secs,
                listeners=saving_listeners,
                graph_files=prepared.graph_files,
            )
        )
        loop = TrainingLoop(prepared.fetches, all_hooks + (chief_hooks if config.is_chief else []))
        # The session adds no hooks of its own: summaries, step rates and
        # checkpoints come from the ScheduledHooks above. It restores the
        # checkpoint when created, so only its creation reads the checkpoint.
        with checkpoints.reading_checkpoint(restore_from):
            if distributed.is_distributed(config):
                session = _cluster_training_session(
                    config, scaffold, all_hooks, chief_hooks, restore_from, model.graph, report_end)
            elif kept is None:
                if restore_from:
                    checkpoints.check_restorable(restore_from, model.graph)
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
            else:
                # Chief hooks first, as MonitoredTrainingSession orders them.
                session = tf.compat.v1.train.MonitoredSession(
                    session_creator=_session_creator(model, config, scaffold, restore_from, kept),
                    hooks=chief_hooks + all_hooks,
                )
        with session:
            loop.run(session)
    return loop.last_loss


def _cluster_training_session(config, scaffold, hooks, chief_hooks, restore_from, graph, report_end):
    """The MonitoredSession of a chief or worker task, on this task's server.

    The chief initializes the variables on the ps tasks, or restores them from the
    latest checkpoint (so a restarted chief resumes); a worker waits until they are
    ready (`distributed.WorkerSessionCreator`). With `report_end` (under
    `train_and_evaluate`), both report their end to the ps tasks (`distributed.DoneReportHook`).
    """
    server = distributed.start_server(config)
    options = session_config(config, graph, training=True)
    done = [distributed.DoneReportHook(config)] if report_end else []
    if config.is_chief:
        if restore_from:
            checkpoints.check_restorable(restore_from, graph)
        creator = tf.compat.v1.train.ChiefSessionCreator(
            scaffold=scaffold, master=server.target, config=options, checkpoint_dir=config.model_dir)
        # Chief hooks first, as MonitoredTrainingSession orders them; the report last,
        # after the final checkpoint is written.
        return tf.compat.v1.train.MonitoredSession(
            session_creator=creator, hooks=chief_hooks + hooks + done)
    creator = distributed.WorkerSessionCreator(
        scaffold, server.target, options, config.session_creation_timeout_secs)
    return tf.compat.v1.train.MonitoredSession(session_creator=creator, hooks=hooks + done)


EvaluationGraph = collections.namedtuple("EvaluationGraph", ["scaffold", "update_op", "final_values"])


def _prepared_evaluation(model, config):
    """The metric update op and final values every evaluation adds, added once."""
    prepared = model.prepared.get(ModeKeys.EVAL)
    if prepared is None:
        spec = model.spec
        with model.graph.as_default():
            metrics = dict(spec.eval_metric_ops)
            if "loss" not in metrics:
                metrics["loss"] = tf.compat.v1.metrics.mean(spec.loss, name="mean_loss")
            update_op = tf.group(*(update for _, update in metrics.values()))
            final_values = {name: value for name, (value, _) in metrics.items()}
            final_values["global_step"] = tf.compat.v1.train.get_global_step()
            scaffold = _scaffold_with_saver(spec.scaffold, config)
        prepared = EvaluationGraph(scaffold, update_op, final_values)
        model.prepared[ModeKeys.EVAL] = prepared
    return prepared


def _warn_if_fresh(checkpoint_path, config):
    if not checkpoint_path:
        log.warning("No checkpoint in %s: running with freshly initialized variables", config.model_dir)


def _log_evaluation_run(runs, steps):
    """Logs tf.estimator's progress line after evaluation run `runs` (1-based) of `steps`
    (None: until the input ends): every run, or every tenth of `steps` from 20 on."""
    if steps is None:
        log.info("Evaluation [%d]", runs)
        return
    every = 1 if steps < 20 else steps // 10
    if runs % every == 0 or runs == steps:
        log.info("Evaluation [%d/%d]", runs, steps)


def _metrics_text(results):
    """The `name = value, ...` text of an evaluation's results, names sorted, as tf.estimator logged it."""
    return ", ".join(f"{name} = {value}" for name, value in sorted(results.items()) if not isinstance(value, bytes))


def run_evaluation(model, config, hooks, steps, checkpoint_path, eval_dir, kept=None):
    """Runs the metrics' update ops over the input; returns the final metric values.

    Logs tf.estimator's lines: the start and end times, the progress after each run (see
    `_log_evaluation_run`), the time taken and the results.
    """
    spec = model.spec
    prepared = _prepared_evaluation(model, config)
    _warn_if_fresh(checkpoint_path, config)
    with model.graph.as_default():
        final_hook = tf.compat.v1.train.FinalOpsHook(prepared.final_values)
        all_hooks = model.input_hooks + list(hooks) + list(spec.evaluation_hooks) + [final_hook]
        if steps is not None:
            all_hooks.append(estimator_hooks.StopAfterRunsHook(steps))
        log.info("Starting evaluation at %s", time.strftime("%Y-%m-%dT%H:%M:%S"))
        start = time.time()
        with checkpoints.reading_checkpoint(checkpoint_path):
            creator = _session_creator(model, config, prepared.scaffold, checkpoint_path, kept)
            session = tf.compat.v1.train.MonitoredSession(session_creator=creator, hooks=all_hooks)
        runs = 0
        with session:
            while not session.should_stop():
                session.run(prepared.update_op)
                runs += 1
                _log_evaluation_run(runs, steps)
        log.info("Inference Time : %.5fs", time.time() - start)
        log.info("Finished evaluation at %s", time.strftime("%Y-%m-%d-%H:%M:%S"))
        results = final_hook.final_ops_values
        log.info("Saving dict for global step %d: %s", results["global_step"], _metrics_text(results))
        if checkpoint_path:
            log.info("Saving '%s' summary for global step %d: %s", event_files.CHECKPOINT_PATH_TAG,
                     results["global_step"], checkpoint_path)
        event_files.add_evaluation(eval_dir, results, checkpoint_path)
    return results


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


def _prepared_prediction(model, config):
    prepared = model.prepared.get(ModeKeys.PREDICT)
    if prepared is None:
        with model.graph.as_default():
            prepared = model.prepared[ModeKeys.PREDICT] = _scaffold_with_saver(model.spec.scaffold, config)
    return prepared


def iterate_predictions(model, config, hooks, checkpoint_path, predict_keys, yield_single_examples, kept=None):
    """Yields predictions batch by batch, or example by example."""
    spec = model.spec
    scaffold = _prepared_prediction(model, config)
    _warn_if_fresh(checkpoint_path, config)
    with model.graph.as_default():
        predictions = _select_predictions(spec.predictions, predict_keys)
        all_hooks = model.input_hooks + list(hooks) + list(spec.prediction_hooks)
        with checkpoints.reading_checkpoint(checkpoint_path):
            creator = _session_creator(model, config, scaffold, checkpoint_path, kept)
            session = tf.compat.v1.train.MonitoredSession(session_creator=creator, hooks=all_hooks)
        with session:
            while not session.should_stop():
                values = session.run(predictions)
                if yield_single_examples:
                    yield from _single_examples(values)
                else:
                    yield values
