"""Fixed cost of short Estimator calls: train(steps=1), evaluate and predict in a loop.

Baselines measured in the same run:
  * "stock": the same KMeans graph run the way the original tf.estimator did, through
    `tf.compat.v1.train.MonitoredTrainingSession(checkpoint_dir=..., save_checkpoint_steps=1)`
    with TensorFlow's own CheckpointSaverHook (which writes the whole graph, constants
    included, to graph.pbtxt and the .meta file on every call) and default session options;
  * "original" (with --original-python PATH, a Python holding tensorflow-cpu 2.15.1 and
    tensorflow-estimator 2.15.0, see setup_original.sh): the same workloads with
    `tf.compat.v1.estimator.experimental.KMeans`, in a subprocess.

    python benchmarks/bench_calls.py [--original-python .venv-original/bin/python] [--json PATH]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The environment before kmeans_estimator is imported here, which sets TF_CPU_ALLOCATOR_USE_BFC
# unless it was set: the original runs with the allocator its users had.
STARTING_ENVIRONMENT = dict(os.environ)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

SEED = 7
SMALL = dict(points=100, dims=2, centers=3)  # the seed example's size
LARGE = dict(points=200_000, dims=64, centers=10)
TARGET_CHEAPER = 5.0

# Runs the loop with the original Estimator; timings come back as one JSON line. Kept as
# source text because it runs under another Python and TensorFlow.
ORIGINAL_WORKLOAD = r"""
import json, os, sys, tempfile, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
tf.get_logger().setLevel("ERROR")
small, large, rounds = json.loads(sys.argv[1])
KMeans = tf.compat.v1.estimator.experimental.KMeans

def points(spec, seed):
    return np.random.default_rng(seed).normal(size=(spec["points"], spec["dims"])).astype(np.float32)

def timed(function):
    start = time.perf_counter(); function(); return time.perf_counter() - start

x = points(small, 7)
input_fn = lambda: (tf.constant(x), None)
model = KMeans(small["centers"], model_dir=tempfile.mkdtemp(), use_mini_batch=False, seed=1)
model.train(input_fn, steps=1)
train = min(timed(lambda: model.train(input_fn, steps=1)) for _ in range(rounds))
evaluate = min(timed(lambda: model.evaluate(input_fn, steps=1)) for _ in range(rounds))
once_fn = lambda: tf.data.Dataset.from_tensors(tf.constant(x))
predict = min(timed(lambda: list(model.predict(once_fn))) for _ in range(rounds))
y = points(large, 8)
large_fn = lambda: (tf.constant(y), None)
model = KMeans(large["centers"], model_dir=tempfile.mkdtemp(), seed=1)
model.train(large_fn, steps=1)
large_train = min(timed(lambda: model.train(large_fn, steps=1)) for _ in range(2))
print(json.dumps({"train_s": train, "evaluate_s": evaluate, "predict_s": predict,
                  "large_train_s": large_train, "tensorflow": tf.__version__}))
"""


def points(spec, seed):
    return np.random.default_rng(seed).normal(size=(spec["points"], spec["dims"])).astype(np.float32)


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def stock_train_call(model, input_fn, model_dir):
    """One train(steps=1) call of our KMeans graph, run as tf.estimator ran it."""
    import tensorflow as tf
    from kmeans_estimator.estimator.spec import ModeKeys

    built = model._build(input_fn, ModeKeys.TRAIN)
    with built.graph.as_default():
        hooks = list(built.input_hooks) + list(built.spec.training_hooks) + [
            tf.compat.v1.train.NanTensorHook(built.spec.loss),
            tf.compat.v1.train.StopAtStepHook(num_steps=1),
        ]
        with tf.compat.v1.train.MonitoredTrainingSession(
            checkpoint_dir=model_dir, hooks=hooks, save_checkpoint_steps=1,
            save_summaries_steps=100, log_step_count_steps=100,
            config=tf.compat.v1.ConfigProto(allow_soft_placement=True),
        ) as session:
            while not session.should_stop():
                session.run([built.spec.train_op, built.spec.loss])


def measure_ours(rounds):
    import tensorflow as tf

    import kmeans_estimator as ke

    tf.get_logger().setLevel("ERROR")
    x = points(SMALL, SEED)

    def input_fn():
        return tf.constant(x)

    def once_fn():  # predict reads until the input ends; a bare tensor never does
        return tf.data.Dataset.from_tensors(tf.constant(x))

    model = ke.KMeans(SMALL["centers"], model_dir=tempfile.mkdtemp(), use_mini_batch=False, seed=1)
    model.train(input_fn, steps=1)
    result = {
        "train_s": min(timed(lambda: model.train(input_fn, steps=1)) for _ in range(rounds)),
        "evaluate_s": min(timed(lambda: model.evaluate(input_fn, steps=1)) for _ in range(rounds)),
        "predict_s": min(timed(lambda: list(model.predict(once_fn))) for _ in range(rounds)),
    }
    stock_dir = tempfile.mkdtemp()
    stock_model = ke.KMeans(SMALL["centers"], model_dir=stock_dir, use_mini_batch=False, seed=1)
    stock_train_call(stock_model, input_fn, stock_dir)
    result["stock_train_s"] = min(
        timed(lambda: stock_train_call(stock_model, input_fn, stock_dir)) for _ in range(rounds))

    y = points(LARGE, SEED + 1)

    def large_fn():
        return tf.constant(y)

    model = ke.KMeans(LARGE["centers"], model_dir=tempfile.mkdtemp(), seed=1)
    model.train(large_fn, steps=1)
    result["large_train_s"] = min(timed(lambda: model.train(large_fn, steps=1)) for _ in range(3))
    stock_dir = tempfile.mkdtemp()
    stock_model = ke.KMeans(LARGE["centers"], model_dir=stock_dir, seed=1)
    stock_train_call(stock_model, large_fn, stock_dir)
    result["stock_large_train_s"] = min(
        timed(lambda: stock_train_call(stock_model, large_fn, stock_dir)) for _ in range(2))
    return result


def measure_original(python, rounds):
    env = dict(STARTING_ENVIRONMENT, TF_CPP_MIN_LOG_LEVEL="2")
    finished = subprocess.run(
        [python, "-c", ORIGINAL_WORKLOAD, json.dumps([SMALL, LARGE, rounds])],
        capture_output=True, text=True, env=env, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"the original's run failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--original-python", metavar="PATH",
                        help="a Python with tensorflow-cpu==2.15.1 and tensorflow-estimator==2.15.0")
    parser.add_argument("--rounds", type=int, default=5, help="calls per loop (best is kept)")
    parser.add_argument("--json", metavar="PATH", help="write the measurements as JSON")
    args = parser.parse_args()
    ours = measure_ours(args.rounds)
    original = measure_original(args.original_python, args.rounds) if args.original_python else None

    print(f"per-call cost, best of {args.rounds} (seconds); small = {SMALL['points']} x "
          f"{SMALL['dims']}, k={SMALL['centers']}; large = train(steps=1) on {LARGE['points']} x "
          f"{LARGE['dims']} given as a tf.constant, k={LARGE['centers']}")
    print(f"{'call':<22} {'ours':>7} {'stock':>7} {'x cheaper':>9}"
          + (f" {'original':>9} {'x cheaper':>9}" if original else ""))
    rows = [("train(steps=1) small", "train_s", "stock_train_s"), ("evaluate small", "evaluate_s", None),
            ("predict small", "predict_s", None), ("train(steps=1) large", "large_train_s", "stock_large_train_s")]
    for label, key, stock_key in rows:
        line = f"{label:<22} {ours[key]:>7.3f} "
        line += f"{ours[stock_key]:>7.3f} {ours[stock_key] / ours[key]:>8.1f}x" if stock_key else f"{'':>7} {'':>9}"
        if original:
            line += f" {original[key]:>9.3f} {original[key] / ours[key]:>8.1f}x"
        print(line)
    large_ratio = (original or ours)["large_train_s" if original else "stock_large_train_s"] / ours["large_train_s"]
    verdict = "PASS" if large_ratio >= TARGET_CHEAPER else "MISS"
    against = "the original" if original else "the stock-session baseline"
    print(f"target: train(steps=1) on the large constant >= {TARGET_CHEAPER:.0f}x cheaper than "
          f"{against}: {large_ratio:.1f}x {verdict}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"ours": ours, "original": original, "small": SMALL, "large": LARGE}, out, indent=2)


if __name__ == "__main__":
    main()
