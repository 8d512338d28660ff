#!/usr/bin/env bash
# Redraws docs/images/tensorboard_*.png: trains a small mini-batch KMeans into a temporary
# model directory, serves it with TensorBoard on 127.0.0.1 and photographs the Time Series
# and Projector tabs with headless Chromium (Debian: apt-get install chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PORT=${PORT:-6123}
work=$(mktemp -d)
trap 'kill "$tb_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
MODEL_DIR="$work/model" "$PY" docs/screenshot_model.py
timeout 600 "$(dirname "$PY")/tensorboard" --logdir "$work/model" --host 127.0.0.1 --port "$PORT" >"$work/tb.log" 2>&1 &
tb_pid=$!
for _ in $(seq 60); do curl -sf "http://127.0.0.1:$PORT/" >/dev/null && break; sleep 1; done
# The charts draw without a GPU; the projector needs WebGL, which SwiftShader gives.
shot() {
  timeout 150 chromium --headless --no-sandbox --hide-scrollbars --window-size="$2" \
    --virtual-time-budget=30000 --screenshot="$1" "${@:4}" "$3" 2>/dev/null
}
shot docs/images/tensorboard_centers.png 1400,1000 "http://127.0.0.1:$PORT/#timeseries" --disable-gpu
shot docs/images/tensorboard_projector.png 1400,900 "http://127.0.0.1:$PORT/#projector" \
  --use-gl=angle --use-angle=swiftshader --enable-unsafe-swiftshader
