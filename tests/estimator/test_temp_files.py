"""Stale temporary directories of exports and checkpoint saves are removed; live ones are kept."""
import os
import signal
import subprocess
import sys
import time

import pytest

import kmeans_estimator as ke
from kmeans_estimator.estimator import saved_model, temp_files
from tests.estimator.linear_model import linear_model_fn

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Takes the lock of the temporary directory argv[1], writes into it, says so, then waits.
_WRITER = """
import os, sys, time
from kmeans_estimator.estimator import temp_files
with temp_files.held_lock(sys.argv[1]):
    os.makedirs(sys.argv[1])
    open(os.path.join(sys.argv[1], "part"), "w").write("half written")
    print("writing", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def writer():
    """Starts a real writer process on a temporary directory; yields it; kills it by pid."""
    started = []

    def start(temp_path):
        process = subprocess.Popen([sys.executable, "-c", _WRITER, str(temp_path)], cwd=REPOSITORY,
                                   stdout=subprocess.PIPE, text=True)
        started.append(process)
        deadline = time.time() + 60
        line = ""
        while time.time() < deadline and not line:
            line = process.stdout.readline()
        assert line.strip() == "writing"
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _export(base):
    def write_into(directory):
        with open(os.path.join(directory, "saved_model.pb"), "w") as handle:
            handle.write("model")
    return saved_model.write_version(str(base), write_into)


def test_export_removes_the_temp_dir_of_a_killed_writer(tmp_path, writer):
    stale = tmp_path / "temp-123"
    process = writer(stale)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    version = _export(tmp_path)
    assert not stale.exists() and not os.path.exists(f"{stale}.lock")
    assert os.path.basename(version).isdigit()
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(version)]


def test_export_keeps_the_temp_dir_of_a_live_writer(tmp_path, writer):
    live = tmp_path / "temp-123"
    writer(live)
    _export(tmp_path)
    assert (live / "part").read_text() == "half written"


@pytest.mark.parametrize("hours_old, removed", [(2, True), (0, False)])
def test_lockless_temp_dirs_are_judged_by_age(tmp_path, hours_old, removed):
    old = tmp_path / "temp-123"
    old.mkdir()
    (old / "part").write_text("x")
    then = time.time() - hours_old * 3600
    for path in (old / "part", old):
        os.utime(path, (then, then))
    _export(tmp_path)
    assert old.exists() != removed


def test_checkpoint_save_removes_the_saver_temp_dir_of_a_killed_trainer(tmp_path, writer, linear_data):
    stale = tmp_path / "model.ckpt-7_temp"
    process = writer(stale)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    other_live = tmp_path / "model.ckpt-8_temp"
    writer(other_live)
    x, y = linear_data
    estimator = ke.Estimator(linear_model_fn, model_dir=str(tmp_path), params={"learning_rate": 0.1})
    estimator.train(ke.inputs.numpy_input_fn({"x": x}, y, batch_size=16, num_epochs=None), steps=2)
    assert not stale.exists()
    assert other_live.exists()
    assert not [name for name in os.listdir(tmp_path) if name.endswith(temp_files.LOCK_SUFFIX)
                and not name.startswith("model.ckpt-8")]
