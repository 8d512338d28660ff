"""One full-batch Lloyd iteration of KMeans against the float32 product `points @ centers.T`.

For each shape it prints the floor, the faster of TensorFlow's and numpy's product of
`[n, d]` points and `[k, d]` centers; our Lloyd iteration; scikit-learn's; and both
iterations' ratios to the floor, with PASS / MISS for ours against `TARGET`. All three are
measured in the same process, round after round, so that each round's ratio compares
times taken within seconds of each other on the shared machine.

    python benchmarks/bench_lloyd.py [--rounds R] [--only N] [--json PATH]

What is timed:
- TensorFlow's product: `session.run` of a MatMul op as a target, not a fetch (its n x k
  output stays in TensorFlow's memory), in the session our iteration runs in, the points
  being the very tensor the model reads and the centers a variable (a product of
  two constants would be folded into a constant by TensorFlow's graph optimizer).
- numpy's product: `np.matmul(points, centers_t, out=buffer)` into a buffer allocated once,
  `centers_t` the contiguous `[d, k]` transpose.
- Our iteration: `session.run` of the train op and the loss, which is what `KMeans.train`
  runs at every step, in the graph `train()` builds for `input_fn=lambda: tf.constant(points)`
  (the input graph of `graphs.build_input_graph`, whose constant is fed to a dataset when
  its iterator starts, see kmeans_estimator/estimator/fed_constants.py, then the model's
  own `model_fn` in TRAIN mode), with the session options `train()` uses; the graph is
  built and the centers chosen (the first `k` points given as initial clusters) before timing.
- scikit-learn's iteration: `KMeans(algorithm="lloyd", tol=0)` from the same initial
  centers, fit with `1 + SKLEARN_ITERATIONS` and with 1 iteration; the difference of the
  two fit times over the difference of their `n_iter_` (it stops early once no label
  changes; a fit of one iteration is then the only one, and the figure is left out).
Each side of a round is the best of `REPEATS` runs; the ratios printed are medians over
rounds, each round's ratio being its iteration over its floor.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_kmeans import SHAPES as KMEANS_SHAPES, best_of as best_of_runs, make_points  # noqa: E402

TARGET = 1.5
REPEATS = 3
SKLEARN_ITERATIONS = 5
# (points, dims, centers, cluster width): the issue's shape, bench_kmeans.py's, and one that
# no code was tuned on.
ISSUE_SHAPE = (200_000, 64, 256, 20)
UNTUNED_SHAPE = (150_000, 48, 384, 20)
SHAPES = [ISSUE_SHAPE] + [(n, d, k, w) for d, k, n, w in KMEANS_SHAPES] + [UNTUNED_SHAPE]


def best_of(function, repeats=REPEATS):
    """The best of `repeats` timed runs after one untimed run."""
    function()
    return best_of_runs(function, repeats)


def cpu_description():
    """Model name, family/model and flags of the first CPU in /proc/cpuinfo, and the CPU count."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return {
        "model_name": fields.get("model name", platform.processor() or "unknown"),
        "family": fields.get("cpu family"), "model": fields.get("model"),
        "flags": fields.get("flags", ""), "cpus": len(os.sched_getaffinity(0)),
    }


def sklearn_iteration(points, initial_centers):
    """Seconds per Lloyd iteration of scikit-learn, or None when it converged after one."""
    from sklearn.cluster import KMeans

    def fit(iterations):
        model = KMeans(len(initial_centers), init=initial_centers, n_init=1, max_iter=iterations,
                       algorithm="lloyd", tol=0.0)
        start = time.perf_counter()
        model.fit(points)
        return time.perf_counter() - start, model.n_iter_

    one_s, one_n = min(fit(1) for _ in range(REPEATS))
    many_s, many_n = min(fit(1 + SKLEARN_ITERATIONS) for _ in range(REPEATS))
    if many_n <= one_n:
        return None
    return (many_s - one_s) / (many_n - one_n)


def worker(spec):
    """All rounds of one shape in this process; returns the per-round figures."""
    import tensorflow as tf

    import kmeans_estimator as ke
    from kmeans_estimator.estimator.calls import session_config
    from kmeans_estimator.estimator.graphs import build_input_graph
    from kmeans_estimator.estimator.spec import ModeKeys

    n, d, k, width = spec["shape"]
    points = make_points(d, k, n, width)
    initial_centers = points[:k].copy()
    model = ke.KMeans(k, initial_clusters=initial_centers, use_mini_batch=False, seed=1)
    # The input graph train() builds for `lambda: tf.constant(points)`.
    input_graph = build_input_graph(lambda: tf.constant(points), ModeKeys.TRAIN, model.config, None)
    with input_graph.graph.as_default() as graph:
        features = input_graph.features
        train_spec = model.model_fn(features, None, ModeKeys.TRAIN, model.config)
        floor_centers = tf.Variable(initial_centers, trainable=False)
        tf_product = tf.matmul(features, floor_centers, transpose_b=True).op
        session = tf.compat.v1.Session(config=session_config(model.config, graph, training=True))
        session.run([tf.compat.v1.global_variables_initializer(), tf.compat.v1.local_variables_initializer()])
        for hook in input_graph.input_hooks + list(train_spec.training_hooks):
            hook.after_create_session(session, None)
        step = [train_spec.train_op, train_spec.loss]
        centers_t = np.ascontiguousarray(initial_centers.T)
        product = np.empty((n, k), np.float32)
        rounds = []
        for _ in range(spec["rounds"]):
            tf_floor = best_of(lambda: session.run(tf_product))
            numpy_floor = best_of(lambda: np.matmul(points, centers_t, out=product))
            ours = best_of(lambda: session.run(step))
            theirs = sklearn_iteration(points, initial_centers) if spec["sklearn"] else None
            rounds.append({"tf_floor_s": tf_floor, "numpy_floor_s": numpy_floor,
                           "iteration_s": ours, "sklearn_iteration_s": theirs})
        session.close()
    return {"shape": spec["shape"], "rounds": rounds}


def run_worker(spec):
    command = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"worker {spec} failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def summary(result):
    """Medians over rounds of the times and of each round's ratios."""
    rounds = result["rounds"]
    floors = [min(r["tf_floor_s"], r["numpy_floor_s"]) for r in rounds]
    ratios = [r["iteration_s"] / f for r, f in zip(rounds, floors)]
    sklearn = [(r["sklearn_iteration_s"], f) for r, f in zip(rounds, floors) if r["sklearn_iteration_s"]]
    return {
        "tf_floor_s": float(np.median([r["tf_floor_s"] for r in rounds])),
        "numpy_floor_s": float(np.median([r["numpy_floor_s"] for r in rounds])),
        "iteration_s": float(np.median([r["iteration_s"] for r in rounds])),
        "ratio": float(np.median(ratios)), "ratio_range": (min(ratios), max(ratios)),
        "sklearn_iteration_s": float(np.median([s for s, _ in sklearn])) if sklearn else None,
        "sklearn_ratio": float(np.median([s / f for s, f in sklearn])) if sklearn else None,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", type=int, help="run only the shape of this index in SHAPES")
    parser.add_argument("--no-sklearn", action="store_true", help="leave scikit-learn out")
    parser.add_argument("--json", help="write the per-round figures to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    import sklearn
    import tensorflow as tf

    cpu = cpu_description()
    print(f"CPU: {cpu['model_name']} (family {cpu['family']} model {cpu['model']}), {cpu['cpus']} CPUs")
    print(f"flags: {cpu['flags']}")
    print(f"tensorflow {tf.__version__}, numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
          f"Python {platform.python_version()}; {args.rounds} rounds, best of {REPEATS} each")
    shapes = SHAPES if args.only is None else [SHAPES[args.only]]
    header = (f"{'n':>7} {'d':>4} {'k':>4} {'w':>4} | {'TF mm ms':>8} {'np mm ms':>8} | "
              f"{'ours ms':>8} {'ours/floor':>10} {'(range)':>11} {'':4} | {'sk ms':>7} {'sk/floor':>8}")
    print(header)
    results = []
    for shape in shapes:
        result = run_worker({"shape": shape, "rounds": args.rounds, "sklearn": not args.no_sklearn})
        figures = summary(result)
        results.append(dict(result, summary=figures))
        low, high = figures["ratio_range"]
        verdict = "PASS" if figures["ratio"] <= TARGET else "MISS"
        sk = (f"{figures['sklearn_iteration_s'] * 1e3:7.2f} {figures['sklearn_ratio']:8.2f}"
              if figures["sklearn_ratio"] else f"{'-':>7} {'-':>8}")
        n, d, k, width = shape
        print(f"{n:>7} {d:>4} {k:>4} {width:>4} | {figures['tf_floor_s'] * 1e3:8.2f} "
              f"{figures['numpy_floor_s'] * 1e3:8.2f} | {figures['iteration_s'] * 1e3:8.2f} "
              f"{figures['ratio']:10.2f} {f'{low:.2f}-{high:.2f}':>11} {verdict:4} | {sk}", flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"cpu": cpu, "target": TARGET, "shapes": results}, out, indent=1)


if __name__ == "__main__":
    main()
