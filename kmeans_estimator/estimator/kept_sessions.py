"""Graphs and sessions kept from one Estimator call for the next call of the same mode.

tf.estimator built a new graph and a new session for every call: on a small input,
building the k-means graph and creating its session were most of a `train()` call.
When the caller's input_fn builds the same input graph again, the model graph built
from it would be the same too (for an Estimator whose model_fn depends on nothing
else, see `Estimator.reuses_graphs`), so the call runs in the graph and session kept
from the last call of its mode instead.

What a kept session shares with a new one, and what it does not:
- Global variables come from the latest checkpoint of the model directory, restored
  at the start of every call that reuses the session, whoever wrote it (another
  process, another Estimator): the checkpoint on disk stays the truth.
- Local variables (metric accumulators, epoch counters of `limit_epochs`) and dataset
  iterators start afresh on every call, as in a new session.
- A reuse needs a checkpoint; without one the call builds and initializes as usual.
- Graphs holding queue runners (their queues close at the end of the input), Python
  functions (`py_func`, `Dataset.from_generator`: never judged equal, unless the input
  that made them vouches for them, see `same_python_input`), more than
  `MAX_KEPT_CONSTANT_BYTES` of constants, or, with `RunConfig.tf_random_seed` set,
  stateful random ops (a new graph would restart their sequence) are never kept.
  A dataset's large constants are no constants here: its pipeline is built with them
  fed (`fed_constants`). The digest that judges two builds equal covers their names,
  dtypes and shapes, not their values: a kept graph is fed the values of the call that
  uses it (`graphs.ModelGraph.refeed`), so a loop of calls on other data of the same
  shape keeps its graph too.
"""
import atexit
import collections
import contextlib
import hashlib
import itertools
import threading
import weakref

import tensorflow as tf

# Constants of a kept graph live in the graph and in its session: beyond this the memory
# kept per mode is not worth the graph building saved per call (other work dominates then).
MAX_KEPT_CONSTANT_BYTES = 16 << 20

# Words in the types of ops whose random state a rebuilt graph would restart and a kept
# session carries on (RandomUniform, ShuffleDataset, AnonymousSeedGenerator, ...);
# "Stateless*" ops have no such state.
_RANDOM_STATE_WORDS = ("Random", "Shuffle", "SeedGenerator", "Multinomial", "TruncatedNormal",
                       "StatefulUniform", "StatefulStandardNormal")
_PYTHON_FUNCTION_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
# The graph collection of "TOKEN IDENTITY" strings that `same_python_input` writes.
PYTHON_INPUTS_COLLECTION = "kmeans_estimator_same_python_inputs"


def _has_random_state(op_type):
    return not op_type.startswith("Stateless") and any(word in op_type for word in _RANDOM_STATE_WORDS)


def _function_names(attr_value):
    """Names of the functions an AttrValue refers to."""
    if attr_value.HasField("func"):
        return [attr_value.func.name]
    return [function.name for function in attr_value.list.func]


def _rename_functions(attrs, names):
    """Replaces function references in an attr map by their canonical names, in place."""
    for attr_value in attrs.values():
        if attr_value.HasField("func"):
            attr_value.func.name = names.get(attr_value.func.name, attr_value.func.name)
        for function in attr_value.list.func:
            function.name = names.get(function.name, function.name)


def _canonical_function_names(graph_def):
    """Maps each library function to `fn<i>`, numbered in order of first reference.

    TensorFlow gives every function a process-wide unique name, so two builds of one
    input pipeline name their tf.data functions differently; numbering them by where
    they are first used, walking the nodes in order, makes equal graphs equal.
    Returns None when the library holds a function nothing refers to.
    """
    library = {function.signature.name: function for function in graph_def.library.function}
    names = {}
    pending = collections.deque()

    def visit(nodes):
        for node in nodes:
            for key in sorted(node.attr):
                for name in _function_names(node.attr[key]):
                    if name in library and name not in names:
                        names[name] = f"fn{len(names)}"
                        pending.append(name)

    visit(graph_def.node)
    while pending:
        visit(library[pending.popleft()].node_def)
    return names if len(names) == len(library) else None


def _python_nodes(graph_def):
    """The nodes of `graph_def` and of its function library that call Python."""
    functions = graph_def.library.function
    nodes = itertools.chain(graph_def.node, (node for function in functions for node in function.node_def))
    return [node for node in nodes if node.op in _PYTHON_FUNCTION_OPS]


def calls_python(graph_def):
    """Whether an op of `graph_def` or of its function library calls Python (`py_func`,
    `Dataset.from_generator`): such an op runs a callable its GraphDef does not hold."""
    return bool(_python_nodes(graph_def))


@contextlib.contextmanager
def same_python_input(identity):
    """Vouches for the Python functions the block adds to the default graph: any build
    of an input under the same `identity` string runs callables that behave the same.

    The input functions of this package that read numpy arrays through Python
    generators say so, naming the arrays and settings they were made with, so that their
    graphs may be kept (see `input_digest`); the generator starts afresh with each
    iterator, as in a new graph. Nothing else is vouched for.
    """
    graph = tf.compat.v1.get_default_graph()
    before = {node.attr["token"].s for node in _python_nodes(graph.as_graph_def())}
    yield
    for node in _python_nodes(graph.as_graph_def()):
        token = node.attr["token"].s
        if token not in before:
            graph.add_to_collection(PYTHON_INPUTS_COLLECTION, f"{token.decode()} {identity}")


def _vouch(nodes, vouched):
    """Replaces the token of each Python function node by the identity vouched for it."""
    for node in nodes:
        if node.op in _PYTHON_FUNCTION_OPS:
            node.attr["token"].s = vouched[node.attr["token"].s.decode()].encode()


def input_digest(graph_def, features, labels, feeds=None, python_inputs=()):
    """A digest of an input pipeline's graph, of the values it is fed and of the tensors
    it hands the model.

    Equal for two builds of the same pipeline in new graphs, whatever names TensorFlow
    gave their functions, and whatever values it is fed; any other difference (an op, an
    attribute, a constant's value, a fed value's dtype or shape, a feature's name)
    changes it. Returns None for pipelines that are never
    kept: with Python functions no input vouched for, gradient functions or unreferenced
    library functions.

    Args:
      graph_def: the input graph's GraphDef.
      features: the features the pipeline hands the model.
      labels: its labels, or None.
      feeds: None, or {tensor name: numpy array} the pipeline is fed when its iterator
        starts (`fed_constants`); their names, dtypes and shapes count, not their values.
      python_inputs: the graph's `PYTHON_INPUTS_COLLECTION`; a pipeline whose every
        Python function is vouched for there is digested with their identities.
    """
    vouched = dict(entry.split(" ", 1) for entry in python_inputs)
    if graph_def.library.gradient or any(
            node.attr["token"].s.decode() not in vouched for node in _python_nodes(graph_def)):
        return None
    names = _canonical_function_names(graph_def)
    if names is None:
        return None
    digest = hashlib.sha256()

    def add(data):
        digest.update(memoryview(data).nbytes.to_bytes(8, "little"))
        digest.update(data)

    for node in graph_def.node:
        copy = type(node)()
        copy.CopyFrom(node)
        _rename_functions(copy.attr, names)
        _vouch([copy], vouched)
        add(copy.SerializeToString(deterministic=True))
    library = {function.signature.name: function for function in graph_def.library.function}
    for name in sorted(names, key=lambda original: int(names[original][2:])):
        function = type(library[name])()
        function.CopyFrom(library[name])
        function.signature.name = names[name]
        for node in function.node_def:
            _rename_functions(node.attr, names)
        _vouch(function.node_def, vouched)
        add(function.SerializeToString(deterministic=True))
    for name, value in sorted((feeds or {}).items()):
        add(f"{name} {value.dtype.str} {value.shape}".encode())
    digest.update(repr(_tensor_names(features)).encode())
    digest.update(repr(_tensor_names(labels)).encode())
    return digest.hexdigest()


def _tensor_names(value):
    if value is None:
        return None
    if isinstance(value, dict):
        return sorted((key, _tensor_names(tensor)) for key, tensor in value.items())
    if isinstance(value, tf.SparseTensor):
        return ("sparse", value.indices.name, value.values.name, value.dense_shape.name)
    return value.name


def reusable(graph, config):
    """Whether a graph may be kept for later calls (see the module's docs).

    Asked of the input graph before its digest is taken, and of the finished graph.
    """
    if graph.get_collection(tf.compat.v1.GraphKeys.QUEUE_RUNNERS):
        return False
    constant_bytes = 0
    for op in graph.get_operations():
        if op.type in _PYTHON_FUNCTION_OPS:
            return False
        if config.tf_random_seed is not None and _has_random_state(op.type):
            return False
        if op.type == "Const":
            elements = op.outputs[0].shape.num_elements()
            constant_bytes += (elements or 0) * op.outputs[0].dtype.size
    if constant_bytes > MAX_KEPT_CONSTANT_BYTES:
        return False
    # After the constants: the GraphDef this reads holds their data.
    return config.tf_random_seed is None or not _functions_have_random_state(graph)


def _functions_have_random_state(graph):
    library = graph.as_graph_def().library
    return any(_has_random_state(node.op) for function in library.function for node in function.node_def)


class _KeptSession(tf.compat.v1.Session):
    """A `tf.compat.v1.Session` whose `close` leaves it open.

    MonitoredSession closes the session of every call it ends; a kept one is closed by
    its keeper (`close_for_good`). The kept session becomes one of these by a change of
    class, so that it stays the very Session TensorFlow made (Savers and hooks check the
    type) and no session logic is copied here.
    """

    def close(self):
        pass

    def close_for_good(self):
        super().close()


class KeepingSessionCreator(tf.compat.v1.train.SessionCreator):
    """Creates a session with `creator` and hands it to `kept`, which closes it later."""

    def __init__(self, creator, kept):
        self._creator = creator
        self._kept = kept

    def create_session(self):
        session = self._creator.create_session()
        if type(session) is tf.compat.v1.Session:
            session.__class__ = _KeptSession
            self._kept.replace_session(session)
        return session


class RestoringSessionCreator(tf.compat.v1.train.SessionCreator):
    """Hands out `kept`'s session with `checkpoint_path` restored and local state reset."""

    def __init__(self, kept, saver, checkpoint_path, local_init_op):
        self._kept = kept
        self._saver = saver
        self._checkpoint_path = checkpoint_path
        self._local_init_op = local_init_op

    def create_session(self):
        # MonitoredSession un-finalizes a graph it did not find final when it closes; a
        # kept graph is final while each call runs, as a new one would be.
        self._kept.model.graph.finalize()
        session = self._kept.session
        self._saver.restore(session, self._checkpoint_path)
        if self._local_init_op is not None:
            session.run(self._local_init_op)
        return session


class KeptGraph:
    """One mode's graph as the keeper holds it: the model, what calls added, the session.

    Attributes:
      model: the call's `graphs.ModelGraph`.
      digest: the `input_digest` its input pipeline had.
      session: the raw `tf.compat.v1.Session` of its last call, or None.
      checked_checkpoint: the checkpoint path last checked restorable into the graph.
    """

    def __init__(self, model, digest):
        self.model = model
        self.digest = digest
        self.session = None
        self.checked_checkpoint = None
        self._busy = False
        self._dropped = False

    def replace_session(self, session):
        if self.session is not None:
            self.session.close_for_good()
        self.session = session


class GraphKeeper:
    """The graphs one Estimator keeps: at most one per mode, used by one call at a time.

    A call takes a kept graph with `take`, or keeps its new one with `keep`; it gives it
    back with `release` when it ended normally, or `discard` when it failed (the session
    then closes: its state is unknown). A graph taken by a call that has not ended (an
    unfinished `predict` generator, another thread) is never handed to a second call.
    """

    def __init__(self):
        self._kept = {}
        self._lock = threading.Lock()
        _KEEPERS.add(self)

    def close(self):
        """Closes the sessions of every kept graph that no call is using, and forgets them all."""
        with self._lock:
            kept, self._kept = list(self._kept.values()), {}
        for graph in kept:
            self._drop(graph)

    def take(self, mode, digest):
        """The kept graph of `mode` built from an input with `digest`, marked busy; or None."""
        with self._lock:
            kept = self._kept.get(mode)
            if kept is None or kept._busy or digest is None or kept.digest != digest:
                return None
            kept._busy = True
            return kept

    def keep(self, mode, model, digest):
        """Keeps `model` (busy) for `mode` in place of the graph kept so far."""
        kept = KeptGraph(model, digest)
        kept._busy = True
        with self._lock:
            previous = self._kept.get(mode)
            self._kept[mode] = kept
        if previous is not None:
            self._drop(previous)
        return kept

    def release(self, kept):
        with self._lock:
            kept._busy = False
            dropped = kept._dropped
        if dropped:
            kept.replace_session(None)

    def discard(self, kept):
        with self._lock:
            for mode, held in list(self._kept.items()):
                if held is kept:
                    del self._kept[mode]
        kept._busy = False
        kept.replace_session(None)

    def _drop(self, kept):
        with self._lock:
            kept._dropped = True
            busy = kept._busy
        if not busy:
            kept.replace_session(None)


# Every keeper, so that kept sessions close while Python still runs: the Python generators
# of an input (`Dataset.from_generator`) cannot be finalized once the interpreter is gone.
_KEEPERS = weakref.WeakSet()


@atexit.register
def _close_kept_sessions():
    for keeper in list(_KEEPERS):
        keeper.close()
