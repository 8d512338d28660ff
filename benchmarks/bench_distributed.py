"""Mini-batch training speed on a parameter-server cluster against one process, in one run.

Three set-ups train the same KMeans (mini-batch, kmeans++, k=16, batches of 1024 from
100k x 16 points, `from_tensor_slices(points).repeat().batch(1024)`), each for
--steps global steps:
  single  one process, no cluster;
  1 worker  ps + chief processes on 127.0.0.1;
  2 workers ps + chief + one worker, each reading its own half of the points.
Each set-up's points/s is counted by the chief over its steady state (from its 20th step to
the end of training, steps of all workers included) and printed with its ratio to the
single process measured in the same run. All tasks run on this one machine, so with few
cores the workers compete with each other and with the ps for them.

    python benchmarks/bench_distributed.py [--steps 1500] [--repeats 2]
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

from bench_workloads import cpu_description  # noqa: E402

SHAPE = dict(points=100_000, dims=16, k=16, batch=1024)
TASK_TIMEOUT_SECS = 600


def _train(settings):
    """Runs one task (or the single process); the chief writes its steady-state rate."""
    import tensorflow as tf
    import kmeans_estimator as ke

    config = ke.RunConfig(model_dir=settings["model_dir"], save_checkpoints_steps=None,
                          save_checkpoints_secs=None, save_summary_steps=None, log_step_count_steps=None)
    points = np.random.default_rng(0).normal(size=(SHAPE["points"], SHAPE["dims"])).astype(np.float32)
    if config.task_type in ("chief", "worker") and config.num_worker_replicas > 1:
        points = np.array_split(points, config.num_worker_replicas)[config.global_id_in_cluster]

    def input_fn():
        return tf.data.Dataset.from_tensor_slices(points).repeat().batch(SHAPE["batch"])

    class Rate(tf.compat.v1.train.SessionRunHook):
        def begin(self):
            self.step = tf.compat.v1.train.get_global_step()
            self.runs, self.start = 0, None

        def after_run(self, run_context, run_values):
            self.runs += 1
            if self.runs == 20:
                self.start = (run_context.session.run(self.step), time.perf_counter())

        def end(self, session):
            step, end = session.run(self.step), time.perf_counter()
            rate = (step - self.start[0]) * SHAPE["batch"] / (end - self.start[1])
            with open(settings["result"], "w") as result:
                json.dump({"points_per_sec": rate}, result)

    kmeans = ke.KMeans(SHAPE["k"], use_mini_batch=True, seed=1, config=config)
    hooks = [Rate()] if config.is_chief else []
    spec = ke.TrainSpec(input_fn, max_steps=settings["steps"], hooks=hooks)
    if config.task_type == "worker" and not config.cluster_spec:
        kmeans.train(input_fn, hooks=hooks, max_steps=settings["steps"])
    else:
        ke.train_and_evaluate(kmeans, spec, ke.EvalSpec(input_fn, steps=1, throttle_secs=10**6))


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _run(workers, steps, directory):
    """Points/s of one set-up: 0 workers means the single process."""
    os.makedirs(directory, exist_ok=True)
    settings = dict(model_dir=os.path.join(directory, f"model{workers}"), steps=steps,
                    result=os.path.join(directory, f"result{workers}.json"))
    tasks = [("worker", 0, None)]
    if workers:
        ports = _free_ports(workers + 1)
        cluster = {"ps": [f"127.0.0.1:{ports[0]}"], "chief": [f"127.0.0.1:{ports[1]}"]}
        if workers > 1:
            cluster["worker"] = [f"127.0.0.1:{port}" for port in ports[2:]]
        tasks = [("ps", 0, cluster), ("chief", 0, cluster)]
        tasks += [("worker", index, cluster) for index in range(workers - 1)]
    processes = []
    try:
        for task_type, index, cluster in tasks:
            env = dict(os.environ)
            env.pop("TF_CONFIG", None)
            if cluster:
                env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})
            processes.append(subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--task", json.dumps(settings)], env=env))
        for process in processes:
            if process.wait(timeout=TASK_TIMEOUT_SECS) != 0:
                raise RuntimeError(f"a task of the {workers}-worker run exited with {process.returncode}")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    with open(settings["result"]) as result:
        return json.load(result)["points_per_sec"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--task", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.task:
        _train(json.loads(args.task))
        return
    print(cpu_description())
    print(f"mini-batch KMeans, {SHAPE}, {args.steps} global steps per run; best of {args.repeats}")
    rates = {0: [], 1: [], 2: []}
    with tempfile.TemporaryDirectory() as directory:
        for repeat in range(args.repeats):
            for workers in rates:  # Interleaved, so that machine noise hits all alike.
                rates[workers].append(_run(workers, args.steps, os.path.join(directory, str(repeat))))
    single = max(rates[0])
    for workers, label in ((0, "single process"), (1, "cluster, 1 worker"), (2, "cluster, 2 workers")):
        best = max(rates[workers])
        print(f"{label:20s} {best:12,.0f} points/s   {best / single:5.2f}x single")


if __name__ == "__main__":
    main()
