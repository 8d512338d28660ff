"""SavedModel writing: each export is a new numeric version directory, made atomically.

A version is written under `temp-<version>` and renamed into place when
complete, so TF Serving, which loads only numeric directories, never sees a
partial one. A `temp-<version>` left by a killed writer is removed by the next
export into the same base (`temp_files`).
"""
import collections
import os
import re
import shutil
import time

import tensorflow as tf

from kmeans_estimator._logger import log
from kmeans_estimator.estimator import checkpoints, receivers, temp_files
from kmeans_estimator.estimator import export_outputs as export_outputs_module
from kmeans_estimator.estimator.calls import session_config
from kmeans_estimator.estimator.spec import ModeKeys
from kmeans_estimator.estimator.checks import check_mapping_values, check_name, type_name

ASSETS_EXTRA_DIRECTORY = "assets.extra"
TEMP_PREFIX = "temp-"
# tf.compat.v1 exports the functions that build SignatureDef protos, not the class itself.
_SIGNATURE_DEF_TYPE = type(tf.compat.v1.saved_model.build_signature_def())


def _check_assets_extra(assets_extra):
    """Returns assets_extra as {relative destination: source path}, each source an existing file."""
    if assets_extra is None:
        return {}
    if not isinstance(assets_extra, dict):
        raise TypeError(
            f"assets_extra must be a dict of relative destination to source file, "
            f"got {type_name(assets_extra)}"
        )
    checked = {}
    for destination, source in assets_extra.items():
        check_name(destination, "assets_extra")
        normalized = os.path.normpath(destination)
        if os.path.isabs(destination) or normalized == os.pardir or normalized.startswith(
            os.pardir + os.sep
        ):
            raise ValueError(
                f"assets_extra keys must be relative paths inside {ASSETS_EXTRA_DIRECTORY}, "
                f"got {destination!r}"
            )
        if not isinstance(source, (str, os.PathLike)):
            raise TypeError(
                f"assets_extra[{destination!r}] must be a source file path, "
                f"got {type_name(source)}"
            )
        if not os.path.isfile(source):
            raise ValueError(
                f"assets_extra[{destination!r}] names a source file that does not exist: "
                f"{os.fspath(source)!r}"
            )
        checked[normalized] = os.fspath(source)
    return checked


def _first_free_version(export_dir_base):
    """The current Unix time in seconds, or one more than the newest version present.

    A new export must be the newest: TF Serving serves the largest version, and exporters
    keep the largest ones. Starting from the time alone, an export made in the same second
    as exports that took later numbers would get a smaller one, once an older version
    of that second was deleted.
    """
    versions = [int(name) for name in os.listdir(export_dir_base) if name.isdigit()]
    return max([int(time.time())] + [version + 1 for version in versions])


def _claim_version(export_dir_base):
    """Locks and creates `temp-<version>` for the first version from now on that nobody holds.

    Versions start at `_first_free_version`. The lock (`temp-<version>.lock`, see `temp_files`) is taken before the directory is made,
    so a cleaner never sees the directory unlocked. A version whose lock another process
    holds, or whose final or temp directory exists, is skipped. The final directory is checked
    again after the temp directory is made, so that a concurrent writer renaming its own
    `temp-<version>` into place cannot be overtaken.

    Returns:
      (temp_dir, final_dir, lock): the held `temp_files.TempLock` of temp_dir.
    """
    version = _first_free_version(export_dir_base)
    while True:
        final_dir = os.path.join(export_dir_base, str(version))
        temp_dir = os.path.join(export_dir_base, f"{TEMP_PREFIX}{version}")
        if not os.path.exists(final_dir):
            lock = temp_files.TempLock(temp_dir)
            if lock.acquire(blocking=False):
                try:
                    os.mkdir(temp_dir)
                except FileExistsError:
                    # Not ours: a dead writer's (left for the cleaner) or a lockless one's.
                    lock.release(unlink=False)
                except BaseException:
                    lock.release()
                    raise
                else:
                    if not os.path.exists(final_dir):
                        return temp_dir, final_dir, lock
                    os.rmdir(temp_dir)
                    lock.release()
        version += 1


def _copy_assets_extra(directory, assets_extra):
    for destination, source in assets_extra.items():
        target = os.path.join(directory, ASSETS_EXTRA_DIRECTORY, destination)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(source, target)


def write_version(export_dir_base, write_into, assets_extra=None):
    """Claims a new version directory, fills it with `write_into(temp_dir)`, renames it into place.

    First removes the stale `temp-<version>` directories of writers that died (see
    `temp_files`); the new one is written under its exclusive `temp-<version>.lock`.

    Args:
      export_dir_base: directory holding the versions; created if missing.
      write_into: callable writing a complete SavedModel into the directory it is given.
      assets_extra: dict of destination path, relative to `<version>/assets.extra`, to an
        existing source file copied there.

    Returns:
      The path of the new version directory, as str.

    Raises:
      ValueError, TypeError: `assets_extra` is malformed (before anything is written).
      Any error of `write_into` or the file system, after removing the temp directory.
    """
    assets_extra = _check_assets_extra(assets_extra)
    os.makedirs(export_dir_base, exist_ok=True)
    temp_files.remove_stale(export_dir_base, re.escape(TEMP_PREFIX) + r"\d+")
    temp_dir, final_dir, lock = _claim_version(export_dir_base)
    try:
        write_into(temp_dir)
        _copy_assets_extra(temp_dir, assets_extra)
        os.rename(temp_dir, final_dir)
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    finally:
        lock.release()
    return final_dir


def write_saved_model(export_dir_base, session, signature_def_map, *, assets_extra=None,
                      as_text=False, saver=None, main_op=None, strip_default_attrs=True):
    """Writes the session's graph and variables as a new SavedModel version, atomically.

    Everything is written into `export_dir_base/temp-<version>` and renamed to
    `export_dir_base/<version>` only once complete, so a reader such as TF Serving never
    sees a partial version; on any error the temp directory is removed and the error
    re-raised. `<version>` is the current Unix time in seconds, or one past the newest
    version present, and past versions being written. Local file systems only (the final step is `os.rename`).

    Args:
      export_dir_base: directory holding the versions; created if missing.
      session: a tf.compat.v1 Session whose variables hold the values to export. Its graph
        is exported with the tag 'serve'.
      signature_def_map: a dict of signature key to SignatureDef (see `build_signature_defs`).
      assets_extra: optional dict of destination path, relative to `<version>/assets.extra`,
        to an existing source file copied there.
      as_text: write saved_model.pbtxt instead of saved_model.pb.
      saver: the tf.compat.v1.train.Saver that saves the variables; None builds a sharded
        one over all saveable objects, which adds ops, so the graph must not be finalized.
      main_op: optional tf.Operation a loader runs after restoring the variables (e.g. the
        initializer of local variables and tables).
      strip_default_attrs: leave attributes at their default values out of the graph, so
        that older TensorFlow versions can load it.

    Returns:
      The path of the new version directory, as str.

    Raises:
      TypeError: if an argument has the wrong type.
      ValueError: if `signature_def_map` is empty, an assets_extra source file does not exist
        or its destination leaves assets.extra, or the graph is finalized and no saver given.
        These are raised before anything is written.
      Any error of TensorFlow or the file system met while writing, after cleaning up.
    """
    if not isinstance(export_dir_base, (str, os.PathLike)):
        raise TypeError(f"export_dir_base must be a path, got {type_name(export_dir_base)}")
    export_dir_base = os.fspath(export_dir_base)
    if not isinstance(session, (tf.compat.v1.Session, tf.compat.v1.InteractiveSession)):
        raise TypeError(f"session must be a tf.compat.v1.Session, got {type_name(session)}")
    check_mapping_values(
        signature_def_map, "signature_def_map", _SIGNATURE_DEF_TYPE, "a SignatureDef",
        "a dict of str to SignatureDef",
    )
    _check_assets_extra(assets_extra)
    if saver is not None and not isinstance(saver, tf.compat.v1.train.Saver):
        raise TypeError(
            f"saver must be None or a tf.compat.v1.train.Saver, got {type_name(saver)}"
        )
    if saver is None and session.graph.finalized:
        raise ValueError(
            "saver must be given when session.graph is finalized, because building the "
            "default saver adds ops to the graph; got saver=None"
        )
    if main_op is not None and not isinstance(main_op, tf.Operation):
        raise TypeError(f"main_op must be None or a tf.Operation, got {type_name(main_op)}")

    def write_into(directory):
        builder = tf.compat.v1.saved_model.Builder(directory)
        with session.graph.as_default():
            _add_meta_graph(builder, session, [tf.saved_model.SERVING], signature_def_map, saver,
                            main_op, strip_default_attrs)
        builder.save(as_text=as_text)

    return write_version(export_dir_base, write_into, assets_extra)


def _add_meta_graph(builder, session, tags, signature_def_map, saver, main_op,
                    strip_default_attrs=True):
    """Adds the default graph to `builder`; with its variables when `session` is given."""
    options = dict(
        signature_def_map=signature_def_map,
        assets_collection=tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS),
        main_op=main_op,
        strip_default_attrs=strip_default_attrs,
        saver=saver,
    )
    if session is None:
        builder.add_meta_graph(tags, **options)
    else:
        builder.add_meta_graph_and_variables(session, tags, **options)


# Exporting an Estimator's model.

_MODE_TAGS = {
    ModeKeys.PREDICT: [tf.saved_model.SERVING],
    ModeKeys.TRAIN: [tf.saved_model.TRAINING],
    ModeKeys.EVAL: ["eval"],
}
# The variables are saved from the first of these modes being exported, as tf.estimator did.
_VARIABLES_MODE_ORDER = (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT)
# The supervised signatures of exported TRAIN and EVAL graphs, keyed as tf.estimator did.
_SUPERVISED_OUTPUTS = {
    ModeKeys.TRAIN: export_outputs_module.TrainOutput,
    ModeKeys.EVAL: export_outputs_module.EvalOutput,
}

ExportGraph = collections.namedtuple("ExportGraph", ["graph", "signature_defs", "saver", "main_op"])

# The SignatureDef method names, in the order and by the names tf.estimator's export report
# used; it reported each of these, with or without signatures, then any other method name.
_REPORTED_METHOD_NAMES = {
    tf.saved_model.CLASSIFY_METHOD_NAME: "Classify",
    tf.saved_model.REGRESS_METHOD_NAME: "Regress",
    tf.saved_model.PREDICT_METHOD_NAME: "Predict",
    "tensorflow/supervised/training": "Train",
    "tensorflow/supervised/eval": "Eval",
}


def _log_signatures(signature_defs):
    """Logs which signatures a mode's graph exports, by method, as tf.estimator did."""
    keys_by_method = {method: [] for method in _REPORTED_METHOD_NAMES}
    for key, signature_def in sorted(signature_defs.items()):
        keys_by_method.setdefault(signature_def.method_name, []).append(key)
    for method, keys in keys_by_method.items():
        log.info("Signatures INCLUDED in export for %s: %s", _REPORTED_METHOD_NAMES.get(method, method), keys or None)


def _supervised_signature(mode, spec, receiver):
    """The one signature of a TRAIN or EVAL graph, keyed 'train' or 'eval': a `TrainOutput`
    or `EvalOutput` of the spec's loss, predictions and metrics (its `export_outputs` serve
    PREDICT only, as in tf.estimator)."""
    output = _SUPERVISED_OUTPUTS[mode](
        loss=spec.loss, predictions=spec.predictions, metrics=spec.eval_metric_ops or None
    )
    return {mode: output.as_signature_def(receiver.receiver_tensors)}


def _build_export_graph(mode, receiver_fn, build_spec, config):
    """Builds one mode's graph from its receiver; returns it with its signatures."""
    graph = tf.Graph()
    with graph.as_default():
        if config.tf_random_seed is not None:
            tf.compat.v1.set_random_seed(config.tf_random_seed)
        tf.compat.v1.train.get_or_create_global_step()
        receiver = receiver_fn()
        if mode == ModeKeys.PREDICT:
            if not isinstance(receiver, (receivers.ServingInputReceiver, receivers.TensorServingInputReceiver)):
                raise TypeError(
                    "serving_input_receiver_fn must return a ServingInputReceiver or "
                    f"TensorServingInputReceiver, got {type_name(receiver)}"
                )
            labels = None
        else:
            if not isinstance(receiver, receivers.SupervisedInputReceiver):
                raise TypeError(
                    f"the receiver fn for mode {mode!r} must return a SupervisedInputReceiver, "
                    f"got {type_name(receiver)}"
                )
            labels = receiver.labels
        with tf.compat.v1.device(config.device_fn):
            spec = build_spec(receiver.features, labels, mode)
        if mode == ModeKeys.PREDICT:
            export_outputs = spec.export_outputs or {
                export_outputs_module.SERVING_DEFAULT: export_outputs_module.PredictOutput(spec.predictions)
            }
            signature_defs = export_outputs_module.build_signature_defs(
                export_outputs, receiver.receiver_tensors, receiver.receiver_tensors_alternatives
            )
        else:
            signature_defs = _supervised_signature(mode, spec, receiver)
            if mode == ModeKeys.TRAIN:
                graph.add_to_collection(tf.compat.v1.GraphKeys.TRAIN_OP, spec.train_op)
        saver = spec.scaffold.saver or checkpoints.build_saver(graph, sharded=True)
        main_op = tf.compat.v1.train.Scaffold.default_local_init_op()
    _log_signatures(signature_defs)
    return ExportGraph(graph, signature_defs, saver, main_op)


def export_modes(export_dir_base, receiver_fn_map, build_spec, config, checkpoint_path, assets_extra=None,
                 as_text=False):
    """Writes one SavedModel version with a MetaGraphDef for each mode of `receiver_fn_map`.

    Each mode's graph is built from its receiver fn and `build_spec`, checked
    against the checkpoint, and added with the tags `serve`, `train` or `eval`;
    the variables come from the checkpoint, saved once.

    Args:
      export_dir_base: directory holding the versions.
      receiver_fn_map: dict of `ModeKeys` value to a receiver fn.
      build_spec: callable `(features, labels, mode) -> EstimatorSpec`.
      config: the Estimator's `RunConfig`.
      checkpoint_path: the checkpoint whose variables are exported.
      assets_extra, as_text: as for `write_saved_model`.

    Returns:
      The path of the new version directory, as str.
    """
    _check_assets_extra(assets_extra)
    modes = [mode for mode in _VARIABLES_MODE_ORDER if mode in receiver_fn_map]
    graphs = {mode: _build_export_graph(mode, receiver_fn_map[mode], build_spec, config) for mode in modes}
    for export_graph in graphs.values():
        checkpoints.check_restorable(checkpoint_path, export_graph.graph)

    def write_into(directory):
        builder = tf.compat.v1.saved_model.Builder(directory)
        for position, mode in enumerate(modes):
            export_graph = graphs[mode]
            with export_graph.graph.as_default():
                if position == 0:
                    with tf.compat.v1.Session(config=session_config(config)) as session:
                        with checkpoints.reading_checkpoint(checkpoint_path):
                            export_graph.saver.restore(session, checkpoint_path)
                        _add_meta_graph(builder, session, _MODE_TAGS[mode], export_graph.signature_defs,
                                        export_graph.saver, export_graph.main_op)
                else:
                    _add_meta_graph(builder, None, _MODE_TAGS[mode], export_graph.signature_defs,
                                    export_graph.saver, export_graph.main_op)
        builder.save(as_text=as_text)

    return write_version(export_dir_base, write_into, assets_extra)
