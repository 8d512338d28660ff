"""Graphs and sessions kept between calls: reused only when that changes nothing a caller sees."""
import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke
from kmeans_estimator.estimator import kept_sessions
from tests.estimator.linear_model import linear_model_fn, make_data

X, Y = make_data()


class CountingEstimator(ke.Estimator):
    """The linear model, declared reusable, counting how often its model_fn runs."""

    def __init__(self, model_dir, reusable=True, **kwargs):
        self.builds = 0
        self._reusable = reusable

        def model_fn(features, labels, mode, params):
            self.builds += 1
            return linear_model_fn(features, labels, mode, params)

        super().__init__(model_fn, model_dir=model_dir, params={"learning_rate": 0.1}, **kwargs)

    def reuses_graphs(self):
        return self._reusable


def train_input(x=X, y=Y):
    def input_fn():
        return tf.compat.v1.train.limit_epochs(tf.constant(x), num_epochs=1), tf.constant(y)

    return input_fn


def repeated_input(x=X, y=Y):
    return lambda: tf.data.Dataset.from_tensors((x, y)).repeat()


def batches_input(x=X, y=Y):
    return lambda: tf.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(16)


def run_calls(estimator):
    """Train, evaluate and predict three times; returns everything the calls gave back."""
    results = []
    for _ in range(3):
        estimator.train(train_input(), steps=5)
        results.append(estimator.get_variable_value("w"))
        results.append(estimator.evaluate(batches_input())["loss"])
        results.append(np.array([p["y"] for p in estimator.predict(batches_input())]))
    return results


def test_kept_sessions_give_what_new_sessions_give(tmp_path):
    kept = CountingEstimator(str(tmp_path / "kept"))
    fresh = CountingEstimator(str(tmp_path / "fresh"), reusable=False)
    for mine, theirs in zip(run_calls(kept), run_calls(fresh)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)
    assert fresh.builds == 9
    # The first train call has no checkpoint to restore; after it, one build per mode.
    assert kept.builds == 3


def test_every_call_reads_the_checkpoint_another_estimator_wrote(tmp_path):
    model_dir = str(tmp_path)
    first, second = CountingEstimator(model_dir), CountingEstimator(model_dir)
    first.train(repeated_input(), steps=2)
    first.train(repeated_input(), steps=2)
    second.train(repeated_input(), steps=10)
    first.train(repeated_input(), steps=1)
    assert first.get_variable_value("global_step") == 15
    assert first.evaluate(batches_input())["global_step"] == 15
    assert first.builds == 2


def test_a_different_input_builds_a_new_graph(tmp_path):
    estimator = CountingEstimator(str(tmp_path))
    estimator.train(train_input(), steps=1)
    estimator.train(train_input(), steps=1)
    estimator.train(train_input(2 * X), steps=1)
    assert estimator.builds == 2
    reference = CountingEstimator(str(tmp_path / "reference"), reusable=False)
    for x in (X, X, 2 * X):
        reference.train(train_input(x), steps=1)
    np.testing.assert_allclose(estimator.get_variable_value("w"), reference.get_variable_value("w"), rtol=1e-6)


def test_python_inputs_and_caller_hooks_are_never_kept(tmp_path):
    estimator = CountingEstimator(str(tmp_path))
    estimator.train(train_input(), steps=1)

    def generated():
        return tf.data.Dataset.from_generator(
            lambda: iter([(X, Y)]), output_signature=(
                tf.TensorSpec([None, 3], tf.float32), tf.TensorSpec([None], tf.float32)))

    for _ in range(2):
        estimator.train(generated, steps=1)
        estimator.train(train_input(), steps=1, hooks=[tf.compat.v1.train.SessionRunHook()])
    assert estimator.builds == 5


@pytest.mark.parametrize("batch_size", [16, len(X)], ids=["mini_batches", "whole_batch"])
def test_numpy_input_fn_graphs_are_kept_and_give_what_new_graphs_give(tmp_path, batch_size):
    """numpy_input_fn reads its arrays through a Python generator, which it vouches for: the
    same input_fn called again builds a graph that is kept; the generator restarts as in a
    new graph, so the shuffled batches, and the weights, are those of new sessions."""
    config = ke.RunConfig(tf_random_seed=5)
    shuffled = ke.inputs.numpy_input_fn({"x": X}, Y, batch_size=batch_size, num_epochs=None, shuffle=True)
    kept = CountingEstimator(str(tmp_path / "kept"), config=config)
    fresh = CountingEstimator(str(tmp_path / "fresh"), config=config, reusable=False)
    for _ in range(3):
        kept.train(shuffled, steps=4)
        fresh.train(shuffled, steps=4)
        np.testing.assert_allclose(kept.get_variable_value("w"), fresh.get_variable_value("w"), rtol=1e-6)
    assert (kept.builds, fresh.builds) == (1, 3)


def test_another_numpy_input_fn_of_the_same_shapes_builds_again(tmp_path):
    estimator = CountingEstimator(str(tmp_path))
    first = ke.inputs.numpy_input_fn({"x": X}, Y, batch_size=16, num_epochs=None, shuffle=False)
    second = ke.inputs.numpy_input_fn({"x": X}, 2 * Y, batch_size=16, num_epochs=None, shuffle=False)
    for input_fn in (first, first, second, second):
        estimator.train(input_fn, steps=1)
    assert estimator.builds == 2


def test_only_the_python_functions_an_input_vouched_for_count():
    """A generator added outside `same_python_input` keeps a graph from being digested."""
    def build(vouch_both):
        with tf.Graph().as_default() as graph:
            signature = tf.TensorSpec([3], tf.float32)
            with kept_sessions.same_python_input("input A"):
                first = tf.data.Dataset.from_generator(lambda: iter([X[0]]), output_signature=signature)
            if vouch_both:
                with kept_sessions.same_python_input("input B"):
                    second = tf.data.Dataset.from_generator(lambda: iter([X[1]]), output_signature=signature)
            else:
                second = tf.data.Dataset.from_generator(lambda: iter([X[1]]), output_signature=signature)
            element = tf.compat.v1.data.make_one_shot_iterator(first.concatenate(second)).get_next()
            return kept_sessions.input_digest(graph.as_graph_def(), element, None, None,
                                              graph.get_collection(kept_sessions.PYTHON_INPUTS_COLLECTION))

    assert build(vouch_both=False) is None
    assert build(vouch_both=True) is not None
    assert build(vouch_both=True) == build(vouch_both=True)


def test_seeded_random_ops_are_never_kept(tmp_path):
    config = ke.RunConfig(tf_random_seed=3)
    estimator = CountingEstimator(str(tmp_path), config=config)

    def shuffled():
        return tf.data.Dataset.from_tensor_slices((X, Y)).shuffle(64).batch(64)

    for _ in range(3):
        estimator.train(shuffled, steps=1)
    assert estimator.builds == 3


def test_a_deleted_checkpoint_means_a_fresh_start(tmp_path):
    estimator = CountingEstimator(str(tmp_path))
    estimator.train(repeated_input(), steps=3)
    estimator.train(repeated_input(), steps=3)
    for path in tmp_path.iterdir():
        if path.is_file():
            path.unlink()
    estimator.train(repeated_input(), steps=2)
    assert estimator.get_variable_value("global_step") == 2


def test_a_prediction_left_unfinished_does_not_hold_the_next_one(tmp_path):
    estimator = CountingEstimator(str(tmp_path))
    estimator.train(train_input(), steps=3)
    unfinished = estimator.predict(batches_input(), yield_single_examples=False)
    next(unfinished)
    unfinished.close()
    whole = [batch["y"] for batch in estimator.predict(batches_input(), yield_single_examples=False)]
    assert sum(len(batch) for batch in whole) == len(X)
    assert estimator.builds == 2


def test_a_failed_call_drops_its_graph_and_the_next_call_works(tmp_path):
    estimator = CountingEstimator(str(tmp_path))
    estimator.train(train_input(), steps=1)
    nan_x = X.copy()
    nan_x[0, 0] = np.nan
    for builds in (2, 3):
        with pytest.raises(tf.compat.v1.train.NanLossDuringTrainingError):
            estimator.train(train_input(nan_x), steps=1)
        # The same input again builds again: the failed call kept nothing.
        assert estimator.builds == builds
    estimator.train(train_input(), steps=1)
    estimator.train(train_input(), steps=1)
    assert estimator.get_variable_value("global_step") == 3
    assert estimator.builds == 4


def _pipeline_graph_def(scale):
    graph = tf.Graph()
    with graph.as_default():
        dataset = tf.data.Dataset.from_tensor_slices(X).map(lambda x: x * scale).batch(8)
        features = tf.compat.v1.data.make_initializable_iterator(dataset).get_next()
    return graph.as_graph_def(), features


def test_input_digest_ignores_function_names_but_not_their_bodies():
    first, features = _pipeline_graph_def(2.0)
    second, _ = _pipeline_graph_def(2.0)
    other, _ = _pipeline_graph_def(3.0)
    assert first.library.function[0].signature.name != second.library.function[0].signature.name
    digest = kept_sessions.input_digest(first, features, None)
    assert digest == kept_sessions.input_digest(second, features, None)
    assert digest != kept_sessions.input_digest(other, features, None)
    assert digest != kept_sessions.input_digest(first, {"x": features}, None)


# More bytes of points than a kept graph may hold in constants: their dataset's graph
# feeds them (fed_constants), which lets it be kept.
LARGE_X, LARGE_Y = make_data(num_rows=kept_sessions.MAX_KEPT_CONSTANT_BYTES // 12 + 1)


def test_a_dataset_of_fed_constants_is_kept_and_fed_what_its_input_fn_gives(tmp_path):
    def large_input(scale):
        return lambda: tf.data.Dataset.from_tensor_slices((scale * LARGE_X, LARGE_Y)).batch(1000).take(3)

    estimator = CountingEstimator(str(tmp_path / "kept"))
    reference = CountingEstimator(str(tmp_path / "reference"), reusable=False)
    for scale in (1.0, 1.0, 2.0, 2.0):
        estimator.train(large_input(scale), steps=5)
        reference.train(large_input(scale), steps=5)
    # The first call keeps its graph; the later ones, the third and fourth fed other values,
    # run in it.
    assert estimator.builds == 1
    np.testing.assert_allclose(estimator.get_variable_value("w"), reference.get_variable_value("w"), rtol=1e-6)


def test_constant_features_are_kept_and_fed_what_their_input_fn_gives(tmp_path):
    def large_input(scale):
        return lambda: (tf.constant(scale * LARGE_X), tf.constant(LARGE_Y))

    estimator = CountingEstimator(str(tmp_path / "kept"))
    reference = CountingEstimator(str(tmp_path / "reference"), reusable=False)
    for scale in (1.0, 1.0, 2.0, 2.0):
        estimator.train(large_input(scale), steps=5)
        reference.train(large_input(scale), steps=5)
        np.testing.assert_allclose(estimator.get_variable_value("w"), reference.get_variable_value("w"), rtol=1e-6)
    assert estimator.builds == 1
    # Another shape is another graph.
    estimator.train(lambda: (tf.constant(LARGE_X[:-1]), tf.constant(LARGE_Y[:-1])), steps=5)
    assert estimator.builds == 2
