"""Graph files of the model directory (graph.pbtxt is written only when it would change), and
restoring checkpoints of an older layout through a graph's restore fallbacks."""
import os

import numpy as np
import pytest
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



def _save(path, values):
    """Writes a checkpoint of {key: value} to `path` (a prefix)."""
    with tf.Graph().as_default():
        saved = [tf.compat.v1.Variable(value, name=key, use_resource=True) for key, value in values.items()]
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return tf.compat.v1.train.Saver(saved).save(session, path)


def _graph_with_fallback():
    """A graph saving `count` and `total`, restoring an older layout where `count` was
    `old_count` and one less."""
    graph = tf.Graph()
    with graph.as_default():
        count = tf.compat.v1.get_variable("count", [], tf.int64, use_resource=True)
        total = tf.compat.v1.get_variable("total", [2], tf.float32, use_resource=True)
        plus_one = count.assign_add(1).op
        checkpoints.add_restore_fallback(checkpoints.RestoreFallback({"old_count": count, "total": total}, plus_one))
        saver = checkpoints.build_saver(sharded=True)
    return graph, count, total, saver


def _restored(checkpoint):
    graph, count, total, saver = _graph_with_fallback()
    checkpoints.check_restorable(checkpoint, graph)
    with tf.compat.v1.Session(graph=graph) as session:
        saver.restore(session, checkpoint)
        return session.run([count, total])


def test_a_checkpoint_of_an_older_layout_restores_through_the_fallback_and_converts(tmp_path):
    checkpoint = _save(str(tmp_path / "old"), {"old_count": np.int64(4), "total": np.array([1.0, 2.0], np.float32)})
    count, total = _restored(checkpoint)
    assert count == 5
    np.testing.assert_array_equal(total, [1.0, 2.0])


def test_a_checkpoint_of_the_variables_own_names_restores_by_them_unconverted(tmp_path):
    checkpoint = _save(str(tmp_path / "new"), {
        "count": np.int64(4), "total": np.array([1.0, 2.0], np.float32), "old_count": np.int64(9)})
    count, _ = _restored(checkpoint)
    assert count == 4


def test_a_checkpoint_fitting_no_layout_is_reported_by_its_missing_own_name(tmp_path):
    checkpoint = _save(str(tmp_path / "other"), {"count": np.int64(4)})
    graph, _, _, _ = _graph_with_fallback()
    with pytest.raises(tf.errors.NotFoundError, match=r"Variable 'total' of the model is not in checkpoint"):
        checkpoints.check_restorable(checkpoint, graph)


def test_a_fallback_must_name_every_saved_variable():
    with tf.Graph().as_default():
        count = tf.compat.v1.get_variable("count", [], tf.int64, use_resource=True)
        tf.compat.v1.get_variable("total", [2], tf.float32, use_resource=True)
        with pytest.raises(ValueError, match=r"var_list must hold every saved variable of the graph, got none for "
                                             r"\['total'\]"):
            checkpoints.add_restore_fallback(checkpoints.RestoreFallback({"old_count": count}, None))
