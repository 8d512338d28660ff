"""Where one train() call's time goes: the input_fn, our input rebuild, the model graph,
the session, the steps, the checkpoint, the graph and event files.

A KMeans is trained once, then called again (the call a loop of calls sees) three times
under cProfile; each phase's figure is the cumulative time of the function that does it,
the least of the three calls. Two inputs:

- `constant`: `train(steps=1)` on `lambda: tf.constant(points)`, 200000 x 64 float32
  (51 MB), k=10, the defaults (bench_calls.py's large call);
- `tfdata`: `train(steps=300)` on `from_tensor_slices(points).shuffle(10000).repeat()
  .batch(1024)`, 200000 x 100 float32 (80 MB), k=100, kmeans++ (bench_workloads.py's
  workload 2).

Run it from two checkouts to compare code (the phases are named by the functions of this
one; a phase a checkout lacks shows 0):

    python benchmarks/bench_call_phases.py [--input constant|tfdata]
"""
import argparse
import cProfile
import os
import pstats
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from bench_workloads import cpu_description  # noqa: E402

CALLS = 3
# (label, file the function is in, function name).
PHASES = [
    ("the input_fn (TensorFlow making the array a constant)", "estimator/inputs.py", "call_input_fn"),
    ("its large constants read and the input built again fed", "fed_constants.py", "rebuild_feeding_constants"),
    ("the input digest", "kept_sessions.py", "input_digest"),
    ("the model graph", "estimator/calls.py", "add_model"),
    ("session creation or restore", "monitored_session.py", "__init__"),
    ("the steps", "training_loop.py", "run"),
    ("the checkpoint", "training/saver.py", "save"),
    ("graph.pbtxt and .meta", "checkpoints.py", "write"),
    ("session close", "monitored_session.py", "close"),
]


def make_call(kind):
    """(KMeans, input_fn, steps) of `kind`, trained once already."""
    import tensorflow as tf

    import kmeans_estimator as ke

    tf.get_logger().setLevel("ERROR")
    model_dir = tempfile.mkdtemp(prefix="bench_call_phases_")
    rng = np.random.default_rng(8)
    if kind == "constant":
        points = rng.normal(size=(200_000, 64)).astype(np.float32)
        model = ke.KMeans(10, model_dir=model_dir, seed=1)
        input_fn, steps = (lambda: tf.constant(points)), 1
    else:
        points = rng.normal(size=(200_000, 100)).astype(np.float32)
        model = ke.KMeans(100, model_dir=model_dir, seed=1, initial_clusters=ke.KMeans.KMEANS_PLUS_PLUS_INIT)

        def input_fn():
            return tf.data.Dataset.from_tensor_slices(points).shuffle(10000).repeat().batch(1024)

        steps = 300
    model.train(input_fn, steps=1)
    return model, input_fn, steps


def phase_seconds(stats):
    """{label: cumulative seconds} of one profiled call, and the call's total."""
    figures = {}
    for label, path, name in PHASES:
        times = [entry[3] for (filename, _, function), entry in stats.items()
                 if filename.endswith(path) and function == name]
        figures[label] = max(times, default=0.0)
    return figures, max(entry[3] for entry in stats.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", choices=("constant", "tfdata"), default="constant")
    args = parser.parse_args()
    model, input_fn, steps = make_call(args.input)
    model.train(input_fn, steps=steps)
    calls = []
    for _ in range(CALLS):
        profile = cProfile.Profile()
        profile.enable()
        model.train(input_fn, steps=steps)
        profile.disable()
        calls.append(phase_seconds(pstats.Stats(profile).stats))
    print(f"machine: {cpu_description()}")
    print(f"input {args.input}, train(steps={steps}) after train(steps=1); least of {CALLS} calls, seconds")
    print(f"| phase | seconds |\n| --- | --- |\n| the whole call | {min(total for _, total in calls):.3f} |")
    for label, _, _ in PHASES:
        print(f"| {label} | {min(figures[label] for figures, _ in calls):.3f} |")


if __name__ == "__main__":
    main()
