"""pandas_input_fn: DataFrame columns as features, a Series or DataFrame as labels."""
import sys

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import kmeans_estimator as ke
from tests.estimator.linear_model import TRUE_BIAS, TRUE_WEIGHTS, linear_model_fn

COLUMNS = ["a", "b", "c"]


@pytest.fixture(scope="module")
def frame(linear_data):
    """The linear data as a DataFrame of three columns and a Series, on a non-default index."""
    x, y = linear_data
    index = pd.RangeIndex(100, 100 + len(x))
    return pd.DataFrame(x, columns=COLUMNS, index=index), pd.Series(y, index=index, name="y")


def _first_batch(input_fn):
    return next(iter(input_fn()))


def _columns_model_fn(features, labels, mode, params):
    """The linear model on the columns a, b, c stacked into its `x`."""
    return linear_model_fn({"x": tf.stack([features[name] for name in COLUMNS], axis=1)}, labels, mode, params)


def test_features_are_a_dict_of_column_tensors_and_labels_the_series(frame):
    x, y = frame
    features, labels = _first_batch(ke.inputs.pandas_input_fn(x, y, batch_size=5, shuffle=False))
    assert sorted(features) == COLUMNS
    for name in COLUMNS:
        np.testing.assert_array_equal(features[name].numpy(), x[name].to_numpy()[:5])
    np.testing.assert_array_equal(labels.numpy(), y.to_numpy()[:5])


def test_a_dataframe_y_gives_a_dict_of_its_columns(frame):
    x, y = frame
    targets = pd.DataFrame({"y": y, "a": 2 * y})
    _, labels = _first_batch(ke.inputs.pandas_input_fn(x, targets, batch_size=4, shuffle=False))
    assert sorted(labels) == ["a", "y"]
    np.testing.assert_array_equal(labels["a"].numpy(), 2 * y.to_numpy()[:4])


def test_without_y_the_input_gives_features_alone(frame):
    x, _ = frame
    features = _first_batch(ke.inputs.pandas_input_fn(x, batch_size=4, shuffle=False))
    assert sorted(features) == COLUMNS


def test_string_columns_are_fed_as_tf_strings(frame):
    x, _ = frame
    named = x.assign(name=[f"row{row}" for row in range(len(x))])
    features = _first_batch(ke.inputs.pandas_input_fn(named, batch_size=2, shuffle=False))
    assert features["name"].dtype == tf.string
    assert list(features["name"].numpy()) == [b"row0", b"row1"]


def test_later_changes_to_the_dataframe_are_not_fed(frame):
    x, _ = frame
    copy = x.copy()
    input_fn = ke.inputs.pandas_input_fn(copy, batch_size=2, shuffle=False)
    copy.loc[:, "a"] = -1.0
    np.testing.assert_array_equal(_first_batch(input_fn)["a"].numpy(), x["a"].to_numpy()[:2])


def test_a_dataframe_trains_a_linear_estimator(tmp_path, frame):
    x, y = frame
    estimator = ke.Estimator(_columns_model_fn, model_dir=str(tmp_path), params={"learning_rate": 0.2},
                             config=ke.RunConfig(tf_random_seed=1, save_summary_steps=0))
    estimator.train(ke.inputs.pandas_input_fn(x, y, batch_size=len(x), num_epochs=None, shuffle=True), steps=150)
    np.testing.assert_allclose(estimator.get_variable_value("w"), TRUE_WEIGHTS, atol=1e-3)
    assert estimator.get_variable_value("b") == pytest.approx(TRUE_BIAS, abs=1e-3)


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(shuffle=None), ValueError, "shuffle must be given explicitly as True or False.*got None"),
        (dict(shuffle=1), ValueError, "shuffle must be given explicitly as True or False.*got 1"),
        (dict(x=np.zeros((3, 2))), TypeError, "x must be a pandas DataFrame, got ndarray"),
        (dict(y=[1.0, 2.0]), TypeError, "y must be None, a pandas Series or a pandas DataFrame, got list"),
        (dict(target_column=1), TypeError, "target_column must be a str, got int"),
        (dict(target_column="a"), ValueError, "target_column='a' names a column x already has"),
        (dict(y=pd.Series([1.0, 2.0, 3.0], index=[0, 1, 5])), ValueError, "the indexes of x and y must match"),
        (dict(x=pd.DataFrame({0: [1.0, 2.0, 3.0]})), TypeError, "x's column names must be strings, got 0"),
        (dict(x=pd.DataFrame([[1.0, 2.0]] * 3, columns=["a", "a"])), ValueError,
         r"x's column names must be unique, got repeated \['a'\]"),
        (dict(x=pd.DataFrame({"a": ["s", 1, 2.0]})), TypeError, r"x\['a'\] must hold numbers, booleans or strings"),
        (dict(batch_size=0), ValueError, "batch_size must be a positive integer, got 0"),
    ],
)
def test_bad_arguments_are_rejected_naming_them(change, error, match):
    arguments = dict(x=pd.DataFrame({"a": [1.0, 2.0, 3.0]}), y=pd.Series([1.0, 2.0, 3.0]), shuffle=False)
    arguments.update(change)
    with pytest.raises(error, match=match):
        ke.inputs.pandas_input_fn(**arguments)


def test_without_pandas_the_error_names_the_extra(monkeypatch, frame):
    # None in sys.modules makes the import system report pandas as absent.
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install kmeans-estimator\[pandas\]"):
        ke.inputs.pandas_input_fn(frame[0], shuffle=False)
