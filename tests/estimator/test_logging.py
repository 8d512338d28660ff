"""The lines the Estimator logs, as tf.estimator logged them, through TensorFlow's `tensorflow` logger.

One KMeans scenario (the one measured against tf.estimator's KMeans: 100 points, k=3,
full-batch, `log_step_count_steps=50`) runs once at INFO: train(steps=120), train(steps=10),
evaluate(steps=1), export; each call's records are kept apart. Numbers that vary from run to
run (losses, rates, times) are masked as X before comparing.
"""
import contextlib
import logging
import os
import re

import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke

_NUMBER = re.compile(r"\d+\.\d+(e[-+]?\d+)?|\d+e[-+]?\d+")
_PROGRESS = re.compile(r"^(loss = |global_step/sec: |Saving checkpoints for |Loss for final step: )")


class _Recorder(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.INFO)
        self.records = []

    def emit(self, record):
        self.records.append((record.levelname, record.getMessage()))


@contextlib.contextmanager
def _recording(verbosity):
    """Records (level name, message) of what reaches a handler at INFO on the `tensorflow` logger,
    with `tf.compat.v1.logging.set_verbosity(verbosity)`; the verbosity is restored after."""
    logger = tf.get_logger()
    previous = logger.level
    recorder = _Recorder()
    tf.compat.v1.logging.set_verbosity(verbosity)
    logger.addHandler(recorder)
    try:
        yield recorder.records
    finally:
        logger.removeHandler(recorder)
        logger.setLevel(previous)


def _masked(records):
    return [(level, _NUMBER.sub("X", message)) for level, message in records]


def _points():
    return np.random.RandomState(0).uniform(0, 10, (100, 2)).astype(np.float32)


def _kmeans(model_dir, **config):
    return ke.KMeans(num_clusters=3, model_dir=str(model_dir), use_mini_batch=False,
                     config=ke.RunConfig(**config))


def _serving_input():
    x = tf.compat.v1.placeholder(tf.float32, [None, 2])
    return ke.export.ServingInputReceiver(x, x)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """Each call's records, and the model_dir's checkpoint prefix."""
    model_dir = tmp_path_factory.mktemp("logged")
    points = _points()
    calls = {}
    with _recording(tf.compat.v1.logging.INFO) as records:
        kmeans = _kmeans(model_dir, log_step_count_steps=50)
        steps = [
            ("train", lambda: kmeans.train(lambda: tf.constant(points), steps=120)),
            ("train_again", lambda: kmeans.train(lambda: tf.constant(points), steps=10)),
            ("evaluate", lambda: kmeans.evaluate(lambda: tf.constant(points), steps=1)),
            ("export", lambda: kmeans.export_saved_model(str(model_dir / "export"), _serving_input)),
        ]
        for name, call in steps:
            start = len(records)
            call()
            calls[name] = list(records[start:])
    return calls, os.path.join(str(model_dir), "model.ckpt")


def test_train_logs_progress_checkpoints_and_final_loss_as_tf_estimator(scenario):
    calls, prefix = scenario
    progress = [(level, message) for level, message in _masked(calls["train"]) if _PROGRESS.match(message)]
    assert progress == [
        ("INFO", f"Saving checkpoints for 0 into {prefix}."),
        ("INFO", "loss = X, step = 0"),
        ("INFO", "global_step/sec: X"),
        ("INFO", "loss = X, step = 50 (X sec)"),
        ("INFO", "global_step/sec: X"),
        ("INFO", "loss = X, step = 100 (X sec)"),
        ("INFO", f"Saving checkpoints for 120 into {prefix}."),
        ("INFO", "Loss for final step: X."),
    ]


def test_a_save_is_logged_between_the_listener_lines(scenario):
    calls, prefix = scenario
    messages = [message for _, message in calls["train"]]
    at = messages.index(f"Saving checkpoints for 120 into {prefix}.")
    assert messages[at - 1:at + 2] == [
        "Calling checkpoint listeners before saving checkpoint 120...",
        f"Saving checkpoints for 120 into {prefix}.",
        "Calling checkpoint listeners after saving checkpoint 120...",
    ]


def test_the_first_call_logs_the_model_fn_and_hook_lines_before_the_session(scenario):
    calls, _ = scenario
    messages = [message for _, message in calls["train"]]
    order = ["Calling model_fn.", "Done calling model_fn.", "Create CheckpointSaverHook.",
             "Calling checkpoint listeners before saving checkpoint 0..."]
    assert [messages.index(line) for line in order] == sorted(messages.index(line) for line in order)


def test_a_resumed_call_saves_its_start_step_again_and_logs_from_it(scenario):
    calls, prefix = scenario
    progress = [(level, message) for level, message in _masked(calls["train_again"]) if _PROGRESS.match(message)]
    assert progress == [
        ("INFO", f"Saving checkpoints for 120 into {prefix}."),
        ("INFO", "loss = X, step = 120"),
        ("INFO", f"Saving checkpoints for 130 into {prefix}."),
        ("INFO", "Loss for final step: X."),
    ]


def test_evaluate_logs_its_start_progress_end_and_results(scenario):
    calls, _ = scenario
    messages = [message for level, message in calls["evaluate"] if level == "INFO"]
    main = [message for message in messages
            if message.startswith(("Starting evaluation at ", "Evaluation [", "Finished evaluation at ",
                                   "Saving dict for global step "))]
    assert len(main) == 4
    assert re.fullmatch(r"Starting evaluation at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", main[0])
    assert main[1] == "Evaluation [1/1]"
    assert re.fullmatch(r"Finished evaluation at \d{4}-\d\d-\d\d-\d\d:\d\d:\d\d", main[2])
    assert re.fullmatch(r"Saving dict for global step 130: global_step = 130, loss = \S+, score = \S+", main[3])


def test_export_logs_its_signatures_and_where_it_wrote(scenario):
    calls, _ = scenario
    messages = [message for level, message in calls["export"] if level == "INFO"]
    reports = [message for message in messages if message.startswith("Signatures INCLUDED in export for ")]
    assert [report.split(":")[0] for report in reports] == [
        f"Signatures INCLUDED in export for {method}" for method in ("Classify", "Regress", "Predict", "Train", "Eval")]
    assert "'serving_default'" in reports[2] and reports[0].endswith(": None")
    assert any(message.startswith("SavedModel written to: ") for message in messages)


def test_at_the_default_verbosity_no_info_line_is_logged(tmp_path):
    points = _points()
    with _recording(tf.compat.v1.logging.WARN) as records:
        kmeans = _kmeans(tmp_path, log_step_count_steps=1)
        kmeans.train(lambda: tf.constant(points), steps=3)
        kmeans.evaluate(lambda: tf.constant(points), steps=1)
    assert [record for record in records if record[0] == "INFO"] == []


def test_an_estimator_without_config_logs_the_default_config(tmp_path):
    with _recording(tf.compat.v1.logging.INFO) as records:
        ke.KMeans(num_clusters=3, model_dir=str(tmp_path))
    messages = [message for level, message in records if level == "INFO"]
    assert messages[0] == "Using default config."
    assert messages[1].startswith("Using config: RunConfig(") and str(tmp_path) in messages[1]


def _checkpoint_steps(model_dir):
    files = sorted(int(name[len("model.ckpt-"):-len(".index")])
                   for name in os.listdir(model_dir) if name.startswith("model.ckpt-") and name.endswith(".index"))
    state = tf.train.get_checkpoint_state(str(model_dir))
    recorded = [int(path.rsplit("-", 1)[1]) for path in state.all_model_checkpoint_paths]
    return files, recorded, int(state.model_checkpoint_path.rsplit("-", 1)[1])


def test_two_train_calls_leave_the_checkpoints_tf_estimator_left(tmp_path):
    """tf.estimator's KMeans, train(steps=5) twice: model.ckpt-0, -5 and -10, all recorded."""
    points = _points()
    kmeans = _kmeans(tmp_path)
    kmeans.train(lambda: tf.constant(points), steps=5)
    assert _checkpoint_steps(tmp_path) == ([0, 5], [0, 5], 5)
    # Saved once the session is ready: after the initial centers were chosen (the original's
    # model.ckpt-0 held none yet).
    first = tf.train.load_checkpoint(str(tmp_path / "model.ckpt-0"))
    assert first.get_tensor("initialized") and first.get_tensor("clusters").shape == (3, 2)
    kmeans.train(lambda: tf.constant(points), steps=5)
    assert _checkpoint_steps(tmp_path) == ([0, 5, 10], [0, 5, 10], 10)
