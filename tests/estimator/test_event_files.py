"""Event files: the training graph goes in without its data, once per kept graph."""
import glob
import os

import numpy as np
import tensorflow as tf

import kmeans_estimator as ke


def graph_events(model_dir):
    graphs = []
    for path in glob.glob(os.path.join(model_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            if event.graph_def:
                graph_def = tf.compat.v1.GraphDef()
                graph_def.ParseFromString(event.graph_def)
                graphs.append(graph_def)
    return graphs


def test_the_graph_event_leaves_out_a_large_data_set(tmp_path):
    points = np.random.default_rng(0).normal(size=(20_000, 16)).astype(np.float32)  # 1.3 MB

    def input_fn():
        return tf.data.Dataset.from_tensor_slices(points).repeat().batch(256)

    model = ke.KMeans(4, model_dir=str(tmp_path), seed=1)
    for _ in range(3):
        model.train(input_fn, steps=2)
    events_bytes = sum(os.path.getsize(path) for path in glob.glob(str(tmp_path / "events.out.tfevents.*")))
    assert events_bytes < points.nbytes / 4
    graphs = graph_events(str(tmp_path))
    # The first call's graph is kept for the next two, so it is added once.
    assert len(graphs) == 1
    data_nodes = [node for node in graphs[0].node if node.op == "Placeholder"
                  and [dim.size for dim in node.attr["shape"].shape.dim] == [20_000, 16]]
    assert len(data_nodes) == 1


def test_evaluations_write_one_event_file(tmp_path):
    points = np.random.default_rng(1).normal(size=(50, 2)).astype(np.float32)
    model = ke.KMeans(3, model_dir=str(tmp_path), seed=1, use_mini_batch=False)
    model.train(lambda: tf.constant(points), steps=1)
    scores = [model.score(lambda: tf.constant(points)) for _ in range(3)]
    assert len(glob.glob(os.path.join(model.eval_dir(), "events.out.tfevents.*"))) == 1
    assert np.isfinite(scores).all()
