"""A truncated or damaged checkpoint fails every call with an error naming it; nothing changes on disk."""
import glob
import os

import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke
from tests.estimator.linear_model import linear_model_fn

FEATURES = {"x": tf.TensorSpec([None, 3], tf.float32)}

# What TensorFlow 2.21 says about each damage, quoted in the error after "reading it failed: ".
REASONS = {"truncated_data": "Read less bytes than requested", "garbage_index": "not an sstable"}


def _damage(checkpoint_path, damage):
    """Cuts the checkpoint's .data file to half its size, or overwrites its .index with garbage."""
    if damage == "truncated_data":
        data_files = glob.glob(checkpoint_path + ".data-*")
        assert len(data_files) == 1, data_files
        size = os.path.getsize(data_files[0])
        with open(data_files[0], "r+b") as handle:
            handle.truncate(size // 2)
    else:
        with open(checkpoint_path + ".index", "wb") as handle:
            handle.write(b"not an index" * 8)


def _listing(directory):
    """Every file under `directory`, by relative path, with its size."""
    listing = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            listing[os.path.relpath(path, directory)] = os.path.getsize(path)
    return listing


def _checkpoint_file(model_dir):
    with open(os.path.join(model_dir, "checkpoint"), "rb") as handle:
        return handle.read()


@pytest.fixture(params=["truncated_data", "garbage_index"])
def damaged(request, tmp_path, linear_data):
    """A small linear Estimator whose newest checkpoint was then damaged."""
    x, y = linear_data
    model_dir = tmp_path / "model"
    estimator = ke.Estimator(linear_model_fn, model_dir=str(model_dir), params={"learning_rate": 0.1})
    estimator.train(ke.inputs.numpy_input_fn({"x": x}, y, batch_size=16, num_epochs=None), steps=3)
    checkpoint_path = estimator.latest_checkpoint()
    _damage(checkpoint_path, request.param)
    return estimator, checkpoint_path, (x, y), tmp_path / "export", request.param


CALLS = {
    "train": lambda estimator, x, y, export_base: estimator.train(
        ke.inputs.numpy_input_fn({"x": x}, y, batch_size=16, num_epochs=None), steps=1),
    "evaluate": lambda estimator, x, y, export_base: estimator.evaluate(
        ke.inputs.numpy_input_fn({"x": x}, y, batch_size=16, num_epochs=1)),
    "predict": lambda estimator, x, y, export_base: list(estimator.predict(
        ke.inputs.numpy_input_fn({"x": x}, batch_size=16, num_epochs=1, shuffle=False))),
    "get_variable_value": lambda estimator, x, y, export_base: estimator.get_variable_value("w"),
    "export_saved_model": lambda estimator, x, y, export_base: estimator.export_saved_model(
        str(export_base), ke.export.build_raw_serving_input_receiver_fn(FEATURES)),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_damaged_checkpoint_is_named_and_left_as_it_was(damaged, call):
    estimator, checkpoint_path, (x, y), export_base, damage = damaged
    before = _listing(estimator.model_dir)
    checkpoint_file = _checkpoint_file(estimator.model_dir)
    with pytest.raises(tf.errors.DataLossError, match="is truncated or corrupt") as raised:
        CALLS[call](estimator, x, y, export_base)
    message = str(raised.value)
    assert checkpoint_path in message
    assert f"(reading it failed: {REASONS[damage]}" in message
    assert "nothing was deleted or re-initialized" in message.lower()
    assert raised.value.__cause__ is not None  # Raised from TensorFlow's own error.
    assert _listing(estimator.model_dir) == before
    assert _checkpoint_file(estimator.model_dir) == checkpoint_file
    assert estimator.latest_checkpoint() == checkpoint_path
    # A failed export leaves neither a version directory nor a temp-<version> one behind.
    leftovers = os.listdir(export_base) if os.path.isdir(export_base) else []
    assert not [name for name in leftovers if not name.endswith(".lock")], leftovers


@pytest.mark.parametrize("damage", ["truncated_data", "garbage_index"])
def test_kmeans_cluster_centers_names_the_damaged_checkpoint(tmp_path, damage):
    points = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    kmeans = ke.KMeans(2, model_dir=str(tmp_path), initial_clusters=points[:2], use_mini_batch=False)
    kmeans.train(lambda: tf.data.Dataset.from_tensors(points).repeat(), steps=2)
    checkpoint_path = kmeans.latest_checkpoint()
    _damage(checkpoint_path, damage)
    before = _listing(str(tmp_path))
    with pytest.raises(tf.errors.DataLossError, match="is truncated or corrupt") as raised:
        kmeans.cluster_centers()
    assert checkpoint_path in str(raised.value)
    assert f"(reading it failed: {REASONS[damage]}" in str(raised.value)
    assert _listing(str(tmp_path)) == before
    assert kmeans.latest_checkpoint() == checkpoint_path
