"""Runs the original KMeans Estimator (TF 2.15 with tensorflow-estimator) on the runs of a spec.

Run by the interpreter of the original, never imported by the tests:

    python original_model_dirs.py SPEC.json RESULT.json

SPEC.json holds `points` ([n, d] floats), `initial_clusters` ([k, d]), `batch_size`,
optionally `inter_op_threads` (the sessions' inter-op threads; -1 runs every op in the
calling thread, one at a time, so that the original's unordered read of its counts and
add to them always resolve alike), and `runs`, a list of runs, each with:
  - `model_dir`: trained, or restored when it already holds a checkpoint;
  - `mode`: "full" (full batch), or the int `mini_batch_steps_per_iteration` of mini-batch;
  - `distance_metric`: "squared_euclidean" or "cosine";
  - `calls`: steps of each `train()` call, in order (may be empty);
  - `snapshot_after` (optional): the number of calls after which the model_dir is copied
    to `snapshot_dir`, so a reader can go on from that checkpoint.
Each `train()` call reads the points in order from their start, in batches of
`batch_size`, repeating. RESULT.json gets, per run: `before`, the state restored before
the first call (None without a checkpoint); `after`, the state after each call; and
`snapshot`, the state copied (None without `snapshot_after`). A state holds the centers,
the global step and, but in `after`, the nearest center of each point.
"""
import json
import os
import shutil
import sys

import numpy as np
import tensorflow as tf


def _input_fn(points, batch_size):
    def input_fn():
        return tf.data.Dataset.from_tensor_slices(points).batch(batch_size).repeat()

    return input_fn


def _config(spec):
    threads = spec.get("inter_op_threads")
    if threads is None:
        return None
    options = tf.compat.v1.ConfigProto(inter_op_parallelism_threads=threads)
    return tf.estimator.RunConfig(session_config=options)


def _estimator(spec, run):
    mini_batch = run["mode"] != "full"
    return tf.compat.v1.estimator.experimental.KMeans(
        config=_config(spec),
        num_clusters=len(spec["initial_clusters"]),
        model_dir=run["model_dir"],
        initial_clusters=np.array(spec["initial_clusters"], np.float32),
        distance_metric=run["distance_metric"],
        use_mini_batch=mini_batch,
        mini_batch_steps_per_iteration=int(run["mode"]) if mini_batch else 1,
        seed=2,
    )


def _state(kmeans, points=None):
    state = {"centers": kmeans.cluster_centers().tolist(), "global_step": int(kmeans.get_variable_value("global_step"))}
    if points is not None:
        whole = lambda: tf.data.Dataset.from_tensors(points)  # noqa: E731
        state["nearest"] = [int(index) for index in kmeans.predict_cluster_index(whole)]
    return state


def _run(spec, run):
    points = np.array(spec["points"], np.float32)
    input_fn = _input_fn(points, spec["batch_size"])
    kmeans = _estimator(spec, run)
    restored = tf.train.latest_checkpoint(run["model_dir"]) is not None
    result = {"before": _state(kmeans, points) if restored else None, "after": [], "snapshot": None}
    for number, steps in enumerate(run["calls"], start=1):
        kmeans.train(input_fn, steps=steps)
        result["after"].append(_state(kmeans))
        if run.get("snapshot_after") == number:
            shutil.copytree(run["model_dir"], run["snapshot_dir"])
            result["snapshot"] = _state(kmeans, points)
    return result


def main(spec_path, result_path):
    with open(spec_path) as handle:
        spec = json.load(handle)
    results = [_run(spec, run) for run in spec["runs"]]
    with open(result_path + ".tmp", "w") as handle:
        json.dump(results, handle)
    os.replace(result_path + ".tmp", result_path)


if __name__ == "__main__":
    main(*sys.argv[1:])
