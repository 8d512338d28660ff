"""KMeans under train_and_evaluate: locally, and as the evaluator task of a cluster, including
a checkpoint saved before the centers were chosen (as the original's first save was)."""
import json
import os
import threading

import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke
from tests.events import scalars_by_step

NUM_CLUSTERS = 3
MAX_STEPS = 4
ORIGINAL_CHECKPOINT = os.path.join(os.path.dirname(__file__), "data", "original_kmeans", "model.ckpt-6")
EVALUATOR_TF_CONFIG = {"cluster": {"chief": ["127.0.0.1:1"], "ps": ["127.0.0.1:2"]},
                       "task": {"type": "evaluator", "index": 0}}


def _points():
    """60 points in three well separated blobs of 20."""
    rng = np.random.default_rng(0)
    blobs = [rng.normal(center, 0.5, size=(20, 2)) for center in ([0, 0], [4, 4], [-4, 4])]
    return np.concatenate(blobs).astype(np.float32)


def _input_fn():
    return tf.constant(_points())


def _receiver_fn():
    return ke.export.build_raw_serving_input_receiver_fn(tf.TensorSpec([None, 2], tf.float32))()


def _kmeans(model_dir, kmeans_class=ke.KMeans):
    return kmeans_class(NUM_CLUSTERS, model_dir=str(model_dir), initial_clusters=ke.KMeans.KMEANS_PLUS_PLUS_INIT,
                        seed=3, use_mini_batch=False, config=ke.RunConfig(save_checkpoints_steps=2))


def _specs(exporter):
    eval_spec = ke.EvalSpec(_input_fn, steps=1, exporters=exporter, start_delay_secs=0, throttle_secs=0)
    return ke.TrainSpec(_input_fn, max_steps=MAX_STEPS), eval_spec


def _save_before_centers_are_chosen(kmeans):
    """Saves the training graph's freshly initialized variables as step 0, as the original's
    CheckpointSaverHook did when the session started."""
    with tf.Graph().as_default():
        tf.compat.v1.train.get_or_create_global_step()
        kmeans.model_fn(_input_fn(), None, ke.ModeKeys.TRAIN, kmeans.config)
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return saver.save(session, os.path.join(kmeans.model_dir, "model.ckpt"), global_step=0)


def _nearest(points, centers):
    return np.argmin(((points[:, None, :] - centers[None]) ** 2).sum(axis=2), axis=1)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    kmeans = _kmeans(tmp_path_factory.mktemp("local"))
    return kmeans, ke.train_and_evaluate(kmeans, *_specs(ke.FinalExporter("final", _receiver_fn)))


class _ReadinessRecorder(ke.KMeans):
    """KMeans noting which checkpoints it called not ready, and signalling the first one."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.not_ready = []
        self.said_not_ready = threading.Event()

    def ready_for_evaluation(self, checkpoint_path):
        ready = super().ready_for_evaluation(checkpoint_path)
        if not ready:
            self.not_ready.append(os.path.basename(checkpoint_path))
            self.said_not_ready.set()
        return ready


@pytest.fixture(scope="module")
def evaluator_run(tmp_path_factory):
    """The evaluator task on a model directory whose only checkpoint predates the centers; a
    trainer in another thread starts once the evaluator has skipped it and trains to MAX_STEPS."""
    model_dir = tmp_path_factory.mktemp("cluster")
    trainer = _kmeans(model_dir)
    _save_before_centers_are_chosen(trainer)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("TF_CONFIG", json.dumps(EVALUATOR_TF_CONFIG))
        watcher = _kmeans(model_dir, _ReadinessRecorder)
    failures = []

    def train_after_the_skip():
        try:
            if not watcher.said_not_ready.wait(timeout=120):
                raise RuntimeError("the evaluator never looked at the checkpoint saved before the centers")
            trainer.train(_input_fn, max_steps=MAX_STEPS)
        except BaseException as error:  # handed to the test thread, which raises it
            failures.append(error)

    thread = threading.Thread(target=train_after_the_skip)
    thread.start()
    result = ke.train_and_evaluate(watcher, *_specs(ke.LatestExporter("latest", _receiver_fn)))
    thread.join(timeout=120)
    if failures:
        raise failures[0]
    return watcher, trainer, result


def test_checkpoint_saved_before_centers_are_chosen_is_not_ready(tmp_path):
    kmeans = _kmeans(tmp_path)
    assert not kmeans.ready_for_evaluation(_save_before_centers_are_chosen(kmeans))


@pytest.mark.parametrize("source", ["trained here", "the original's"])
def test_trained_checkpoints_are_ready(local_run, source):
    kmeans, _ = local_run
    path = kmeans.latest_checkpoint() if source == "trained here" else ORIGINAL_CHECKPOINT
    assert kmeans.ready_for_evaluation(path)


def test_local_run_evaluates_score_and_loss(local_run):
    kmeans, (eval_result, _) = local_run
    assert eval_result["global_step"] == MAX_STEPS
    events = scalars_by_step(kmeans.eval_dir())[MAX_STEPS]
    assert events["score"] == pytest.approx(eval_result["score"])
    assert events["loss"] == pytest.approx(eval_result["loss"])


def test_local_run_final_export_serves_the_trained_centers(local_run):
    kmeans, (_, (final,)) = local_run
    serve = tf.saved_model.load(final.decode()).signatures["serving_default"]
    points = _points()
    indices = serve(input=tf.constant(points))["output"].numpy()
    np.testing.assert_array_equal(indices, _nearest(points, kmeans.cluster_centers()))


def test_evaluator_skips_the_checkpoint_saved_before_centers_were_chosen(evaluator_run):
    watcher, _, _ = evaluator_run
    assert set(watcher.not_ready) == {"model.ckpt-0"}  # asked again on each look while it is the newest
    assert 0 not in scalars_by_step(watcher.eval_dir())


def test_evaluator_writes_score_and_loss_events(evaluator_run):
    watcher, _, (eval_result, _) = evaluator_run
    events = scalars_by_step(watcher.eval_dir())[MAX_STEPS]
    assert events["score"] == pytest.approx(eval_result["score"])
    assert events["loss"] == pytest.approx(eval_result["loss"])


def test_evaluator_stops_after_the_checkpoint_at_max_steps(evaluator_run):
    _, trainer, (eval_result, _) = evaluator_run
    assert eval_result["global_step"] == MAX_STEPS
    assert trainer.latest_checkpoint().endswith(f"model.ckpt-{MAX_STEPS}")


def test_evaluator_exports_a_loadable_numeric_version(evaluator_run):
    _, trainer, (_, (latest,)) = evaluator_run
    assert os.path.basename(latest).isdigit()
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], latest.decode())
        signature = meta_graph.signature_def["serving_default"]
        indices = session.run(signature.outputs["output"].name, {signature.inputs["input"].name: _points()})
    np.testing.assert_array_equal(indices, _nearest(_points(), trainer.cluster_centers()))
