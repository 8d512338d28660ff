"""Mini-batch quality: initial centers chosen from several batches, nearly empty centers moved."""
import re

import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke
from kmeans_estimator.kmeans import MINI_BATCH_QUALITY, ConvergenceWarning
from tests import kmeans_reference as ref

# The blobs fixture holds 4 blobs of 20 points, one after the other: in batches of 20, each
# batch is one blob.
BLOB_SIZE = 20


def blob_of(centers, blobs):
    """The blob of the points each center equals; fails when a center is not one of the points."""
    matches = [np.flatnonzero(np.all(blobs == center, axis=1)) for center in centers]
    assert all(len(match) == 1 for match in matches), centers
    return sorted(int(match[0]) // BLOB_SIZE for match in matches)


@pytest.mark.parametrize(
    "initial_clusters, init_size",
    [(ke.KMeans.KMEANS_PLUS_PLUS_INIT, None), (ke.KMeans.KMEANS_PARALLEL_INIT, None),
     (ke.KMeans.KMEANS_PLUS_PLUS_INIT, 3 * BLOB_SIZE)],
    ids=["kmeans++", "kmeans||", "kmeans++_three_batches_of_points"],
)
def test_init_gathers_three_batches_before_the_first_step(tmp_path, blobs, initial_clusters, init_size):
    kmeans = ke.KMeans(3, model_dir=str(tmp_path), initial_clusters=initial_clusters, seed=3,
                       mini_batch_init_size=init_size)
    # Exactly three batches: all go to the init, none is left for a step. The gathering runs
    # leave global_step where it was; the run that then meets the end of the input counts,
    # as every such run does (the original's counting).
    kmeans.train(ref.batched_input(blobs[:3 * BLOB_SIZE], BLOB_SIZE))
    assert kmeans.get_variable_value("global_step") == 1
    # Far-apart blobs: one center in each of the three batches gathered.
    assert blob_of(kmeans.cluster_centers(), blobs) == [0, 1, 2]
    # A fourth batch is a step's.
    kmeans.train(ref.batched_input(blobs, BLOB_SIZE, repeat=True), steps=1)
    assert kmeans.get_variable_value("global_step") == 2


def test_init_size_of_one_batch_chooses_from_the_first_batch_alone(tmp_path, blobs):
    kmeans = ke.KMeans(3, model_dir=str(tmp_path), initial_clusters=ke.KMeans.KMEANS_PLUS_PLUS_INIT, seed=3,
                       mini_batch_init_size=1)
    kmeans.train(ref.batched_input(blobs[:BLOB_SIZE], BLOB_SIZE))
    assert kmeans.get_variable_value("initialized")
    assert blob_of(kmeans.cluster_centers(), blobs) == [0, 0, 0]


def test_random_init_chooses_from_the_three_batches_gathered(tmp_path, blobs):
    kmeans = ke.KMeans(6, model_dir=str(tmp_path), seed=2, mini_batch_init_size=None)
    kmeans.train(ref.batched_input(blobs[:3 * BLOB_SIZE], BLOB_SIZE))
    # No step; only the run that meets the end of the input counts.
    assert kmeans.get_variable_value("global_step") == 1
    assert set(blob_of(kmeans.cluster_centers(), blobs)) <= {0, 1, 2}


def test_input_that_ends_while_gathering_initializes_from_the_points_gathered(tmp_path, blobs):
    kmeans = ke.KMeans(2, model_dir=str(tmp_path), initial_clusters=ke.KMeans.KMEANS_PLUS_PLUS_INIT, seed=3,
                       mini_batch_init_size=None)
    kmeans.train(ref.batched_input(blobs[:2 * BLOB_SIZE], BLOB_SIZE))
    assert kmeans.get_variable_value("initialized")
    # No step; only the run that meets the end of the input counts.
    assert kmeans.get_variable_value("global_step") == 1
    assert blob_of(kmeans.cluster_centers(), blobs) == [0, 1]
    # The pool is a local variable: checkpoints hold the original's variables only.
    assert "kmeans_init_pool" not in kmeans.get_variable_names()


def test_input_that_ends_while_gathering_too_few_distinct_points_warns_and_repeats(tmp_path):
    distinct = np.array([[0.0, 0.0], [5.0, 5.0]], np.float32)
    kmeans = ke.KMeans(3, model_dir=str(tmp_path), initial_clusters=ke.KMeans.KMEANS_PLUS_PLUS_INIT, seed=1,
                       mini_batch_init_size=None)
    with pytest.warns(ConvergenceWarning, match=r"num_clusters=3 .*gathered.* 2 distinct points"):
        kmeans.train(ref.batched_input(np.tile(distinct, (5, 1)), batch_size=4))
    assert kmeans.get_variable_value("initialized")
    assert {tuple(row) for row in kmeans.cluster_centers()} == {tuple(row) for row in distinct}


def test_input_that_ends_while_gathering_fewer_than_k_points_is_rejected(tmp_path):
    kmeans = ke.KMeans(5, model_dir=str(tmp_path), initial_clusters=ke.KMeans.KMEANS_PLUS_PLUS_INIT, seed=1,
                       mini_batch_init_size=None)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"num_clusters=5 .*got 4"):
        kmeans.train(ref.batched_input(np.eye(4, dtype=np.float32), batch_size=2))
    assert tf.train.latest_checkpoint(kmeans.model_dir) is None


FAR_AWAY = np.array([100.0, 100.0, 100.0], np.float32)


@pytest.mark.parametrize(
    "ratio, steps_per_iteration, moves",
    [(0.01, 1, True), (0.0, 1, False), (0.01, 2, False)],
    ids=["reassigned", "ratio_0_keeps_it", "iterations_of_2_steps_keep_it"],
)
def test_center_without_points_moves_onto_a_point_of_the_batch(tmp_path, blobs, ratio, steps_per_iteration,
                                                               moves):
    initial = np.concatenate([blobs[[0, BLOB_SIZE, 2 * BLOB_SIZE]], FAR_AWAY[None]])
    kmeans = ke.KMeans(4, model_dir=str(tmp_path), initial_clusters=initial, seed=4,
                       mini_batch_steps_per_iteration=steps_per_iteration, reassignment_ratio=ratio)
    kmeans.train(ref.repeated_input(blobs), steps=steps_per_iteration)
    moved = kmeans.cluster_centers()[3]
    if not moves:
        np.testing.assert_array_equal(moved, FAR_AWAY)
        return
    assert np.any(np.all(blobs == moved, axis=1)), moved
    counts = kmeans.get_variable_value("Variable")
    assert counts[3] == counts[:3].min() > 0


def test_reassignment_is_the_same_for_the_same_seed(tmp_path, blobs):
    initial = np.concatenate([blobs[[0, BLOB_SIZE]], FAR_AWAY[None], -FAR_AWAY[None]])
    centers = []
    for run in range(2):
        kmeans = ke.KMeans(4, model_dir=str(tmp_path / str(run)), initial_clusters=initial, seed=4,
                           reassignment_ratio=0.01)
        kmeans.train(ref.batched_input(blobs, 2 * BLOB_SIZE, repeat=True), steps=3)
        centers.append(kmeans.cluster_centers())
    assert not np.any(np.all(np.abs(centers[0]) == FAR_AWAY, axis=1))
    np.testing.assert_array_equal(centers[0], centers[1])


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"mini_batch_init_size": 0}, "mini_batch_init_size must be a positive integer (points) or None "
                                      "(three batches), got 0"),
        ({"mini_batch_init_size": 2.5}, "mini_batch_init_size must be a positive integer (points) or None "
                                        "(three batches), got 2.5"),
        ({"mini_batch_init_size": True}, "mini_batch_init_size must be a positive integer (points) or None "
                                         "(three batches), got True"),
        ({"reassignment_ratio": -0.1}, "reassignment_ratio must be a number in [0, 1], got -0.1"),
        ({"reassignment_ratio": 1.5}, "reassignment_ratio must be a number in [0, 1], got 1.5"),
        ({"reassignment_ratio": None}, "reassignment_ratio must be a number in [0, 1], got None"),
        ({"reassignment_ratio": "small"}, "reassignment_ratio must be a number in [0, 1], got 'small'"),
        ({"reassignment_ratio": float("nan")}, "reassignment_ratio must be a number in [0, 1], got nan"),
    ],
    ids=lambda value: f"{next(iter(value))}={next(iter(value.values()))!r}" if isinstance(value, dict) else "",
)
def test_invalid_quality_argument_is_named(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ke.KMeans(3, **arguments)


@pytest.fixture(scope="module")
def many_blobs():
    """(training points, holdout points, blob means): 24 tight blobs in 4-D, shuffled."""
    rng = np.random.default_rng(7)
    means = rng.uniform(-100.0, 100.0, size=(24, 4))
    labels = rng.integers(0, 24, size=3000)
    points = (means[labels] + rng.normal(scale=1.0, size=(3000, 4))).astype(np.float32)
    return points[:2400], points[2400:], means


def mini_batch_holdout_score(model_dir, many_blobs, **arguments):
    train, holdout, _ = many_blobs
    kmeans = ke.KMeans(24, model_dir=model_dir, initial_clusters=ke.KMeans.KMEANS_PLUS_PLUS_INIT, seed=1,
                       **arguments)
    kmeans.train(ref.batched_input(train, batch_size=40, repeat=True), steps=60)
    return kmeans.score(ref.whole_input(holdout))


def test_mini_batch_quality_finds_the_blobs_the_first_batch_alone_misses(tmp_path, many_blobs):
    # Batches of 40 points from 24 blobs: the first batch misses about 5 blobs.
    _, holdout, means = many_blobs
    best = ref.score(holdout, means)
    default = mini_batch_holdout_score(str(tmp_path / "default"), many_blobs)
    quality = mini_batch_holdout_score(str(tmp_path / "quality"), many_blobs, **MINI_BATCH_QUALITY)
    # The data must tell them apart: the defaults (the original's) leave blobs without a
    # center of their own.
    assert default > 2 * best
    assert quality < 1.05 * best
