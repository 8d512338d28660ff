"""One task of a test cluster, run in its own process by tests/distributed.

The test gives a JSON settings object as the only argument; TF_CONFIG comes from the
environment. The task trains KMeans with `kmeans_estimator.train_and_evaluate` on the
points in `settings["data"]`: the chief and each worker read their own contiguous
shard when `settings["shard"]` is true, else all of them.
"""
import json
import os
import signal
import sys
import time

import numpy as np
import tensorflow as tf

import kmeans_estimator as ke


class _SlowStepsHook(tf.compat.v1.train.SessionRunHook):
    """Sleeps after each step, so that a test can act while training runs."""

    def __init__(self, secs):
        self._secs = secs

    def after_run(self, run_context, run_values):
        time.sleep(self._secs)


class _MarkerHook(tf.compat.v1.train.SessionRunHook):
    """Writes `path` after this task's `after_steps`-th step."""

    def __init__(self, path, after_steps):
        self._path = path
        self._after_steps = after_steps
        self._steps = 0

    def after_run(self, run_context, run_values):
        self._steps += 1
        if self._steps == self._after_steps:
            with open(self._path, "w") as marker:
                marker.write(str(os.getpid()))


def _input_fn(settings, config):
    points = np.load(settings["data"])
    if settings["shard"] and config.task_type in ("chief", "worker"):
        points = np.array_split(points, config.num_worker_replicas)[config.global_id_in_cluster]
    batch_size = settings.get("batch_size") or len(points)

    def input_fn():
        dataset = tf.data.Dataset.from_tensor_slices(points).batch(batch_size)
        return dataset.repeat() if settings["repeat"] else dataset

    return input_fn


def _eval_input_fn(settings):
    points = np.load(settings["data"])

    def input_fn():
        return tf.data.Dataset.from_tensor_slices(points).batch(len(points))

    return input_fn


def main(settings):
    config = ke.RunConfig(
        model_dir=settings["model_dir"], save_checkpoints_steps=settings.get("checkpoint_steps", 50),
        save_summary_steps=50, log_step_count_steps=None)
    initial = settings.get("initial_centers")
    kmeans = ke.KMeans(
        num_clusters=settings["k"],
        initial_clusters=np.load(initial) if initial else ke.KMeans.KMEANS_PLUS_PLUS_INIT,
        use_mini_batch=settings["mini_batch"],
        mini_batch_steps_per_iteration=settings.get("steps_per_iteration", 1),
        seed=3,
        config=config,
    )
    hooks = []
    if settings.get("step_sleep"):
        hooks.append(_SlowStepsHook(settings["step_sleep"]))
    if settings.get("marker"):
        name = f"{config.task_type}{config.task_id}-{os.getpid()}"
        hooks.append(_MarkerHook(os.path.join(settings["marker"], name), 5))
    train_spec = ke.TrainSpec(_input_fn(settings, config), max_steps=settings.get("max_steps"), hooks=hooks)
    exporter = ke.LatestExporter(
        "kmeans", ke.export.build_raw_serving_input_receiver_fn(
            {"points": tf.TensorSpec([None, np.load(settings["data"]).shape[1]], tf.float32)}))
    eval_spec = ke.EvalSpec(
        _eval_input_fn(settings), steps=1, exporters=[exporter], start_delay_secs=0, throttle_secs=1)
    ke.train_and_evaluate(kmeans, train_spec, eval_spec)


if __name__ == "__main__":
    SETTINGS = json.loads(sys.argv[1])
    # The hard timeout: SIGALRM's default action ends the process, whatever its threads do.
    signal.alarm(SETTINGS["hard_timeout_secs"])
    tf.get_logger().setLevel("INFO")
    main(SETTINGS)
