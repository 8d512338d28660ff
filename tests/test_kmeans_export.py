"""KMeans SavedModel export: every signature checked against numpy through each way of loading it.

One small model is trained once; each receiver kind is exported once. The signatures are read
back by `saved_model_cli`, a tf.compat.v1 Session, the TF2 loader and the TFLite interpreter, the
loaders TF Serving clients and mobile deployments depend on.
"""
import os
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2

import kmeans_estimator as ke

NUM_CLUSTERS = 3
PREDICT_SIGNATURES = ("serving_default", "cluster_index", "all_distances", "score")
# What each predict signature's 'output' holds: (expected-values key, dtype, shape in the signature).
OUTPUTS = {
    "serving_default": ("index", tf.int64, [-1]),
    "cluster_index": ("index", tf.int64, [-1]),
    "all_distances": ("distances", tf.float32, [-1, NUM_CLUSTERS]),
    "score": ("score", tf.float32, [-1]),
}
# The centers' signatures: one without inputs, one behind the receiver's for REST clients.
CENTERS_SIGNATURE = "cluster_centers"
CENTERS_REST_SIGNATURE = "cluster_centers_rest"
CENTERS_SIGNATURES = (CENTERS_SIGNATURE, CENTERS_REST_SIGNATURE)
# Points away from the boundaries between the clusters of the training data.
QUERY = np.array([[0.3, -0.2], [3.6, 4.3], [-4.2, 3.7], [1.0, 0.5], [-3.0, 5.0]], np.float32)
FEATURE_COLUMNS = (
    tf.compat.v1.feature_column.numeric_column("a"),
    tf.compat.v1.feature_column.numeric_column("b"),
)


def _training_points():
    """60 points in three well separated blobs of 20."""
    rng = np.random.default_rng(0)
    blobs = [rng.normal(center, 0.5, size=(20, 2)) for center in ([0, 0], [4, 4], [-4, 4])]
    return np.concatenate(blobs).astype(np.float32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A full-batch KMeans trained for 5 Lloyd steps; tests must not train it further."""
    points = _training_points()
    kmeans = ke.KMeans(
        NUM_CLUSTERS,
        model_dir=str(tmp_path_factory.mktemp("kmeans")),
        initial_clusters=ke.KMeans.KMEANS_PLUS_PLUS_INIT,
        seed=3,
        use_mini_batch=False,
    )
    kmeans.train(lambda: tf.constant(points), steps=5)
    return kmeans


@pytest.fixture(scope="module")
def centers(trained):
    return trained.cluster_centers()


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    """The version directory of an export with one raw float input 'x' of shape [batch, 2]."""
    receiver_fn = ke.export.build_raw_serving_input_receiver_fn({"x": tf.TensorSpec([None, 2], tf.float32)})
    return trained.export_saved_model(str(tmp_path_factory.mktemp("raw")), receiver_fn).decode()


@pytest.fixture(scope="module")
def feature_columns_model(trained):
    """A KMeans over feature columns 'a' and 'b' reading the trained model's checkpoint.

    `input_layer` concatenates the columns in name order, so its points and variables are
    those of the trained model.
    """
    return ke.KMeans(NUM_CLUSTERS, model_dir=trained.model_dir, feature_columns=FEATURE_COLUMNS)


@pytest.fixture(scope="module")
def parsing_export(feature_columns_model, tmp_path_factory):
    """The version directory of an export that parses serialized tf.Example protos."""
    feature_spec = tf.compat.v1.feature_column.make_parse_example_spec(FEATURE_COLUMNS)
    receiver_fn = ke.export.build_parsing_serving_input_receiver_fn(feature_spec)
    return feature_columns_model.export_saved_model(str(tmp_path_factory.mktemp("parsing")), receiver_fn).decode()


@pytest.fixture(scope="module")
def tflite_model(exported):
    converter = tf.lite.TFLiteConverter.from_saved_model(
        exported, signature_keys=list(PREDICT_SIGNATURES + CENTERS_SIGNATURES))
    return converter.convert()


def _saved_model_cli(*arguments):
    """Starts `saved_model_cli` (the one installed beside this Python) without waiting for it."""
    path = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if not os.path.exists(path):
        path = shutil.which("saved_model_cli")
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen(
        [path, *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    )


@pytest.fixture(scope="module")
def cli_outputs(exported):
    """The stdout of `saved_model_cli show --all` ('show') and of `run` for each predict signature.

    Each call imports TensorFlow anew (seconds), so all of them are started before waiting for any.
    `run` insists on some input argument; `--input_exprs ';'` gives it one naming no input.
    """
    query = repr(QUERY.tolist())
    processes = {"show": _saved_model_cli("show", "--dir", exported, "--all")}
    for signature in PREDICT_SIGNATURES:
        processes[signature] = _saved_model_cli(
            "run", "--dir", exported, "--tag_set", "serve", "--signature_def", signature,
            "--input_exprs", f"x={query}",
        )
    processes[CENTERS_SIGNATURE] = _saved_model_cli(
        "run", "--dir", exported, "--tag_set", "serve", "--signature_def", CENTERS_SIGNATURE,
        "--input_exprs", ";",
    )
    outputs = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, f"saved_model_cli for {name} failed:\n{stderr[-3000:]}"
        outputs[name] = stdout
    return outputs


def _expected(centers, points):
    """Nearest-center index, all squared Euclidean distances and the nearest one, by numpy."""
    distances = ((points[:, np.newaxis, :] - centers[np.newaxis, :, :]) ** 2).sum(axis=2)
    return {"index": distances.argmin(axis=1), "distances": distances, "score": distances.min(axis=1)}


def _check_output(signature, output, centers, points):
    key, dtype, _ = OUTPUTS[signature]
    expected = _expected(centers, points)[key]
    if dtype == tf.int64:
        np.testing.assert_array_equal(output, expected)
    else:
        np.testing.assert_allclose(output, expected, rtol=1e-4, atol=1e-4)


def _signature_block(show_output, signature):
    """The lines `saved_model_cli show --all` prints for one signature."""
    start = show_output.index(f"signature_def['{signature}']:")
    end = show_output.find("signature_def['", start + 1)
    return show_output[start:] if end < 0 else show_output[start:end]


@pytest.mark.parametrize("signature", PREDICT_SIGNATURES)
def test_cli_show_lists_the_predict_signature_with_static_shapes(cli_outputs, signature):
    block = _signature_block(cli_outputs["show"], signature)
    _, dtype, shape = OUTPUTS[signature]
    output_info = block[block.index("outputs['output'] tensor_info:"):]
    assert f"dtype: {types_pb2.DataType.Name(dtype.as_datatype_enum)}" in output_info
    assert f"shape: ({', '.join(str(dim) for dim in shape)})" in output_info
    assert "inputs['x'] tensor_info:" in block
    assert "Method name is: tensorflow/serving/predict" in block


def _printed_array(run_output, shape):
    """Parses the array `saved_model_cli run` prints for output key 'output'."""
    printed = run_output.split("Result for output key output:", 1)[1]
    numbers = re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", printed)
    return np.array([float(number) for number in numbers]).reshape(shape)


@pytest.mark.parametrize("signature", PREDICT_SIGNATURES)
def test_cli_run_matches_numpy(cli_outputs, centers, signature):
    _, _, shape = OUTPUTS[signature]
    printed = _printed_array(cli_outputs[signature], [len(QUERY), *shape[1:]])
    _check_output(signature, printed, centers, QUERY)


@pytest.mark.parametrize("signature", PREDICT_SIGNATURES)
def test_v1_session_loader_matches_numpy(exported, centers, signature):
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], exported)
        signature_def = meta_graph.signature_def[signature]
        output = session.run(signature_def.outputs["output"].name, {signature_def.inputs["x"].name: QUERY})
    _check_output(signature, output, centers, QUERY)


@pytest.mark.parametrize("signature", PREDICT_SIGNATURES)
def test_tf2_loader_matches_numpy(exported, centers, signature):
    loaded = tf.saved_model.load(exported)
    output = loaded.signatures[signature](x=tf.constant(QUERY))["output"]
    assert output.dtype == OUTPUTS[signature][1]
    _check_output(signature, output.numpy(), centers, QUERY)


@pytest.mark.parametrize("signature", PREDICT_SIGNATURES)
def test_tflite_interpreter_matches_numpy(tflite_model, centers, signature):
    with warnings.catch_warnings():
        # tf.lite.Interpreter warns that it moves to the separate ai_edge_litert package.
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(model_content=tflite_model)
    output = interpreter.get_signature_runner(signature)(x=QUERY)["output"]
    _check_output(signature, output, centers, QUERY)


def _load_meta_graph(export_dir):
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        return tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)


def _shape(tensor_info):
    return [dim.size for dim in tensor_info.tensor_shape.dim]


def test_signature_outputs_have_static_shapes(exported):
    signature_defs = _load_meta_graph(exported).signature_def
    shapes = {signature: _shape(signature_defs[signature].outputs["output"]) for signature in PREDICT_SIGNATURES}
    assert shapes == {signature: shape for signature, (_, _, shape) in OUTPUTS.items()}


def test_export_holds_the_cluster_centers(exported, centers):
    variables = os.path.join(exported, "variables", "variables")
    np.testing.assert_array_equal(tf.train.load_variable(variables, "clusters"), centers)


def test_export_before_training_raises(tmp_path):
    kmeans = ke.KMeans(NUM_CLUSTERS, model_dir=str(tmp_path / "untrained"))
    receiver_fn = ke.export.build_raw_serving_input_receiver_fn({"x": tf.TensorSpec([None, 2], tf.float32)})
    with pytest.raises(ValueError, match="train"):
        kmeans.export_saved_model(str(tmp_path / "export"), receiver_fn)
    assert not (tmp_path / "export").exists()


def test_each_export_writes_a_new_numeric_version(trained, tmp_path):
    receiver_fn = ke.export.build_raw_serving_input_receiver_fn({"x": tf.TensorSpec([None, 2], tf.float32)})
    first = trained.export_saved_model(str(tmp_path), receiver_fn).decode()
    second = trained.export_saved_model(str(tmp_path), receiver_fn).decode()
    versions = sorted(os.listdir(tmp_path))
    assert versions == sorted([os.path.basename(first), os.path.basename(second)])
    assert all(version.isdigit() for version in versions) and versions[0] != versions[1]


def _serialized_examples(points):
    examples = []
    for a, b in points:
        feature = {
            "a": tf.train.Feature(float_list=tf.train.FloatList(value=[a])),
            "b": tf.train.Feature(float_list=tf.train.FloatList(value=[b])),
        }
        examples.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return examples


def test_parsing_export_answers_a_classify_request(parsing_export, centers):
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], parsing_export)
        signature_def = meta_graph.signature_def["classification"]
        classes, scores = session.run(
            [signature_def.outputs["classes"].name, signature_def.outputs["scores"].name],
            {signature_def.inputs["inputs"].name: _serialized_examples(QUERY)},
        )
    assert signature_def.method_name == "tensorflow/serving/classify"
    assert _shape(signature_def.outputs["classes"]) == [-1, NUM_CLUSTERS]
    assert _shape(signature_def.outputs["scores"]) == [-1, NUM_CLUSTERS]
    assert classes.tolist() == [[b"0", b"1", b"2"]] * len(QUERY)
    np.testing.assert_allclose(scores, -_expected(centers, QUERY)["distances"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("model", ["dict", "feature_columns"])
def test_export_takes_one_input_per_feature(trained, feature_columns_model, centers, model, tmp_path):
    estimator = trained if model == "dict" else feature_columns_model
    receiver_fn = ke.export.build_raw_serving_input_receiver_fn(
        {name: tf.TensorSpec([None, 1], tf.float32) for name in ("a", "b")}
    )
    export_dir = estimator.export_saved_model(str(tmp_path), receiver_fn).decode()
    signature = tf.saved_model.load(export_dir).signatures["all_distances"]
    assert sorted(signature.structured_input_signature[1]) == ["a", "b"]
    output = signature(a=tf.constant(QUERY[:, :1]), b=tf.constant(QUERY[:, 1:]))["output"]
    _check_output("all_distances", output.numpy(), centers, QUERY)


def test_raw_export_has_the_predict_and_centers_signatures(exported):
    assert set(_load_meta_graph(exported).signature_def) == set(PREDICT_SIGNATURES + CENTERS_SIGNATURES)


def test_parsing_export_also_has_the_classification_signature(parsing_export):
    assert set(_load_meta_graph(parsing_export).signature_def) == set(
        PREDICT_SIGNATURES + CENTERS_SIGNATURES + ("classification",))


@pytest.mark.parametrize("signature, inputs", [(CENTERS_SIGNATURE, []), (CENTERS_REST_SIGNATURE, ["x"])])
def test_centers_signatures_are_predict_signatures_of_static_float32_centers(exported, signature, inputs):
    signature_def = _load_meta_graph(exported).signature_def[signature]
    assert signature_def.method_name == "tensorflow/serving/predict"
    assert sorted(signature_def.inputs) == inputs
    assert list(signature_def.outputs) == ["output"]
    assert signature_def.outputs["output"].dtype == tf.float32.as_datatype_enum
    assert _shape(signature_def.outputs["output"]) == [NUM_CLUSTERS, 2]


def test_cli_show_lists_the_centers_signature_without_inputs(cli_outputs):
    block = _signature_block(cli_outputs["show"], CENTERS_SIGNATURE)
    inputs = block[block.index("input(s):"):block.index("The given SavedModel SignatureDef contains the following output(s):")]
    assert "tensor_info" not in inputs
    output_info = block[block.index("outputs['output'] tensor_info:"):]
    assert "dtype: DT_FLOAT" in output_info
    assert f"shape: ({NUM_CLUSTERS}, 2)" in output_info
    assert "Method name is: tensorflow/serving/predict" in block


def test_cli_run_of_the_centers_signature_prints_the_centers(cli_outputs, centers):
    np.testing.assert_array_equal(
        _printed_array(cli_outputs[CENTERS_SIGNATURE], [NUM_CLUSTERS, 2]).astype(np.float32), centers)


def test_v1_session_loader_runs_the_centers_signature_without_feeds(exported, centers):
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], exported)
        output = session.run(meta_graph.signature_def[CENTERS_SIGNATURE].outputs["output"].name)
    np.testing.assert_array_equal(output, centers)


def test_tf2_loader_calls_the_centers_signature_without_arguments(exported, centers):
    signature = tf.saved_model.load(exported).signatures[CENTERS_SIGNATURE]
    assert signature.structured_input_signature == ((), {})
    output = signature()["output"]
    assert output.dtype == tf.float32 and output.shape == (NUM_CLUSTERS, 2)
    np.testing.assert_array_equal(output.numpy(), centers)


def test_rest_centers_signature_answers_one_instance_of_any_point(exported, centers):
    # What TF Serving feeds for the REST body {"signature_name": "cluster_centers_rest",
    # "instances": [[0.0, 0.0]]}: one row of the receiver's input, which is not read.
    signature = tf.saved_model.load(exported).signatures[CENTERS_REST_SIGNATURE]
    output = signature(x=tf.constant([[0.0, 0.0]]))["output"]
    np.testing.assert_array_equal(output.numpy(), centers)


def test_tflite_interpreter_runs_the_centers_signatures(tflite_model, centers):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(model_content=tflite_model)
    assert interpreter.get_signature_list()[CENTERS_SIGNATURE]["inputs"] == []
    np.testing.assert_array_equal(interpreter.get_signature_runner(CENTERS_SIGNATURE)()["output"], centers)
    rest = interpreter.get_signature_runner(CENTERS_REST_SIGNATURE)(x=QUERY[:1])["output"]
    np.testing.assert_array_equal(rest, centers)
