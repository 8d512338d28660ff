"""The original and ours run the same scenarios; their records must agree field by field.

Each side runs every scenario of `scenarios.py` in one process (`record.py`): the original
in `.venv-original` (TensorFlow 2.15 with tensorflow-estimator 2.15), ours in this Python.
A scenario marked with a `Difference` must show exactly what its README row documents, and
every row of the README's table of differences must name such a scenario.
"""
import json
import os
import re
import subprocess
import sys

import pytest

from tests.compat.differential.compare import mismatches
from tests.compat.differential.scenarios import SCENARIOS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# Both sides together take about two minutes on 2 cores; this bounds a hung side.
RECORD_TIMEOUT_SECS = 1200


def _start_side(python, side, out):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    log = open(out + ".log", "w")
    process = subprocess.Popen([python, "-m", "tests.compat.differential.record", "--side", side, "--out", out],
                               cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return process, log


def _finish(process, log, out):
    try:
        process.wait(timeout=RECORD_TIMEOUT_SECS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    finally:
        log.close()
    if process.returncode != 0:
        with open(out + ".log") as text:
            pytest.fail(f"{out}: the recording process exited with {process.returncode}:\n{text.read()[-4000:]}")
    with open(out) as record:
        return json.load(record)["records"]


@pytest.fixture(scope="session")
def records(original_python, tmp_path_factory):
    """`(original, ours)`: each side's records of every scenario, recorded side by side."""
    folder = tmp_path_factory.mktemp("differential")
    outs = {side: str(folder / f"{side}.json") for side in ("original", "ours")}
    started = {"original": _start_side(original_python, "original", outs["original"]),
               "ours": _start_side(sys.executable, "ours", outs["ours"])}
    return tuple(_finish(*started[side], outs[side]) for side in ("original", "ours"))


def test_the_suite_has_at_least_40_scenarios():
    assert len(SCENARIOS) >= 40


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_agrees_with_the_original(records, name):
    original, ours = (side[name] for side in records)
    assert "crashed" not in original, f"the scenario crashed on the original: {original}"
    assert "crashed" not in ours, f"the scenario crashed on ours: {ours}"
    difference = SCENARIOS[name].difference
    skip = difference.fields if difference else ()
    assert mismatches(original, ours, skip=skip) == []
    if difference:
        documented = {field: (original.get(field), ours.get(field)) for field in difference.fields}
        assert difference.expect(original, ours), f"not what the README row says: (original, ours) = {documented}"


def _difference_rows():
    """The README's table of differences: `{situation: whole row}`."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as readme:
        text = readme.read()
    table = text.split("### Differences from the original", 1)[1]
    rows = {}
    for line in table.splitlines()[1:]:
        if line.startswith("#"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 4 and not set(cells[0]) <= set("- ") and cells[0] != "situation":
            rows[cells[0]] = line
    return rows


def test_every_row_of_the_differences_table_names_a_scenario_that_shows_it():
    rows = _difference_rows()
    assert rows
    for situation, line in rows.items():
        named = set(re.findall(r"`([a-z0-9_]+)`", line)) & set(SCENARIOS)
        assert named, f"the README row {situation!r} names no scenario"
        for name in named:
            difference = SCENARIOS[name].difference
            assert difference is not None and difference.situation == situation, (
                f"scenario {name} does not show the README row {situation!r}")


def test_every_difference_scenario_has_its_row_in_the_readme():
    rows = _difference_rows()
    for scenario in SCENARIOS.values():
        if scenario.difference:
            assert scenario.difference.situation in rows, scenario.name
            assert f"`{scenario.name}`" in rows[scenario.difference.situation], scenario.name
