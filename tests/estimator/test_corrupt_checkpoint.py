"""A truncated or damaged checkpoint fails every call with an error naming it; nothing changes on disk."""
import glob
import os

import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke
from tests.estimator.linear_model import linear_model_fn


def _damage(checkpoint_path, damage):
    if damage == "truncated_data":
        data_file = glob.glob(checkpoint_path + ".data-*")[0]
        with open(data_file, "r+b") as handle:
            handle.truncate(4)  # Shorter than any tensor stored in it.
    else:
        with open(checkpoint_path + ".index", "wb") as handle:
            handle.write(b"not an index" * 8)


def _listing(model_dir):
    return {name: os.path.getsize(os.path.join(model_dir, name))
            for name in os.listdir(model_dir) if os.path.isfile(os.path.join(model_dir, name))}


@pytest.fixture(params=["truncated_data", "garbage_index"])
def damaged(request, tmp_path, linear_data):
    """A small linear Estimator whose newest checkpoint was then damaged."""
    x, y = linear_data
    estimator = ke.Estimator(linear_model_fn, model_dir=str(tmp_path), params={"learning_rate": 0.1})
    estimator.train(ke.inputs.numpy_input_fn({"x": x}, y, batch_size=16, num_epochs=None), steps=3)
    checkpoint_path = estimator.latest_checkpoint()
    _damage(checkpoint_path, request.param)
    return estimator, checkpoint_path, (x, y)


CALLS = {
    "train": lambda estimator, x, y: estimator.train(
        ke.inputs.numpy_input_fn({"x": x}, y, batch_size=16, num_epochs=None), steps=1),
    "evaluate": lambda estimator, x, y: estimator.evaluate(
        ke.inputs.numpy_input_fn({"x": x}, y, batch_size=16, num_epochs=1)),
    "predict": lambda estimator, x, y: list(estimator.predict(
        ke.inputs.numpy_input_fn({"x": x}, batch_size=16, num_epochs=1, shuffle=False))),
    "get_variable_value": lambda estimator, x, y: estimator.get_variable_value("global_step"),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_damaged_checkpoint_is_named_and_left_as_it_was(damaged, call):
    estimator, checkpoint_path, (x, y) = damaged
    before = _listing(estimator.model_dir)
    with pytest.raises(tf.errors.DataLossError, match="is truncated or corrupt") as raised:
        CALLS[call](estimator, x, y)
    assert checkpoint_path in str(raised.value)
    assert _listing(estimator.model_dir) == before
    assert estimator.latest_checkpoint() == checkpoint_path
