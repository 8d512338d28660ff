"""Graph files of the model directory: graph.pbtxt is written only when it would change."""
import tensorflow as tf

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
