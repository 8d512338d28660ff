#!/usr/bin/env bash
# Creates .venv-original: a Python with the original TF KMeans Estimator
# (tensorflow-cpu 2.15.1 + tensorflow-estimator 2.15.0), for
#   benchmarks/bench_calls.py --original-python .venv-original/bin/python
# TensorFlow 2.15 has wheels for Python 3.9-3.11 only; PYTHON must be one of them.
set -euo pipefail
PYTHON="${PYTHON:-python3.11}"
VENV="${1:-.venv-original}"
"$PYTHON" -c 'import sys; assert (3, 9) <= sys.version_info[:2] <= (3, 11), "TensorFlow 2.15 needs Python 3.9-3.11"'
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "tensorflow-cpu==2.15.1" "tensorflow-estimator==2.15.0" "numpy<2"
"$VENV/bin/python" -c 'import tensorflow as tf; print("original ready:", tf.__version__, tf.compat.v1.estimator.experimental.KMeans.__name__)'
