"""Tests for serving receivers, export outputs and atomic SavedModel writing."""
import logging
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from kmeans_estimator.estimator import export_outputs, receivers, saved_model

SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
SERVING_DEFAULT = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY


@pytest.fixture
def graph():
    with tf.Graph().as_default() as graph:
        yield graph


@pytest.fixture
def linear_model():
    """y = w * x with w a variable initialized to 3.0, in an initialized session.

    The graph is not left as the default graph, so exports must find it through the session.
    """
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        w = tf.compat.v1.Variable(3.0, name="w")
        y = tf.multiply(w, x, name="y")
        signature_defs = export_outputs.build_signature_defs({SERVING_DEFAULT: export_outputs.PredictOutput(y)}, x)
        initializer = tf.compat.v1.global_variables_initializer()
    # Not `with Session(...)`: entering a session makes its graph the default one.
    session = tf.compat.v1.Session(graph=graph)
    try:
        session.run(initializer)
        yield session, signature_defs
    finally:
        session.close()


def _write(linear_model, export_dir_base, **kwargs):
    session, signature_defs = linear_model
    return saved_model.write_saved_model(str(export_dir_base), session, signature_defs, **kwargs)


def _serialized_examples():
    def example(size, colour):
        return tf.train.Example(
            features=tf.train.Features(
                feature={
                    "size": tf.train.Feature(float_list=tf.train.FloatList(value=size)),
                    "colour": tf.train.Feature(bytes_list=tf.train.BytesList(value=colour)),
                }
            )
        ).SerializeToString()

    return [example([1.0, 2.0], [b"red"]), example([3.0, 4.0], [b"blue", b"green"])]


def test_serving_input_receiver_wraps_single_tensors(graph):
    tensor = tf.compat.v1.placeholder(tf.float32, [None, 2])
    receiver = receivers.ServingInputReceiver(tensor, tensor, {"alt": tensor})
    assert receiver.features == {"feature": tensor}
    assert receiver.receiver_tensors == {"input": tensor}
    assert receiver.receiver_tensors_alternatives == {"alt": {"input": tensor}}


def test_serving_input_receiver_keeps_dicts_and_defaults_alternatives_to_empty(graph):
    tensor = tf.compat.v1.placeholder(tf.float32, [None, 2])
    receiver = receivers.ServingInputReceiver({"a": tensor}, {"b": tensor})
    assert receiver.features == {"a": tensor}
    assert receiver.receiver_tensors == {"b": tensor}
    assert receiver.receiver_tensors_alternatives == {}


@pytest.mark.parametrize(
    "features, receiver_tensors, error, match",
    [
        ([1.0], "tensor", TypeError, "features must be"),
        ({1: "tensor"}, "tensor", TypeError, "features keys must be strings, got 1"),
        ({"": "tensor"}, "tensor", ValueError, "features keys must be non-empty"),
        ({"a": 1.0}, "tensor", TypeError, r"features\['a'\] must be .*got float"),
        ("tensor", {}, ValueError, "receiver_tensors must not be empty"),
    ],
)
def test_serving_input_receiver_rejects_malformed_arguments(
    graph, features, receiver_tensors, error, match
):
    tensor = tf.compat.v1.placeholder(tf.float32, [None])

    def resolve(value):
        if value == "tensor":
            return tensor
        if isinstance(value, dict):
            return {key: resolve(item) for key, item in value.items()}
        return value

    with pytest.raises(error, match=match):
        receivers.ServingInputReceiver(resolve(features), resolve(receiver_tensors))


def test_tensor_serving_input_receiver_keeps_features_unwrapped(graph):
    tensor = tf.compat.v1.placeholder(tf.float32, [None, 2])
    receiver = receivers.TensorServingInputReceiver(tensor, tensor)
    assert receiver.features is tensor
    assert receiver.receiver_tensors == {"input": tensor}


def test_tensor_serving_input_receiver_rejects_dict_features(graph):
    tensor = tf.compat.v1.placeholder(tf.float32, [None, 2])
    with pytest.raises(TypeError, match="features must be a single Tensor.*got dict"):
        receivers.TensorServingInputReceiver({"a": tensor}, tensor)


@pytest.mark.parametrize("template_kind", ["placeholder", "tensor", "spec"])
@pytest.mark.parametrize("default_batch_size", [None, 4])
def test_raw_receiver_fn_copies_dtype_and_shape_with_batch_size(
    graph, template_kind, default_batch_size
):
    templates = {
        "placeholder": lambda: tf.compat.v1.placeholder(tf.int64, [7, 3]),
        "tensor": lambda: tf.zeros([7, 3], tf.int64),
        "spec": lambda: tf.TensorSpec([7, 3], tf.int64),
    }
    receiver_fn = receivers.build_raw_serving_input_receiver_fn(
        {"points": templates[template_kind](), "scalar": tf.TensorSpec([], tf.string)},
        default_batch_size=default_batch_size,
    )
    receiver = receiver_fn()
    points = receiver.features["points"]
    assert points.op.type == "Placeholder"
    assert points.op.name.startswith("points")
    assert points.dtype == tf.int64
    assert points.shape.as_list() == [default_batch_size, 3]
    assert receiver.features["scalar"].shape.rank == 0
    assert receiver.receiver_tensors == receiver.features


def test_raw_receiver_fn_wraps_single_template_like_a_tensor(graph):
    receiver = receivers.build_raw_serving_input_receiver_fn(tf.TensorSpec([None, 2], tf.float32))()
    assert list(receiver.features) == ["feature"]
    assert receiver.receiver_tensors == {"input": receiver.features["feature"]}


@pytest.mark.parametrize(
    "default_batch_size, error", [(0, ValueError), (2.0, TypeError), (True, TypeError)]
)
def test_raw_receiver_fn_rejects_bad_batch_size(default_batch_size, error):
    with pytest.raises(error, match="default_batch_size must be a positive integer or None"):
        receivers.build_raw_serving_input_receiver_fn(
            tf.TensorSpec([None], tf.float32), default_batch_size
        )


def test_raw_receiver_fn_rejects_non_tensor_features():
    with pytest.raises(TypeError, match=r"features\['x'\] must be a tf.Tensor or tf.TensorSpec"):
        receivers.build_raw_serving_input_receiver_fn({"x": np.zeros(3)})


def test_parsing_receiver_parses_serialized_examples(graph):
    receiver_fn = receivers.build_parsing_serving_input_receiver_fn(
        {"size": tf.io.FixedLenFeature([2], tf.float32), "colour": tf.io.VarLenFeature(tf.string)}
    )
    receiver = receiver_fn()
    serialized = receiver.receiver_tensors["examples"]
    assert serialized.op.name == "input_example_tensor"
    assert serialized.dtype == tf.string
    with tf.compat.v1.Session(graph=graph) as session:
        size, colour = session.run(
            [receiver.features["size"], receiver.features["colour"]],
            {serialized: _serialized_examples()},
        )
    np.testing.assert_allclose(size, [[1.0, 2.0], [3.0, 4.0]])
    assert colour.values.tolist() == [b"red", b"blue", b"green"]


def test_parsing_receiver_rejects_non_feature_configs():
    with pytest.raises(TypeError, match=r"feature_spec\['size'\] must be a tf.io feature config"):
        receivers.build_parsing_serving_input_receiver_fn({"size": tf.float32})


def test_predict_output_signature_def(graph):
    x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
    signature_def = export_outputs.PredictOutput({"double": 2 * x, "x": x}).as_signature_def({"x": x})
    assert signature_def.method_name == tf.saved_model.PREDICT_METHOD_NAME
    assert set(signature_def.inputs) == {"x"}
    assert set(signature_def.outputs) == {"double", "x"}


def test_predict_output_wraps_single_tensor(graph):
    x = tf.compat.v1.placeholder(tf.float32, [None])
    assert set(export_outputs.PredictOutput(x).outputs) == {"output"}


def test_classification_output_signature_def(graph):
    examples = tf.compat.v1.placeholder(tf.string, [None], name="examples")
    output = export_outputs.ClassificationOutput(
        scores=tf.zeros([2, 3]), classes=tf.constant([["a", "b", "c"]] * 2)
    )
    signature_def = output.as_signature_def(examples)
    assert signature_def.method_name == tf.saved_model.CLASSIFY_METHOD_NAME
    assert signature_def.inputs["inputs"].name == "examples:0"
    assert set(signature_def.outputs) == {"scores", "classes"}


def test_regression_output_signature_def(graph):
    examples = tf.compat.v1.placeholder(tf.string, [None], name="examples")
    signature_def = export_outputs.RegressionOutput(tf.zeros([2])).as_signature_def({"ex": examples})
    assert signature_def.method_name == tf.saved_model.REGRESS_METHOD_NAME
    assert signature_def.inputs["inputs"].name == "examples:0"
    assert set(signature_def.outputs) == {"outputs"}


def test_classification_output_needs_scores_or_classes():
    with pytest.raises(ValueError, match="needs scores, classes or both, got neither"):
        export_outputs.ClassificationOutput()


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: export_outputs.ClassificationOutput(scores=tf.zeros([2], tf.float64)),
         "scores must be a float32 Tensor, got a float64 Tensor"),
        (lambda: export_outputs.ClassificationOutput(classes=tf.zeros([2])),
         "classes must be a string Tensor, got a float32 Tensor"),
        (lambda: export_outputs.RegressionOutput([1.0]), "value must be a float32 Tensor, got list"),
    ],
)
def test_outputs_reject_wrong_dtypes(graph, build, match):
    with pytest.raises(TypeError, match=match):
        build()


@pytest.mark.parametrize(
    "receiver_tensors, match",
    [
        ({"x": "float"}, "needs a string Tensor .* got a float32 Tensor for 'x'"),
        ({"a": "string", "b": "string"}, r"exactly one receiver tensor .* got 2: \['a', 'b'\]"),
    ],
)
def test_regression_output_rejects_receivers_without_one_string_input(
    graph, receiver_tensors, match
):
    tensors = {
        "float": tf.compat.v1.placeholder(tf.float32, [None]),
        "string": tf.compat.v1.placeholder(tf.string, [None]),
    }
    output = export_outputs.RegressionOutput(tf.zeros([2]))
    with pytest.raises(export_outputs.IncompatibleReceiverError, match=match):
        output.as_signature_def({name: tensors[kind] for name, kind in receiver_tensors.items()})


def test_build_signature_defs_requires_serving_default(graph):
    x = tf.compat.v1.placeholder(tf.float32, [None])
    match = r"must contain the key 'serving_default', got keys \['a'\]"
    with pytest.raises(ValueError, match=match):
        export_outputs.build_signature_defs({"a": export_outputs.PredictOutput(x)}, x)


def test_build_signature_defs_adds_alternative_receiver_signatures(graph):
    x = tf.compat.v1.placeholder(tf.float32, [None])
    examples = tf.compat.v1.placeholder(tf.string, [None])
    outputs = {SERVING_DEFAULT: export_outputs.PredictOutput(2 * x), "regress": export_outputs.RegressionOutput(x)}
    signature_defs = export_outputs.build_signature_defs(outputs, {"x": x, "y": x}, {"raw": examples})
    assert set(signature_defs) == {SERVING_DEFAULT, "raw:serving_default", "raw:regress"}
    assert set(signature_defs["raw:serving_default"].inputs) == {"input"}


def test_build_signature_defs_skips_incompatible_signature_and_logs_it(graph, caplog):
    x = tf.compat.v1.placeholder(tf.float32, [None])
    outputs = {SERVING_DEFAULT: export_outputs.PredictOutput(x), "regress": export_outputs.RegressionOutput(x)}
    logger = tf.get_logger()
    verbosity = logger.level
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.INFO)
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            signature_defs = export_outputs.build_signature_defs(outputs, x)
    finally:
        logger.setLevel(verbosity)
    assert set(signature_defs) == {SERVING_DEFAULT}
    # At INFO, as tf.estimator reported the signatures it excluded.
    lines = [(record.levelname, record.getMessage()) for record in caplog.records]
    assert lines[0] == (
        "INFO", "Signatures EXCLUDED from export because they cannot be served via TensorFlow Serving APIs:")
    assert lines[1][0] == "INFO" and lines[1][1].startswith("'regress' : ")


def test_build_signature_defs_rejects_incompatible_serving_default(graph):
    x = tf.compat.v1.placeholder(tf.float32, [None])
    with pytest.raises(ValueError, match="'serving_default' signature cannot be built"):
        export_outputs.build_signature_defs({SERVING_DEFAULT: export_outputs.RegressionOutput(x)}, x)


def test_saved_model_loads_in_v1_loader_with_right_output(linear_model, tmp_path):
    path = _write(linear_model, tmp_path / "exports")
    assert os.path.basename(path).isdigit()
    assert os.listdir(tmp_path / "exports") == [os.path.basename(path)]
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
        signature_def = meta_graph.signature_def[SERVING_DEFAULT]
        y = session.run(
            signature_def.outputs["output"].name, {signature_def.inputs["input"].name: [1.0, 2.0]}
        )
    np.testing.assert_allclose(y, [3.0, 6.0])


def test_saved_model_loads_with_tf_saved_model_load(linear_model, tmp_path):
    path = _write(linear_model, tmp_path)
    serve = tf.saved_model.load(path).signatures[SERVING_DEFAULT]
    np.testing.assert_allclose(serve(input=tf.constant([2.0]))["output"].numpy(), [6.0])


def test_saved_model_cli_lists_the_signature(linear_model, tmp_path):
    path = _write(linear_model, tmp_path)
    shown = subprocess.run(
        [SAVED_MODEL_CLI, "show", "--dir", path, "--all"],
        capture_output=True, text=True, check=True, timeout=120,
    )
    assert "signature_def['serving_default']" in shown.stdout
    assert "tensorflow/serving/predict" in shown.stdout


def test_exports_in_the_same_second_get_different_versions(linear_model, tmp_path):
    first = _write(linear_model, tmp_path)
    second = _write(linear_model, tmp_path)
    assert first != second
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p) for p in (first, second))


def test_assets_extra_are_copied_into_subdirectories(linear_model, tmp_path):
    source = tmp_path / "vocab.txt"
    source.write_text("red\nblue\n")
    path = _write(linear_model, tmp_path / "exports", assets_extra={"nested/dir/vocab.txt": source})
    with open(os.path.join(path, "assets.extra", "nested", "dir", "vocab.txt")) as copied:
        assert copied.read() == "red\nblue\n"


def test_missing_assets_extra_source_fails_before_writing(linear_model, tmp_path):
    missing = str(tmp_path / "missing.txt")
    match = r"assets_extra\['vocab.txt'\] names a source file .*missing"
    with pytest.raises(ValueError, match=match):
        _write(linear_model, tmp_path / "exports", assets_extra={"vocab.txt": missing})
    assert not (tmp_path / "exports").exists()


def test_assets_extra_destination_must_stay_inside(linear_model, tmp_path):
    source = tmp_path / "vocab.txt"
    source.write_text("red\n")
    with pytest.raises(ValueError, match="relative paths inside assets.extra, got '../vocab.txt'"):
        _write(linear_model, tmp_path / "exports", assets_extra={"../vocab.txt": source})


def test_failed_write_leaves_no_version_and_no_temp_dir(graph, tmp_path):
    x = tf.compat.v1.placeholder(tf.float32, [None])
    y = tf.compat.v1.Variable(3.0) * x
    signature_defs = export_outputs.build_signature_defs({SERVING_DEFAULT: export_outputs.PredictOutput(y)}, x)
    with tf.compat.v1.Session(graph=graph) as uninitialized:
        with pytest.raises(tf.errors.FailedPreconditionError):
            saved_model.write_saved_model(str(tmp_path), uninitialized, signature_defs)
    assert os.listdir(tmp_path) == []


def test_as_text_writes_saved_model_pbtxt(linear_model, tmp_path):
    path = _write(linear_model, tmp_path, as_text=True)
    assert os.path.isfile(os.path.join(path, "saved_model.pbtxt"))
    assert not os.path.exists(os.path.join(path, "saved_model.pb"))


def test_finalized_graph_needs_a_saver(linear_model, tmp_path):
    linear_model[0].graph.finalize()
    with pytest.raises(ValueError, match="saver must be given when session.graph is finalized"):
        _write(linear_model, tmp_path)
    assert os.listdir(tmp_path) == []


def test_write_saved_model_rejects_non_signature_def_values(linear_model, tmp_path):
    session, _ = linear_model
    match = r"signature_def_map\['serving_default'\] must be a SignatureDef"
    with pytest.raises(TypeError, match=match):
        saved_model.write_saved_model(str(tmp_path), session, {SERVING_DEFAULT: "predict"})


def test_finalized_graph_exports_with_a_saver_built_before(linear_model, tmp_path):
    session, signature_defs = linear_model
    with session.graph.as_default():
        saver = tf.compat.v1.train.Saver(sharded=True)
    session.graph.finalize()
    path = saved_model.write_saved_model(str(tmp_path), session, signature_defs, saver=saver)
    assert tf.compat.v1.saved_model.contains_saved_model(path)


def test_export_skips_versions_already_taken(linear_model, tmp_path):
    now = int(time.time())
    for taken in [str(now), str(now + 1), str(now + 2), f"temp-{now + 3}"]:
        (tmp_path / taken).mkdir()
    path = _write(linear_model, tmp_path)
    assert int(os.path.basename(path)) >= now + 4


def test_export_version_is_above_every_existing_version(linear_model, tmp_path):
    newest = int(time.time()) + 100
    (tmp_path / str(newest)).mkdir()
    path = _write(linear_model, tmp_path)
    assert int(os.path.basename(path)) == newest + 1
