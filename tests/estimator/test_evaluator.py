"""The evaluator task and the one-checkpoint evaluations it shares with local runs, on the linear model."""
import json
import os
import shutil

import pytest
import tensorflow as tf

import kmeans_estimator as ke
from kmeans_estimator.estimator import evaluator
from tests.estimator.linear_model import linear_model_fn
from tests.events import scalars_by_step

TRAINED_STEPS = 150  # the global step of the trained_linear fixture


class RecordingExporter(ke.Exporter):
    """Records each call's is_the_final_export and exports nothing."""

    def __init__(self):
        self.final_flags = []

    @property
    def name(self):
        return "recording"

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        self.final_flags.append(is_the_final_export)
        return None


class NeverReady(ke.Estimator):
    def ready_for_evaluation(self, checkpoint_path):
        return False


def _eval_spec(linear_data, name, exporters=None):
    x, y = linear_data
    return ke.EvalSpec(ke.inputs.numpy_input_fn({"x": x}, y, batch_size=64, shuffle=False), steps=None,
                       name=name, exporters=exporters, start_delay_secs=0, throttle_secs=0)


def _reader(estimator_class, trained_linear, monkeypatch=None, tf_config=None):
    """An Estimator on trained_linear's model directory; with tf_config, built under that TF_CONFIG."""
    if tf_config is not None:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    return estimator_class(linear_model_fn, model_dir=trained_linear.model_dir, params={"learning_rate": 0.2})


@pytest.mark.parametrize("max_steps, final", [(TRAINED_STEPS, True), (TRAINED_STEPS + 1, False), (None, False)])
def test_evaluation_at_or_past_max_steps_is_the_final_export(trained_linear, linear_data, max_steps, final):
    exporter = RecordingExporter()
    checkpoint_evaluator = evaluator.CheckpointEvaluator(
        trained_linear, _eval_spec(linear_data, "final_flag", exporter), max_steps)
    assert checkpoint_evaluator.evaluate_newest()
    assert exporter.final_flags == [final]
    assert checkpoint_evaluator.finished == final


def test_a_checkpoint_is_evaluated_once(trained_linear, linear_data):
    checkpoint_evaluator = evaluator.CheckpointEvaluator(trained_linear, _eval_spec(linear_data, "once"), None)
    assert [checkpoint_evaluator.evaluate_newest() for _ in range(2)] == [True, False]
    assert list(scalars_by_step(trained_linear.eval_dir("once"))) == [TRAINED_STEPS]


def test_a_checkpoint_the_estimator_calls_not_ready_is_skipped(trained_linear, linear_data):
    estimator = _reader(NeverReady, trained_linear)
    exporter = RecordingExporter()
    checkpoint_evaluator = evaluator.CheckpointEvaluator(estimator, _eval_spec(linear_data, "never", exporter), None)
    assert not checkpoint_evaluator.evaluate_newest()
    assert checkpoint_evaluator.eval_result is None
    assert exporter.final_flags == []
    assert not os.path.exists(estimator.eval_dir("never"))


def test_evaluator_task_returns_after_a_checkpoint_at_max_steps(trained_linear, linear_data, monkeypatch):
    tf_config = {"cluster": {"chief": ["127.0.0.1:1"]}, "task": {"type": "evaluator", "index": 0}}
    estimator = _reader(ke.Estimator, trained_linear, monkeypatch, tf_config)
    train_spec = ke.TrainSpec(lambda: None, max_steps=TRAINED_STEPS)
    eval_result, export_results = ke.train_and_evaluate(estimator, train_spec, _eval_spec(linear_data, "task"))
    assert eval_result["global_step"] == TRAINED_STEPS
    assert export_results == []


def test_evaluator_task_index_must_be_0(trained_linear, linear_data, monkeypatch):
    tf_config = {"cluster": {"chief": ["127.0.0.1:1"]}, "task": {"type": "evaluator", "index": 1}}
    estimator = _reader(ke.Estimator, trained_linear, monkeypatch, tf_config)
    with pytest.raises(ValueError, match="TF_CONFIG may have one evaluator task, index 0, got index 1"):
        ke.train_and_evaluate(estimator, ke.TrainSpec(lambda: None), _eval_spec(linear_data, "second"))


class DeletesTheCheckpointWhenAsked(ke.Estimator):
    """Deletes the checkpoint between the evaluator's look and its restore, as training's
    keep_checkpoint_max does to an evaluator that is a step behind."""

    def ready_for_evaluation(self, checkpoint_path):
        for path in tf.io.gfile.glob(checkpoint_path + ".*"):
            tf.io.gfile.remove(path)
        return True


def test_a_checkpoint_deleted_while_it_is_restored_is_skipped(trained_linear, linear_data, tmp_path):
    model_dir = str(tmp_path / "model")
    shutil.copytree(trained_linear.model_dir, model_dir)
    estimator = DeletesTheCheckpointWhenAsked(linear_model_fn, model_dir=model_dir, params={"learning_rate": 0.2})
    exporter = RecordingExporter()
    checkpoint_evaluator = evaluator.CheckpointEvaluator(estimator, _eval_spec(linear_data, "deleted", exporter), None)
    assert not checkpoint_evaluator.evaluate_newest()
    assert exporter.final_flags == [] and checkpoint_evaluator.eval_result is None
