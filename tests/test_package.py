"""The package's public surface, its install-time guard and its choice of CPU allocator."""
import os
import subprocess
import sys

import pytest

import kmeans_estimator
from kmeans_estimator._allocator import ALLOCATOR_VARIABLE

# TensorFlow's own report of the CPU allocator it created: process_state.cc logs this line at
# verbose level 2 when (and only when) it chooses the BFC allocator. Asking the allocator for
# statistics cannot tell them apart: on some CPUs (AMD EPYC with AVX-512) the default one
# answers too.
_BFC_CHOSEN_LOG = "Using BFCAllocator"
_FIRST_TENSOR = "import kmeans_estimator, tensorflow as tf; tf.constant(1.0) + 1"


def _allocator_in_fresh_process(setting):
    env = {name: value for name, value in os.environ.items() if name != ALLOCATOR_VARIABLE}
    env.update(TF_CPP_MIN_LOG_LEVEL="0", TF_CPP_VMODULE="process_state=2")
    if setting is not None:
        env[ALLOCATOR_VARIABLE] = setting
    result = subprocess.run([sys.executable, "-c", _FIRST_TENSOR], capture_output=True,
                            text=True, env=env, check=True, timeout=120)
    return "bfc" if _BFC_CHOSEN_LOG in result.stderr else "default"


def test_public_names_mirror_tf_estimator():
    for name in ("Estimator", "EstimatorSpec", "ModeKeys", "RunConfig", "KMeans", "KMeansClustering",
                 "WarmStartSettings", "VocabInfo", "SessionRunHook", "StopAtStepHook"):
        assert hasattr(kmeans_estimator, name), name
    assert kmeans_estimator.KMeansClustering is kmeans_estimator.KMeans
    assert kmeans_estimator.experimental.KMeans is kmeans_estimator.KMeans
    assert callable(kmeans_estimator.inputs.numpy_input_fn)
    assert callable(kmeans_estimator.inputs.pandas_input_fn)
    for name in ("ServingInputReceiver", "TensorServingInputReceiver", "build_raw_serving_input_receiver_fn",
                 "build_parsing_serving_input_receiver_fn", "PredictOutput", "ClassificationOutput",
                 "RegressionOutput", "EvalOutput", "TrainOutput"):
        assert hasattr(kmeans_estimator.export, name), name


def test_mode_keys_have_tf_estimator_values():
    modes = kmeans_estimator.ModeKeys
    assert (modes.TRAIN, modes.EVAL, modes.PREDICT) == ("train", "eval", "infer")


def test_import_without_tensorflow_names_both_extras():
    # sys.modules[name] = None makes the import system report the package as absent.
    script = "import sys; sys.modules['tensorflow'] = None; import kmeans_estimator"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode != 0
    assert "kmeans-estimator[cpu]" in result.stderr
    assert "kmeans-estimator[gpu]" in result.stderr


def test_import_without_pandas_succeeds():
    # pandas is an optional extra, imported only by inputs.pandas_input_fn.
    script = "import sys; sys.modules['pandas'] = None; import kmeans_estimator"
    subprocess.run([sys.executable, "-c", script], capture_output=True, check=True, timeout=120)


@pytest.mark.parametrize("setting, expected", [(None, "bfc"), ("true", "bfc"), ("false", "default")])
def test_import_chooses_bfc_cpu_allocator_unless_the_environment_did(setting, expected):
    assert _allocator_in_fresh_process(setting) == expected
