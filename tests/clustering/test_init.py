import functools

import numpy as np
import pytest
import tensorflow as tf

from kmeans_estimator.clustering import distances, init

INITS = {
    "kmeans_plus_plus": functools.partial(init.kmeans_plus_plus_init, num_retries=-1),
    "kmeans_parallel": init.kmeans_parallel_init,
}


def seed_tensor(value: int) -> tf.Tensor:
    return tf.constant([value, 17], tf.int32)


def row_positions(rows: np.ndarray, points: np.ndarray) -> list[int]:
    """Index in `points` of every row of `rows`; fails when a row is not among the points."""
    positions = []
    for row in rows:
        matches = np.flatnonzero(np.all(points == row, axis=1))
        assert matches.size, f"{row} is not a row of the input"
        positions.append(int(matches[0]))
    return positions


@pytest.fixture(params=list(INITS))
def choose_centers(request):
    """kmeans++ or k-means||, called as choose(points, num_clusters, seed, metric)."""
    return INITS[request.param]


@pytest.fixture(params=distances.METRICS)
def metric(request) -> str:
    return request.param


def test_random_init_chooses_distinct_rows_of_the_input(run, blobs, dtype):
    points = blobs.astype(dtype)
    chosen = run(lambda: init.random_init(tf.constant(points), 10, seed_tensor(1)))
    assert chosen.shape == (10, 3) and chosen.dtype == dtype
    assert len(set(row_positions(chosen, points))) == 10


def test_random_init_is_deterministic_per_seed(run, blobs):
    def build():
        points = tf.constant(blobs)
        return [init.random_init(points, 5, seed_tensor(seed)) for seed in (1, 1, 2)]

    first, again, other = run(build)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_random_init_returns_all_rows_when_asked_for_more(run, blobs):
    points = blobs[:6]
    chosen = run(lambda: init.random_init(tf.constant(points), tf.constant(9), seed_tensor(1)))
    assert sorted(row_positions(chosen, points)) == list(range(6))


def test_init_chooses_rows_of_the_input(run, choose_centers, blobs, metric, dtype):
    points = blobs.astype(dtype)

    def build():
        prepared = distances.prepare_points(tf.constant(points), metric)
        return prepared, choose_centers(prepared, 6, seed=seed_tensor(3), metric=metric)

    prepared, centers = run(build)
    assert centers.shape == (6, 3) and centers.dtype == dtype
    row_positions(centers, prepared)


def test_init_is_deterministic_per_seed(run, choose_centers, blobs, metric):
    def build():
        points = tf.constant(blobs)
        return [choose_centers(points, 4, seed=seed_tensor(seed), metric=metric)
                for seed in (5, 5, 6)]

    first, again, other = run(build)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_init_accepts_a_seed_drawn_by_a_random_op(run, choose_centers, blobs, metric):
    def build():
        seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32)
        return choose_centers(tf.constant(blobs), 4, seed=seed, metric=metric)

    row_positions(run(build), blobs)


def test_init_puts_one_center_in_each_blob(run, choose_centers, blobs, metric):
    def build():
        prepared = distances.prepare_points(tf.constant(blobs), metric)
        return prepared, [choose_centers(prepared, 4, seed=seed_tensor(seed), metric=metric)
                          for seed in range(4)]

    prepared, centers_per_seed = run(build)
    for centers in centers_per_seed:
        blob_of_each_center = np.array(row_positions(centers, prepared)) // 25
        assert sorted(blob_of_each_center) == [0, 1, 2, 3]


def test_init_names_both_numbers_when_batch_is_smaller_than_k(run, choose_centers, blobs):
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"at least num_clusters=5 points in its first batch, got 3"):
        run(lambda: choose_centers(
            tf.constant(blobs[:3]), 5, seed=seed_tensor(1), metric=distances.SQUARED_EUCLIDEAN))


@pytest.mark.parametrize("distinct_rows", [1, 2], ids=["all_equal", "two_distinct"])
def test_init_handles_duplicate_points(run, choose_centers, metric, distinct_rows):
    points = np.tile(np.array([[0.6, 0.8], [-1.0, 0.0]])[:distinct_rows], (6, 1))
    centers = run(lambda: choose_centers(
        distances.prepare_points(tf.constant(points), metric), 3, seed=seed_tensor(2),
        metric=metric))
    assert np.isfinite(centers).all()
    assert len(set(map(tuple, centers))) == distinct_rows
    row_positions(centers, points)


def test_kmeans_parallel_tops_up_with_random_rows_when_candidates_are_few(run, blobs):
    centers = run(lambda: init.kmeans_parallel_init(
        tf.constant(blobs), 5, seed_tensor(4), distances.SQUARED_EUCLIDEAN, num_rounds=0))
    assert len(set(row_positions(centers, blobs))) == 5


@pytest.mark.parametrize("num_retries", [2, 7], ids=["few_candidates", "many_candidates"])
def test_kmeans_plus_plus_scores_few_and_many_candidates_alike(run, blobs, metric, dtype,
                                                              num_retries):
    """Up to 3 candidates are scored op by op as [c, n], more by one XLA-compiled [n, c] step."""
    points = blobs.astype(dtype)

    def build():
        prepared = distances.prepare_points(tf.constant(points), metric)
        return prepared, [init.kmeans_plus_plus_init(prepared, 4, num_retries,
                                                     seed_tensor(seed), metric)
                          for seed in (8, 8, 9)]

    prepared, (first, again, other) = run(build)
    assert first.dtype == dtype
    np.testing.assert_array_equal(first, again)
    for centers in (first, other):
        assert sorted(np.array(row_positions(centers, prepared)) // 25) == [0, 1, 2, 3]


def test_weighted_kmeans_plus_plus_with_many_candidates_prefers_heavy_rows(run):
    """The weighted potential decides among many candidates: a zero-weight row never wins."""
    points = np.array([[0.0, 0.0], [0.0, 0.1], [10.0, 10.0], [10.0, 10.1]])
    weights = np.array([1.0, 1.0, 1.0, 0.0])

    def build():
        return [init._weighted_kmeans_plus_plus(
            tf.constant(points), tf.constant(weights), 2, 7, seed_tensor(seed),
            distances.SQUARED_EUCLIDEAN) for seed in range(5)]

    for centers in run(build):
        positions = row_positions(centers, points)
        assert 3 not in positions
        assert {position // 2 for position in positions} == {0, 1}


# The proportional draw behind kmeans++ and k-means||.


def _draws(run, masses, num_samples, fallback=None, num_seeds=1):
    """`num_samples` draws under each of `num_seeds` seeds, concatenated."""
    return np.concatenate(run(lambda: [
        init._sample_proportional(tf.constant(masses), num_samples, seed_tensor(seed),
                                  None if fallback is None else tf.constant(fallback))
        for seed in range(num_seeds)]))


def test_draws_follow_the_masses_across_blocks(run):
    # 2.5 blocks of rows; every third row has no mass, and masses grow along the rows.
    masses = np.arange(2560, dtype=np.float32) % 7
    masses[::3] = 0.0
    drawn = _draws(run, masses, 4000, num_seeds=25)
    assert drawn.min() >= 0 and drawn.max() < len(masses)
    assert not np.any(masses[drawn] == 0.0)
    frequencies = np.bincount(drawn, minlength=len(masses)) / len(drawn)
    expected = masses / masses.sum()
    by_block = lambda values: np.add.reduceat(values, [0, 1024, 2048])  # noqa: E731
    np.testing.assert_allclose(by_block(frequencies), by_block(expected), atol=0.01)
    np.testing.assert_allclose(np.bincount(masses[drawn].astype(int), minlength=7)[1:] / len(drawn),
                               [np.sum(masses[masses == value]) / masses.sum() for value in range(1, 7)],
                               atol=0.01)


def test_a_single_row_of_mass_is_always_drawn(run):
    masses = np.zeros(3000, np.float32)
    masses[2999] = 1e-30
    assert set(_draws(run, masses, 50).tolist()) == {2999}


def test_zero_masses_draw_from_the_fallback_or_uniformly(run):
    zeros = np.zeros(1500, np.float32)
    fallback = np.zeros(1500, np.float32)
    fallback[[5, 1400]] = 1.0
    assert set(_draws(run, zeros, 100, fallback).tolist()) == {5, 1400}
    uniform = _draws(run, zeros, 4000, num_seeds=5)
    assert uniform.min() >= 0 and uniform.max() < 1500
    assert len(set(uniform.tolist())) > 1400


def test_random_init_skips_rows_equal_to_existing_centers(run):
    points = np.repeat(np.arange(8, dtype=np.float32).reshape(4, 2), 5, axis=0)
    existing = points[:1]
    chosen = run(lambda: init.random_init(
        tf.constant(points), 5, seed_tensor(3), existing=tf.constant(existing)))
    assert chosen.shape == (3, 2)
    assert sorted(map(tuple, chosen)) == [(2.0, 3.0), (4.0, 5.0), (6.0, 7.0)]


def test_distinct_centers_replaces_repeated_centers_by_other_points(run):
    points = np.arange(10, dtype=np.float32).reshape(5, 2)
    centers = points[[0, 0, 3]]
    fixed = run(lambda: init.distinct_centers(tf.constant(centers), tf.constant(points)))
    assert len(set(map(tuple, fixed))) == 3
    assert {(0.0, 1.0), (6.0, 7.0)} <= set(map(tuple, fixed))


def test_distinct_centers_returns_every_distinct_point_when_too_few(run):
    points = np.repeat(np.eye(2, dtype=np.float32), 3, axis=0)
    fixed = run(lambda: init.distinct_centers(tf.constant(points[:3]), tf.constant(points)))
    assert sorted(map(tuple, fixed)) == [(0.0, 1.0), (1.0, 0.0)]
