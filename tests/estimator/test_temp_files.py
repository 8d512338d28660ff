"""Stale temporary directories of exports and checkpoint saves are removed, live ones kept;
each checkpoint's .meta file is written, atomically, before the checkpoint is recorded.

The writers are real processes killed with SIGKILL. They follow the protocol of `temp_files`
with plain `fcntl.flock` calls on `<dir>.lock`, so the tests check the protocol itself.
"""
import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

import kmeans_estimator as ke
from kmeans_estimator.estimator import checkpoints, saved_model, temp_files
from tests.estimator.linear_model import linear_model_fn

HOUR = 3600
TIMEOUT = 30  # Seconds; no test waits this long unless something is broken.
# How long a writer holds its locks unless killed first (teardown kills it by pid): far
# longer than any test, so that a slow, loaded machine never sees a lock expire early.
HOLD_SECS = 600

# Locks `<p>.lock` for each p of "lock", then creates each directory of "make" with a file in
# it, then creates the "ready" file and sleeps for "sleep" seconds (its own hard timeout).
_WRITER = """
import fcntl, json, os, sys, time
spec = json.loads(sys.argv[1])
held = []
for path in spec["lock"]:
    descriptor = os.open(path + ".lock", os.O_CREAT | os.O_RDWR, 0o644)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    held.append(descriptor)
for path in spec["make"]:
    os.makedirs(path)
    with open(os.path.join(path, "part"), "w") as handle:
        handle.write("half written")
open(spec["ready"], "w").close()
time.sleep(spec["sleep"])
"""


@pytest.fixture
def writer(tmp_path_factory):
    """Starts writer processes; yields `start(lock, make, sleep)`; kills them all by pid."""
    started = []

    def start(lock=(), make=None, sleep=HOLD_SECS):
        make = list(lock) if make is None else list(make)
        ready = str(tmp_path_factory.mktemp("writer") / "ready")
        spec = {"lock": [str(p) for p in lock], "make": [str(p) for p in make],
                "ready": ready, "sleep": sleep}
        process = subprocess.Popen([sys.executable, "-c", _WRITER, json.dumps(spec)])
        started.append(process)
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(ready):
            assert process.poll() is None, "the writer process failed"
            assert time.monotonic() < deadline, "the writer process did not start in time"
            time.sleep(0.02)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=TIMEOUT)


def _kill(process):
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=TIMEOUT)


def _export(base):
    def write_into(directory):
        with open(os.path.join(directory, "saved_model.pb"), "w") as handle:
            handle.write("model")
    return saved_model.write_version(str(base), write_into)


def _make_old(directory, seconds):
    """A lockless temporary directory with one file, all last modified `seconds` ago."""
    directory.mkdir()
    (directory / "part").write_text("x")
    then = time.time() - seconds
    for path in (directory / "part", directory):
        os.utime(path, (then, then))


def test_export_removes_the_temp_dir_of_a_killed_writer(tmp_path, writer):
    stale = tmp_path / "temp-123"
    _kill(writer(lock=[stale]))
    assert (stale / "part").exists() and os.path.exists(temp_files.lock_path(stale))
    version = _export(tmp_path)
    assert os.path.basename(version).isdigit()
    assert os.path.isfile(os.path.join(version, "saved_model.pb"))
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(version)]  # No dir or lock left.


def test_export_keeps_the_temp_dir_of_a_live_writer(tmp_path, writer):
    live = tmp_path / "temp-123"
    writer(lock=[live])
    version = _export(tmp_path)
    assert (live / "part").read_text() == "half written"
    assert os.path.exists(temp_files.lock_path(live))
    assert sorted(os.listdir(tmp_path)) == sorted(
        [os.path.basename(version), "temp-123", "temp-123.lock"])


@pytest.mark.parametrize("seconds_old, removed", [(2 * HOUR, True), (0, False)])
def test_lockless_export_temp_dirs_are_judged_by_age(tmp_path, seconds_old, removed):
    old = tmp_path / "temp-123"
    _make_old(old, seconds_old)
    _export(tmp_path)
    assert old.exists() != removed


def test_lock_files_without_a_dir_are_removed_only_when_free(tmp_path, writer):
    """A writer killed after locking but before mkdir (or after its rename) leaves a lock file."""
    _kill(writer(lock=[tmp_path / "temp-100"], make=[]))
    writer(lock=[tmp_path / "temp-200"], make=[])
    version = _export(tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted([os.path.basename(version), "temp-200.lock"])


def test_export_skips_versions_whose_lock_a_live_writer_holds(tmp_path, writer):
    """The lock is taken before the temp dir is made: a held lock claims its version."""
    now = int(time.time())
    claimed = range(now - 2, now + 40)
    writer(lock=[tmp_path / f"temp-{v}" for v in claimed], make=[], sleep=10)
    version = int(os.path.basename(_export(tmp_path)))
    assert version >= claimed.stop


def test_cleanup_errors_are_logged_and_do_not_fail_the_export(tmp_path, caplog):
    (tmp_path / "temp-123").mkdir()
    (tmp_path / "temp-123.lock").mkdir()  # Cannot be opened as a lock file.
    with caplog.at_level(logging.WARNING):
        version = _export(tmp_path)
    assert os.path.isdir(version)
    assert (tmp_path / "temp-123").exists()
    assert "temp-123" in caplog.text and "Could not remove" in caplog.text


def _train(model_dir, steps, linear_data, **options):
    x, y = linear_data
    estimator = ke.Estimator(linear_model_fn, model_dir=str(model_dir), params={"learning_rate": 0.1},
                             config=ke.RunConfig(**options))
    estimator.train(ke.inputs.numpy_input_fn({"x": x}, y, batch_size=16, num_epochs=None), steps=steps)
    return estimator


def test_checkpoint_save_removes_only_stale_saver_temp_dirs(tmp_path, writer, linear_data):
    dead = tmp_path / "model.ckpt-7_temp"
    _kill(writer(lock=[dead, tmp_path / "model.ckpt-9_temp"], make=[dead]))  # 9: lock only.
    live = tmp_path / "model.ckpt-8_temp"
    writer(lock=[live])
    old, fresh = tmp_path / "model.ckpt-5_temp", tmp_path / "model.ckpt-6_temp"
    _make_old(old, 2 * HOUR)
    _make_old(fresh, 60)
    _train(tmp_path, 2, linear_data)
    assert not dead.exists() and not old.exists()
    assert (live / "part").exists() and fresh.exists()
    assert sorted(name for name in os.listdir(tmp_path) if "_temp" in name) == [
        "model.ckpt-6_temp", "model.ckpt-8_temp", "model.ckpt-8_temp.lock"]
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-2")


def test_every_recorded_checkpoint_has_its_meta_and_no_other_is_left(tmp_path, linear_data):
    _train(tmp_path, 5, linear_data, save_checkpoints_steps=1, keep_checkpoint_max=2)
    recorded = tf.train.get_checkpoint_state(str(tmp_path)).all_model_checkpoint_paths
    assert [os.path.basename(path) for path in recorded] == ["model.ckpt-4", "model.ckpt-5"]
    metas = sorted(name for name in os.listdir(tmp_path) if ".meta" in name)
    assert metas == ["model.ckpt-4.meta", "model.ckpt-5.meta"]
    assert not [name for name in os.listdir(tmp_path) if name.endswith(temp_files.LOCK_SUFFIX)]


class _FailSaveOf(tf.compat.v1.train.CheckpointSaverListener):
    """Makes the Saver fail at step `step`: a file stands where it makes its `_temp` dir."""

    def __init__(self, model_dir, step):
        self._blocker = os.path.join(model_dir, f"{checkpoints.CHECKPOINT_PREFIX}-{step}_temp")
        self._step = step

    def before_save(self, session, global_step_value):
        if global_step_value == self._step:
            with open(self._blocker, "w") as handle:
                handle.write("in the way")


def test_meta_is_written_before_the_saver_records_the_checkpoint(tmp_path, linear_data):
    x, y = linear_data
    estimator = ke.Estimator(linear_model_fn, model_dir=str(tmp_path), params={"learning_rate": 0.1},
                             config=ke.RunConfig(save_checkpoints_steps=1))
    input_fn = ke.inputs.numpy_input_fn({"x": x}, y, batch_size=16, num_epochs=None)
    with pytest.raises(tf.errors.OpError):
        estimator.train(input_fn, steps=3, saving_listeners=[_FailSaveOf(str(tmp_path), 2)])
    # The save of step 2 failed inside the Saver: its .meta was already there.
    assert (tmp_path / "model.ckpt-2.meta").is_file()
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-1")
    assert (tmp_path / "model.ckpt-1.meta").is_file()


def test_write_meta_graph_replaces_atomically_and_leaves_no_temp_file(tmp_path):
    path = str(tmp_path / "model.ckpt-3")
    checkpoints.write_meta_graph(b"first", path)
    with open(path + ".meta", "rb") as reader:  # Opened before the second write.
        checkpoints.write_meta_graph(b"second", path)
        # Replaced by a rename, not rewritten in place: a reader keeps the whole old file.
        assert reader.read() == b"first"
    assert (tmp_path / "model.ckpt-3.meta").read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["model.ckpt-3.meta"]
    # A failed write (here the rename: a non-empty directory stands at the target) leaves
    # what was there and no temporary file.
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "model.ckpt-4.meta").mkdir()
    (blocked / "model.ckpt-4.meta" / "keep").write_text("x")
    with pytest.raises((OSError, tf.errors.OpError)):
        checkpoints.write_meta_graph(b"third", str(blocked / "model.ckpt-4"))
    assert os.listdir(blocked) == ["model.ckpt-4.meta"]
    assert os.listdir(blocked / "model.ckpt-4.meta") == ["keep"]
