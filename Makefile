# Two entry points for a fresh machine: `make example` and `make test`.
# Both create the virtual environment .venv on first use and install the
# package with its CPU TensorFlow and test extras into it.
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: example test bench bench-quick clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -c constraints-ci.txt -e '.[cpu,test]'
	touch $(STAMP)

example: $(STAMP)
	$(VPY) examples/quickstart.py

test: $(STAMP)
	$(VPY) -m pytest -q tests

bench-quick: $(STAMP)
	$(VPY) -m pip install --quiet -c constraints-ci.txt -e '.[cpu,bench]'
	$(VPY) benchmarks/bench_kmeans.py --quick

clean:
	rm -rf $(VENV) build *.egg-info
