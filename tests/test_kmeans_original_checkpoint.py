"""A model directory written by the original TF 2.15 KMeans Estimator restores and trains on."""
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke
from tests import kmeans_reference as ref

ORIGINAL = os.path.join(os.path.dirname(__file__), "data", "original_kmeans")


@pytest.fixture
def original_model_dir(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name in os.listdir(ORIGINAL):
        if name.startswith("model.ckpt-"):
            shutil.copy(os.path.join(ORIGINAL, name), model_dir)
    tf.compat.v1.train.update_checkpoint_state(str(model_dir), "model.ckpt-6")
    return str(model_dir)


@pytest.fixture
def points():
    return np.load(os.path.join(ORIGINAL, "points.npy"))


def test_original_checkpoint_gives_the_original_centers(original_model_dir):
    kmeans = ke.KMeans(num_clusters=3, model_dir=original_model_dir, use_mini_batch=False)
    np.testing.assert_array_equal(kmeans.cluster_centers(), np.load(os.path.join(ORIGINAL, "centers.npy")))
    assert sorted(kmeans.get_variable_names()) == ["clusters", "global_step", "initialized"]


def test_original_checkpoint_predicts_and_trains_on(original_model_dir, points):
    kmeans = ke.KMeans(num_clusters=3, model_dir=original_model_dir, use_mini_batch=False)
    centers = kmeans.cluster_centers()
    expected = np.argmin(((points[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(list(kmeans.predict_cluster_index(ref.whole_input(points))), expected)
    kmeans.train(ref.whole_input(points))
    # One step from the original's 6, then the run that meets the end of the input counts
    # too (the original reaches 8 the same way); it moves no center.
    assert kmeans.get_variable_value("global_step") == 8
    np.testing.assert_allclose(kmeans.cluster_centers(), ref.lloyd_step(points, centers), rtol=1e-5)


def test_original_checkpoint_exports_its_centers_signature(original_model_dir, tmp_path):
    kmeans = ke.KMeans(num_clusters=3, model_dir=original_model_dir, use_mini_batch=False)
    receiver_fn = ke.export.build_raw_serving_input_receiver_fn({"x": tf.TensorSpec([None, 2], tf.float32)})
    export_dir = kmeans.export_saved_model(str(tmp_path / "export"), receiver_fn).decode()
    output = tf.saved_model.load(export_dir).signatures["cluster_centers"]()["output"]
    np.testing.assert_array_equal(output.numpy(), np.load(os.path.join(ORIGINAL, "centers.npy")))
