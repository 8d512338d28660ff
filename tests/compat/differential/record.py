"""Runs every scenario in this process, on one side, and writes what each observed as JSON.

    python -m tests.compat.differential.record --side original|ours --out RECORD.json [--only NAME,...]

`--side original` needs TensorFlow 2.15 with tensorflow-estimator (`.venv-original`); `ours`
needs this package. A scenario that raises is recorded as `{"crashed": "<type>: <message>"}`,
so one broken scenario leaves the others' records whole.
"""
import argparse
import inspect
import json
import logging
import os
import shutil
import tempfile
import traceback

import tensorflow as tf

from tests.compat.differential.observe import LogRecorder
from tests.compat.differential.scenarios import SCENARIOS


def side_under_test(side):
    """`(KMeans, est)` of `side`: the class and the module its programs take the rest from."""
    if side == "original":
        est = tf.compat.v1.estimator
        return est.experimental.KMeans, est
    import kmeans_estimator

    return kmeans_estimator.KMeans, kmeans_estimator


def run_scenario(scenario, KMeans, est, root):
    """The record of one scenario, run in a model directory of its own under `root`."""
    model_dir = os.path.join(root, scenario.name)
    os.makedirs(model_dir)
    logs = LogRecorder()
    logger = logging.getLogger("tensorflow")
    logger.addHandler(logs)
    try:
        kwargs = {"logs": logs} if "logs" in inspect.signature(scenario.run).parameters else {}
        return scenario.run(KMeans, est, model_dir, **kwargs)
    except Exception as error:  # noqa: BLE001 - recorded for the comparison to report
        last = traceback.format_exception(type(error), error, error.__traceback__)[-3:]
        return {"crashed": f"{type(error).__name__}: {error}"[:2000], "where": "".join(last)[-2000:]}
    finally:
        logger.removeHandler(logs)
        shutil.rmtree(model_dir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=["original", "ours"], required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--only", default="", help="comma-separated scenario names (default: all)")
    args = parser.parse_args()
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.INFO)
    KMeans, est = side_under_test(args.side)
    names = [name for name in args.only.split(",") if name] or list(SCENARIOS)
    root = tempfile.mkdtemp(prefix=f"differential-{args.side}-")
    try:
        records = {name: run_scenario(SCENARIOS[name], KMeans, est, root) for name in names}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    with open(args.out + ".tmp", "w") as out:
        json.dump({"side": args.side, "tensorflow": tf.__version__, "records": records}, out, indent=1)
    os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()
