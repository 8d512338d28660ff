"""Reading checkpoints and writing the graph files of a model directory.

Everything here treats the model directory in the layout tf.estimator used,
so TensorBoard, `tf.compat.v1.train.load_variable` and checkpoints written by
the original tf.estimator work unchanged.
"""
import collections
import contextlib
import hashlib
import os
import re
import weakref

import tensorflow as tf

# Constants larger than this are left out of graph.pbtxt and the .meta file:
# a training set captured with tf.constant would otherwise be re-serialized on
# every train() call (the original's main per-call cost).
MAX_WRITTEN_CONSTANT_BYTES = 1 << 20

GRAPH_FILENAME = "graph.pbtxt"
CHECKPOINT_PREFIX = "model.ckpt"

# graph.pbtxt files this process wrote: path -> (digest of the GraphDef, file size, mtime).
_WRITTEN_GRAPHS = {}


def latest_checkpoint(model_dir):
    """Returns the path of the newest checkpoint in `model_dir`, or None."""
    return tf.train.latest_checkpoint(model_dir) if model_dir else None


def checkpoint_named_by(path, argument):
    """The checkpoint `path` names: a directory's newest checkpoint, or `path` itself.

    Raises:
      ValueError: naming `argument`, if the directory holds no checkpoint or `path`
        is no checkpoint (it has no `.index` file).
    """
    if tf.io.gfile.isdir(path):
        found = tf.train.latest_checkpoint(path)
        if found is None:
            raise ValueError(f"{argument}={path!r} is a directory holding no checkpoint")
        return found
    if not tf.io.gfile.exists(path + ".index"):
        raise ValueError(f"{argument}={path!r} is neither a directory nor a checkpoint (no .index file)")
    return path


# The ops whose failure means the checkpoint's files could not be read.
_RESTORE_OP_TYPES = frozenset({"RestoreV2", "RestoreSlice", "Restore"})


@contextlib.contextmanager
def reading_checkpoint(checkpoint_path):
    """Turns a failed read of `checkpoint_path` into one error that names it.

    A truncated `.data` file makes the restore op fail with `OutOfRangeError: Read less
    bytes than requested`, a damaged `.index` with a `DataLossError` deep in TensorFlow.
    Both become a `tf.errors.DataLossError` naming the checkpoint; nothing is deleted and
    nothing re-initialized. Other errors, an input's end of sequence among them, pass.
    """
    try:
        yield
    except (tf.errors.OpError, IndexError) as error:
        if not checkpoint_path or not _is_unreadable_checkpoint(error):
            raise
        raise tf.errors.DataLossError(
            None, None,
            f"Checkpoint {checkpoint_path} is truncated or corrupt (reading it failed: "
            f"{_failure_reason(error)}). Nothing was deleted or re-initialized: restore its files, or "
            f"remove this checkpoint and name an earlier one in the `checkpoint` file",
        ) from error


def _failure_reason(error):
    """The first line of `error`'s message that says what went wrong.

    A failed session run's message starts "Graph execution error:", then names the node
    and where it was defined; the reason ("Read less bytes than requested") comes after.
    Header lines (ending in ':'), indented stack lines and the "Node:" line are skipped.
    """
    text = getattr(error, "message", None) or str(error)
    lines = [line for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.rstrip().endswith(":") or line[:1].isspace() or line.startswith("Node: "):
            continue
        return line.strip()
    return lines[0].strip() if lines else type(error).__name__


def _is_unreadable_checkpoint(error):
    """Whether a TensorFlow error says the checkpoint's files could not be read."""
    if isinstance(error, IndexError):  # How the checkpoint reader reports a short .data file.
        return "Read less bytes" in str(error)
    if isinstance(error, tf.errors.DataLossError):
        return True
    if isinstance(error, tf.errors.OutOfRangeError):  # Also how an input ends: only restores.
        return (error.op is not None and error.op.type in _RESTORE_OP_TYPES) or "RestoreV2" in error.message
    # The checkpoint reader reports a damaged .index file as a plain error.
    return type(error) in (tf.errors.OpError, tf.errors.UnknownError) and "sstable" in error.message


def checkpoint_global_step(checkpoint_path):
    """Returns the global step stored in a checkpoint, or 0 when there is none."""
    if not checkpoint_path:
        return 0
    with reading_checkpoint(checkpoint_path):
        reader = tf.train.load_checkpoint(checkpoint_path)
        if reader.has_tensor(tf.compat.v1.GraphKeys.GLOBAL_STEP):
            return int(reader.get_tensor(tf.compat.v1.GraphKeys.GLOBAL_STEP))
    return 0


# The `RestoreFallback`s of each graph, in the order registered (see `add_restore_fallback`).
# Not a graph collection: those are written into every .meta file, which cannot hold them.
_RESTORE_FALLBACKS = weakref.WeakKeyDictionary()


class RestoreFallback(collections.namedtuple("RestoreFallback", ["var_list", "after_restore"])):
    """Another layout of a graph's saved variables a checkpoint may hold, such as an earlier
    release's: a checkpoint without some of the variables' own names restores through it.

    Attributes:
      var_list: {checkpoint key: variable}, one entry for every variable the graph saves.
      after_restore: an op the restoring session runs once, right after restoring through
        `var_list` (to convert values to their present meaning), or None.
    """


def add_restore_fallback(fallback: RestoreFallback, graph: tf.Graph = None) -> None:
    """Registers `fallback` with `graph` (the default graph when None).

    The extension point for a model_fn whose variables were saved under other keys
    before: call it while building the graph, after creating the variables. Every Saver
    the Estimator builds for the graph, and the check before each restore, then accept a
    checkpoint that lacks keys of the graph's variables but holds all of `fallback`'s;
    fallbacks are tried in the order registered. A checkpoint holding every variable's
    own name always restores by those names.
    """
    graph = graph or tf.compat.v1.get_default_graph()
    missing = set(graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)) - set(fallback.var_list.values())
    if missing:
        raise ValueError(
            "add_restore_fallback(): var_list must hold every saved variable of the graph, "
            f"got none for {sorted(variable.op.name for variable in missing)}")
    _RESTORE_FALLBACKS.setdefault(graph, []).append(fallback)


def saved_variables(graph):
    """{checkpoint key: variable} of a graph's saved variables under their own names."""
    return {variable.op.name: variable for variable in graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)}


def _fallback_for(stored_keys, own_keys, fallbacks):
    """The first of `fallbacks` a checkpoint holding `stored_keys` fits, or None when it
    holds every one of `own_keys` (the saved variables' own names) or fits none."""
    if set(own_keys) <= set(stored_keys):
        return None
    for fallback in fallbacks:
        if set(fallback.var_list) <= set(stored_keys):
            return fallback
    return None


class FallbackSaver(tf.compat.v1.train.Saver):
    """A Saver of a graph's variables under their own names, restoring a checkpoint that
    lacks some of them through the graph's first `RestoreFallback` it fits.

    Args:
      fallbacks: the `RestoreFallback`s of the graph (`restore_fallbacks(graph)`).
      **saver_kwargs: passed to `tf.compat.v1.train.Saver` (its `var_list` must be None).
    """

    def __init__(self, *, fallbacks=(), **saver_kwargs):
        if saver_kwargs.get("var_list") is not None:
            raise ValueError(f"FallbackSaver saves the graph's variables: expected var_list None, got "
                             f"{saver_kwargs['var_list']!r}")
        super().__init__(**saver_kwargs)
        self._own_keys = set(saved_variables(tf.compat.v1.get_default_graph()))
        sharded = saver_kwargs.get("sharded", False)
        self._fallback_savers = [
            (fallback, tf.compat.v1.train.Saver(var_list=fallback.var_list, sharded=sharded))
            for fallback in fallbacks
        ]

    def restore(self, sess, save_path):
        """Restores `save_path` by the variables' names, or through the fallback it fits."""
        if save_path and self._fallback_savers:
            with reading_checkpoint(save_path):
                stored = {name for name, _ in tf.train.list_variables(save_path)}
            fallback = _fallback_for(stored, self._own_keys, [candidate for candidate, _ in self._fallback_savers])
            for candidate, saver in self._fallback_savers:
                if candidate is fallback:
                    saver.restore(sess, save_path)
                    if fallback.after_restore is not None:
                        sess.run(fallback.after_restore)
                    return
        super().restore(sess, save_path)


def restore_fallbacks(graph: tf.Graph) -> list:
    """The `RestoreFallback`s registered with `graph`, in order."""
    return list(_RESTORE_FALLBACKS.get(graph, ()))


def build_saver(graph: tf.Graph = None, **saver_kwargs) -> FallbackSaver:
    """A `FallbackSaver` of `graph` (the default graph when None) with its fallbacks."""
    graph = graph or tf.compat.v1.get_default_graph()
    with graph.as_default():
        return FallbackSaver(fallbacks=restore_fallbacks(graph), **saver_kwargs)


def check_restorable(checkpoint_path, graph):
    """Checks every saveable variable of `graph` is in the checkpoint with its shape.

    Run before a session restores, so a model rebuilt from different input
    (another feature dimension, another number of clusters) fails with a message
    naming the variable and both shapes instead of deep inside the restore op.
    A checkpoint lacking some variables' names is checked against the first
    `RestoreFallback` of the graph it holds every key of, as the restore reads it.

    Raises:
      tf.errors.NotFoundError: a variable is missing from the checkpoint.
      tf.errors.InvalidArgumentError: a variable's shape differs from the checkpoint's.
    """
    with reading_checkpoint(checkpoint_path):
        stored = dict(tf.train.list_variables(checkpoint_path))
    own = saved_variables(graph)
    fallback = _fallback_for(stored, own, restore_fallbacks(graph))
    wanted_variables = own if fallback is None else fallback.var_list
    for name, variable in wanted_variables.items():
        # The types of the errors TensorFlow's Saver raised for these in tf.estimator.
        if name not in stored:
            raise tf.errors.NotFoundError(
                None, None,
                f"Variable {name!r} of the model is not in checkpoint {checkpoint_path}; "
                f"the checkpoint holds {sorted(stored)}"
            )
        wanted = variable.shape
        if wanted.rank is not None and not wanted.is_compatible_with(stored[name]):
            raise tf.errors.InvalidArgumentError(
                None, None,
                f"Variable {name!r} has shape {list(stored[name])} in checkpoint "
                f"{checkpoint_path}, but the model built from this input needs shape "
                f"{wanted.as_list()}{_describe_difference(stored[name], wanted.as_list())}. "
                "Variable shapes follow from the input and the model's arguments; both must "
                "match those the checkpoint was trained with"
            )


def _describe_difference(stored_shape, wanted_shape):
    """Names the differing dimensions: ': dimension 1 is 2 in the checkpoint and 3 here'."""
    if len(stored_shape) != len(wanted_shape):
        return f": rank {len(stored_shape)} in the checkpoint and {len(wanted_shape)} here"
    differences = [
        f"dimension {axis} is {stored} in the checkpoint and {wanted} here"
        for axis, (stored, wanted) in enumerate(zip(stored_shape, wanted_shape))
        if wanted is not None and stored != wanted
    ]
    return ": " + ", ".join(differences)


def is_large_constant_op(op, max_bytes=MAX_WRITTEN_CONSTANT_BYTES):
    """Whether the operation `op` is a constant of more than `max_bytes`, judged by its
    shape and dtype, without reading its value out of the graph."""
    if op.type != "Const":
        return False
    output = op.outputs[0]
    num_elements = output.shape.num_elements()
    return num_elements is not None and num_elements * output.dtype.size > max_bytes


def has_large_constant(graph, max_bytes=MAX_WRITTEN_CONSTANT_BYTES):
    """Whether `graph` holds a constant of more than `max_bytes` (judged by shape and dtype)."""
    return any(is_large_constant_op(op, max_bytes) for op in graph.get_operations())


def is_large_constant(node, max_bytes=MAX_WRITTEN_CONSTANT_BYTES):
    """Whether the NodeDef `node` is a constant whose value takes more than `max_bytes`."""
    if node.op != "Const":
        return False
    value = node.attr["value"].tensor
    # The length of a numeric value's packed bytes is at hand, where ByteSize walks the value.
    return len(value.tensor_content) > max_bytes or value.ByteSize() > max_bytes


def make_placeholder(node):
    """Turns the Const NodeDef `node` into a Placeholder of its name, dtype and shape, in place."""
    dtype = node.attr["dtype"].type
    shape = node.attr["value"].tensor.tensor_shape
    node.op = "Placeholder"
    node.attr.clear()
    node.attr["dtype"].type = dtype
    node.attr["shape"].shape.CopyFrom(shape)


def strip_large_constants(graph_def, max_bytes=MAX_WRITTEN_CONSTANT_BYTES):
    """Returns a copy of `graph_def` whose constants over `max_bytes` became placeholders.

    The placeholder keeps the constant's name, dtype and shape, so the written
    graph still shows in TensorBoard and can be imported (the value must then be
    fed); only the bytes of the data are dropped.
    """
    stripped = tf.compat.v1.GraphDef()
    stripped.CopyFrom(graph_def)
    for node in stripped.node:
        if is_large_constant(node, max_bytes):
            make_placeholder(node)
    return stripped


class GraphFiles:
    """The `graph.pbtxt` text and `.meta` contents of one finished graph, made once.

    Each training call's checkpoint hook writes them; a graph kept for several calls
    (see `kept_sessions`) keeps one of these, so its GraphDef is serialized once.
    """

    def __init__(self, graph, saver):
        self._graph = graph
        self._saver = saver
        self._graph_def = None
        self._digest = None
        self._meta_graph = None
        self._graph_version = None

    def write(self, model_dir):
        """Writes `graph.pbtxt` (when it changed) and returns the serialized, stripped MetaGraphDef.

        Both are made again only when ops were added to the graph since they were made.
        """
        if self._graph_version != self._graph.version:
            self._graph_version = self._graph.version
            self._graph_def = strip_large_constants(self._graph.as_graph_def(add_shapes=True))
            self._digest = graph_digest(self._graph_def)
            self._meta_graph = tf.compat.v1.train.export_meta_graph(
                graph_def=self._graph_def, saver_def=self._saver.saver_def, graph=self._graph, clear_devices=False
            ).SerializeToString()
        write_graph_text(self._graph_def, model_dir, self._digest)
        return self._meta_graph

    @property
    def graph_def(self):
        """The stripped GraphDef last written (after `write`)."""
        return self._graph_def

    @property
    def digest(self):
        """The `graph_digest` of `graph_def`."""
        return self._digest


def write_graph_text(graph_def, model_dir, digest=None):
    """Writes `graph.pbtxt` unless this process wrote the same graph there and it is unchanged.

    Returns True when it wrote the file.

    Formatting a GraphDef as text is a large part of a short `train()` call on a k-means
    graph, for a file that is the same on every call of one Estimator. "The same"
    is judged by `graph_digest`, which ignores the numbers TensorFlow appends to the names
    of a graph's functions on every build. The text is protobuf's own C text encoder's
    (`str()` of the message, which `text_format.Parse` reads back to an equal GraphDef),
    much faster than the formatting of `tf.io.write_graph`.
    The file is replaced atomically, so a reader never sees half of it.
    """
    path = os.path.join(model_dir, GRAPH_FILENAME)
    digest = digest or graph_digest(graph_def)
    try:
        stat = os.stat(path)
        on_disk = (stat.st_size, stat.st_mtime_ns)
    except OSError:  # Missing, or not a local file: write it.
        on_disk = None
    if on_disk is not None and _WRITTEN_GRAPHS.get(path) == (digest,) + on_disk:
        return False
    tf.io.gfile.makedirs(model_dir)
    replace_file(path, str(graph_def), "w")
    try:
        stat = os.stat(path)
        _WRITTEN_GRAPHS[path] = (digest, stat.st_size, stat.st_mtime_ns)
    except OSError:
        _WRITTEN_GRAPHS.pop(path, None)
    return True


# What differs between two builds of one model's graph: the unique number TensorFlow
# appends to every function it adds (tf.cond branches, loop bodies, tf.function and
# tf.data functions: "in_halves_true_359" then "in_halves_true_986"; a one-shot
# iterator's dataset function gets a random one, "_make_dataset_6tm4QyWEu2E"), the order
# of the function library, and the token of each Python function a tf.data generator
# calls ("pyfunc_2" then "pyfunc_5").
_PY_FUNC_TOKEN = re.compile(r"pyfunc_\d+")
_UNIQUE_SUFFIX = re.compile(r"(?<=^_make_dataset)_[A-Za-z0-9_-]+$|_\d+$")


def graph_digest(graph_def):
    """A digest of `graph_def` that is the same for every build of the same model.

    Hashes the text form (protobuf's fast C encoder) with function names stripped of
    their unique number suffix and py_func tokens of their number, the functions in sorted
    order. Any other difference (an op, a shape, a constant, an attribute) changes it.
    """
    names = sorted({function.signature.name for function in graph_def.library.function},
                   key=len, reverse=True)
    name_pattern = re.compile("|".join(re.escape(name) for name in names)) if names else None

    def canonical_text(message):
        text = str(message)
        if name_pattern is not None:
            text = name_pattern.sub(lambda match: _UNIQUE_SUFFIX.sub("", match.group(0)), text)
        return _PY_FUNC_TOKEN.sub("pyfunc", text)

    nodes = tf.compat.v1.GraphDef()
    nodes.CopyFrom(graph_def)
    nodes.ClearField("library")
    parts = [canonical_text(nodes)]
    parts += sorted(canonical_text(function) for function in graph_def.library.function)
    parts += sorted(canonical_text(gradient) for gradient in graph_def.library.gradient)
    digest = hashlib.sha256()
    for part in parts:
        encoded = part.encode()
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()


def write_meta_graph(serialized_meta_graph, checkpoint_path):
    """Writes the `.meta` file that belongs to `checkpoint_path`, atomically.

    A reader sees the old file or the whole new one, never a partial one.
    """
    replace_file(checkpoint_path + ".meta", serialized_meta_graph, "wb")


def replace_file(path, contents, mode):
    """Writes `contents` to a temporary file beside `path`, then renames it onto `path`.

    A reader sees the old file or the whole new one; on failure the temporary file is
    removed and the old file, if any, stays as it was.
    """
    temporary = f"{path}.tmp{os.getpid()}"
    try:
        with tf.io.gfile.GFile(temporary, mode) as handle:
            handle.write(contents)
        tf.io.gfile.rename(temporary, path, overwrite=True)
    except BaseException:
        if tf.io.gfile.exists(temporary):
            tf.io.gfile.remove(temporary)
        raise


def checkpoint_prefix(model_dir):
    return os.path.join(model_dir, CHECKPOINT_PREFIX)
