"""Model directories cross between the original KMeans (TF 2.15 + tensorflow-estimator) and ours.

For full batch, mini-batch with one step per iteration and with three: a model_dir the
original writes during the test restores in ours (same centers, predictions, and training
on as the original trains on), one ours writes restores in the original, both hold the
same checkpoint keys, dtypes and shapes; and an earlier release's checkpoint restores.

The original runs in one subprocess (`programs/original_model_dirs.py`) for all modes, its
ops one at a time in the calling thread (`inter_op_parallelism_threads=-1`): its mini-batch
step reads the counts for its rate and adds to them unordered, a race in parallel sessions;
run in sequence it reads first, always (see `update.mini_batch_update`). The points are three
blobs whose points stay nearest the same center from the initial centers on: on a sync
step the original's points are assigned to the centers before or after the sync (that
race involves its input pipeline's own threads), which then cannot change the outcome.
"""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke
from tests import kmeans_reference as ref

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs", "original_model_dirs.py")
ORIGINAL_TIMEOUT_SECS = 300

MODES = {"full": "full", "mini_batch_1": 1, "mini_batch_3": 3}
BATCH_SIZE = 4
# Steps of the train() calls that write a model_dir, then of those that train on from it.
CALLS_BEFORE = [1, 2]
CALLS_AFTER = [1, 3]
INITIAL_CLUSTERS = np.array([[1.0, 1.0], [5.0, 5.0], [1.0, 6.0]], np.float32)


def _points():
    rng = np.random.default_rng(7)
    means = np.array([[0.0, 0.0], [6.0, 6.0], [0.0, 7.0]])
    blobs = [mean + rng.normal(scale=0.4, size=(4, 2)) for mean in means]
    # Interleaved: every batch of 4 holds points of every blob.
    return np.stack(blobs, axis=1).reshape(12, 2).astype(np.float32)


POINTS = _points()


def _train_input():
    return tf.data.Dataset.from_tensor_slices(POINTS).batch(BATCH_SIZE).repeat()


def _whole_input():
    return tf.data.Dataset.from_tensors(POINTS)


def _ours(model_dir, mode):
    mini_batch = mode != "full"
    return ke.experimental.KMeans(
        num_clusters=3, model_dir=str(model_dir), initial_clusters=INITIAL_CLUSTERS, use_mini_batch=mini_batch,
        mini_batch_steps_per_iteration=mode if mini_batch else 1, seed=2)


def _nearest(kmeans):
    return [int(index) for index in kmeans.predict_cluster_index(_whole_input)]


def _train_calls(kmeans, calls):
    """The centers after each train() call of `calls` steps."""
    centers = []
    for steps in calls:
        kmeans.train(_train_input, steps=steps)
        centers.append(kmeans.cluster_centers())
    return centers


def _layout(model_dir):
    """{checkpoint key: (dtype name, shape)} of the latest checkpoint in `model_dir`."""
    reader = tf.train.load_checkpoint(str(model_dir))
    dtypes = reader.get_variable_to_dtype_map()
    return {name: (dtypes[name].name, shape) for name, shape in reader.get_variable_to_shape_map().items()}


@pytest.fixture(scope="session")
def original_python():
    path = os.environ.get("KMEANS_ORIGINAL_PYTHON") or os.path.join(REPO, ".venv-original", "bin", "python")
    if not os.access(path, os.X_OK):
        message = (f"the original's interpreter is missing: expected an executable at {path} "
                   "(set KMEANS_ORIGINAL_PYTHON)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _run_original(python, spec, work_dir):
    spec_path, result_path = work_dir / "spec.json", work_dir / "result.json"
    spec_path.write_text(json.dumps(spec))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("PYTHONPATH", None)
    completed = subprocess.run([python, PROGRAM, str(spec_path), str(result_path)], capture_output=True, text=True,
                               timeout=ORIGINAL_TIMEOUT_SECS, env=env, check=False, cwd=str(work_dir))
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(result_path.read_text())


@pytest.fixture(scope="module")
def cross(tmp_path_factory, original_python):
    """Ours writes a model_dir per mode (kept as `ours_snapshot` for the original), then the
    original, in one subprocess, writes its own (kept as `original_snapshot` after
    CALLS_BEFORE, then trained on) and trains on from ours' copy.

    Returns {mode: dict of the directories, ours' centers per call, ours' predictions at the
    snapshot, and the original's results of its two runs}.
    """
    root = tmp_path_factory.mktemp("cross")
    found, runs = {}, []
    for name, mode in MODES.items():
        ours_dir, ours_snapshot = root / f"ours_{name}", root / f"ours_{name}_for_original"
        kmeans = _ours(ours_dir, mode)
        before = _train_calls(kmeans, CALLS_BEFORE)
        shutil.copytree(ours_dir, ours_snapshot)
        nearest = _nearest(kmeans)
        after = _train_calls(kmeans, CALLS_AFTER)
        found[name] = {"mode": mode, "ours_dir": ours_dir, "ours_centers": before + after, "ours_nearest": nearest,
                       "original_snapshot": root / f"original_{name}_snapshot"}
        runs.append({"model_dir": str(root / f"original_{name}"), "mode": mode,
                     "distance_metric": "squared_euclidean", "calls": CALLS_BEFORE + CALLS_AFTER,
                     "snapshot_after": len(CALLS_BEFORE), "snapshot_dir": str(found[name]["original_snapshot"])})
        runs.append({"model_dir": str(ours_snapshot), "mode": mode, "distance_metric": "squared_euclidean",
                     "calls": CALLS_AFTER})
    spec = {"points": POINTS.tolist(), "initial_clusters": INITIAL_CLUSTERS.tolist(), "batch_size": BATCH_SIZE,
            "inter_op_threads": -1, "runs": runs}
    results = _run_original(original_python, spec, root)
    for position, name in enumerate(MODES):
        found[name]["original_run"], found[name]["original_on_ours"] = results[2 * position:2 * position + 2]
    return found


@pytest.fixture(params=list(MODES))
def mode_run(request, cross):
    return cross[request.param]


def test_ours_gives_the_original_centers_after_every_call(mode_run):
    original = [np.array(state["centers"]) for state in mode_run["original_run"]["after"]]
    for call, (ours, theirs) in enumerate(zip(mode_run["ours_centers"], original, strict=True)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=f"after call {call + 1}")


def test_original_model_dir_restores_and_trains_on_in_ours(mode_run, tmp_path):
    snapshot = mode_run["original_run"]["snapshot"]
    model_dir = tmp_path / "model"
    shutil.copytree(mode_run["original_snapshot"], model_dir)
    kmeans = _ours(model_dir, mode_run["mode"])
    np.testing.assert_array_equal(kmeans.cluster_centers(), np.array(snapshot["centers"], np.float32))
    assert _nearest(kmeans) == snapshot["nearest"]
    assert kmeans.get_variable_value("global_step") == snapshot["global_step"] == sum(CALLS_BEFORE)
    original_after = mode_run["original_run"]["after"][len(CALLS_BEFORE):]
    for steps, state in zip(CALLS_AFTER, original_after, strict=True):
        kmeans.train(_train_input, steps=steps)
        assert kmeans.get_variable_value("global_step") == state["global_step"]
        np.testing.assert_allclose(kmeans.cluster_centers(), state["centers"], rtol=1e-5, atol=1e-6)


def test_ours_model_dir_restores_and_trains_on_in_the_original(mode_run):
    restored = mode_run["original_on_ours"]
    ours_at_snapshot = mode_run["ours_centers"][len(CALLS_BEFORE) - 1]
    np.testing.assert_array_equal(np.array(restored["before"]["centers"], np.float32), ours_at_snapshot)
    assert restored["before"]["nearest"] == mode_run["ours_nearest"]
    assert restored["before"]["global_step"] == sum(CALLS_BEFORE)
    ours_after = mode_run["ours_centers"][len(CALLS_BEFORE):]
    for state, ours in zip(restored["after"], ours_after, strict=True):
        np.testing.assert_allclose(state["centers"], ours, rtol=1e-5, atol=1e-6)
    assert restored["after"][-1]["global_step"] == sum(CALLS_BEFORE + CALLS_AFTER)


def test_ours_writes_the_original_checkpoint_keys_dtypes_and_shapes(mode_run):
    assert _layout(mode_run["ours_dir"]) == _layout(mode_run["original_snapshot"])


def _earlier_release_checkpoint(model_dir, values):
    """Writes a checkpoint of `values` ({key: array}) the way an earlier release saved it."""
    with tf.Graph().as_default():
        variables = [tf.compat.v1.Variable(value, name=key, use_resource=True) for key, value in values.items()]
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, os.path.join(str(model_dir), "model.ckpt"), global_step=int(values["global_step"]))


def _earlier_values(*, working, counts, steps_left):
    return {"clusters": INITIAL_CLUSTERS, "initialized": np.array(True), "global_step": np.array(5, np.int64),
            "cluster_counts": np.array(counts, np.int64), "clusters_updated": np.array(working, np.float32),
            "update_in_steps": np.array(steps_left, np.int64)}


def test_earlier_release_one_step_model_dir_restores_with_the_initial_center_counted(tmp_path):
    # An earlier release counted points only, from zero; its copy of the centers is not read.
    counts = [4, 2, 3]
    _earlier_release_checkpoint(tmp_path, _earlier_values(working=np.zeros([3, 2]), counts=counts, steps_left=1))
    kmeans = _ours(tmp_path, 1)
    np.testing.assert_array_equal(kmeans.cluster_centers(), INITIAL_CLUSTERS)
    kmeans.train(_train_input, steps=1)
    expected = ref.original_mini_batch_step(POINTS[:BATCH_SIZE], (INITIAL_CLUSTERS, np.array(counts) + 1))
    assert kmeans.get_variable_value("global_step") == 6
    np.testing.assert_array_equal(kmeans.get_variable_value("Variable"), expected[1])
    np.testing.assert_allclose(kmeans.cluster_centers(), expected[0], rtol=1e-5)
    assert sorted(kmeans.get_variable_names()) == ["Variable", "clusters", "global_step", "initialized"]


def test_earlier_release_iteration_model_dir_restores_its_sums_as_running_means(tmp_path):
    # Sums of an iteration under way; the third center has no point yet.
    sums, counts = np.array([[2.0, 1.0], [18.0, 17.0], [0.0, 0.0]]), np.array([2, 3, 0])
    _earlier_release_checkpoint(tmp_path, _earlier_values(working=sums, counts=counts, steps_left=2))
    kmeans = _ours(tmp_path, 3)
    np.testing.assert_array_equal(kmeans.cluster_centers(), INITIAL_CLUSTERS)
    means = np.array([[1.0, 0.5], [6.0, 17.0 / 3.0], INITIAL_CLUSTERS[2]])
    state = (INITIAL_CLUSTERS, means, counts, 2)
    for _ in range(3):  # Two steps of the iteration, then the sync.
        kmeans.train(_train_input, steps=1)
        state = ref.original_iteration_step(POINTS[:BATCH_SIZE], state, 3)
    np.testing.assert_allclose(kmeans.cluster_centers(), state[0], rtol=1e-5)
    np.testing.assert_allclose(kmeans.get_variable_value("clusters_updated"), state[1], rtol=1e-5)
    np.testing.assert_array_equal(kmeans.get_variable_value("Variable"), state[2])
    assert kmeans.get_variable_value("update_in_steps") == state[3]
    assert sorted(kmeans.get_variable_names()) == [
        "Variable", "clusters", "clusters_updated", "global_step", "initialized", "update_in_steps"]
