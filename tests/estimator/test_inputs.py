"""Tests for calling input_fns, reading their results, and numpy_input_fn."""
import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from kmeans_estimator.estimator import inputs
from kmeans_estimator.estimator.inputs import (
    call_input_fn,
    numpy_input_fn,
    parse_input_fn_result,
)
from kmeans_estimator.estimator.spec import ModeKeys

SESSION_CONFIG = tf.compat.v1.ConfigProto(
    intra_op_parallelism_threads=1, inter_op_parallelism_threads=1
)


def read_all(input_fn, max_batches=None, seed=None):
    """Builds input_fn in a fresh graph and returns every (features, labels) batch."""
    with tf.Graph().as_default():
        if seed is not None:
            tf.compat.v1.set_random_seed(seed)
        features, labels, hooks = parse_input_fn_result(
            call_input_fn(input_fn, ModeKeys.TRAIN, None, None)
        )
        fetches = (features, labels) if labels is not None else (features,)
        creator = tf.compat.v1.train.ChiefSessionCreator(config=SESSION_CONFIG)
        batches = []
        with tf.compat.v1.train.MonitoredSession(session_creator=creator, hooks=hooks) as session:
            while not session.should_stop() and len(batches) != max_batches:
                batches.append(session.run(fetches))
    return batches


def build(input_fn):
    """Returns the parsed (features, labels, hooks) of input_fn in a fresh graph."""
    with tf.Graph().as_default():
        return parse_input_fn_result(call_input_fn(input_fn, ModeKeys.TRAIN, None, None))


# call_input_fn -------------------------------------------------------------


def test_input_fn_without_arguments_is_called_with_none():
    calls = []
    with tf.Graph().as_default():
        call_input_fn(lambda: calls.append("called"), ModeKeys.EVAL, {"a": 1}, "cfg")
    assert calls == ["called"]


@pytest.mark.parametrize(
    "input_fn, expected",
    [
        (lambda mode: {"mode": mode}, {"mode": "infer"}),
        (lambda params: {"params": params}, {"params": {"k": 2}}),
        (lambda config: {"config": config}, {"config": "cfg"}),
        (
            lambda config, mode, params: {"mode": mode, "params": params, "config": config},
            {"mode": "infer", "params": {"k": 2}, "config": "cfg"},
        ),
    ],
    ids=["mode", "params", "config", "all-any-order"],
)
def test_input_fn_receives_the_arguments_it_declares(input_fn, expected):
    with tf.Graph().as_default():
        assert call_input_fn(input_fn, ModeKeys.PREDICT, {"k": 2}, "cfg") == expected


def test_partial_input_fn_gets_only_arguments_it_does_not_bind():
    def input_fn(data, mode, params):
        return data, mode, params

    partial = functools.partial(input_fn, "rows", params={"bound": True})
    with tf.Graph().as_default():
        assert call_input_fn(partial, ModeKeys.TRAIN, {"given": True}, None) == (
            "rows",
            "train",
            {"bound": True},
        )


def test_callable_object_input_fn_receives_declared_arguments():
    class InputFn:
        def __call__(self, mode, config):
            return mode, config

    with tf.Graph().as_default():
        assert call_input_fn(InputFn(), ModeKeys.EVAL, None, "cfg") == ("eval", "cfg")


def test_optional_unknown_parameter_keeps_its_default():
    with tf.Graph().as_default():
        assert call_input_fn(lambda batch=4, **extra: (batch, extra), ModeKeys.TRAIN, None, None) == (4, {})


def test_required_unknown_parameter_is_an_error():
    with tf.Graph().as_default(), pytest.raises(TypeError, match=r"required parameter 'batch_size'"):
        call_input_fn(lambda mode, batch_size: None, ModeKeys.TRAIN, None, None)


def test_non_callable_input_fn_is_an_error():
    with tf.Graph().as_default(), pytest.raises(TypeError, match="input_fn must be callable, got list"):
        call_input_fn([1, 2], ModeKeys.TRAIN, None, None)


def test_unknown_mode_is_an_error():
    with tf.Graph().as_default(), pytest.raises(ValueError, match=r"mode must be one of .* got 'predict'"):
        call_input_fn(lambda: None, "predict", None, None)


def test_calling_outside_a_graph_is_an_error():
    with pytest.raises(RuntimeError, match="must run inside a graph"):
        call_input_fn(lambda: None, ModeKeys.TRAIN, None, None)


# parse_input_fn_result -----------------------------------------------------


def test_tensor_result_is_features_without_labels():
    features, labels, hooks = build(lambda: tf.constant([[1.0, 2.0]]))
    assert isinstance(features, tf.Tensor)
    assert labels is None
    assert hooks == []


def test_dict_result_is_features_without_labels():
    features, labels, hooks = build(lambda: {"a": tf.constant([1.0]), "b": tf.constant([2])})
    assert sorted(features) == ["a", "b"]
    assert labels is None
    assert hooks == []


@pytest.mark.parametrize("container", [tuple, list])
def test_pair_result_is_features_and_labels(container):
    features, labels, _ = build(lambda: container([{"a": tf.constant([1.0])}, tf.constant([0])]))
    assert list(features) == ["a"]
    assert isinstance(labels, tf.Tensor)


def test_pair_with_none_labels_has_no_labels():
    features, labels, _ = build(lambda: (tf.constant([1.0]), None))
    assert isinstance(features, tf.Tensor)
    assert labels is None


def test_sparse_tensor_features_pass_through():
    def input_fn():
        sparse = tf.SparseTensor(indices=[[0, 1]], values=[1.0], dense_shape=[2, 3])
        return {"sparse": sparse}, tf.constant([1, 0])

    features, _, _ = build(input_fn)
    assert isinstance(features["sparse"], tf.SparseTensor)


def test_dataset_of_tensors_is_read_through_the_hook():
    batches = read_all(lambda: tf.data.Dataset.from_tensor_slices([[1.0], [2.0], [3.0]]).batch(2))
    assert [batch[0].tolist() for batch in batches] == [[[1.0], [2.0]], [[3.0]]]


def test_dataset_of_features_and_labels_is_read_through_the_hook():
    def input_fn():
        return tf.data.Dataset.from_tensor_slices(({"x": [1.0, 2.0]}, [10, 20])).batch(2)

    [(features, labels)] = read_all(input_fn)
    assert features["x"].tolist() == [1.0, 2.0]
    assert labels.tolist() == [10, 20]


def test_dataset_result_returns_one_initializer_hook():
    _, _, hooks = build(lambda: tf.data.Dataset.range(3))
    assert len(hooks) == 1
    assert isinstance(hooks[0], tf.compat.v1.train.SessionRunHook)


@pytest.mark.parametrize(
    "result, error, message",
    [
        (None, TypeError, r"input_fn returned None; expected a Tensor, a dict of Tensors"),
        (np.zeros(3), TypeError, r"input_fn returned a numpy.ndarray; expected"),
        ("features", TypeError, r"input_fn returned a builtins.str; expected"),
        ([1, 2, 3], ValueError, r"input_fn returned a list of length 3; expected .*\(features, labels\) pair"),
        ((1,), ValueError, r"input_fn returned a tuple of length 1"),
        ({"a": np.zeros(2)}, TypeError, r"features\['a'\] that is a numpy.ndarray"),
        ({1: "tensor"}, TypeError, r"features with key 1; dict keys must be strings"),
    ],
)
def test_unusable_result_is_an_error(result, error, message):
    with pytest.raises(error, match=message):
        parse_input_fn_result(result)


def test_non_tensor_labels_are_an_error():
    message = r"returned labels that is a list of length 2; labels must be a Tensor"
    with tf.Graph().as_default(), pytest.raises(TypeError, match=message):
        parse_input_fn_result((tf.constant([1.0]), [0, 1]))


def test_tensor_from_another_graph_is_an_error():
    with tf.Graph().as_default():
        outside = tf.constant([1.0])
    with tf.Graph().as_default(), pytest.raises(ValueError, match=r"features\['x'\] built outside the graph"):
        parse_input_fn_result({"x": outside})


def test_eager_tensor_is_an_error():
    eager = tf.constant([1.0])
    with tf.Graph().as_default(), pytest.raises(ValueError, match="features built outside the graph"):
        parse_input_fn_result(eager)


def test_dataset_with_unusable_elements_is_an_error():
    with tf.Graph().as_default(), pytest.raises(ValueError, match="tuple of length 3"):
        parse_input_fn_result(tf.data.Dataset.from_tensors((1, 2, 3)))


# numpy_input_fn ------------------------------------------------------------


def rows_seen(batches, part=0, key=None):
    """Concatenates one part (features or labels, optionally one key) of all batches."""
    values = [batch[part] if key is None else batch[part][key] for batch in batches]
    return np.concatenate(values).tolist()


@pytest.mark.parametrize("shuffle", [None, False, True])
def test_every_row_is_seen_once_per_epoch(shuffle):
    batches = read_all(numpy_input_fn(np.arange(10), batch_size=3, num_epochs=2, shuffle=shuffle))
    seen = rows_seen(batches)
    assert sorted(seen[:10]) == list(range(10))
    assert sorted(seen[10:]) == list(range(10))
    if not shuffle:
        assert seen == list(range(10)) * 2


def test_shuffle_uses_a_new_order_every_epoch():
    batches = read_all(numpy_input_fn(np.arange(50), batch_size=50, num_epochs=2, shuffle=True))
    first, second = (batch[0].tolist() for batch in batches)
    assert first != list(range(50))
    assert first != second


def test_shuffle_order_is_reproducible_with_a_graph_seed():
    input_fn = numpy_input_fn(np.arange(20), batch_size=20, shuffle=True)
    assert rows_seen(read_all(input_fn, seed=5)) == rows_seen(read_all(input_fn, seed=5))


def test_dict_x_and_dict_y_rows_stay_aligned_when_shuffled():
    x = {"a": np.arange(7), "b": np.arange(7) * 10.0}
    y = {"label": np.arange(7) * 100}
    batches = read_all(numpy_input_fn(x, y, batch_size=2, shuffle=True))
    a, b, label = rows_seen(batches, 0, "a"), rows_seen(batches, 0, "b"), rows_seen(batches, 1, "label")
    assert sorted(a) == list(range(7))
    assert b == [10.0 * value for value in a]
    assert label == [100 * value for value in a]


def test_one_batch_of_all_rows_keeps_dict_rows_aligned_when_shuffled():
    x = {"a": np.arange(6), "b": np.arange(6) * 10.0}
    batches = read_all(numpy_input_fn(x, np.arange(6) * 100, batch_size=100, num_epochs=2, shuffle=True))
    assert len(batches) == 2
    for features, labels in batches:
        assert sorted(features["a"].tolist()) == list(range(6))
        assert features["b"].tolist() == [10.0 * value for value in features["a"]]
        assert labels.tolist() == [100 * value for value in features["a"]]


@pytest.mark.parametrize("layout", ["strided", "fortran", "offset"])
def test_one_batch_of_all_rows_reads_arrays_of_any_layout(layout):
    values = np.arange(40, dtype=np.float32).reshape(10, 4)
    array = {"strided": np.repeat(values, 2, axis=0)[::2], "fortran": np.asfortranarray(values),
             "offset": np.concatenate([[0.0], values.ravel()]).astype(np.float32)[1:].reshape(10, 4)}[layout]
    [batch] = read_all(numpy_input_fn(array, batch_size=10))
    np.testing.assert_array_equal(batch[0], values)


def test_array_y_is_returned_as_labels():
    [(features, labels)] = read_all(numpy_input_fn(np.eye(3), np.array([1, 2, 3]), batch_size=3))
    assert features.tolist() == np.eye(3).tolist()
    assert labels.tolist() == [1, 2, 3]


def test_without_y_the_dataset_yields_features_only():
    with tf.Graph().as_default():
        dataset = numpy_input_fn({"x": np.zeros((4, 2))})()
    assert isinstance(dataset.element_spec, dict)


def test_final_partial_batch_is_kept():
    batches = read_all(numpy_input_fn(np.arange(10), batch_size=4))
    assert [len(batch[0]) for batch in batches] == [4, 4, 2]


@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_handed_over_in_groups_keep_their_order_and_sizes(monkeypatch, shuffle):
    # Groups of 3 batches of 2 rows (16 bytes a row, x and y): 11 rows are groups of 3 and
    # 2 whole batches, then the short batch of 1 row.
    monkeypatch.setattr(inputs, "_GROUP_BYTES", 3 * 2 * 16)
    x = np.arange(11, dtype=np.int64)
    batches = read_all(numpy_input_fn(x, x * 10, batch_size=2, num_epochs=2, shuffle=shuffle), seed=3)
    assert [len(batch[0]) for batch in batches] == [2, 2, 2, 2, 2, 1] * 2
    seen = rows_seen(batches)
    assert rows_seen(batches, 1) == [10 * value for value in seen]
    assert sorted(seen[:11]) == sorted(seen[11:]) == list(range(11))
    if not shuffle:
        assert seen == list(range(11)) * 2


def test_num_epochs_none_keeps_going():
    batches = read_all(numpy_input_fn(np.arange(3), batch_size=2, num_epochs=None), max_batches=10)
    assert len(batches) == 10


def test_signature_has_dtypes_and_row_shapes_with_unknown_batch():
    with tf.Graph().as_default():
        dataset = numpy_input_fn({"a": np.zeros((5, 2, 3), np.float32)}, np.zeros(5, np.int32))()
    features, labels = dataset.element_spec
    assert features["a"] == tf.TensorSpec((None, 2, 3), tf.float32)
    assert labels == tf.TensorSpec((None,), tf.int32)


def test_unicode_strings_are_fed_as_bytes():
    [(features,)] = read_all(numpy_input_fn(np.array(["ab", "é"]), batch_size=2))
    assert features.tolist() == [b"ab", "é".encode("utf-8")]


def test_large_array_is_not_embedded_in_the_graph():
    with tf.Graph().as_default() as graph:
        parse_input_fn_result(numpy_input_fn(np.zeros(1_000_000, np.float32))())
    constant_sizes = [
        node.attr["value"].tensor.ByteSize()
        for node in graph.as_graph_def().node
        if node.op == "Const"
    ]
    assert max(constant_sizes, default=0) < 4096


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"batch_size": 0}, ValueError, r"batch_size must be a positive integer, got 0"),
        ({"batch_size": 2.0}, ValueError, r"batch_size must be a positive integer, got 2.0"),
        ({"num_epochs": 0}, ValueError, r"num_epochs must be a positive integer or None, got 0"),
        ({"queue_capacity": -1}, ValueError, r"queue_capacity must be a positive integer, got -1"),
        ({"num_threads": 0}, ValueError, r"num_threads must be a positive integer, got 0"),
        ({"shuffle": "yes"}, TypeError, r"shuffle must be True, False or None, got 'yes'"),
    ],
)
def test_invalid_numpy_input_fn_argument_is_rejected(kwargs, error, message):
    with pytest.raises(error, match=message):
        numpy_input_fn(np.arange(3), **kwargs)


@pytest.mark.parametrize(
    "x, y, error, message",
    [
        (None, None, TypeError, r"x must be a numpy array or a dict of numpy arrays, got None"),
        (np.zeros(0), None, ValueError, r"x must hold at least one row, got 0 rows"),
        ({}, None, ValueError, r"x must not be an empty dict"),
        (np.float64(3.0), None, ValueError, r"x must have at least one dimension"),
        ({"a": np.zeros(3), "b": np.zeros(4)}, None, ValueError, r"same length, got lengths \{'a': 3, 'b': 4\}"),
        (np.zeros(3), np.zeros(2), ValueError, r"y must have as many rows as x \(3\), got lengths \{'y': 2\}"),
        (np.zeros(3), {"l": np.zeros(4)}, ValueError, r"got lengths \{'l': 4\}"),
        ([[1, 2], [3]], None, TypeError, r"x must be convertible to a numpy array"),
        (np.array([object(), object()]), None, TypeError, r"x must hold numbers, booleans or strings, got numpy dtype object"),
        ({"a": np.zeros(2)}, {"l": [{}, {}]}, TypeError, r"y\['l'\] must hold numbers"),
        (np.array(["2024-01-01"], "datetime64[D]"), None, TypeError, r"got numpy dtype datetime64\[D\]"),
        ({1: np.zeros(2)}, None, TypeError, r"x keys must be strings, got 1"),
    ],
)
def test_unusable_numpy_data_is_rejected(x, y, error, message):
    with pytest.raises(error, match=message):
        numpy_input_fn(x, y)


# Memory of full-batch input: measured in a fresh process, whose allocator holds nothing yet.

_MEMORY_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
from kmeans_estimator.estimator import inputs

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))

def growth(input_fn, sessions=3):
    before = rss_mb()
    for _ in range(sessions):
        with tf.Graph().as_default():
            batch = tf.compat.v1.data.make_one_shot_iterator(input_fn()).get_next()
            total = tf.reduce_sum(batch[:, 0])
            with tf.compat.v1.Session() as session:
                session.run(total)
                session.run(total)
    return rss_mb() - before

points = np.ones((250_000 * 100 + 16,), np.float32)[4:250_000 * 100 + 4].reshape(250_000, 100)
ours = inputs.numpy_input_fn(points, batch_size=len(points), num_epochs=None)
spec = tf.TensorSpec(points.shape, tf.float32)
plain = lambda: tf.data.Dataset.from_generator(lambda: iter([points] * 2), output_signature=spec)
print(json.dumps({"ours": growth(ours), "plain": growth(plain), "mb": points.nbytes / 2**20}))
"""


def test_full_batch_input_is_not_copied_into_each_session():
    """An unaligned 95 MB array: one aligned copy up front, none per session or step."""
    repository = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    environment = dict(os.environ, PYTHONPATH=repository, TF_CPP_MIN_LOG_LEVEL="2")
    completed = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT], capture_output=True,
                               text=True, env=environment, cwd=repository, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    grown = json.loads(completed.stdout.strip().splitlines()[-1])
    assert grown["ours"] < 0.25 * grown["mb"], grown
    # What the alignment avoids: TensorFlow copies an unaligned array into every session.
    assert grown["plain"] > 0.8 * grown["mb"], grown
