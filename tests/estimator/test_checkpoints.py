"""Graph files of the model directory: graph.pbtxt is written only when it would change."""
import os

import numpy as np
import tensorflow as tf
from google.protobuf import text_format

from kmeans_estimator.estimator import checkpoints


def _graph_def(num_columns):
    with tf.Graph().as_default() as graph:
        tf.compat.v1.get_variable("w", shape=[3, num_columns])
    return graph.as_graph_def()


def test_the_same_graph_is_written_once(tmp_path):
    assert checkpoints.write_graph_text(_graph_def(1), str(tmp_path))
    assert not checkpoints.write_graph_text(_graph_def(1), str(tmp_path))


def test_another_graph_replaces_the_file(tmp_path):
    checkpoints.write_graph_text(_graph_def(1), str(tmp_path))
    assert checkpoints.write_graph_text(_graph_def(2), str(tmp_path))
    assert "size: 2" in (tmp_path / checkpoints.GRAPH_FILENAME).read_text()


def test_a_deleted_or_edited_file_is_written_again(tmp_path):
    path = tmp_path / checkpoints.GRAPH_FILENAME
    checkpoints.write_graph_text(_graph_def(1), str(tmp_path))
    original = path.read_text()
    path.unlink()
    assert checkpoints.write_graph_text(_graph_def(1), str(tmp_path))
    assert path.read_text() == original
    path.write_text("edited by hand")
    assert checkpoints.write_graph_text(_graph_def(1), str(tmp_path))
    assert path.read_text() == original


def _graph_def_with_functions(branch_value=1.0):
    """A graph holding every kind of function TensorFlow numbers anew on each build: cond
    branches, a loop body, a compiled tf.function and a tf.data generator's py_func."""
    compiled = tf.function(lambda x: x * 2.0, jit_compile=True, autograph=False)
    with tf.Graph().as_default() as graph:
        dataset = tf.data.Dataset.from_generator(
            lambda: iter([np.ones(2, np.float32)]),
            output_signature=tf.TensorSpec([2], tf.float32))
        x = tf.compat.v1.data.make_one_shot_iterator(dataset).get_next()
        y = tf.cond(tf.reduce_sum(x) > 0, lambda: x + branch_value, lambda: x)
        _, z = tf.while_loop(lambda i, _: i < 3, lambda i, v: (i + 1, v * 2.0), (0, y))
        compiled(z)
    return graph.as_graph_def()


def test_rebuilding_a_graph_with_functions_is_the_same_graph(tmp_path):
    first, second = _graph_def_with_functions(), _graph_def_with_functions()
    assert first != second  # the function names and py_func tokens differ
    assert checkpoints.graph_digest(first) == checkpoints.graph_digest(second)
    assert checkpoints.write_graph_text(first, str(tmp_path))
    assert not checkpoints.write_graph_text(second, str(tmp_path))


def test_a_changed_function_body_is_another_graph(tmp_path):
    checkpoints.write_graph_text(_graph_def_with_functions(1.0), str(tmp_path))
    changed = _graph_def_with_functions(2.0)
    assert checkpoints.graph_digest(changed) != checkpoints.graph_digest(
        _graph_def_with_functions(1.0))
    assert checkpoints.write_graph_text(changed, str(tmp_path))


def test_the_written_text_parses_back_to_the_graph(tmp_path):
    graph_def = _graph_def_with_functions()
    checkpoints.write_graph_text(graph_def, str(tmp_path))
    text = (tmp_path / checkpoints.GRAPH_FILENAME).read_text()
    assert text_format.Parse(text, tf.compat.v1.GraphDef()) == graph_def
    assert os.listdir(tmp_path) == [checkpoints.GRAPH_FILENAME]  # no temporary file left

