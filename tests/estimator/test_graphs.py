"""Tests for the graphs a call runs in: the input graph and the model added to it."""
import numpy as np
import pytest
import tensorflow as tf

from kmeans_estimator.estimator import graphs
from kmeans_estimator.estimator.run_config import RunConfig
from kmeans_estimator.estimator.spec import ModeKeys


def test_refeed_replaces_the_fed_values_and_refuses_other_names():
    points = np.ones((300, 1000), np.float32)
    input_graph = graphs.build_input_graph(lambda: tf.constant(points), ModeKeys.TRAIN, RunConfig(), None)
    model = graphs.add_model(input_graph, lambda features, labels, mode: None, ModeKeys.TRAIN, RunConfig())
    (name, value), = model.feeds.items()
    np.testing.assert_array_equal(value, points)
    model.refeed({name: 2 * points})
    np.testing.assert_array_equal(input_graph.feeds[name], 2 * points)
    with pytest.raises(ValueError, match=r"refeed\(\) needs values for \['fed_constants/Const:0'\], got \['other:0'\]"):
        model.refeed({"other:0": points})
