"""KMeans honours RunConfig's device_fn and session_config, on two logical CPU devices.

Logical devices must be configured before TensorFlow starts its runtime, which the other tests
have done by the time this one runs, so the training runs in a fresh Python process.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests import kmeans_reference as ref

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = """
import json, os, sys, tempfile
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np
import tensorflow as tf

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)
import kmeans_estimator as ke


class DevicesHook(tf.compat.v1.train.SessionRunHook):
    # Records where the graph asked 'clusters' to live and the devices the k-means ops ran on.
    def __init__(self):
        self.found = {"kmeans_ops_ran_on": []}

    def after_create_session(self, session, coord):
        self.found["session_devices"] = [device.name for device in session.list_devices()]
        self.found["clusters_device"] = session.graph.get_operation_by_name("clusters").device

    def before_run(self, run_context):
        options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
        return tf.compat.v1.train.SessionRunArgs({}, options=options)

    def after_run(self, run_context, run_values):
        for device_stats in run_values.run_metadata.step_stats.dev_stats:
            if any("kmeans/update" in node.node_name for node in device_stats.node_stats):
                self.found["kmeans_ops_ran_on"].append(device_stats.device)


points, initial = (np.asarray(value, np.float32) for value in json.loads(sys.argv[1]))
results = {}
for name, session_config in [
    ("default", None),
    ("one_thread", tf.compat.v1.ConfigProto(allow_soft_placement=True, intra_op_parallelism_threads=1)),
]:
    hook = DevicesHook()
    config = ke.RunConfig(device_fn=lambda op: "/cpu:1", session_config=session_config)
    kmeans = ke.KMeans(3, model_dir=tempfile.mkdtemp(), initial_clusters=initial, use_mini_batch=False,
                       config=config)
    kmeans.train(lambda: tf.constant(points), steps=1, hooks=[hook])
    results[name] = dict(hook.found, centers=kmeans.cluster_centers().tolist())
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def placement(points):
    data = json.dumps([points.tolist(), points[:3].tolist()])
    environment = dict(os.environ, PYTHONPATH=REPOSITORY + os.pathsep + os.environ.get("PYTHONPATH", ""))
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, data], capture_output=True, text=True, env=environment,
        cwd=REPOSITORY, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("session_config", ["default", "one_thread"])
def test_device_fn_puts_the_centers_and_update_on_the_second_cpu(placement, session_config):
    found = placement[session_config]
    assert found["session_devices"][-1].endswith("device:CPU:1")
    assert found["clusters_device"] == "/cpu:1"
    assert found["kmeans_ops_ran_on"] and all(
        device.endswith("device:CPU:1") for device in found["kmeans_ops_ran_on"]
    )


@pytest.mark.parametrize("session_config", ["default", "one_thread"])
def test_training_on_the_second_cpu_matches_numpy_lloyd(placement, points, session_config):
    centers = np.array(placement[session_config]["centers"])
    np.testing.assert_allclose(centers, ref.lloyd_step(points, points[:3]), rtol=1e-5)
