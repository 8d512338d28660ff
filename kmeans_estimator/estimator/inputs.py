"""From a user's input_fn to graph tensors: calling it, reading its result, numpy input.

Everything here runs while the Estimator builds a graph (tf.compat.v1 graph
mode); datasets become initializable iterators started by a session hook.
"""
import functools
import inspect
import uuid

import numpy as np
import tensorflow as tf

from kmeans_estimator.estimator import kept_sessions
from kmeans_estimator.estimator.checks import check_optional_positive_int, check_positive_int
from kmeans_estimator.estimator.spec import ModeKeys

_INPUT_FN_ARGS = ("mode", "params", "config")

_EXPECTED_RESULT = (
    "a Tensor, a dict of Tensors, a (features, labels) pair or a tf.data.Dataset "
    "whose elements are one of those"
)


def call_input_fn(input_fn, mode, params, config):
    """Calls `input_fn` with those of `mode`, `params` and `config` it declares.

    Must be called inside the graph being built (``with graph.as_default():``)
    so that the tensors or dataset it makes belong to that graph. Works for
    plain functions, `functools.partial` objects (arguments the partial
    already binds are not passed again) and callable objects.

    Args:
      input_fn: a callable whose parameters are a subset of `mode`, `params`,
        `config`; other parameters must have defaults.
      mode: a `ModeKeys` value.
      params: passed through when input_fn declares `params`.
      config: passed through when input_fn declares `config`.

    Returns:
      Whatever `input_fn` returns; read it with `parse_input_fn_result`.

    Raises:
      TypeError: if input_fn is not callable, cannot be inspected, or has a
        required parameter other than mode, params and config.
      ValueError: if mode is not a `ModeKeys` value.
      RuntimeError: if called under eager execution rather than in a graph.
    """
    if not callable(input_fn):
        raise TypeError(f"input_fn must be callable, got {type(input_fn).__name__}")
    if mode not in ModeKeys.ALL:
        raise ValueError(f"mode must be one of {list(ModeKeys.ALL)}, got {mode!r}")
    if tf.executing_eagerly():
        raise RuntimeError(
            "call_input_fn must run inside a graph (`with tf.Graph().as_default():`), "
            "but eager execution is active"
        )
    try:
        signature = inspect.signature(input_fn)
    except (TypeError, ValueError) as error:
        raise TypeError(f"input_fn's parameters cannot be inspected: {error}") from None
    bound_by_partial = (
        set(input_fn.keywords) if isinstance(input_fn, functools.partial) else set()
    )
    values = {"mode": mode, "params": params, "config": config}
    kwargs = {}
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name in _INPUT_FN_ARGS and name not in bound_by_partial:
            kwargs[name] = values[name]
        elif parameter.default is parameter.empty:
            raise TypeError(
                f"input_fn has a required parameter {name!r}; an input_fn may only "
                f"require {list(_INPUT_FN_ARGS)}"
            )
    return input_fn(**kwargs)


class _DatasetInitializerHook(tf.compat.v1.train.SessionRunHook):
    """Starts (and on every new session, restarts) a dataset iterator, feeding what the
    dict `feeds` holds then (a kept graph's feeds change from call to call)."""

    def __init__(self, iterator, feeds=None):
        self._initializer = iterator.initializer
        self._feeds = {} if feeds is None else feeds

    def after_create_session(self, session, coord):
        del coord  # The initializer runs once, synchronously; nothing to coordinate.
        session.run(self._initializer, feed_dict=dict(self._feeds) or None)


def _describe(value):
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of length {len(value)}"
    if value is None:
        return "None"
    return f"a {type(value).__module__}.{type(value).__name__}"


def _in_default_graph(tensor):
    try:
        return tensor.graph is tf.compat.v1.get_default_graph()
    except AttributeError:  # Eager tensors have no graph.
        return False


def _check_tensors(value, role):
    """Checks `value` is a Tensor, SparseTensor or dict of them (str keys)."""
    leaves = value.items() if isinstance(value, dict) else [(None, value)]
    for key, leaf in leaves:
        where = role if key is None else f"{role}[{key!r}]"
        if key is not None and not isinstance(key, str):
            raise TypeError(
                f"input_fn returned {role} with key {key!r}; dict keys must be strings"
            )
        if not isinstance(leaf, (tf.Tensor, tf.SparseTensor)):
            raise TypeError(
                f"input_fn returned {where} that is {_describe(leaf)}; {role} must be "
                "a Tensor, a SparseTensor or a dict of them"
            )
        if not _in_default_graph(leaf):
            raise ValueError(
                f"input_fn returned {where} built outside the graph being constructed; "
                "create tensors and datasets inside input_fn"
            )


def parse_input_fn_result(result, feeds=None):
    """Splits what an input_fn returned into features, labels and hooks.

    Accepted results: a Tensor (features, no labels); a dict of Tensors
    (features); a `(features, labels)` tuple or list whose labels may be None;
    or a `tf.data.Dataset` whose elements are any of these. Feature and label
    values may be Tensors or SparseTensors. A dataset is read through an
    initializable iterator, initialised by the returned hook after each
    session is created.

    Args:
      result: the value returned by `call_input_fn`.
      feeds: None, or {tensor name: value} to feed when a dataset's iterator is
        initialized (its large constants, see `fed_constants`); the dict itself is read
        then, so what it holds at that time is fed.

    Returns:
      A `(features, labels, hooks)` triple: features a Tensor or dict of
      Tensors, labels a Tensor, a dict of Tensors or None, hooks a list of
      `tf.compat.v1.train.SessionRunHook` the session must run with.

    Raises:
      TypeError: if result (or a dataset element) has none of the accepted
        shapes, or holds something other than Tensors.
      ValueError: if result is a sequence whose length is not 2, or holds
        tensors of another graph or eager tensors.
    """
    hooks = []
    value = result
    if isinstance(result, tf.data.Dataset):
        iterator = tf.compat.v1.data.make_initializable_iterator(result)
        hooks.append(_DatasetInitializerHook(iterator, feeds))
        value = iterator.get_next()
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(
                f"input_fn returned {_describe(value)}; expected {_EXPECTED_RESULT}"
            )
        features, labels = value
    elif isinstance(value, (dict, tf.Tensor, tf.SparseTensor)):
        features, labels = value, None
    else:
        raise TypeError(f"input_fn returned {_describe(value)}; expected {_EXPECTED_RESULT}")
    _check_tensors(features, "features")
    if labels is not None:
        _check_tensors(labels, "labels")
    return features, labels, hooks


def _as_column(value, name):
    """Returns `value` as a numpy array TensorFlow can hold, one row per example."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be convertible to a numpy array: {error}") from None
    if array.ndim == 0:
        raise ValueError(
            f"{name} must have at least one dimension (one row per example), "
            f"got a scalar of shape {array.shape}"
        )
    if array.dtype.kind == "U":
        array = np.char.encode(array, "utf-8")
    # Booleans, integers, floats, complex numbers and byte strings map onto TF dtypes.
    if array.dtype.kind not in "biufcS":
        raise TypeError(
            f"{name} must hold numbers, booleans or strings, got numpy dtype {array.dtype}"
        )
    return array


def _as_columns(value, name):
    """Returns (structure, {column name: array}) for an array or a dict of arrays."""
    if isinstance(value, dict):
        if not value:
            raise ValueError(f"{name} must not be an empty dict")
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"{name} keys must be strings, got {key!r}")
        columns = {key: _as_column(column, f"{name}[{key!r}]") for key, column in value.items()}
        return "dict", columns
    return "array", {name: _as_column(value, name)}


# Batches are handed from Python to TensorFlow in groups of about this many bytes: one
# generator call per group instead of per batch (a call costs about as much as a whole
# mini-batch k-means step).
_GROUP_BYTES = 8 << 20


# TensorFlow takes a numeric numpy array's memory as it is, without a copy, when the array
# is C-contiguous and starts on a 64-byte boundary (Eigen's alignment for AVX-512); it
# copies any other array into every session that reads it.
_TENSOR_ALIGNMENT = 64


def _aligned_empty(shape, dtype):
    """An uninitialized C-contiguous array whose data start on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    num_bytes = int(np.prod(shape)) * dtype.itemsize
    buffer = np.empty(num_bytes + _TENSOR_ALIGNMENT, dtype=np.uint8)
    offset = -buffer.ctypes.data % _TENSOR_ALIGNMENT
    return buffer[offset:offset + num_bytes].view(dtype).reshape(shape)


def _aligned(column):
    """`column` itself when TensorFlow can use its memory, else such a copy of it."""
    if column.dtype.kind == "S":  # Strings are converted by TensorFlow in any case.
        return column
    if column.flags.c_contiguous and column.ctypes.data % _TENSOR_ALIGNMENT == 0:
        return column
    copy = _aligned_empty(column.shape, column.dtype)
    copy[...] = column
    return copy


def _take_rows(column, rows):
    """Rows `rows` (a slice or an index array) of `column`, aligned when gathered."""
    if isinstance(rows, slice):
        return column[rows]
    if column.dtype.kind == "S":
        return np.take(column, rows, axis=0)
    # np.take gathers faster than fancy indexing; "clip" lets it write into
    # `out` directly (the default mode buffers), and the indices are valid anyway.
    out = _aligned_empty((len(rows),) + column.shape[1:], column.dtype)
    return np.take(column, rows, axis=0, out=out, mode="clip")


def _part_signature(structure, columns, grouped):
    specs = {
        key: tf.TensorSpec(shape=((None, None) if grouped else (None,)) + column.shape[1:],
                           dtype=tf.as_dtype(column.dtype))
        for key, column in columns.items()
    }
    return specs if structure == "dict" else next(iter(specs.values()))


def _element_signature(parts, grouped):
    """Spec of the generator's elements (see `_element`): rows `[rows, ...]`, or groups of
    batches `[batches, rows, ...]`."""
    signature = tuple(_part_signature(structure, columns, grouped) for structure, columns in parts)
    return signature if len(signature) == 2 else signature[0]


def _select_rows(structure, columns, rows, num_batches=None):
    """Rows `rows` of every column, as they are or reshaped to `[num_batches, rows per batch, ...]`."""
    selected = {}
    for key, column in columns.items():
        taken = _take_rows(column, rows)
        if num_batches is not None:
            taken = taken.reshape((num_batches, len(taken) // num_batches) + column.shape[1:])
        selected[key] = taken
    return selected if structure == "dict" else next(iter(selected.values()))


def _epoch_orders(seed, num_epochs, num_rows, shuffle):
    """Yields each epoch's order of the rows: a random permutation with shuffle, else None."""
    rng = np.random.default_rng(seed)
    epoch = 0
    while num_epochs is None or epoch < num_epochs:
        yield rng.permutation(num_rows) if shuffle else None
        epoch += 1


def _element(parts, rows, num_batches=None):
    """One generator element: the rows of the features, and of the labels when there are any."""
    element = tuple(_select_rows(structure, columns, rows, num_batches) for structure, columns in parts)
    return element if len(element) == 2 else element[0]


def numpy_input_fn(
    x,
    y=None,
    batch_size=128,
    num_epochs=1,
    shuffle=None,
    queue_capacity=1000,
    num_threads=1,
):
    """Returns an input_fn that feeds numpy arrays in batches through tf.data.

    The arrays are never written into the graph: the dataset reads them with
    `tf.data.Dataset.from_generator`, so their size is not bound by the 2 GB
    GraphDef limit. Numpy arrays are held by reference, not copied (unicode
    arrays are the exception: they are encoded to UTF-8 once, up front).

    With `batch_size` at least the number of rows (full-batch training, e.g.
    KMeans with `use_mini_batch=False`), every step reads the arrays' own
    memory: TensorFlow uses a numeric array without copying it when it is
    C-contiguous and starts on a 64-byte boundary, so an array that is not is
    copied once, here, into one that is. Without that copy, TensorFlow would
    copy the whole data set into every session (and its allocator would keep
    those copies), which raises peak memory by about the data set's size.
    Shuffled batches are gathered into aligned arrays as well, so TensorFlow
    does not copy them again.

    Batches hold `batch_size` rows, except the last of each epoch, which holds
    what is left. With shuffle, every epoch visits the rows in a new random
    order; the order is reproducible when the graph has a random seed (e.g.
    RunConfig's `tf_random_seed`) and varies between runs otherwise.

    Args:
      x: a numpy array (or anything `np.asarray` accepts) whose first
        dimension indexes examples, or a non-empty dict of str to such arrays,
        all of the same length. Unicode strings are fed as UTF-8 bytes.
      y: None, an array or a dict of arrays with as many rows as x.
      batch_size: positive int, rows per batch.
      num_epochs: positive int, passes over the data; None repeats forever.
      shuffle: True to shuffle each epoch. None (the default) and False keep
        the original order; tf.estimator required an explicit value, here
        None simply means no shuffling.
      queue_capacity: positive int, accepted for tf.estimator compatibility;
        sets how many rows (rounded up to whole batches) are prefetched.
      num_threads: positive int, accepted for tf.estimator compatibility and
        validated only: the generator runs on one thread so that the row
        order stays as described above.

    Returns:
      An input_fn taking no arguments that returns a `tf.data.Dataset` of
      `(features, labels)` pairs, or of features alone when y is None, where
      each is a Tensor or a dict of Tensors (batch dimension None).

    Raises:
      ValueError: if x is empty, columns differ in length, y's length differs
        from x's, or a numeric argument is out of range.
      TypeError: if x or y cannot become a numeric, boolean or string array,
        or shuffle is not a bool or None.
    """
    check_positive_int("batch_size", batch_size)
    check_optional_positive_int("num_epochs", num_epochs)
    check_positive_int("queue_capacity", queue_capacity)
    check_positive_int("num_threads", num_threads)
    if shuffle is not None and not isinstance(shuffle, bool):
        raise TypeError(f"shuffle must be True, False or None, got {shuffle!r}")
    if x is None:
        raise TypeError("x must be a numpy array or a dict of numpy arrays, got None")

    x_structure, x_columns = _as_columns(x, "x")
    lengths = {key: len(column) for key, column in x_columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"x's arrays must have the same length, got lengths {lengths}")
    num_rows = next(iter(lengths.values()))
    if num_rows == 0:
        raise ValueError("x must hold at least one row, got 0 rows")
    parts = [(x_structure, x_columns)]
    if y is not None:
        y_structure, y_columns = _as_columns(y, "y")
        y_lengths = {key: len(column) for key, column in y_columns.items()}
        if any(length != num_rows for length in y_lengths.values()):
            raise ValueError(
                f"y must have as many rows as x ({num_rows}), got lengths {y_lengths}"
            )
        parts.append((y_structure, y_columns))

    # Names this input_fn's arrays and settings, so that a graph it built may be kept.
    identity = f"numpy_input_fn-{uuid.uuid4().hex}"
    if batch_size >= num_rows:
        return _whole_input_fn(parts, num_epochs, shuffle, identity)
    signature = _element_signature(parts, grouped=True)
    prefetch_batches = -(-queue_capacity // batch_size)
    batch_bytes = batch_size * sum(
        column[:1].nbytes for _, columns in parts for column in columns.values())
    group_rows = batch_size * max(1, _GROUP_BYTES // max(batch_bytes, 1))

    def input_fn():
        seed = tf.compat.v1.get_default_graph().seed

        def groups():
            """Yields whole batches in groups, and an epoch's last short batch alone."""
            full_rows = num_rows - num_rows % batch_size
            for order in _epoch_orders(seed, num_epochs, num_rows, shuffle):
                for start in range(0, num_rows, group_rows):
                    stop = min(start + group_rows, full_rows) if start < full_rows else num_rows
                    rows = slice(start, stop) if order is None else order[start:stop]
                    yield _element(parts, rows, max(1, (stop - start) // batch_size))
                    if stop == full_rows and full_rows < num_rows:
                        rows = slice(full_rows, num_rows) if order is None else order[full_rows:]
                        yield _element(parts, rows, 1)
                        break

        with kept_sessions.same_python_input(f"{identity} seed={seed}"):
            dataset = tf.data.Dataset.from_generator(groups, output_signature=signature)
        return dataset.unbatch().prefetch(prefetch_batches)

    return input_fn


def _whole_input_fn(parts, num_epochs, shuffle, identity):
    """numpy_input_fn for a batch size of at least the number of rows: one batch per epoch.

    The arrays are aligned once, here, so that TensorFlow uses their memory in every
    session and every step instead of copying them; nothing is prefetched, which would
    hold a second shuffled copy.
    """
    parts = [(structure, {key: _aligned(column) for key, column in columns.items()})
             for structure, columns in parts]
    signature = _element_signature(parts, grouped=False)
    num_rows = len(next(iter(parts[0][1].values())))

    def input_fn():
        seed = tf.compat.v1.get_default_graph().seed

        def epochs():
            for order in _epoch_orders(seed, num_epochs, num_rows, shuffle):
                yield _element(parts, slice(None) if order is None else order)

        with kept_sessions.same_python_input(f"{identity} seed={seed}"):
            return tf.data.Dataset.from_generator(epochs, output_signature=signature)

    return input_fn
