"""Datasets holding large constants: built again with the constants fed, the same batches."""
import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke
from kmeans_estimator.estimator import checkpoints, graphs
from kmeans_estimator.estimator.spec import ModeKeys

SEED = 5
# 300 x 1000 float32 is 1.2 MB, just over checkpoints.MAX_WRITTEN_CONSTANT_BYTES.
POINTS = np.random.default_rng(0).normal(size=(300, 1000)).astype(np.float32)
LABELS = np.arange(300, dtype=np.int64) % 7
SESSION_CONFIG = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)

PIPELINES = {
    "shuffled batches": lambda: tf.data.Dataset.from_tensor_slices(POINTS).shuffle(100).repeat().batch(32),
    "one whole tensor": lambda: tf.data.Dataset.from_tensors(POINTS).repeat(),
    "float64 and float16 columns": lambda: (tf.data.Dataset.from_tensor_slices(
        (POINTS.astype(np.float64), POINTS.astype(np.float16))).repeat().batch(64)),
    "mapped pairs": lambda: (tf.data.Dataset.from_tensor_slices(({"x": POINTS}, LABELS)).repeat()
                             .map(lambda features, label: ({"x": 2 * features["x"]}, label + 1)).batch(50)),
}


def read_input_graph(input_graph, count):
    """`count` (features, labels) batches of an `InputGraph`, read in a session with its
    input hooks; labels are None when it has none."""
    fetches = {"features": input_graph.features}
    if input_graph.labels is not None:
        fetches["labels"] = input_graph.labels
    with input_graph.graph.as_default():
        creator = tf.compat.v1.train.ChiefSessionCreator(config=SESSION_CONFIG)
        with tf.compat.v1.train.MonitoredSession(session_creator=creator, hooks=input_graph.input_hooks) as session:
            batches = [session.run(fetches) for _ in range(count)]
    return [(batch["features"], batch.get("labels")) for batch in batches]


def read_plainly(input_fn, count):
    """`count` batches of `input_fn`'s dataset, read in a plain session of a seeded graph."""
    with tf.Graph().as_default():
        tf.compat.v1.set_random_seed(SEED)
        dataset = input_fn()
        iterator = tf.compat.v1.data.make_initializable_iterator(dataset)
        element = iterator.get_next()
        with tf.compat.v1.Session(config=SESSION_CONFIG) as session:
            session.run(iterator.initializer)
            batches = [session.run(element) for _ in range(count)]
    return [batch if isinstance(batch, tuple) else (batch, None) for batch in batches]


def build(input_fn):
    return graphs.build_input_graph(input_fn, ModeKeys.TRAIN, ke.RunConfig(tf_random_seed=SEED), None)


def unfed(input_fn):
    """`input_fn` with something in a graph collection: its graph must then be left as it is."""
    def with_collection():
        tf.compat.v1.add_to_collection("unrelated", 0)
        return input_fn()

    return with_collection


def assert_same_batches(mine, theirs):
    assert len(mine) == len(theirs)
    for batch, expected in zip(mine, theirs):
        tf.nest.map_structure(np.testing.assert_array_equal, batch, expected)


@pytest.mark.parametrize("pipeline", sorted(PIPELINES))
def test_fed_constants_give_the_batches_of_the_original_dataset(pipeline):
    input_fn = PIPELINES[pipeline]
    input_graph = build(input_fn)
    assert input_graph.feeds
    assert_same_batches(read_input_graph(input_graph, 12), read_plainly(input_fn, 12))


def test_the_input_graph_holds_placeholders_instead_of_the_constant():
    input_graph = build(PIPELINES["shuffled batches"])
    assert not checkpoints.has_large_constant(input_graph.graph)
    (name, value), = input_graph.feeds.items()
    placeholder = input_graph.graph.get_tensor_by_name(name)
    assert placeholder.op.type == "Placeholder"
    assert placeholder.dtype == tf.float32 and placeholder.shape == POINTS.shape
    np.testing.assert_array_equal(value, POINTS)


def test_feeding_changes_no_name_and_no_op_seed_of_what_comes_after():
    """The model's ops draw the op seeds, and get the names, they would get unfed."""
    graphs = [build(PIPELINES["mapped pairs"]), build(unfed(PIPELINES["mapped pairs"]))]
    assert graphs[0].feeds and not graphs[1].feeds
    seeds = []
    for input_graph in graphs:
        with input_graph.graph.as_default():
            seeds.append((tf.compat.v1.get_seed(None), tf.random.uniform([1]).name))
    assert seeds[0] == seeds[1]
    names = [[tensor.name for tensor in tf.nest.flatten((graph.features, graph.labels))] for graph in graphs]
    assert names[0] == names[1]


def test_an_estimator_predicts_the_batches_of_the_original_dataset(tmp_path):
    def model_fn(features, mode):
        return ke.EstimatorSpec(mode, predictions=features)

    def input_fn():
        return PIPELINES["shuffled batches"]().take(10)

    estimator = ke.Estimator(model_fn, model_dir=str(tmp_path), config=ke.RunConfig(tf_random_seed=SEED))
    predicted = list(estimator.predict(input_fn, yield_single_examples=False))
    assert_same_batches(predicted, [features for features, _ in read_plainly(input_fn, 10)])


def test_a_small_constant_stays_in_the_graph():
    small = POINTS[:200]
    input_graph = build(lambda: tf.data.Dataset.from_tensor_slices(small).batch(50))
    assert input_graph.feeds == {}
    assert any(op.type == "Const" and op.outputs[0].shape == small.shape
               for op in input_graph.graph.get_operations())


def _generated_labels():
    labels = tf.data.Dataset.from_generator(lambda: iter(LABELS), output_signature=tf.TensorSpec([], tf.int64))
    return tf.data.Dataset.zip((tf.data.Dataset.from_tensor_slices(POINTS), labels)).batch(40)


def _looked_up_labels():
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(LABELS, -LABELS), default_value=0)
    dataset = tf.data.Dataset.from_tensor_slices((POINTS, LABELS))
    return dataset.map(lambda x, label: (x, table.lookup(label))).batch(40)


def _skipped_by_the_global_step():
    skipped = tf.compat.v1.train.get_global_step().read_value()
    return tf.data.Dataset.from_tensor_slices((POINTS, LABELS)).skip(skipped).batch(40)


@pytest.mark.parametrize("input_fn", [_generated_labels, _looked_up_labels, _skipped_by_the_global_step])
def test_graphs_their_graph_def_does_not_describe_whole_are_left_alone(input_fn):
    input_graph = build(input_fn)
    assert input_graph.feeds == {}
    assert checkpoints.has_large_constant(input_graph.graph)
    (x, labels), = read_input_graph(input_graph, 1)
    np.testing.assert_array_equal(x, POINTS[:40])
    expected = -LABELS[:40] if input_fn is _looked_up_labels else LABELS[:40]
    np.testing.assert_array_equal(labels, expected)


CONSTANT_RESULTS = {
    "a tensor": lambda: tf.constant(POINTS),
    "a dict and labels": lambda: ({"x": tf.constant(POINTS)}, tf.constant(LABELS)),
    "a list, labels None": lambda: [tf.convert_to_tensor(POINTS), None],
}


@pytest.mark.parametrize("result", sorted(CONSTANT_RESULTS))
def test_constant_features_become_a_fed_dataset_giving_the_same_values_every_step(result):
    input_graph = build(CONSTANT_RESULTS[result])
    assert list(input_graph.feeds) == ["fed_constants/Const:0"]
    assert not checkpoints.has_large_constant(input_graph.graph)
    features = input_graph.features["x"] if isinstance(input_graph.features, dict) else input_graph.features
    # Named as the constant was: a hook fetching "Const:0" gets what it got.
    assert features.name == "Const:0"
    assert features.shape == POINTS.shape and features.dtype == tf.float32
    reads = read_input_graph(input_graph, 3)
    for read_features, read_labels in reads:
        if isinstance(read_features, dict):
            read_features = read_features["x"]
        np.testing.assert_array_equal(read_features, POINTS)
        if result == "a dict and labels":
            np.testing.assert_array_equal(read_labels, LABELS)
        else:
            assert read_labels is None


def test_sparse_constant_features_keep_their_indices_values_and_shape():
    indices = np.stack([np.arange(POINTS.size) // 1000, np.arange(POINTS.size) % 1000], axis=1).astype(np.int64)

    def sparse_input():
        return {"x": tf.SparseTensor(indices, POINTS.reshape(-1), POINTS.shape)}

    input_graph = build(sparse_input)
    assert len(input_graph.feeds) == 2  # the indices and the values; the shape is small
    assert isinstance(input_graph.features["x"], tf.SparseTensor)
    assert input_graph.features["x"].values.name == "SparseTensor/values:0"
    (features, _), = read_input_graph(input_graph, 1)
    np.testing.assert_array_equal(features["x"].indices, indices)
    np.testing.assert_array_equal(features["x"].values, POINTS.reshape(-1))
    np.testing.assert_array_equal(features["x"].dense_shape, POINTS.shape)


def _scaled():
    return tf.constant(POINTS) * 2.0


def _with_control_input():
    marker = tf.constant(0)
    with tf.control_dependencies([marker]):
        return tf.constant(POINTS)


def _with_another_op():
    tf.random.uniform([3], seed=1, name="unreturned")
    return tf.constant(POINTS)


@pytest.mark.parametrize("input_fn", [_scaled, _with_control_input, _with_another_op, unfed(lambda: tf.constant(POINTS))])
def test_inputs_that_are_more_than_constants_are_left_alone(input_fn):
    input_graph = build(input_fn)
    assert input_graph.feeds == {}
    assert checkpoints.has_large_constant(input_graph.graph)
    (features, _), = read_input_graph(input_graph, 1)
    np.testing.assert_array_equal(features, 2.0 * POINTS if input_fn is _scaled else POINTS)


def test_a_hook_fetching_the_constant_by_name_gets_its_values(tmp_path):
    """What the caller's hooks see is what they saw with the constant in the graph."""
    seen = []

    class FetchByName(tf.compat.v1.train.SessionRunHook):
        def before_run(self, run_context):
            return tf.compat.v1.train.SessionRunArgs("Const:0")

        def after_run(self, run_context, run_values):
            seen.append(run_values.results)

    model = ke.KMeans(4, model_dir=str(tmp_path), initial_clusters=POINTS[:4], use_mini_batch=False)
    model.train(lambda: tf.constant(POINTS), steps=2, hooks=[FetchByName()])
    assert len(seen) == 2
    for values in seen:
        np.testing.assert_array_equal(values, POINTS)


def test_kmeans_on_fed_constant_features_trains_as_on_the_constant(tmp_path):
    """The same centers, step by step, as the same points given through an op."""
    centers = []
    for name, input_fn in (("fed", lambda: tf.constant(POINTS)),
                           ("unfed", lambda: tf.identity(tf.constant(POINTS)))):
        model = ke.KMeans(4, model_dir=str(tmp_path / name), initial_clusters=POINTS[:4],
                          use_mini_batch=False, seed=3)
        for _ in range(2):
            model.train(input_fn, steps=2)
        centers.append(model.cluster_centers())
        assert model.score(input_fn) > 0
    np.testing.assert_array_equal(centers[0], centers[1])
