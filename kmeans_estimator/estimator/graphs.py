"""The graphs an Estimator call runs in: its input pipeline, built on the CPU with its large
constants fed (`fed_constants`), and the model added to it.

`estimator.Estimator` builds them; `calls` runs them.
"""
import collections
import contextlib

import tensorflow as tf

from kmeans_estimator.estimator import distributed, fed_constants, inputs
from kmeans_estimator.estimator.spec import ModeKeys


def _device_fn(config, mode):
    """The device function a graph for `mode` is built under.

    Training graphs of a cluster task without a `device_fn` of their own get
    `distributed.replica_device_fn`, so their variables live on the ps tasks.
    """
    if mode == ModeKeys.TRAIN and config.device_fn is None:
        return distributed.replica_device_fn(config)
    return config.device_fn


class ModelGraph:
    """A graph built for one mode: the input pipeline, the model, and what calls add.

    Attributes:
      graph: the `tf.Graph`.
      spec: the model_fn's `EstimatorSpec`.
      input_hooks: the hooks the input pipeline needs (dataset initializers).
      feeds: {tensor name: value} the input hooks feed when a dataset's iterator starts
        (`fed_constants`), read by them at that time; {} when none.
      prepared: per mode, the ops the `run_*` functions added to the graph, so that a
        graph kept for later calls (`kept_sessions`) gets them once.
    """

    def __init__(self, graph, spec, input_hooks, feeds=None):
        self.graph = graph
        self.spec = spec
        self.input_hooks = list(input_hooks)
        self.feeds = {} if feeds is None else feeds
        self.prepared = {}

    def refeed(self, feeds):
        """Makes the input hooks feed `feeds` from now on: the values of a later call whose
        input graph is this one's but for them (same names, dtypes and shapes)."""
        if set(feeds) != set(self.feeds):
            raise ValueError(f"refeed() needs values for {sorted(self.feeds)}, got {sorted(feeds)}")
        self.feeds.update(feeds)


InputGraph = collections.namedtuple("InputGraph", ["graph", "features", "labels", "input_hooks", "feeds"])


@contextlib.contextmanager
def _new_input_graph(mode, config):
    """A new graph, made the default, holding the global step (and the graph seed), inside
    the device scope input pipelines are built in."""
    graph = tf.Graph()
    device_fn = _device_fn(config, mode) if mode == ModeKeys.TRAIN else None
    with graph.as_default(), tf.compat.v1.device(device_fn):
        if config.tf_random_seed is not None:
            tf.compat.v1.set_random_seed(config.tf_random_seed)
        tf.compat.v1.train.get_or_create_global_step()
        with tf.device("/cpu:0"):
            yield graph


def build_input_graph(input_fn, mode, config, params):
    """Builds a new graph holding the global step and the input pipeline, on the CPU.

    A training graph's global step and input are built under the training device
    function, as tf.estimator built them: on a cluster, the global step goes to a ps
    task and the input to this task's CPU.

    An input holding large constants (a dataset's, or features that are constants) is
    built again, in a new graph where they are placeholders fed their values, `feeds`,
    when its iterator starts (`fed_constants`): the same batches from a graph without
    the data.

    Returns:
      An `InputGraph`; its labels are None in PREDICT mode, its feeds {} if none. The
      input hooks read that very feeds dict, which `ModelGraph.refeed` updates.
    """
    with _new_input_graph(mode, config) as graph:
        result = inputs.call_input_fn(input_fn, mode, params, config)
        rebuild = fed_constants.rebuild_feeding_constants(result)
        if rebuild is None:
            feeds = {}
            features, labels, input_hooks = inputs.parse_input_fn_result(result, feeds)
    if rebuild is not None:
        feeds = rebuild.feeds
        with _new_input_graph(mode, config) as graph:
            result = inputs.call_input_fn(rebuild.input_fn, mode, params, config)
            features, labels, input_hooks = inputs.parse_input_fn_result(result, feeds)
            if rebuild.name_outputs is not None:
                features, labels = rebuild.name_outputs(features, labels)
    if mode == ModeKeys.PREDICT:
        labels = None
    return InputGraph(graph, features, labels, list(input_hooks), feeds)


def add_model(input_graph, build_spec, mode, config):
    """Adds the model for `mode` to an `InputGraph`'s graph, under `config.device_fn`
    (and, for training on a cluster without one, the replica device setter).

    Args:
      input_graph: what `build_input_graph` returned.
      build_spec: callable `(features, labels, mode) -> EstimatorSpec`.
      mode: a `ModeKeys` value.
      config: the Estimator's `RunConfig`.

    Returns:
      A `ModelGraph`.
    """
    with input_graph.graph.as_default(), tf.compat.v1.device(_device_fn(config, mode)):
        spec = build_spec(input_graph.features, input_graph.labels, mode)
    return ModelGraph(input_graph.graph, spec, input_graph.input_hooks, input_graph.feeds)


def build_model_graph(build_spec, input_fn, mode, config, params):
    """Builds a new graph holding the input pipeline and the model for `mode`.

    The input pipeline is placed on the CPU, as tf.estimator did, and the model
    under `config.device_fn`.
    """
    return add_model(build_input_graph(input_fn, mode, config, params), build_spec, mode, config)
