"""The package's public surface and its install-time guard."""
import subprocess
import sys

import kmeans_estimator


def test_public_names_mirror_tf_estimator():
    for name in ("Estimator", "EstimatorSpec", "ModeKeys", "RunConfig", "KMeans", "KMeansClustering"):
        assert hasattr(kmeans_estimator, name), name
    assert kmeans_estimator.KMeansClustering is kmeans_estimator.KMeans
    assert kmeans_estimator.experimental.KMeans is kmeans_estimator.KMeans
    assert callable(kmeans_estimator.inputs.numpy_input_fn)
    for name in ("ServingInputReceiver", "TensorServingInputReceiver", "build_raw_serving_input_receiver_fn",
                 "build_parsing_serving_input_receiver_fn", "PredictOutput", "ClassificationOutput",
                 "RegressionOutput"):
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
