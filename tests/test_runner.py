"""`python -m kmeans_estimator SCRIPT.py`: programs written for the original, run with no line changed.

Each program runs in its own process (the alias changes the process's `tensorflow`), with a hard
timeout; tests/original_programs/README.md says where each program comes from.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

from kmeans_estimator.__main__ import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAMS = os.path.join(REPO, "tests", "original_programs")
TIMEOUT_SECONDS = 420


def _run(arguments, tmp_path):
    # TMPDIR: a KMeans without model_dir writes to a temporary directory, as the original did.
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
               TMPDIR=str(tmp_path))
    return subprocess.run([sys.executable, *arguments], capture_output=True, text=True, env=env,
                          cwd=str(tmp_path), timeout=TIMEOUT_SECONDS, check=False)


def _run_program(name, tmp_path, *arguments):
    completed = _run(["-m", "kmeans_estimator", os.path.join(PROGRAMS, name), *arguments], tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def _last_json_line(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def test_docs_example_of_the_original_runs_unmodified(tmp_path):
    lines = _run_program("kmeans_docs_example.py", tmp_path).splitlines()
    scores = [float(line.split()[1]) for line in lines if line.startswith("score:")]
    assert len(scores) == 10
    assert scores[-1] <= scores[0]
    assert sum(line.startswith("delta:") for line in lines) == 9
    assigned = [line for line in lines if line.startswith("point:")]
    assert len(assigned) == 100
    assert all(" is in cluster " in line and " centered at " in line for line in assigned)


def test_train_and_evaluate_with_run_config_and_exporter(tmp_path):
    model_dir = tmp_path / "model"
    report = _last_json_line(_run_program("train_and_evaluate_run_config.py", tmp_path, str(model_dir)))
    assert report["global_step"] == 8
    assert report["num_centers"] == 3
    assert report["saved_models"] == [True]
    assert report["is_estimator"]
    assert tf.train.latest_checkpoint(str(model_dir)).endswith("model.ckpt-8")


def test_tensorflow_estimator_imports_resolve(tmp_path):
    report = _last_json_line(_run_program("tensorflow_estimator_imports.py", tmp_path, str(tmp_path / "model")))
    assert report["weight"] == pytest.approx(3.0, abs=1e-3)
    assert report["loss"] < 1e-6
    assert report["num_predictions"] == 64
    assert report["centers"] == [[0.0, 0.5], [10.0, 10.5]]
    # Features of a dict are concatenated in sorted key order, as the original's parser did.
    assert report["parsed_points"] == [[3.0, 1.0], [4.0, 2.0]]


def test_tf1_program_with_v2_behaviour_disabled(tmp_path):
    report = _last_json_line(_run_program("tf1_numpy_input_fn.py", tmp_path, str(tmp_path / "model")))
    assert report == {"global_step": 20, "checkpoint_centers_match": True, "num_indices": 60,
                      "num_clusters_used": 3}


_MISSING_NAMES_PROGRAM = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow.compat.v1 as tf1
    import kmeans_estimator as ke

    before = (tf.estimator, tf1.estimator, sys.modules["tensorflow_estimator"])
    ke.install_tf_estimator_alias()
    after = (tf.estimator, tf1.estimator, sys.modules["tensorflow_estimator"])
    messages = {}
    for label, lookup in [("DNNClassifier", lambda: tf.estimator.DNNClassifier),
                          ("v2 KMeans", lambda: tf.estimator.experimental.KMeans),
                          ("tpu", lambda: tf1.estimator.tpu)]:
        try:
            lookup()
        except AttributeError as error:
            messages[label] = str(error)
    try:
        import tensorflow_estimator.python.estimator.canned.dnn
    except ModuleNotFoundError as error:
        messages["canned.dnn"] = str(error)
    print(json.dumps({
        "argv": sys.argv[1:],
        "messages": messages,
        "same_classes": [tf.estimator.Estimator is ke.Estimator, tf1.estimator.experimental.KMeans is ke.KMeans,
                         tf.compat.v2.estimator.RunConfig is ke.RunConfig],
        "has_no_default": getattr(tf.estimator, "DNNRegressor", None) is None,
        "second_install_keeps_modules": all(a is b for a, b in zip(before, after)),
    }))
    sys.exit(3)
""")


def test_a_name_kmeans_estimator_lacks_says_what_it_provides(tmp_path):
    # The `-m MODULE` form: the module is found in the working directory, as by `python -m`.
    (tmp_path / "uses_missing_names.py").write_text(_MISSING_NAMES_PROGRAM)
    completed = _run(["-m", "kmeans_estimator", "-m", "uses_missing_names", "--flag", "value"], tmp_path)
    assert completed.returncode == 3, completed.stderr[-3000:]
    report = _last_json_line(completed.stdout)
    assert report["argv"] == ["--flag", "value"]
    assert report["same_classes"] == [True, True, True]
    assert report["has_no_default"]
    assert report["second_install_keeps_modules"]
    messages = report["messages"]
    assert messages["DNNClassifier"] == (
        "module 'tf.estimator' has no attribute 'DNNClassifier': kmeans-estimator provides KMeans and "
        "the Estimator machinery only, and tf.estimator.DNNClassifier is not part of it")
    assert "tf.compat.v1.estimator.experimental.KMeans" in messages["v2 KMeans"]
    assert "'tpu'" in messages["tpu"] and "KMeans and the Estimator machinery only" in messages["tpu"]
    assert messages["canned.dnn"].startswith("No module named 'tensorflow_estimator.python.estimator.canned.dnn'")
    assert "KMeans and the Estimator machinery only" in messages["canned.dnn"]


def test_plain_import_installs_no_alias(tmp_path):
    probe = ("import json, sys, kmeans_estimator, tensorflow as tf; "
             "print(json.dumps([hasattr(tf, 'estimator'), hasattr(tf.compat.v1, 'estimator'), "
             "'tensorflow_estimator' in sys.modules, 'tensorflow.estimator' in sys.modules]))")
    completed = _run(["-c", probe], tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert _last_json_line(completed.stdout) == [False, False, False, False]


@pytest.mark.parametrize("argv", [[], ["--help"], ["-h"], ["-m"]])
def test_usage_goes_to_stderr_with_status_2(argv, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("usage: python -m kmeans_estimator SCRIPT.py [ARGS...]")


def test_a_missing_script_is_reported_without_installing(tmp_path, capsys):
    assert main([str(tmp_path / "absent.py")]) == 2
    assert "absent.py" in capsys.readouterr().err
    assert not hasattr(tf, "estimator")
