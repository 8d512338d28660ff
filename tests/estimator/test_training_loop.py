"""The training loop: which steps go through hooks, NaN losses, stops asked by hooks."""
import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke
from kmeans_estimator.estimator.hooks import ScheduledHook
from tests.estimator.linear_model import linear_model_fn

QUIET = ke.RunConfig(save_summary_steps=0, log_step_count_steps=0, tf_random_seed=1)


def _estimator(tmp_path, config=QUIET, model_fn=linear_model_fn):
    return ke.Estimator(model_fn, model_dir=str(tmp_path), config=config, params={"learning_rate": 0.1})


def _input(linear_data):
    x, y = linear_data
    return ke.inputs.numpy_input_fn({"x": x}, y, batch_size=16, num_epochs=None)


class _DueAt(ScheduledHook):
    """Due at some steps; records which steps it saw through hooks and which it observed."""

    def __init__(self, due_steps, stop_at=None):
        self._due_steps = set(due_steps)
        self._stop_at = stop_at
        self._last_observed = None
        self.hooked_steps = []
        self.observed = []

    def after_create_session(self, session, coord):
        self._last_observed = int(session.run(tf.compat.v1.train.get_global_step()))

    def is_due(self, step):
        return step in self._due_steps

    def after_run(self, run_context, run_values):
        self.hooked_steps.append(self._last_observed + 1)

    def observe(self, session, step, loss):
        self._last_observed = step
        self.observed.append((step, float(loss)))
        return step == self._stop_at


class _EveryRun(tf.compat.v1.train.SessionRunHook):
    """A plain TensorFlow hook: fetches the global step on every run."""

    def __init__(self):
        self.steps_seen = []

    def before_run(self, run_context):
        return tf.compat.v1.train.SessionRunArgs(tf.compat.v1.train.get_global_step())

    def after_run(self, run_context, run_values):
        self.steps_seen.append(int(run_values.results))


def test_only_due_steps_run_through_hooks(tmp_path, linear_data):
    hook = _DueAt(due_steps={3, 7})
    _estimator(tmp_path).train(_input(linear_data), hooks=[hook], steps=10)
    assert hook.hooked_steps == [3, 7]
    assert [step for step, _ in hook.observed] == list(range(1, 11))


def test_observers_get_each_steps_loss(tmp_path, linear_data):
    hook = _DueAt(due_steps=())
    _estimator(tmp_path).train(_input(linear_data), hooks=[hook], steps=30)
    losses = [loss for _, loss in hook.observed]
    assert len(losses) == 30 and all(np.isfinite(losses))
    assert losses[-1] < losses[0] / 10  # gradient descent on the linear data


def test_a_hook_with_before_run_sees_every_step(tmp_path, linear_data):
    every_run, scheduled = _EveryRun(), _DueAt(due_steps=())
    _estimator(tmp_path).train(_input(linear_data), hooks=[every_run, scheduled], steps=6)
    # The fetch reads the global step before or after the increment; one per run either way.
    assert len(every_run.steps_seen) == 6
    assert scheduled.hooked_steps == [1, 2, 3, 4, 5, 6]


def test_a_hook_only_watching_the_session_does_not_force_hooked_steps(tmp_path, linear_data):
    class Watcher(tf.compat.v1.train.SessionRunHook):
        ended = False

        def end(self, session):
            Watcher.ended = True

    scheduled = _DueAt(due_steps=())
    _estimator(tmp_path).train(_input(linear_data), hooks=[Watcher(), scheduled], steps=5)
    assert scheduled.hooked_steps == [] and Watcher.ended


def test_an_observer_can_end_training_and_the_end_is_checkpointed(tmp_path, linear_data):
    estimator = _estimator(tmp_path)
    estimator.train(_input(linear_data), hooks=[_DueAt(due_steps=(), stop_at=4)], steps=100)
    assert estimator.get_variable_value("global_step") == 4
    assert estimator.latest_checkpoint().endswith("model.ckpt-4")


def _diverging_model_fn(features, labels, mode, params):
    """The linear model whose loss turns NaN from the third step on.

    The step is read before the train op increments it: an unordered read saw the
    incremented step in some runs, so the loss turned NaN one step early.
    """
    step = tf.identity(tf.compat.v1.train.get_global_step())
    with tf.control_dependencies([step]):
        spec = linear_model_fn(features, labels, mode, params)
    loss = tf.where(step >= 2, tf.constant(np.nan, tf.float32), spec.loss)
    return spec._replace(loss=loss)


def test_nan_loss_raises_and_keeps_the_last_good_checkpoint(tmp_path, linear_data):
    config = QUIET.replace(save_checkpoints_steps=1)
    estimator = _estimator(tmp_path, config=config, model_fn=_diverging_model_fn)
    with pytest.raises(tf.compat.v1.train.NanLossDuringTrainingError):
        estimator.train(_input(linear_data), steps=10)
    assert estimator.latest_checkpoint().endswith("model.ckpt-2")


def test_steps_stop_exactly_without_any_hook(tmp_path, linear_data):
    estimator = _estimator(tmp_path)
    estimator.train(_input(linear_data), steps=7)
    estimator.train(_input(linear_data), max_steps=12)
    assert estimator.get_variable_value("global_step") == 12


def test_input_end_ends_training_with_a_checkpoint(tmp_path, linear_data):
    x, y = linear_data
    estimator = _estimator(tmp_path)
    estimator.train(ke.inputs.numpy_input_fn({"x": x}, y, batch_size=16, num_epochs=2))
    assert estimator.latest_checkpoint().endswith(f"model.ckpt-{2 * len(x) // 16}")
