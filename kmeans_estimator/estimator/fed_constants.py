"""Input pipelines built again with their large constants fed instead of held in the graph.

`tf.data.Dataset.from_tensor_slices(array)` (or `from_tensors`) writes `array` into the
graph as a constant: 80 MB of GraphDef for 200000 x 100 float32 points, which every new
session copies, and which keeps the graph from being kept for the next call
(`kept_sessions`). The same pipeline with those constants turned into placeholders, fed
their values when its iterator starts, reads the same batches from a small graph.
Features that are constants themselves (`lambda: tf.constant(points)`) are read the same
way, from a dataset of that one element, repeated.
"""
import collections
import itertools

import numpy as np
import tensorflow as tf

from kmeans_estimator.estimator import checkpoints, kept_sessions

_MAX_SEED = 2**31 - 1
# The name scope of the placeholders (and small constants) a rebuilt input of constant
# features is made of; the constants' own names go to what its iterator gives.
FED_SCOPE = "fed_constants"

# How to build an input again with its large constants fed: `input_fn` returns a dataset,
# `feeds` maps its placeholders' tensor names to their values, and `name_outputs`, None or
# a callable `(features, labels) -> (features, labels)`, is applied to what its iterator
# gives, in the same graph, before anything else is added to it.
Rebuild = collections.namedtuple("Rebuild", ["input_fn", "feeds", "name_outputs"])


def _holds_only_global_step(graph, step):
    """Whether the graph's collections hold nothing but its global step.

    Anything else there (queue runners, tables and their initializers, variables,
    summaries, control-flow contexts) is Python state its GraphDef does not carry.
    """
    step_keys = (tf.compat.v1.GraphKeys.GLOBAL_STEP, tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)
    return all(graph.get_collection(key) == ([step] if key in step_keys else [])
               for key in graph.get_all_collection_keys())


def _seeds_drawn(graph):
    """How many op seeds the default graph `graph`'s ops drew from its counter (0 without
    a graph seed); the count draws one more."""
    if graph.seed is None:
        return 0
    seeds = tf.compat.v1.get_seed(None)
    # get_seed hands out (0, 2**31 - 1) in place of (0, 0), which ops read as "no seed".
    return 0 if seeds == (0, _MAX_SEED) else seeds[1]


def _global_step_ops(graph, step):
    """The names of the ops the global step `step` was made of: the graph's first ops,
    made before anything of the input (a new graph made for the rebuild holds them too)."""
    return set(itertools.takewhile(
        lambda name: name == step.op.name or name.startswith(step.op.name + "/"),
        (op.name for op in graph.get_operations())))


def _source_name(node_input):
    """The node an input string of a NodeDef ('name', 'name:1', '^name') comes from."""
    return node_input.lstrip("^").split(":")[0]


def _placeholder_node(op):
    """A Placeholder NodeDef of the constant `op`'s name, device, dtype and static shape."""
    node = tf.compat.v1.NodeDef(name=op.name, op="Placeholder", device=op.device)
    node.attr["dtype"].type = op.outputs[0].dtype.as_datatype_enum
    node.attr["shape"].shape.CopyFrom(op.outputs[0].shape.as_proto())
    return node


def _constant_value(op):
    """The value of the constant `op` as a numpy array, read out of the graph once.

    A numeric value's packed bytes are viewed in place (read-only, as feeds only read
    them), where `tf.make_ndarray` would copy them once more.
    """
    value = op.get_attr("value")
    dtype = tf.as_dtype(value.dtype)
    # Each read of `tensor_content` copies the bytes: read it once.
    content = value.tensor_content
    if content and dtype.is_numeric and not dtype.is_quantized:
        shape = [dim.size for dim in value.tensor_shape.dim]
        return np.frombuffer(content, dtype=dtype.as_numpy_dtype).reshape(shape)
    return tf.make_ndarray(value)


def _refers_to_functions(node):
    return any(attr.func.name or attr.list.func for attr in node.attr.values())


def _graph_def_feeding_constants(graph):
    """`graph`'s GraphDef with its large constants as placeholders, and their values.

    The GraphDef is put together op by op, so that the large constants' values are read
    out of the graph once each, as values, and never serialized into a GraphDef. Only a
    graph whose ops call functions also takes its function library from its whole
    GraphDef.

    Returns:
      `(graph_def, values)`: `values` maps each placeholder's tensor name to the value.
    """
    graph_def = tf.compat.v1.GraphDef()
    graph_def.versions.CopyFrom(graph.graph_def_versions)
    values = {}
    for op in graph.get_operations():
        if checkpoints.is_large_constant_op(op):
            graph_def.node.append(_placeholder_node(op))
            values[op.outputs[0].name] = _constant_value(op)
        else:
            graph_def.node.append(op.node_def)
    if any(_refers_to_functions(node) for node in graph_def.node):
        graph_def.library.CopyFrom(graph.as_graph_def().library)
    return graph_def, values


def rebuild_feeding_constants(result):
    """How to build an input_fn's result again with its large constants fed; or None.

    Called in the graph the input_fn just built `result` in, a graph holding the global
    step, before anything else is added to it. Nothing is to be done (None) unless the
    graph holds a constant over `checkpoints.MAX_WRITTEN_CONSTANT_BYTES` and `result` is
    either a `tf.data.Dataset` of that graph or features and labels that are all
    constants (`_rebuild_constant_tensors`). The graph must also be one its GraphDef
    describes whole, or it is left as it is: its collections hold the global step only,
    no op or function calls Python, and no op of the input reads the global step.

    Args:
      result: what the input_fn returned.

    Returns:
      None, or a `Rebuild`. Its `input_fn`, called in a new graph made as the first one
      was (graph seed, then global step, before the input_fn), imports the first
      graph's other ops with their names and devices, the large constants turned into
      placeholders of the same name, dtype and shape, skips the random-seed counter
      past the op seeds the first graph's ops drew, and returns the same dataset. Its
      `feeds` map each placeholder's tensor name to the constant's value, to be fed
      when the dataset's iterator is initialized.
    """
    if not isinstance(result, tf.data.Dataset):
        return _rebuild_constant_tensors(result)
    graph = tf.compat.v1.get_default_graph()
    variant = tf.data.experimental.to_variant(result)
    # A dataset of another graph, or an eager one, is parse_input_fn_result's to reject.
    if getattr(variant, "graph", None) is not graph or not checkpoints.has_large_constant(graph):
        return None
    step = tf.compat.v1.train.get_global_step(graph)
    if not _holds_only_global_step(graph, step):
        return None
    graph_def, feeds = _graph_def_feeding_constants(graph)
    if kept_sessions.calls_python(graph_def):
        return None
    step_ops = _global_step_ops(graph, step)
    imported = tf.compat.v1.GraphDef()
    imported.versions.CopyFrom(graph_def.versions)
    imported.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        if node.name in step_ops:
            continue
        if any(_source_name(node_input) in step_ops for node_input in node.input):
            return None
        imported.node.append(node)
    # Op seeds drawn after a graph seed is set come from a counter of the graph; the
    # model's ops must draw the seeds they would draw in the first graph. The new graph
    # has drawn none when input_fn is called: the global step draws none.
    seeds_drawn = _seeds_drawn(graph)
    variant_name = variant.name
    element_spec = result.element_spec

    def input_fn():
        for _ in range(seeds_drawn):
            tf.compat.v1.get_seed(None)
        # The devices the ops got in the first graph, with no device function on top.
        with tf.compat.v1.device(None):
            imported_variant, = tf.graph_util.import_graph_def(imported, return_elements=[variant_name], name="")
        return tf.data.experimental.from_variant(imported_variant, element_spec)

    return Rebuild(input_fn, feeds, None)


def _rebuild_constant_tensors(result):
    """How to build features and labels that are constants again as a fed dataset; or None.

    `lambda: tf.constant(points)`, `{"x": tf.constant(points)}` or a `(features, labels)`
    pair of constants hand every step the same values. A dataset of that one element,
    repeated, does too, and its large constants can be placeholders fed when its
    iterator starts, so that the graph holds no data and can be kept for later calls.
    Nothing is to be done (None) unless every tensor of `result` is a constant without
    control inputs, one of them is over `checkpoints.MAX_WRITTEN_CONSTANT_BYTES`, and the
    graph holds nothing but those constants and the global step.

    Returns:
      None, or a `Rebuild` whose `input_fn` returns
      `tf.data.Dataset.from_tensors(result).repeat()`, `result` rebuilt with the same
      structure, dtypes and shapes: its small constants as constants of the same value,
      its large ones as placeholders fed their values, all under `FED_SCOPE`. Its
      `name_outputs` names what the iterator gives as the constants were named (an
      Identity each), so that a tensor fetched by name (`'Const:0'` in a hook, say)
      gives what it gave.
    """
    if isinstance(result, list):
        result = tuple(result)
    if isinstance(result, tuple) and len(result) == 2 and result[1] is None:
        result = result[0]
    try:
        components = tf.nest.flatten(result, expand_composites=True)
    except TypeError:
        return None
    graph = tf.compat.v1.get_default_graph()
    if not components or not all(
            isinstance(component, tf.Tensor) and getattr(component, "graph", None) is graph
            and component.op.type == "Const" and not component.op.control_inputs
            for component in components):
        return None
    constants = {component.op.name: component.op for component in components}
    large = [name for name, op in constants.items() if checkpoints.is_large_constant_op(op)]
    step = tf.compat.v1.train.get_global_step(graph)
    if not large or step is None or not _holds_only_global_step(graph, step):
        return None
    step_ops = _global_step_ops(graph, step)
    if any(op.name not in constants and op.name not in step_ops for op in graph.get_operations()):
        return None
    values = {name: _constant_value(op) for name, op in constants.items()}
    structure = result
    large_names = set(large)
    component_names = [component.op.name for component in components]
    paired = isinstance(structure, tuple)

    def input_fn():
        rebuilt = {}
        for name, op in constants.items():
            dtype, shape = op.outputs[0].dtype, op.outputs[0].shape
            fed_name = f"{FED_SCOPE}/{name}"
            if name in large_names:
                rebuilt[name] = tf.compat.v1.placeholder(dtype, shape, name=fed_name)
            else:
                rebuilt[name] = tf.constant(values[name], dtype, shape, name=fed_name)
        element = tf.nest.pack_sequence_as(
            structure, [rebuilt[name] for name in component_names], expand_composites=True)
        return tf.data.Dataset.from_tensors(element).repeat()

    def name_outputs(features, labels):
        element = (features, labels) if paired else features
        named = [tf.identity(tensor, name=name) for tensor, name in
                 zip(tf.nest.flatten(element, expand_composites=True), component_names)]
        element = tf.nest.pack_sequence_as(element, named, expand_composites=True)
        return element if paired else (element, None)

    return Rebuild(input_fn, {f"{FED_SCOPE}/{name}:0": values[name] for name in large}, name_outputs)
