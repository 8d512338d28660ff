"""Tests for the session options each Estimator call runs with."""
import os

import numpy as np
import tensorflow as tf

from kmeans_estimator.estimator import calls, checkpoints
from kmeans_estimator.estimator.run_config import RunConfig


def graph_with_constant(num_floats):
    graph = tf.Graph()
    with graph.as_default():
        tf.constant(np.zeros(num_floats, np.float32))
    return graph


def test_default_options_use_every_available_core():
    options = calls.session_config(RunConfig())
    cores = len(os.sched_getaffinity(0))
    assert options.intra_op_parallelism_threads == options.inter_op_parallelism_threads == cores
    assert options.allow_soft_placement


def test_graph_optimizer_is_switched_off_only_for_graphs_with_large_constants():
    limit = checkpoints.MAX_WRITTEN_CONSTANT_BYTES // 4
    small = calls.session_config(RunConfig(), graph_with_constant(limit))
    large = calls.session_config(RunConfig(), graph_with_constant(limit + 1))
    assert not small.graph_options.rewrite_options.disable_meta_optimizer
    assert large.graph_options.rewrite_options.disable_meta_optimizer


def test_given_session_config_is_used_as_it_is():
    given = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1)
    options = calls.session_config(
        RunConfig(session_config=given), graph_with_constant(2 * checkpoints.MAX_WRITTEN_CONSTANT_BYTES))
    assert options.intra_op_parallelism_threads == 1
    assert not options.graph_options.rewrite_options.disable_meta_optimizer


def test_has_large_constant_judges_by_shape_and_dtype():
    limit = checkpoints.MAX_WRITTEN_CONSTANT_BYTES
    assert not checkpoints.has_large_constant(graph_with_constant(limit // 4))
    assert checkpoints.has_large_constant(graph_with_constant(limit // 4 + 1))
