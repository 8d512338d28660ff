"""The Estimator on a non-k-means model: training, evaluation, prediction, checkpoints, events."""
import os
import warnings

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

import kmeans_estimator as ke
from tests.estimator.linear_model import TRUE_BIAS, TRUE_WEIGHTS, linear_model_fn


def _estimator(tmp_path, learning_rate=0.2, **kwargs):
    return ke.Estimator(
        linear_model_fn, model_dir=str(tmp_path), params={"learning_rate": learning_rate}, **kwargs
    )


def _input(x, y=None, batch_size=64, num_epochs=1):
    return ke.inputs.numpy_input_fn({"x": x}, y, batch_size=batch_size, num_epochs=num_epochs)


def _scalar_tags(directory):
    accumulator = event_accumulator.EventAccumulator(directory)
    accumulator.Reload()
    return accumulator, set(accumulator.Tags()["scalars"])


def _global_step(estimator):
    return int(estimator.get_variable_value("global_step"))


# Training.


def test_train_fits_the_linear_weights(trained_linear):
    np.testing.assert_allclose(trained_linear.get_variable_value("w"), TRUE_WEIGHTS, atol=1e-3)
    assert trained_linear.get_variable_value("b") == pytest.approx(TRUE_BIAS, abs=1e-3)


def test_train_returns_self(tmp_path, linear_data):
    estimator = _estimator(tmp_path)
    assert estimator.train(_input(*linear_data), steps=1) is estimator


def test_steps_are_incremental(tmp_path, linear_data):
    estimator = _estimator(tmp_path)
    estimator.train(_input(*linear_data, num_epochs=None), steps=3)
    estimator.train(_input(*linear_data, num_epochs=None), steps=3)
    assert _global_step(estimator) == 6


def test_max_steps_is_absolute_and_skips_when_reached(tmp_path, linear_data):
    estimator = _estimator(tmp_path)
    estimator.train(_input(*linear_data, num_epochs=None), max_steps=4)
    assert _global_step(estimator) == 4
    checkpoint = estimator.latest_checkpoint()
    estimator.train(_input(*linear_data, num_epochs=None), max_steps=4)
    assert estimator.latest_checkpoint() == checkpoint


def test_train_stops_at_end_of_input(tmp_path, linear_data):
    estimator = _estimator(tmp_path)
    estimator.train(_input(*linear_data, batch_size=16, num_epochs=1))
    assert _global_step(estimator) == 4


def test_train_stops_at_end_of_queue_based_input(tmp_path, linear_data):
    x, y = linear_data

    def input_fn():
        rows = tf.compat.v1.train.slice_input_producer([x, y], num_epochs=2, shuffle=False)
        batch_x, batch_y = tf.compat.v1.train.batch(rows, batch_size=32, allow_smaller_final_batch=True)
        return {"x": batch_x}, batch_y

    estimator = _estimator(tmp_path)
    estimator.train(input_fn)
    assert _global_step(estimator) == 4


def test_train_accepts_limit_epochs_tensors(tmp_path, linear_data):
    x, y = linear_data

    def input_fn():
        return (
            {"x": tf.compat.v1.train.limit_epochs(tf.constant(x), num_epochs=1)},
            tf.compat.v1.train.limit_epochs(tf.constant(y), num_epochs=1),
        )

    estimator = _estimator(tmp_path)
    estimator.train(input_fn)
    assert _global_step(estimator) == 1


def test_input_fn_receives_the_arguments_it_declares(tmp_path, linear_data):
    seen = {}

    def input_fn(params, mode, config):
        seen.update(params=params, mode=mode, config=config)
        return _input(*linear_data)()

    estimator = _estimator(tmp_path)
    estimator.train(input_fn, steps=1)
    assert seen["params"] == {"learning_rate": 0.2}
    assert seen["mode"] == ke.ModeKeys.TRAIN
    assert seen["config"].model_dir == str(tmp_path)


def test_user_hooks_run(tmp_path, linear_data):
    class CountingHook(tf.compat.v1.train.SessionRunHook):
        runs = 0

        def after_run(self, run_context, run_values):
            CountingHook.runs += 1

    _estimator(tmp_path).train(_input(*linear_data, num_epochs=None), steps=3, hooks=[CountingHook()])
    assert CountingHook.runs == 3


def test_saving_listeners_are_called(tmp_path, linear_data):
    class Listener(tf.compat.v1.train.CheckpointSaverListener):
        saved_steps = []

        def after_save(self, session, global_step_value):
            Listener.saved_steps.append(global_step_value)

    _estimator(tmp_path).train(_input(*linear_data, num_epochs=None), steps=2, saving_listeners=[Listener()])
    # The save when the session starts, then the last one, as tf.estimator's CheckpointSaverHook.
    assert Listener.saved_steps == [0, 2]


def test_save_checkpoints_steps_keeps_intermediate_checkpoints(tmp_path, linear_data):
    config = ke.RunConfig(save_checkpoints_steps=2, keep_checkpoint_max=10)
    estimator = _estimator(tmp_path, config=config)
    estimator.train(_input(*linear_data, num_epochs=None), steps=5)
    state = tf.train.get_checkpoint_state(str(tmp_path))
    steps = sorted(int(path.rsplit("-", 1)[1]) for path in state.all_model_checkpoint_paths)
    # The save when the session starts, the periodic ones, the last one (tf.estimator's).
    assert steps == [0, 2, 4, 5]


# The model directory.


def test_model_dir_has_the_tf_estimator_layout(trained_linear):
    names = set(os.listdir(trained_linear.model_dir))
    assert {"checkpoint", "graph.pbtxt", "model.ckpt-150.index", "model.ckpt-150.meta"} <= names
    assert any(name.startswith("model.ckpt-150.data-") for name in names)
    assert any(name.startswith("events.out.tfevents.") for name in names)


def test_load_variable_reads_the_model_dir(trained_linear):
    weights = tf.compat.v1.train.load_variable(trained_linear.model_dir, "w")
    np.testing.assert_array_equal(weights, trained_linear.get_variable_value("w"))
    assert {"w", "b", "global_step"} <= set(trained_linear.get_variable_names())


def test_train_events_hold_loss_and_step_rate(trained_linear):
    accumulator, tags = _scalar_tags(trained_linear.model_dir)
    assert {"loss", "global_step/sec"} <= tags
    losses = accumulator.Scalars("loss")
    assert losses[0].value > losses[-1].value


def test_large_input_constants_are_not_written_to_graph_files(tmp_path):
    x = np.zeros((300_000, 3), dtype=np.float32)  # 3.6 MB and 1.2 MB of constants
    y = np.zeros(300_000, dtype=np.float32)
    estimator = _estimator(tmp_path)
    estimator.train(lambda: ({"x": tf.constant(x)}, tf.constant(y)), steps=1)
    for name in ("graph.pbtxt", "model.ckpt-1.meta"):
        assert os.path.getsize(tmp_path / name) < 200_000, name
    with tf.Graph().as_default() as graph:
        tf.compat.v1.train.import_meta_graph(str(tmp_path / "model.ckpt-1.meta"))
    stripped = [op for op in graph.get_operations() if op.type == "Placeholder"]
    assert sorted(op.outputs[0].shape.as_list() for op in stripped) == [[300_000], [300_000, 3]]


def test_checkpoint_of_a_plain_saver_restores(tmp_path, linear_data):
    """A checkpoint written outside this package (as tf.estimator wrote them) is picked up."""
    with tf.Graph().as_default():
        tf.compat.v1.get_variable("w", initializer=np.full((3, 1), 2.0, np.float32))
        tf.compat.v1.get_variable("b", initializer=np.float32(1.0))
        step = tf.compat.v1.train.get_or_create_global_step()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            session.run(step.assign(7))
            tf.compat.v1.train.Saver().save(session, str(tmp_path / "model.ckpt"), global_step=7)
    x, _ = linear_data
    estimator = _estimator(tmp_path)
    predicted = [p["y"] for p in estimator.predict(_input(x))]
    np.testing.assert_allclose(predicted, x.sum(axis=1) * 2.0 + 1.0, rtol=1e-5)
    assert estimator.evaluate(_input(*linear_data))["global_step"] == 7


def test_warm_start_copies_variables_from_another_model_dir(tmp_path, trained_linear, linear_data):
    estimator = _estimator(tmp_path, learning_rate=0.0, warm_start_from=trained_linear.model_dir)
    estimator.train(_input(*linear_data), steps=1)
    np.testing.assert_array_equal(estimator.get_variable_value("w"), trained_linear.get_variable_value("w"))
    assert _global_step(estimator) == 1


# Evaluation.


def test_evaluate_matches_numpy(trained_linear, linear_data):
    x, y = linear_data
    weights = trained_linear.get_variable_value("w")
    bias = trained_linear.get_variable_value("b")
    predicted = (x @ weights)[:, 0] + bias
    metrics = trained_linear.evaluate(_input(x, y, batch_size=64))
    assert metrics["loss"] == pytest.approx(np.mean((predicted - y) ** 2), rel=1e-4, abs=1e-7)
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(predicted - y)), rel=1e-4, abs=1e-6)
    assert metrics["global_step"] == 150


def test_evaluate_steps_limits_batches(trained_linear, linear_data):
    class CountingHook(tf.compat.v1.train.SessionRunHook):
        runs = 0

        def after_run(self, run_context, run_values):
            CountingHook.runs += 1

    trained_linear.evaluate(_input(*linear_data, batch_size=8), steps=3, hooks=[CountingHook()])
    assert CountingHook.runs == 3


@pytest.mark.parametrize("name, directory", [(None, "eval"), ("holdout", "eval_holdout")])
def test_evaluate_writes_metric_events_to_eval_dir(trained_linear, linear_data, name, directory):
    trained_linear.evaluate(_input(*linear_data), name=name)
    assert trained_linear.eval_dir(name) == os.path.join(trained_linear.model_dir, directory)
    accumulator, tags = _scalar_tags(trained_linear.eval_dir(name))
    assert {"loss", "mae"} <= tags
    assert accumulator.Scalars("mae")[-1].step == 150


def test_evaluate_a_given_checkpoint(tmp_path, linear_data):
    estimator = _estimator(tmp_path, config=ke.RunConfig(save_checkpoints_steps=1, keep_checkpoint_max=5))
    estimator.train(_input(*linear_data, num_epochs=None), steps=3)
    first = os.path.join(str(tmp_path), "model.ckpt-1")
    assert estimator.evaluate(_input(*linear_data), checkpoint_path=first)["global_step"] == 1


# Prediction.


def test_predict_matches_numpy(trained_linear, linear_data):
    x, _ = linear_data
    weights = trained_linear.get_variable_value("w")
    bias = trained_linear.get_variable_value("b")
    predictions = list(trained_linear.predict(_input(x, batch_size=10)))
    assert len(predictions) == len(x)
    np.testing.assert_allclose([p["y"] for p in predictions], (x @ weights)[:, 0] + bias, rtol=1e-5)


def test_predict_keys_select_predictions(trained_linear, linear_data):
    prediction = next(trained_linear.predict(_input(linear_data[0]), predict_keys=["double_y"]))
    assert set(prediction) == {"double_y"}


def test_predict_whole_batches(trained_linear, linear_data):
    batches = list(trained_linear.predict(_input(linear_data[0], batch_size=40), yield_single_examples=False))
    assert [len(batch["y"]) for batch in batches] == [40, 24]


def test_predict_without_checkpoint_uses_fresh_variables(tmp_path, linear_data):
    predictions = list(_estimator(tmp_path).predict(_input(linear_data[0])))
    assert all(p["y"] == 0.0 for p in predictions)


def test_model_fn_property_is_bound_to_params(trained_linear, linear_data):
    with tf.Graph().as_default():
        tf.compat.v1.train.get_or_create_global_step()
        spec = trained_linear.model_fn({"x": tf.constant(linear_data[0])}, tf.constant(linear_data[1]),
                                       ke.ModeKeys.TRAIN, trained_linear.config)
    assert isinstance(spec, ke.EstimatorSpec)


# Errors.


def test_steps_and_max_steps_together_is_an_error(tmp_path, linear_data):
    with pytest.raises(ValueError, match="steps or max_steps"):
        _estimator(tmp_path).train(_input(*linear_data), steps=1, max_steps=2)


@pytest.mark.parametrize("argument", ["steps", "max_steps"])
@pytest.mark.parametrize("value", [0, -3, 1.5])
def test_non_positive_steps_are_an_error(tmp_path, linear_data, argument, value):
    with pytest.raises(ValueError, match=argument):
        _estimator(tmp_path).train(_input(*linear_data), **{argument: value})


def test_evaluate_non_positive_steps_is_an_error(trained_linear, linear_data):
    with pytest.raises(ValueError, match="steps"):
        trained_linear.evaluate(_input(*linear_data), steps=0)


def test_model_fn_without_features_is_an_error():
    with pytest.raises(ValueError, match="features"):
        ke.Estimator(lambda inputs, mode: None)


def test_model_fn_with_unknown_required_argument_is_an_error():
    with pytest.raises(ValueError, match="weights"):
        ke.Estimator(lambda features, weights: None)


def test_model_fn_returning_no_spec_is_an_error(tmp_path, linear_data):
    def model_fn(features, labels):
        return {"loss": tf.constant(0.0)}

    with pytest.raises(ValueError, match="must return an EstimatorSpec, got dict"):
        ke.Estimator(model_fn, model_dir=str(tmp_path)).train(_input(*linear_data), steps=1)


def test_params_for_a_model_fn_without_params_is_an_error():
    with pytest.raises(ValueError, match="params"):
        ke.Estimator(lambda features, labels: None, params={"a": 1})


def test_conflicting_model_dirs_are_an_error(tmp_path):
    with pytest.raises(ValueError, match="model_dir"):
        _estimator(tmp_path / "a", config=ke.RunConfig(model_dir=str(tmp_path / "b")))


def test_model_dir_defaults_to_a_temporary_directory():
    estimator = ke.Estimator(linear_model_fn, params={"learning_rate": 0.1})
    assert os.path.isdir(estimator.model_dir)
    assert estimator.config.model_dir == estimator.model_dir


@pytest.mark.parametrize("method", ["get_variable_names", "get_variable_value"])
def test_variables_before_any_checkpoint_are_an_error(tmp_path, method):
    arguments = ("w",) if method == "get_variable_value" else ()
    with pytest.raises(ValueError, match="train"):
        getattr(_estimator(tmp_path), method)(*arguments)


def test_input_fn_must_be_callable(tmp_path):
    with pytest.raises(TypeError, match="input_fn"):
        _estimator(tmp_path).train(np.zeros((3, 3)), steps=1)


def test_hooks_must_be_session_run_hooks(tmp_path, linear_data):
    with pytest.raises(TypeError, match="hooks"):
        _estimator(tmp_path).train(_input(*linear_data), steps=1, hooks=[object()])


def test_unknown_predict_key_is_an_error(trained_linear, linear_data):
    with pytest.raises(ValueError, match="nope"):
        next(trained_linear.predict(_input(linear_data[0]), predict_keys=["nope"]))


def test_missing_checkpoint_path_is_an_error(trained_linear, linear_data, tmp_path):
    with pytest.raises(ValueError, match="checkpoint_path"):
        trained_linear.evaluate(_input(*linear_data), checkpoint_path=str(tmp_path / "model.ckpt-9"))


def test_restoring_into_a_different_shape_names_both_shapes(trained_linear):
    def wider_input():
        return {"x": tf.zeros([4, 5])}

    def wide_model_fn(features, mode):
        weights = tf.compat.v1.get_variable("w", shape=[5, 1])
        return ke.EstimatorSpec(mode, predictions=tf.matmul(features["x"], weights))

    estimator = ke.Estimator(wide_model_fn, model_dir=trained_linear.model_dir)
    # tf.estimator's Saver raised InvalidArgumentError for a shape mismatch; so does the check.
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"'w'.*\[3, 1\].*\[5, 1\]"):
        next(estimator.predict(wider_input))


def test_deprecated_export_savedmodel_warns(trained_linear, tmp_path):
    receiver_fn = ke.export.build_raw_serving_input_receiver_fn({"x": tf.TensorSpec([None, 3], tf.float32)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = trained_linear.export_savedmodel(str(tmp_path), receiver_fn)
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    assert os.path.isdir(path)


def _model_fn_with_unbatched_prediction(features, mode):
    bias = tf.compat.v1.get_variable("bias", shape=[], initializer=tf.compat.v1.zeros_initializer())
    return ke.EstimatorSpec(mode, predictions={"y": features["x"][:, 0] + bias, "total": tf.reduce_sum(features["x"])})


def test_predicting_single_examples_of_an_unbatched_prediction_is_an_error(tmp_path, linear_data):
    estimator = ke.Estimator(_model_fn_with_unbatched_prediction, model_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"\['total'\].*yield_single_examples=False"):
        next(estimator.predict(_input(linear_data[0])))
    batch = next(estimator.predict(_input(linear_data[0]), yield_single_examples=False))
    assert batch["total"] == pytest.approx(linear_data[0].sum(), rel=1e-5)


@pytest.mark.parametrize("schedule", [dict(save_checkpoints_steps=None, save_checkpoints_secs=None),
                                      dict(save_checkpoints_steps=0, save_checkpoints_secs=None)])
def test_without_periodic_checkpoints_only_the_first_and_final_steps_are_saved(tmp_path, linear_data, schedule):
    estimator = _estimator(tmp_path, config=ke.RunConfig(keep_checkpoint_max=10, **schedule))
    estimator.train(_input(*linear_data, num_epochs=None), steps=3)
    state = tf.train.get_checkpoint_state(str(tmp_path))
    assert [os.path.basename(path) for path in state.all_model_checkpoint_paths] == ["model.ckpt-0", "model.ckpt-3"]


def test_a_config_that_is_no_run_config_raises_value_error_as_tf_estimator_did(tmp_path):
    with pytest.raises(ValueError, match="config must be a kmeans_estimator.RunConfig or None, got str"):
        ke.Estimator(lambda features, labels, mode: None, model_dir=str(tmp_path), config="not a config")
