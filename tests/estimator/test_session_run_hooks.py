"""TensorFlow's SessionRunHooks under their tf.estimator names, run by Estimator.train."""
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

import kmeans_estimator as ke
from tests.estimator.linear_model import linear_model_fn

HOOK_NAMES = [
    "SessionRunHook", "SessionRunArgs", "SessionRunContext", "SessionRunValues",
    "CheckpointSaverHook", "CheckpointSaverListener", "LoggingTensorHook", "StopAtStepHook",
    "SummarySaverHook", "StepCounterHook", "NanTensorHook", "NanLossDuringTrainingError",
    "ProfilerHook", "FinalOpsHook", "FeedFnHook", "GlobalStepWaiterHook", "SecondOrStepTimer",
]


def _forever(linear_data):
    x, y = linear_data
    return ke.inputs.numpy_input_fn({"x": x}, y, batch_size=16, num_epochs=None)


def _quiet_config():
    return ke.RunConfig(tf_random_seed=1, save_summary_steps=0, log_step_count_steps=0)


@pytest.fixture(scope="module")
def estimator(tmp_path_factory):
    """One linear Estimator the tests of hooks given to `train(hooks=...)` keep training."""
    return ke.Estimator(linear_model_fn, model_dir=str(tmp_path_factory.mktemp("hooked")),
                        params={"learning_rate": 0.1}, config=_quiet_config())


def _step(estimator):
    checkpoint = estimator.latest_checkpoint()
    return 0 if checkpoint is None else int(estimator.get_variable_value("global_step"))


def _with_training_hooks(make_hooks):
    """The linear model_fn, with `make_hooks(spec)` added as its spec's training hooks."""

    def model_fn(features, labels, mode, params):
        spec = linear_model_fn(features, labels, mode, params)
        if mode != ke.ModeKeys.TRAIN:
            return spec
        return ke.EstimatorSpec(mode, loss=spec.loss, train_op=spec.train_op, predictions=spec.predictions,
                                training_hooks=make_hooks(spec))

    return model_fn


def _train_with_training_hooks(tmp_path, linear_data, make_hooks, steps):
    estimator = ke.Estimator(_with_training_hooks(make_hooks), model_dir=str(tmp_path / "model"),
                             params={"learning_rate": 0.1}, config=_quiet_config())
    return estimator.train(_forever(linear_data), steps=steps)


def _scalar_tags(directory):
    accumulator = event_accumulator.EventAccumulator(str(directory))
    accumulator.Reload()
    return set(accumulator.Tags()["scalars"])


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_hook_names_are_tensorflows_own_classes(name):
    assert getattr(ke, name) is getattr(tf.compat.v1.train, name)
    assert getattr(ke.hooks, name) is getattr(tf.compat.v1.train, name)


def test_stop_at_step_hook_with_num_steps_stops_after_that_many_steps(estimator, linear_data):
    start = _step(estimator)
    estimator.train(_forever(linear_data), hooks=[ke.StopAtStepHook(num_steps=3)])
    assert _step(estimator) == start + 3


def test_stop_at_step_hook_with_last_step_stops_there(estimator, linear_data):
    last_step = _step(estimator) + 2
    estimator.train(_forever(linear_data), hooks=[ke.StopAtStepHook(last_step=last_step)])
    assert _step(estimator) == last_step


def test_checkpoint_saver_hook_saves_into_its_directory_and_calls_listeners(estimator, linear_data, tmp_path):
    class Listener(ke.CheckpointSaverListener):
        def __init__(self):
            self.saved_steps = []

        def after_save(self, session, global_step_value):
            self.saved_steps.append(global_step_value)

    listener = Listener()
    start = _step(estimator)
    hook = ke.CheckpointSaverHook(str(tmp_path), save_steps=2, listeners=[listener])
    estimator.train(_forever(linear_data), steps=4, hooks=[hook])
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith(f"model.ckpt-{start + 4}")
    np.testing.assert_array_equal(tf.train.load_variable(str(tmp_path), "w"), estimator.get_variable_value("w"))
    # The hook saves when the session starts, every 2 steps, and at the end.
    assert listener.saved_steps == [start, start + 2, start + 4]


def test_step_counter_hook_writes_the_step_rate(estimator, linear_data, tmp_path):
    hook = ke.StepCounterHook(every_n_steps=1, output_dir=str(tmp_path))
    estimator.train(_forever(linear_data), steps=3, hooks=[hook])
    assert "global_step/sec" in _scalar_tags(tmp_path)


def test_feed_fn_hook_is_called_on_every_step(estimator, linear_data):
    calls = []
    estimator.train(_forever(linear_data), steps=3, hooks=[ke.FeedFnHook(lambda: calls.append(1) or {})])
    assert len(calls) == 3


def test_global_step_waiter_hook_at_step_zero_lets_training_run(estimator, linear_data):
    start = _step(estimator)
    estimator.train(_forever(linear_data), steps=2, hooks=[ke.GlobalStepWaiterHook(wait_until_step=0)])
    assert _step(estimator) == start + 2


def test_a_session_run_hook_sees_its_args_context_and_values(estimator, linear_data):
    class StopAfterTwoRuns(ke.SessionRunHook):
        def __init__(self):
            self.seen = []

        def before_run(self, run_context):
            assert isinstance(run_context, ke.SessionRunContext)
            return ke.SessionRunArgs(tf.compat.v1.train.get_global_step())

        def after_run(self, run_context, run_values):
            assert isinstance(run_values, ke.SessionRunValues)
            self.seen.append(int(run_values.results))
            if len(self.seen) == 2:
                run_context.request_stop()

    hook = StopAfterTwoRuns()
    start = _step(estimator)
    estimator.train(_forever(linear_data), hooks=[hook])
    # Fetched with the train op, the global step is read before or after that step's increment.
    assert len(hook.seen) == 2 and start <= hook.seen[0] <= start + 1
    assert _step(estimator) == start + 2


def test_logging_tensor_hook_logs_every_n_iter(tmp_path, linear_data):
    logged = []

    def make_hooks(spec):
        return [ke.LoggingTensorHook({"loss": spec.loss}, every_n_iter=2,
                                     formatter=lambda values: logged.append(values) or "")]

    _train_with_training_hooks(tmp_path, linear_data, make_hooks, steps=5)
    # Iterations 0, 2 and 4 of the five.
    assert len(logged) == 3
    assert all(np.isfinite(values["loss"]) for values in logged)


def test_summary_saver_hook_writes_its_summary_op(tmp_path, linear_data):
    def make_hooks(spec):
        summary = tf.compat.v1.summary.scalar("hooked_loss", spec.loss)
        return [ke.SummarySaverHook(save_steps=1, output_dir=str(tmp_path / "summaries"), summary_op=summary)]

    _train_with_training_hooks(tmp_path, linear_data, make_hooks, steps=2)
    assert "hooked_loss" in _scalar_tags(tmp_path / "summaries")


def test_profiler_hook_writes_timelines(tmp_path, linear_data):
    # ProfilerHook opens an event writer when made, which needs a graph: make it in model_fn.
    def make_hooks(spec):
        return [ke.ProfilerHook(save_steps=1, output_dir=str(tmp_path / "profile"))]

    _train_with_training_hooks(tmp_path, linear_data, make_hooks, steps=2)
    assert list((tmp_path / "profile").glob("timeline-*.json"))


def test_final_ops_hook_gets_the_values_after_the_last_step(tmp_path, linear_data):
    made = []

    def make_hooks(spec):
        made.append(ke.FinalOpsHook({"step": tf.compat.v1.train.get_global_step(), "loss": spec.loss}))
        return made

    estimator = _train_with_training_hooks(tmp_path, linear_data, make_hooks, steps=3)
    values = made[0].final_ops_values
    assert values["step"] == 3 == int(estimator.get_variable_value("global_step"))
    assert np.isfinite(values["loss"])


def test_nan_tensor_hook_raises_nan_loss_during_training_error(tmp_path, linear_data):
    def make_hooks(spec):
        # NaN while the loss itself is finite, so the hook, not the Estimator's own check, fires.
        return [ke.NanTensorHook(tf.sqrt(-1.0 - spec.loss))]

    with pytest.raises(ke.NanLossDuringTrainingError):
        _train_with_training_hooks(tmp_path, linear_data, make_hooks, steps=3)
    # Only the save of the session's start: the step that gave NaN is not saved.
    assert tf.train.latest_checkpoint(str(tmp_path / "model")).endswith("model.ckpt-0")
