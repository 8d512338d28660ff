"""The `tensorflow` logger's lines of one KMeans scenario, ours against the original's, as a diff.

Each side runs in its own process at `tf.compat.v1.logging.INFO`: KMeans(k=3, full batch,
`log_step_count_steps=50`) on 100 x 2 points, train(steps=120), train(steps=10),
evaluate(steps=1), predict, export_saved_model; then a second model_dir trained
train(steps=5) twice. After each training call the model_dir's checkpoints (`.index` files)
and the `checkpoint` state are recorded. Numbers are masked (N) and paths made relative, and
TensorFlow's deprecation warnings and the config dump are left out, so the diff shows the
lines that differ in text, level or order.

    python benchmarks/compare_logging.py --original-python .venv-original/bin/python
"""
import argparse
import difflib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


class _Recorder(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append([record.levelname, record.getMessage()])


def _checkpoints(model_dir):
    names = sorted(name[:-len(".index")] for name in os.listdir(model_dir) if name.endswith(".index"))
    with open(os.path.join(model_dir, "checkpoint")) as state:
        recorded = [line.split('"')[1] for line in state if line.startswith("all_model_checkpoint_paths")]
    return f"files {names}, recorded {recorded}"


def _run_scenario(side, out_dir):
    """Runs the scenario with `side` ('ours' or 'original'); returns [level, message] lines."""
    import numpy as np
    import tensorflow as tf

    if side == "ours":
        sys.path.insert(0, REPO)
        import kmeans_estimator as ke
        kmeans_class, config_class, receiver_class = ke.KMeans, ke.RunConfig, ke.export.ServingInputReceiver
    else:
        estimator = tf.compat.v1.estimator
        kmeans_class, config_class = estimator.experimental.KMeans, estimator.RunConfig
        receiver_class = estimator.export.ServingInputReceiver
    recorder = _Recorder()
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.INFO)
    tf.get_logger().addHandler(recorder)
    points = np.random.RandomState(0).uniform(0, 10, (100, 2)).astype(np.float32)

    def train_input():
        return tf.constant(points)

    def serving_input():
        x = tf.compat.v1.placeholder(tf.float32, [None, 2])
        return receiver_class(x, x)

    def mark(text):
        recorder.lines.append(["----", text])

    def model(name):
        model_dir = os.path.join(out_dir, name)
        config = config_class(log_step_count_steps=50)
        return model_dir, kmeans_class(num_clusters=3, model_dir=model_dir, use_mini_batch=False, config=config)

    model_dir, kmeans = model("model")
    for steps in (120, 10):
        mark(f"train(steps={steps})")
        kmeans.train(train_input, steps=steps)
        mark(_checkpoints(model_dir))
    mark("evaluate(steps=1)")
    kmeans.evaluate(train_input, steps=1)
    mark("predict")
    list(kmeans.predict(lambda: tf.data.Dataset.from_tensors(points[:5])))
    mark("export_saved_model")
    kmeans.export_saved_model(os.path.join(out_dir, "export"), serving_input)
    model_dir, kmeans = model("model_two_calls")
    for _ in range(2):
        mark("train(steps=5)")
        kmeans.train(train_input, steps=5)
        mark(_checkpoints(model_dir))
    return recorder.lines


def _masked(lines, out_dir):
    shown = []
    for level, message in lines:
        if "is deprecated and will be removed" in message:
            continue
        message = message.replace(out_dir, "DIR")
        if message.startswith("Using config: "):
            message = "Using config: ..."
        if level != "----" or not message.startswith("files "):
            message = re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "N", message)
        shown.append(f"{level} {message}")
    return shown


def _side_lines(python, side):
    out_dir = tempfile.mkdtemp(prefix=f"compare_logging_{side}_")
    try:
        result = subprocess.run([python, os.path.abspath(__file__), "--worker", side, out_dir],
                                check=True, capture_output=True, text=True)
        return _masked(json.loads(result.stdout.splitlines()[-1]), out_dir)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--original-python", metavar="PATH", help="Python with the original (setup_original.sh)")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        side, out_dir = args.worker
        print(json.dumps(_run_scenario(side, out_dir)))
        return
    if not args.original_python:
        parser.error("--original-python is required")
    original = _side_lines(args.original_python, "original")
    ours = _side_lines(sys.executable, "ours")
    for line in difflib.unified_diff(original, ours, "original", "ours", n=len(original) + len(ours), lineterm=""):
        print(line)


if __name__ == "__main__":
    main()
