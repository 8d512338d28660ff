"""The Estimator's training hooks, seen through the model directory and the logs."""
import logging

import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

import kmeans_estimator as ke
from tests.estimator.linear_model import linear_model_fn


def _train(tmp_path, linear_data, steps, **config):
    x, y = linear_data
    estimator = ke.Estimator(
        linear_model_fn, model_dir=str(tmp_path), params={"learning_rate": 0.1},
        config=ke.RunConfig(tf_random_seed=1, **config),
    )
    estimator.train(ke.inputs.numpy_input_fn({"x": x}, y, batch_size=16, num_epochs=None), steps=steps)
    return estimator


def _scalar_steps(directory, tag):
    accumulator = event_accumulator.EventAccumulator(str(directory))
    accumulator.Reload()
    if tag not in accumulator.Tags()["scalars"]:
        return []
    return [event.step for event in accumulator.Scalars(tag)]


def test_summaries_are_written_on_the_first_step_and_every_n_after(tmp_path, linear_data):
    _train(tmp_path, linear_data, steps=10, save_summary_steps=4, log_step_count_steps=0)
    assert _scalar_steps(tmp_path, "loss") == [1, 5, 9]
    assert _scalar_steps(tmp_path, "global_step/sec") == []


def test_no_summaries_when_save_summary_steps_is_zero(tmp_path, linear_data):
    _train(tmp_path, linear_data, steps=5, save_summary_steps=0, log_step_count_steps=0)
    assert _scalar_steps(tmp_path, "loss") == []


def test_step_rate_and_loss_are_reported_every_log_step_count_steps(tmp_path, linear_data, caplog):
    logger = tf.get_logger()
    verbosity = logger.level
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.INFO)
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            _train(tmp_path, linear_data, steps=10, save_summary_steps=0, log_step_count_steps=3)
    finally:
        logger.setLevel(verbosity)
    # The rate at the step reached; the loss lines name the step each logged step started
    # from, as tf.estimator's LoggingTensorHook did.
    assert _scalar_steps(tmp_path, "global_step/sec") == [4, 7, 10]
    logged_steps = [
        int(record.getMessage().split("step = ")[1].split()[0])
        for record in caplog.records if record.getMessage().startswith("loss = ")
    ]
    assert logged_steps == [0, 3, 6, 9]
    assert sum(record.getMessage().startswith("global_step/sec: ") for record in caplog.records) == 3


def test_checkpoints_follow_save_checkpoints_steps_and_the_end(tmp_path, linear_data):
    estimator = _train(tmp_path, linear_data, steps=7, save_checkpoints_steps=3,
                       save_summary_steps=0, log_step_count_steps=0)
    state = estimator.latest_checkpoint()
    assert state.endswith("model.ckpt-7")
    names = {path.name for path in tmp_path.iterdir()}
    assert {"model.ckpt-3.index", "model.ckpt-6.index", "model.ckpt-7.index"} <= names
