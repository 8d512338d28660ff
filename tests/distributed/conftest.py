"""A test cluster: real processes on 127.0.0.1, each with a hard timeout, killed by pid."""
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

TASK_SCRIPT = pathlib.Path(__file__).with_name("cluster_task.py")
REPO = TASK_SCRIPT.parents[2]

# Every task process ends by itself within this (SIGALRM), and is killed at teardown.
HARD_TIMEOUT_SECS = 90

BLOB_CENTERS = np.array([[0.0, 0.0], [10.0, 10.0], [-10.0, 10.0]], np.float32)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class Cluster:
    """One ps, one chief, one worker (and an evaluator outside the cluster), as processes."""

    def __init__(self, directory, settings):
        self.directory = pathlib.Path(directory)
        ports = _free_ports(3)
        self.cluster = {
            "ps": [f"127.0.0.1:{ports[0]}"],
            "chief": [f"127.0.0.1:{ports[1]}"],
            "worker": [f"127.0.0.1:{ports[2]}"],
        }
        self.settings = dict(settings, hard_timeout_secs=HARD_TIMEOUT_SECS)
        self.processes = {}
        self._logs = []

    @property
    def model_dir(self):
        return self.settings["model_dir"]

    def start(self, task):
        """Starts `task` ('ps', 'chief', 'worker' or 'evaluator'), replacing a dead one."""
        tf_config = {"cluster": self.cluster, "task": {"type": task, "index": 0}}
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), TF_CPP_MIN_LOG_LEVEL="2",
                   PYTHONPATH=str(REPO))
        log = open(self.directory / f"{task}-{len(self._logs)}.log", "w")
        self._logs.append(log)
        self.processes[task] = subprocess.Popen(
            [sys.executable, str(TASK_SCRIPT), json.dumps(self.settings)],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO))

    def kill(self, task):
        process = self.processes[task]
        process.kill()
        process.wait(timeout=10)

    def wait_all(self, timeout):
        """Waits until every task has exited; returns {task: exit code}."""
        deadline = time.monotonic() + timeout
        codes = {}
        for task, process in self.processes.items():
            try:
                codes[task] = process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                codes[task] = None
        return codes

    def log(self, task):
        """The text of the latest log of `task`."""
        paths = sorted(self.directory.glob(f"{task}-*.log"), key=lambda path: int(path.stem.split("-")[1]))
        return paths[-1].read_text()

    def close(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        for log in self._logs:
            log.close()


@pytest.fixture
def make_cluster(tmp_path):
    """Makes `Cluster`s for one test; kills whatever still runs at teardown."""
    clusters = []

    def make(**settings):
        points = blob_points()
        data = tmp_path / "points.npy"
        np.save(data, points)
        base = dict(model_dir=str(tmp_path / "model"), data=str(data), k=3, shard=True,
                    repeat=True, batch_size=50, mini_batch=True)
        base.update(settings)
        cluster = Cluster(tmp_path, base)
        clusters.append(cluster)
        return cluster

    yield make
    for cluster in clusters:
        cluster.close()


def blob_points(per_blob=200, seed=0):
    """Three well-separated Gaussian blobs around `BLOB_CENTERS`, shuffled."""
    rng = np.random.default_rng(seed)
    points = np.concatenate([center + rng.normal(size=(per_blob, 2)) for center in BLOB_CENTERS])
    rng.shuffle(points)
    return points.astype(np.float32)
