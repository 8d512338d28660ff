"""The canonical tf.data pipeline of bench_workloads.py (workload 2) trained in a loop of calls.

One KMeans trains on `from_tensor_slices(points).shuffle(10000).repeat().batch(1024)`
(200k x 100 float32 points, 80 MB) with `train(steps=300)` three times, then
`train(steps=1)` twice; each call is timed whole. The first call builds everything; the
later ones show what a call costs when its input graph can be kept (the dataset's
80 MB constant is fed, see kmeans_estimator/estimator/fed_constants.py) or must be
built again with its session (as before that).

    python benchmarks/bench_pipeline_loop.py [--repeats 2]
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import bench_kmeans  # noqa: E402
import bench_workloads  # noqa: E402

CALL_STEPS = (300, 300, 300, 1, 1)


def time_calls(points, spec):
    """Seconds of each call of CALL_STEPS on one KMeans."""
    tf = bench_kmeans._quiet_tensorflow()
    import kmeans_estimator as ke

    input_fn = bench_workloads.pipeline_input_fn(tf, points, spec)
    model = bench_workloads.pipeline_model(ke, spec)
    seconds = []
    for steps in CALL_STEPS:
        start = time.perf_counter()
        model.train(input_fn, steps=steps)
        seconds.append(time.perf_counter() - start)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="loops, each with a new KMeans")
    args = parser.parse_args()
    spec = dict(bench_workloads.PIPELINE)
    points, _ = bench_workloads.pipeline_points(spec)
    print(f"machine: {bench_workloads.cpu_description()}")
    for _ in range(args.repeats):
        seconds = time_calls(points, spec)
        calls = ", ".join(f"train({steps}) {value:.2f} s" for steps, value in zip(CALL_STEPS, seconds))
        print(calls)


if __name__ == "__main__":
    main()
