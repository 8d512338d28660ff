"""Estimator.export_saved_model and its siblings on the linear model, loaded back by TensorFlow."""
import os

import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke
from tests.estimator.linear_model import linear_model_fn

FEATURES = {"x": tf.TensorSpec([None, 3], tf.float32)}


@pytest.fixture(scope="module")
def exported(trained_linear, tmp_path_factory):
    receiver_fn = ke.export.build_raw_serving_input_receiver_fn(FEATURES)
    return trained_linear.export_saved_model(str(tmp_path_factory.mktemp("export")), receiver_fn)


def _expected(estimator, x):
    return (x @ estimator.get_variable_value("w"))[:, 0] + estimator.get_variable_value("b")


def test_export_returns_a_numeric_version_directory_as_bytes(exported):
    assert isinstance(exported, bytes)
    assert os.path.basename(exported).isdigit()
    assert os.path.isfile(os.path.join(exported, b"saved_model.pb"))


def test_exported_model_predicts_like_numpy_in_tf2(exported, trained_linear, linear_data):
    x, _ = linear_data
    loaded = tf.saved_model.load(exported.decode())
    outputs = loaded.signatures["serving_default"](x=tf.constant(x))
    np.testing.assert_allclose(outputs["y"].numpy(), _expected(trained_linear, x), rtol=1e-5)


def test_exported_model_predicts_like_numpy_in_a_v1_session(exported, trained_linear, linear_data):
    x, _ = linear_data
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], exported.decode())
        signature = meta_graph.signature_def["serving_default"]
        y = session.run(signature.outputs["y"].name, {signature.inputs["x"].name: x})
    np.testing.assert_allclose(y, _expected(trained_linear, x), rtol=1e-5)


@pytest.fixture(scope="module")
def exported_all_modes(trained_linear, tmp_path_factory):
    supervised_fn = ke.export.build_raw_supervised_input_receiver_fn(
        FEATURES, tf.TensorSpec([None], tf.float32)
    )
    return trained_linear.experimental_export_all_saved_models(
        str(tmp_path_factory.mktemp("export_all")),
        {
            ke.ModeKeys.TRAIN: supervised_fn,
            ke.ModeKeys.EVAL: supervised_fn,
            ke.ModeKeys.PREDICT: ke.export.build_raw_serving_input_receiver_fn(FEATURES),
        },
    ).decode()


def test_export_all_modes_writes_one_meta_graph_per_mode(exported_all_modes, trained_linear, linear_data):
    x, y = linear_data
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["eval"], exported_all_modes)
        signature = meta_graph.signature_def["eval"]
        loss = session.run(
            signature.outputs["loss"].name,
            {signature.inputs["x"].name: x, signature.inputs["label"].name: y},
        )
    predicted = _expected(trained_linear, x)
    assert loss == pytest.approx(np.mean((predicted - y) ** 2), rel=1e-4, abs=1e-7)
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["train"], exported_all_modes)
        assert meta_graph.collection_def[tf.compat.v1.GraphKeys.TRAIN_OP].node_list.value


@pytest.mark.parametrize(
    "tag, method_name, metric_keys",
    [
        ("eval", "tensorflow/supervised/eval", {"metrics/mae/value", "metrics/mae/update_op"}),
        ("train", "tensorflow/supervised/training", set()),
    ],
)
def test_supervised_signatures_are_eval_and_train_outputs_of_the_spec(exported_all_modes, tag, method_name,
                                                                      metric_keys):
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        signature = tf.compat.v1.saved_model.loader.load(session, [tag], exported_all_modes).signature_def[tag]
    assert signature.method_name == method_name
    assert set(signature.inputs) == {"x", "label"}
    assert set(signature.outputs) == {"loss", "predictions/y", "predictions/double_y"} | metric_keys


def test_eval_signature_metric_update_op_and_value_give_the_metric(exported_all_modes, trained_linear, linear_data):
    x, y = linear_data
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        signature = tf.compat.v1.saved_model.loader.load(session, ["eval"], exported_all_modes).signature_def["eval"]
        feed = {signature.inputs["x"].name: x, signature.inputs["label"].name: y}
        session.run(signature.outputs["metrics/mae/update_op"].name, feed)
        mae = session.run(signature.outputs["metrics/mae/value"].name)
    assert mae == pytest.approx(np.mean(np.abs(_expected(trained_linear, x) - y)), rel=1e-4, abs=1e-6)


def test_export_with_assets_extra_copies_them(trained_linear, tmp_path):
    source = tmp_path / "vocabulary.txt"
    source.write_text("a\nb\n")
    path = trained_linear.export_saved_model(
        str(tmp_path / "export"),
        ke.export.build_raw_serving_input_receiver_fn(FEATURES),
        assets_extra={"nested/vocabulary.txt": str(source)},
    ).decode()
    assert (tmp_path / "export" / os.path.basename(path) / "assets.extra" / "nested" / "vocabulary.txt").read_text() == "a\nb\n"


def test_export_before_training_is_an_error(tmp_path):
    estimator = ke.Estimator(linear_model_fn, model_dir=str(tmp_path / "model"), params={"learning_rate": 0.1})
    with pytest.raises(ValueError, match="train"):
        estimator.export_saved_model(str(tmp_path / "export"), ke.export.build_raw_serving_input_receiver_fn(FEATURES))
    assert not (tmp_path / "export").exists()


def test_export_without_receiver_fn_is_an_error(trained_linear, tmp_path):
    with pytest.raises(ValueError, match="serving_input_receiver_fn"):
        trained_linear.export_saved_model(str(tmp_path), None)


def test_export_with_unknown_mode_is_an_error(trained_linear, tmp_path):
    with pytest.raises(ValueError, match="'predict'"):
        trained_linear.experimental_export_all_saved_models(
            str(tmp_path), {"predict": ke.export.build_raw_serving_input_receiver_fn(FEATURES)}
        )


def test_export_with_a_wrong_receiver_kind_is_an_error(trained_linear, tmp_path):
    with pytest.raises(TypeError, match="SupervisedInputReceiver"):
        trained_linear.experimental_export_all_saved_models(
            str(tmp_path), {ke.ModeKeys.TRAIN: ke.export.build_raw_serving_input_receiver_fn(FEATURES)}
        )
    assert not any(name.isdigit() for name in os.listdir(tmp_path))
