# Two entry points for a fresh machine: `make example` and `make test`.
# Both create the virtual environment .venv on first use and install the
# package with its CPU TensorFlow and test extras into it.
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Batch scoring with tfx-bsl's RunInference on Beam's DirectRunner, checked against predict().
# tfx-bsl pins the full tensorflow wheel, so it gets its own environment, .venv-beam.
BEAM_VENV := .venv-beam
BEAM_STAMP := $(BEAM_VENV)/.installed

.PHONY: example test original-env beam-env beam-example bench bench-quick bench-calls bench-workloads bench-distributed bench-lloyd bench-phases clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -c constraints-ci.txt -e '.[cpu,test]'
	touch $(STAMP)

example: $(STAMP)
	$(VPY) examples/quickstart.py

# The original KMeans Estimator (tensorflow-cpu 2.15.1 + tensorflow-estimator 2.15.0), run beside
# ours by tests/compat: the differential suite and the model directories crossing both ways.
ORIGINAL_VENV := .venv-original
ORIGINAL_STAMP := $(ORIGINAL_VENV)/.installed

# The suite's Beam pipeline test runs examples/beam_check.py in .venv-beam (see below).
test: $(STAMP) $(BEAM_STAMP) $(ORIGINAL_STAMP)
	$(VPY) -m pytest -q tests

$(ORIGINAL_STAMP): benchmarks/setup_original.sh
	PYTHON=$(PYTHON) bash benchmarks/setup_original.sh $(ORIGINAL_VENV)
	touch $(ORIGINAL_STAMP)

original-env: $(ORIGINAL_STAMP)

$(BEAM_STAMP): setup.py examples/requirements-beam.txt
	$(PYTHON) -m venv $(BEAM_VENV)
	$(BEAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BEAM_VENV)/bin/python -m pip install --quiet -r examples/requirements-beam.txt
	$(BEAM_VENV)/bin/python -m pip install --quiet -e .
	touch $(BEAM_STAMP)

beam-env: $(BEAM_STAMP)

beam-example: $(BEAM_STAMP)
	$(BEAM_VENV)/bin/python examples/beam_check.py

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(VPY) -m pip install --quiet -c constraints-ci.txt -e '.[cpu,bench]'
	touch $(BENCH_STAMP)

bench-quick: $(BENCH_STAMP)
	$(VPY) benchmarks/bench_kmeans.py --quick

bench: $(BENCH_STAMP)
	$(VPY) benchmarks/bench_kmeans.py --json bench_kmeans.json --plot bench_kmeans.png

# Compares per-call costs with the original TF 2.15 KMeans in .venv-original.
bench-calls: $(BENCH_STAMP) $(ORIGINAL_STAMP)
	$(VPY) benchmarks/bench_calls.py --original-python .venv-original/bin/python

# Call sequences against the original, the canonical tf.data pipeline, 200k x 64 with k=256.
bench-workloads: $(BENCH_STAMP) $(ORIGINAL_STAMP)
	$(VPY) benchmarks/bench_workloads.py --original-python .venv-original/bin/python

# Mini-batch points/s on a ps + chief (+ worker) cluster on 127.0.0.1 against one process.
bench-distributed: $(BENCH_STAMP)
	$(VPY) benchmarks/bench_distributed.py

# A full-batch Lloyd iteration against the product floor, on each shape.
bench-lloyd: $(BENCH_STAMP)
	$(VPY) benchmarks/bench_lloyd.py --rounds 3

# Where a train() call's time goes, for a tf.constant input and for the tf.data pipeline.
bench-phases: $(BENCH_STAMP)
	$(VPY) benchmarks/bench_call_phases.py --input constant
	$(VPY) benchmarks/bench_call_phases.py --input tfdata

clean:
	rm -rf $(VENV) .venv-original $(BEAM_VENV) build *.egg-info
