"""KMeans training summaries and projector files, read back by TensorBoard's own readers.

One full-batch model is trained from given centers, so numpy can follow every step: the
summary written at global step s describes the centers step s started from, those after
s - 1 Lloyd steps.
"""
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorboard.backend.event_processing import data_provider, event_accumulator, plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from tensorboard.plugins.projector import projector_config_pb2, projector_plugin
from werkzeug import test as werkzeug_test

import kmeans_estimator as ke
from tests import kmeans_reference as ref

NUM_CLUSTERS = 3
STEPS = 7
SUMMARY_STEPS = 2
# The summary hook writes on the first step and every SUMMARY_STEPS steps after.
SUMMARIZED_STEPS = [1, 3, 5, 7]


@pytest.fixture(scope="module")
def trajectory(points):
    """The centers before each step: trajectory[j] holds them after j Lloyd steps."""
    centers = [points[:NUM_CLUSTERS].astype(np.float64)]
    for _ in range(STEPS):
        centers.append(ref.lloyd_step(points, centers[-1]))
    return centers


@pytest.fixture(scope="module")
def model_dir(points, tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("summaries"))
    config = ke.RunConfig(save_summary_steps=SUMMARY_STEPS, log_step_count_steps=SUMMARY_STEPS)
    kmeans = ke.KMeans(NUM_CLUSTERS, model_dir=directory, initial_clusters=points[:NUM_CLUSTERS],
                       use_mini_batch=False, config=config)
    kmeans.train(ref.repeated_input(points), steps=STEPS)
    return directory


@pytest.fixture(scope="module")
def accumulator(model_dir):
    accumulator = event_accumulator.EventAccumulator(
        model_dir, size_guidance={event_accumulator.HISTOGRAMS: 0, event_accumulator.SCALARS: 0})
    accumulator.Reload()
    return accumulator


def _counts(points, centers):
    return np.bincount(ref.squared_distances(points, centers).argmin(axis=1), minlength=NUM_CLUSTERS)


def test_points_per_cluster_histogram_summarizes_each_batch_counts(accumulator, points, trajectory):
    events = accumulator.Histograms("centers/points_per_cluster")
    assert [event.step for event in events] == SUMMARIZED_STEPS
    for event in events:
        counts = _counts(points, trajectory[event.step - 1])
        histogram = event.histogram_value
        assert (histogram.num, histogram.sum) == (NUM_CLUSTERS, len(points))
        assert (histogram.min, histogram.max) == (counts.min(), counts.max())


def test_shift_is_the_largest_move_of_a_center_since_the_previous_summary(accumulator, trajectory):
    events = accumulator.Scalars("centers/shift")
    # The session's first summary has nothing to compare with.
    assert [event.step for event in events] == SUMMARIZED_STEPS[1:]
    for previous_step, event in zip(SUMMARIZED_STEPS, events):
        moved = np.linalg.norm(trajectory[event.step - 1] - trajectory[previous_step - 1], axis=1)
        np.testing.assert_allclose(event.value, moved.max(), rtol=1e-5, atol=1e-6)


def test_steps_per_second_and_loss_are_written_beside_them(accumulator):
    tags = accumulator.Tags()["scalars"]
    assert {"global_step/sec", "loss", "loss/raw"} <= set(tags)
    assert all(event.value > 0 for event in accumulator.Scalars("global_step/sec"))


def test_checkpoint_holds_only_the_original_variables(model_dir):
    names = {name for name, _ in tf.train.list_variables(model_dir)}
    assert names == {"clusters", "global_step", "initialized"}


@pytest.fixture(scope="module")
def projector(model_dir):
    """A werkzeug client per route of TensorBoard's projector plugin over `model_dir`."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(model_dir)
    multiplexer.Reload()
    context = base_plugin.TBContext(
        logdir=model_dir, data_provider=data_provider.MultiplexerDataProvider(multiplexer, model_dir))
    plugin = projector_plugin.ProjectorPlugin(context)
    apps = plugin.get_plugin_apps()

    def get(route, **arguments):
        response = werkzeug_test.Client(apps[route]).get("/", query_string=arguments)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_data()

    return get


def test_projector_shows_the_clusters_variable_with_its_metadata(projector):
    assert "." in json.loads(projector(projector_plugin.RUNS_ROUTE))
    config = json.loads(projector(projector_plugin.CONFIG_ROUTE, run="."))
    embeddings = {embedding["tensorName"]: embedding for embedding in config["embeddings"]}
    assert embeddings["clusters"]["metadataPath"] == "clusters_metadata.tsv"
    assert [int(size) for size in embeddings["clusters"]["tensorShape"]] == [NUM_CLUSTERS, 2]


def test_projector_labels_each_center_with_its_id_and_last_summarized_count(projector, points, trajectory):
    rows = [line.split("\t") for line in projector(
        projector_plugin.METADATA_ROUTE, run=".", name="clusters").decode().splitlines()]
    counts = _counts(points, trajectory[SUMMARIZED_STEPS[-1] - 1])
    assert rows == [["cluster", "count"]] + [[str(cluster), str(count)] for cluster, count in enumerate(counts)]


def test_projector_reads_the_trained_centers(projector, trajectory):
    data = projector(projector_plugin.TENSOR_ROUTE, run=".", name="clusters")
    centers = np.frombuffer(data, np.float32).reshape(NUM_CLUSTERS, 2)
    np.testing.assert_allclose(centers, trajectory[STEPS], rtol=1e-5)


def test_without_summaries_nothing_is_added(points, tmp_path):
    kmeans = ke.KMeans(NUM_CLUSTERS, model_dir=str(tmp_path), initial_clusters=points[:NUM_CLUSTERS],
                       use_mini_batch=False, config=ke.RunConfig(save_summary_steps=0))
    kmeans.train(ref.repeated_input(points), steps=2)
    assert not (tmp_path / "projector_config.pbtxt").exists()
    assert not (tmp_path / "clusters_metadata.tsv").exists()
    accumulator = event_accumulator.EventAccumulator(str(tmp_path))
    accumulator.Reload()
    assert accumulator.Tags()["histograms"] == []


def test_the_package_imports_and_writes_projector_files_without_tensorboard(tmp_path):
    """TensorFlow does not depend on TensorBoard, so neither may the package: with
    `tensorboard` unimportable, importing it and writing the projector files still work."""
    program = (
        "import sys\n"
        "sys.modules['tensorboard'] = None\n"
        "from kmeans_estimator.kmeans import summaries\n"
        f"summaries.write_projector_files({str(tmp_path)!r}, [4, 0, 2])\n"
    )
    finished = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300,
                              check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]
    config = text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(), projector_config_pb2.ProjectorConfig())
    assert [(e.tensor_name, e.metadata_path) for e in config.embeddings] == [("clusters", "clusters_metadata.tsv")]
    assert (tmp_path / "clusters_metadata.tsv").read_text() == "cluster\tcount\n0\t4\n1\t0\n2\t2\n"
