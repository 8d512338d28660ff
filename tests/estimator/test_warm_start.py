"""Warm-starting an Estimator from another model's checkpoint: WarmStartSettings and paths."""
import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke
from tests.estimator.linear_model import linear_model_fn

FEATURES = {"x": tf.TensorSpec([None, 3], tf.float32)}


def _renamed_model_fn(features, labels, mode, params):
    """The linear model with its variables under `renamed/`."""
    with tf.compat.v1.variable_scope("renamed"):
        return linear_model_fn(features, labels, mode, params)


def _train_one_step(tmp_path, linear_data, warm_start_from, model_fn=linear_model_fn):
    """A new Estimator, warm-started, trained one step at learning rate 0 (nothing moves)."""
    x, y = linear_data
    estimator = ke.Estimator(model_fn, model_dir=str(tmp_path / "model"), params={"learning_rate": 0.0},
                             warm_start_from=warm_start_from)
    return estimator.train(ke.inputs.numpy_input_fn({"x": x}, y, batch_size=64), steps=1)


def test_settings_default_to_tf_estimators():
    settings = ke.WarmStartSettings("/models/old")
    assert settings._fields == (
        "ckpt_to_initialize_from", "vars_to_warm_start", "var_name_to_vocab_info", "var_name_to_prev_var_name")
    assert settings == ("/models/old", ".*", {}, {})


def test_default_settings_warm_start_every_trainable_variable_from_a_directory(tmp_path, trained_linear, linear_data):
    estimator = _train_one_step(tmp_path, linear_data, ke.WarmStartSettings(trained_linear.model_dir))
    for name in ("w", "b"):
        np.testing.assert_array_equal(estimator.get_variable_value(name), trained_linear.get_variable_value(name))
    assert estimator.get_variable_value("global_step") == 1


def test_a_checkpoint_path_is_read_as_it_is(tmp_path, trained_linear, linear_data):
    estimator = _train_one_step(tmp_path, linear_data, ke.WarmStartSettings(trained_linear.latest_checkpoint()))
    np.testing.assert_array_equal(estimator.get_variable_value("w"), trained_linear.get_variable_value("w"))


def test_a_regular_expression_warm_starts_only_the_variables_it_matches(tmp_path, trained_linear, linear_data):
    estimator = _train_one_step(
        tmp_path, linear_data, ke.WarmStartSettings(trained_linear.model_dir, vars_to_warm_start="w"))
    np.testing.assert_array_equal(estimator.get_variable_value("w"), trained_linear.get_variable_value("w"))
    assert estimator.get_variable_value("b") == 0.0


def test_a_list_of_expressions_matches_non_trainable_variables_too(tmp_path, trained_linear, linear_data):
    estimator = _train_one_step(
        tmp_path, linear_data, ke.WarmStartSettings(trained_linear.model_dir, vars_to_warm_start=[".*"]))
    # The global step is warm-started with the rest, then takes one step.
    assert estimator.get_variable_value("global_step") == trained_linear.get_variable_value("global_step") + 1


def test_prev_var_name_reads_a_variable_under_its_old_name(tmp_path, trained_linear, linear_data):
    settings = ke.WarmStartSettings(
        trained_linear.model_dir, vars_to_warm_start="renamed/w", var_name_to_prev_var_name={"renamed/w": "w"})
    estimator = _train_one_step(tmp_path, linear_data, settings, model_fn=_renamed_model_fn)
    np.testing.assert_array_equal(estimator.get_variable_value("renamed/w"), trained_linear.get_variable_value("w"))
    assert estimator.get_variable_value("renamed/b") == 0.0


def test_a_chosen_variable_missing_from_the_checkpoint_is_an_error(tmp_path, trained_linear, linear_data):
    with pytest.raises(ValueError, match="renamed/b"):
        _train_one_step(tmp_path, linear_data, ke.WarmStartSettings(trained_linear.model_dir),
                        model_fn=_renamed_model_fn)


def test_a_saved_model_directory_path_warm_starts_from_its_variables(tmp_path, trained_linear, linear_data):
    export = trained_linear.export_saved_model(
        str(tmp_path / "export"), ke.export.build_raw_serving_input_receiver_fn(FEATURES)).decode()
    estimator = _train_one_step(tmp_path, linear_data, export)
    np.testing.assert_array_equal(estimator.get_variable_value("w"), trained_linear.get_variable_value("w"))


@pytest.mark.parametrize(
    "warm_start_from, match",
    [
        (lambda tmp_path: ke.WarmStartSettings(str(tmp_path)), "is a directory holding no checkpoint"),
        (lambda tmp_path: str(tmp_path / "model.ckpt-9"), "is neither a directory nor a checkpoint"),
    ],
    ids=["settings_empty_directory", "path_missing_checkpoint"],
)
def test_a_source_without_a_checkpoint_is_an_error_at_train(tmp_path, linear_data, warm_start_from, match):
    (tmp_path / "source").mkdir()
    with pytest.raises(ValueError, match=match):
        _train_one_step(tmp_path, linear_data, warm_start_from(tmp_path / "source"))


@pytest.mark.parametrize(
    "arguments, error, match",
    [
        (dict(ckpt_to_initialize_from=None), TypeError,
         "ckpt_to_initialize_from must be a checkpoint path .* got NoneType"),
        (dict(ckpt_to_initialize_from=""), ValueError, "ckpt_to_initialize_from must name a checkpoint or a directory"),
        (dict(vars_to_warm_start=3), TypeError, "vars_to_warm_start must be a regular expression, a list .* got int"),
        (dict(vars_to_warm_start="w["), ValueError, r"vars_to_warm_start must be a regular expression, got 'w\['"),
        (dict(vars_to_warm_start=["w", "b("]), ValueError, r"vars_to_warm_start\[1\] must be a regular expression"),
        (dict(vars_to_warm_start=["w", 3]), TypeError, r"only str or only tf.Variable, got \['int', 'str'\]"),
        (dict(var_name_to_vocab_info={"w": "vocab.txt"}), TypeError,
         r"var_name_to_vocab_info\['w'\] must be a tf.compat.v1.train.VocabInfo, got str"),
        (dict(var_name_to_prev_var_name=["w"]), TypeError, "var_name_to_prev_var_name must be a dict .* got list"),
        (dict(var_name_to_prev_var_name={"w": 1}), TypeError,
         r"var_name_to_prev_var_name\['w'\] must be a variable name \(str\), got int"),
        (dict(var_name_to_prev_var_name={1: "w"}), TypeError, "var_name_to_prev_var_name keys must be variable names"),
    ],
)
def test_bad_settings_are_rejected_at_construction(arguments, error, match):
    arguments = {"ckpt_to_initialize_from": "/models/old", **arguments}
    with pytest.raises(error, match=match):
        ke.WarmStartSettings(**arguments)


def test_estimator_rejects_a_warm_start_from_of_another_kind(tmp_path):
    match = r"warm_start_from must be a checkpoint path, .* kmeans_estimator.WarmStartSettings, got dict"
    with pytest.raises(TypeError, match=match):
        ke.Estimator(linear_model_fn, model_dir=str(tmp_path), warm_start_from={"ckpt_to_initialize_from": "x"})
