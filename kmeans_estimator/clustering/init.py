"""Choosing initial k-means centers from a batch: uniform rows, kmeans++ and k-means||.

All choices use stateless random ops driven by one `[2]` int32 seed tensor, so a fixed seed
gives the same centers in every session.
"""
import functools
import math

import tensorflow as tf

from kmeans_estimator.clustering.distances import (
    COSINE, nearest_centers, pairwise_distances, row_squared_norms)


def _sub_seed(seed: tf.Tensor, stream: int | tf.Tensor) -> tf.Tensor:
    return tf.random.experimental.stateless_fold_in(seed, stream)


def _assert_enough_points(points: tf.Tensor, num_clusters: int, method: str) -> tf.Operation:
    num_points = tf.shape(points)[0]
    message = tf.strings.format(
        f"{method} needs at least num_clusters={num_clusters} points in its first batch, got {{}}",
        num_points)
    return tf.debugging.Assert(num_points >= num_clusters, [message])


def new_distinct_rows(existing: tf.Tensor, candidates: tf.Tensor) -> tf.Tensor:
    """The rows of `candidates` equal to no row of `existing` and to no earlier candidate.

    Args:
      existing: `[c, d]` tensor of distinct rows (centers chosen so far; may be empty).
      candidates: `[m, d]` tensor of rows, in the order of preference.

    Returns:
      `[<= m, d]` tensor: the new distinct rows, in the order of their first occurrence.
    """
    with tf.name_scope("new_distinct_rows"):
        # UniqueV2 keeps first occurrences in order, so the distinct `existing` rows come
        # first and every row after them is new.
        unique, _ = tf.raw_ops.UniqueV2(x=tf.concat([existing, candidates], axis=0), axis=[0])
        return unique[tf.shape(existing)[0]:]


def random_init(
    points: tf.Tensor, num_to_choose: int | tf.Tensor, seed: tf.Tensor,
    existing: tf.Tensor | None = None,
) -> tf.Tensor:
    """Chooses distinct rows of `points`, none equal to a row of `existing`, uniformly at random.

    A sample of `num_to_choose` rows is taken first; only when it holds a duplicate are the
    distinct rows of the whole batch found (a search of every row for repeats, where the
    sample reads only the rows it takes) and the choice made among them.

    Args:
      points: `[n, d]` float tensor.
      num_to_choose: how many rows to choose, a Python int or scalar int tensor.
      seed: `[2]` int32 tensor seeding the stateless random ops.
      existing: `[c, d]` distinct rows already chosen, or None.

    Returns:
      `[m, d]` tensor of chosen rows in random order, with m = `num_to_choose` or, when the
      batch holds fewer new distinct rows, all of them.
    """
    with tf.name_scope("random_init"):
        if existing is None:
            existing = points[:0]
        wanted = tf.cast(num_to_choose, tf.int32)

        def sample(rows, sample_seed):
            num_rows = tf.shape(rows)[0]
            keys = tf.random.stateless_uniform([num_rows], seed=sample_seed)
            _, chosen = tf.math.top_k(keys, k=tf.minimum(num_rows, wanted), sorted=False)
            return tf.gather(rows, chosen)

        first_sample = sample(points, seed)
        fresh = new_distinct_rows(existing, first_sample)
        return tf.cond(
            tf.equal(tf.shape(fresh)[0], tf.shape(first_sample)[0]),
            lambda: fresh,
            lambda: sample(new_distinct_rows(existing, points), _sub_seed(seed, 1)))


def distinct_centers(centers: tf.Tensor, points: tf.Tensor) -> tf.Tensor:
    """`centers` with any repeated row replaced by distinct rows of `points`.

    kmeans++ and k-means|| can draw a point equal to a chosen center when the batch repeats
    points (rounding leaves such a point a tiny positive distance). Repeated centers are
    never useful: one of each pair stays empty.

    Returns:
      `[m, d]` tensor with m = k distinct rows, or, when `points` holds fewer than k
      distinct rows, all of them (m < k: the caller reports the shortfall).
    """
    with tf.name_scope("distinct_centers"):
        num_centers = tf.shape(centers)[0]
        unique, _ = tf.raw_ops.UniqueV2(x=centers, axis=[0])

        def top_up():
            missing = num_centers - tf.shape(unique)[0]
            return tf.concat([unique, new_distinct_rows(unique, points)[:missing]], axis=0)

        return tf.cond(tf.shape(unique)[0] < num_centers, top_up, lambda: centers)


# Rows per block of the two-level draw in _sample_proportional.
_SAMPLING_BLOCK_ROWS = 1024


def _blocks_of(masses: tf.Tensor, num_blocks: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """`masses` padded with zeros into `[num_blocks, _SAMPLING_BLOCK_ROWS]`, and each block's sum
    (float64)."""
    padding = num_blocks * _SAMPLING_BLOCK_ROWS - tf.size(masses)
    blocks = tf.reshape(tf.pad(masses, [[0, padding]]), [num_blocks, _SAMPLING_BLOCK_ROWS])
    return blocks, tf.cast(tf.reduce_sum(blocks, axis=1), tf.float64)


def _sample_proportional(
    masses: tf.Tensor, num_samples: int | tf.Tensor, seed: tf.Tensor,
    fallback: tf.Tensor | None = None,
) -> tf.Tensor:
    """Draws row indices with probability proportional to `masses` (non-negative).

    Inverse transform sampling in two levels: a block of 1024 rows is drawn by a binary
    search on the float64 running sum of the blocks' sums, then a row of that block by a
    binary search on the running sum of its masses. Rows of zero mass are never drawn. A
    running sum over all n masses is one sequential pass (TensorFlow's Cumsum is), a
    sizeable part of a kmeans++ round on a large batch; the block sums are one
    vectorized pass. Each draw holds its block's running sum (8 KiB), so this is for few
    draws per call, as kmeans++ makes. When all masses are zero, the draws follow
    `fallback` (same shape, not all zero) or, without it, are uniform.
    """
    size = tf.size(masses)
    num_blocks = (size + _SAMPLING_BLOCK_ROWS - 1) // _SAMPLING_BLOCK_ROWS
    blocks, block_sums = _blocks_of(masses, num_blocks)

    def from_fallback():
        values = tf.ones_like(masses) if fallback is None else tf.cast(fallback, masses.dtype)
        return _blocks_of(values, num_blocks)

    blocks, block_sums = tf.cond(
        tf.reduce_sum(block_sums) > 0.0, lambda: (blocks, block_sums), from_fallback)
    cumulative = tf.cumsum(block_sums)
    targets = tf.random.stateless_uniform(
        [num_samples], seed=seed, dtype=tf.float64) * cumulative[-1]
    block = tf.minimum(tf.searchsorted(cumulative, targets, side="right"), num_blocks - 1)
    before = tf.gather(tf.concat([tf.zeros([1], tf.float64), cumulative], 0), block)
    chosen_blocks = tf.gather(blocks, block)
    within_cumulative = tf.cumsum(tf.cast(chosen_blocks, tf.float64), axis=1)
    row = tf.searchsorted(within_cumulative, (targets - before)[:, tf.newaxis], side="right")[:, 0]
    # Rounding between a block's float32 sum and its float64 running sum can put a target at
    # or past the block's end: the block's last row of positive mass takes it.
    positive_from_end = tf.cast(tf.reverse(chosen_blocks, axis=[1]) > 0.0, tf.int32)
    last_positive = _SAMPLING_BLOCK_ROWS - 1 - tf.argmax(positive_from_end, axis=1, output_type=tf.int32)
    row = tf.minimum(row, last_positive)
    return tf.minimum(block * _SAMPLING_BLOCK_ROWS + row, size - 1)


def _candidate_scores(points: tf.Tensor, candidates: tf.Tensor, metric: str) -> tf.Tensor:
    """`[n, c]` scores of every point against each of the `c` candidates.

    The score is the distance less a per-point term that does not depend on the candidate:
    `||c||^2 - 2 x.c` (the distance less `||x||^2`) for squared Euclidean, `-x.c` (the
    distance less 1) for cosine. The points are the rows of the product, so the `[n, d]`
    batch is read once in its stored layout whatever the number of candidates.
    """
    if metric == COSINE:
        return tf.matmul(points, -candidates, transpose_b=True)
    candidate_norms = tf.reduce_sum(tf.square(candidates), axis=1)
    return tf.matmul(points, -2.0 * candidates, transpose_b=True) + candidate_norms


def _candidate_scores_by_rows(
    points: tf.Tensor, candidates: tf.Tensor, metric: str
) -> tf.Tensor:
    """`_candidate_scores` transposed, `[c, n]`, computed as such."""
    if metric == COSINE:
        return tf.matmul(-candidates, points, transpose_b=True)
    candidate_norms = tf.reduce_sum(tf.square(candidates), axis=1, keepdims=True)
    return tf.matmul(-2.0 * candidates, points, transpose_b=True) + candidate_norms


def _best_candidate(
    points: tf.Tensor,
    candidates: tf.Tensor,
    min_scores: tf.Tensor,
    weights: tf.Tensor | None,
    metric: str,
    candidates_as_rows: bool = False,
) -> tuple[tf.Tensor, tf.Tensor]:
    """One kmeans++ round after the draw: the winning candidate and the new running minimum.

    Scores the `[n]` points against the `[c, d]` candidates, lowers each candidate's scores to
    the running minimum `min_scores`, sums them (weighted when `weights` is given) and keeps
    the candidate of the smallest sum. The product is `[n, c]`, or `[c, n]` with
    `candidates_as_rows`. `[n, c]` is compiled by XLA (see `_BEST_CANDIDATE`), which fuses
    the bias, the minimum and the sums into one pass over the product; `[c, n]` op by op is
    faster for up to `_MAX_FEW_CANDIDATES` candidates, where Eigen's `[c, n]` product beats
    XLA's `[n, c]` one.
    """
    if candidates_as_rows:
        reduced = tf.minimum(min_scores, _candidate_scores_by_rows(points, candidates, metric))
    else:
        reduced = tf.minimum(min_scores[:, None], _candidate_scores(points, candidates, metric))
    candidate_axis = 0 if candidates_as_rows else 1
    if weights is None:
        potentials = tf.reduce_sum(reduced, axis=1 - candidate_axis)
    else:
        potentials = tf.linalg.matvec(reduced, weights, transpose_a=not candidates_as_rows)
    best = tf.argmin(potentials, output_type=tf.int32)
    return best, tf.gather(reduced, best, axis=candidate_axis)


_MAX_FEW_CANDIDATES = 3

# Beyond _MAX_FEW_CANDIDATES, the compiled [n, c] step beats the same ops run one by one in
# either layout, and the [n, c] product alone beats the [c, n] one.
_BEST_CANDIDATE = tf.function(_best_candidate, jit_compile=True, autograph=False)


def _weighted_kmeans_plus_plus(
    points: tf.Tensor,
    weights: tf.Tensor | None,
    num_clusters: int,
    num_retries: int,
    seed: tf.Tensor,
    metric: str,
) -> tf.Tensor:
    """kmeans++ over points, weighted or not (`weights` None), with at least k rows.

    A center is drawn with probability proportional to weight times distance D to the
    nearest center chosen so far; among the `1 + num_retries` candidates of a round the one
    leaving the smallest weighted potential wins. When that potential is zero (duplicates),
    draws follow the weights alone.

    The loop keeps the running minimum score (see `_candidate_scores`) rather than D: each
    round is then one matrix product of the points with all candidates, one elementwise
    minimum and one column sum, and D is the score plus the point's term, whose sum is
    the same for every candidate. Up to `_MAX_FEW_CANDIDATES` candidates these run op by op
    with the candidates as the rows of the product; more run as one XLA-compiled step with
    the points as its rows. Both follow the same sampling rule and are deterministic per
    seed; their float rounding differs, so the same seed can pick different rows in the two.
    """
    if num_retries < 0:
        num_retries = 2 + int(math.log(num_clusters))
    num_candidates = 1 + num_retries
    best_candidate = (functools.partial(_best_candidate, candidates_as_rows=True)
                      if num_candidates <= _MAX_FEW_CANDIDATES else _BEST_CANDIDATE)
    if metric == COSINE:
        offsets = tf.ones_like(points[:, 0])
    else:
        # One reduction: the square-and-sum held an [n, d] temporary beside the points.
        offsets = row_squared_norms(points)
    first = _sample_proportional(
        tf.ones_like(offsets) if weights is None else weights, 1, _sub_seed(seed, 0))
    first_center = tf.gather(points, first)
    min_scores = _candidate_scores(points, first_center, metric)[:, 0]
    centers = tf.TensorArray(points.dtype, size=num_clusters, element_shape=points.shape[1:])
    centers = centers.write(0, first_center[0])

    def add_center(index, centers, min_scores):
        masses = tf.maximum(min_scores + offsets, 0.0)
        if weights is not None:
            masses = masses * weights
        drawn = _sample_proportional(masses, num_candidates, _sub_seed(seed, index), weights)
        candidates = tf.gather(points, drawn)
        best, min_scores = best_candidate(points, candidates, min_scores, weights, metric)
        min_scores.set_shape(offsets.shape)
        return index + 1, centers.write(index, candidates[best]), min_scores

    _, centers, _ = tf.while_loop(
        lambda index, *_: index < num_clusters,
        add_center,
        (tf.constant(1), centers, min_scores),
        name="add_centers",
    )
    return centers.stack()


def kmeans_plus_plus_init(
    points: tf.Tensor, num_clusters: int, num_retries: int, seed: tf.Tensor, metric: str
) -> tf.Tensor:
    """Chooses `num_clusters` rows of a batch by kmeans++ with greedy retries.

    The first center is uniform; each next one is the best of `1 + num_retries` rows drawn
    with probability proportional to their distance D(x) to the nearest chosen center (1 - cos
    for the cosine metric), "best" meaning it leaves the smallest sum of min(D, distance to the
    candidate). All candidates of a round are scored with one matrix product against the
    batch, so each center costs one pass over it, most of it the product.

    Args:
      points: `[n, d]` float tensor, already passed through `distances.prepare_points`.
      num_clusters: k, a positive Python int.
      num_retries: extra candidates per center; negative means `2 + floor(log(k))`.
      seed: `[2]` int32 tensor seeding the stateless random ops.
      metric: one of `distances.METRICS`.

    Returns:
      `[k, d]` tensor of chosen rows.

    Raises:
      tf.errors.InvalidArgumentError: at run time, when the batch has fewer than k rows.

    References:
      Arthur & Vassilvitskii, "k-means++: The Advantages of Careful Seeding", SODA 2007.
    """
    with tf.name_scope("kmeans_plus_plus_init"):
        with tf.control_dependencies([_assert_enough_points(points, num_clusters, "kmeans++")]):
            points = tf.identity(points)
        return _weighted_kmeans_plus_plus(
            points, None, num_clusters, num_retries, seed, metric)


def kmeans_parallel_init(
    points: tf.Tensor,
    num_clusters: int,
    seed: tf.Tensor,
    metric: str,
    num_rounds: int = 5,
    oversampling_factor: float = 2.0,
) -> tf.Tensor:
    """Chooses `num_clusters` rows of a batch by k-means|| (scalable k-means++).

    Starting from one uniform row, each of `num_rounds` rounds keeps every row independently
    with probability `min(1, l * D(x) / phi)`, `l = oversampling_factor * k`, D the distance to
    the nearest candidate so far and phi their sum. Candidates are weighted by how many rows
    are nearest to them and reduced to k by weighted kmeans++. When fewer than k candidates
    come out, all of them are kept and uniformly random rows make up the rest. Most of its
    time goes to the products of all points with the candidates.

    Args:
      points: `[n, d]` float tensor, already passed through `distances.prepare_points`.
      num_clusters: k, a positive Python int.
      seed: `[2]` int32 tensor seeding the stateless random ops.
      metric: one of `distances.METRICS`.
      num_rounds: sampling rounds, a non-negative Python int.
      oversampling_factor: l / k, a positive float.

    Returns:
      `[k, d]` tensor of chosen rows.

    Raises:
      tf.errors.InvalidArgumentError: at run time, when the batch has fewer than k rows.

    References:
      Bahmani, Moseley, Vattani, Kumar & Vassilvitskii, "Scalable K-Means++", VLDB 2012.
    """
    with tf.name_scope("kmeans_parallel_init"):
        with tf.control_dependencies([_assert_enough_points(points, num_clusters, "k-means||")]):
            points = tf.identity(points)
        num_points = tf.shape(points)[0]
        first = tf.random.stateless_uniform(
            [1], seed=_sub_seed(seed, 0), maxval=num_points, dtype=tf.int32)
        first_center = tf.gather(points, first)
        # Taken once: every round and the final assignment search the same points.
        squared_norms = None if metric == COSINE else row_squared_norms(points)
        min_distances = pairwise_distances(
            points, first_center, metric, squared_norms=squared_norms)[:, 0]
        oversampling = tf.cast(oversampling_factor * num_clusters, points.dtype)

        def sample_round(round_index, candidates, min_distances):
            potential = tf.reduce_sum(min_distances)
            keep_probability = tf.minimum(
                oversampling * tf.math.divide_no_nan(min_distances, potential), 1.0)
            draws = tf.random.stateless_uniform(
                [num_points], seed=_sub_seed(seed, round_index), dtype=points.dtype)
            sampled = tf.boolean_mask(points, draws < keep_probability)
            # The first center, already accounted for in min_distances, keeps the search
            # defined when a round samples nothing.
            _, new_distances = nearest_centers(
                points, tf.concat([first_center, sampled], axis=0), metric,
                squared_norms=squared_norms)
            return (round_index + 1, tf.concat([candidates, sampled], axis=0),
                    tf.minimum(min_distances, new_distances))

        _, candidates, _ = tf.while_loop(
            lambda round_index, *_: round_index < num_rounds + 1,
            sample_round,
            (tf.constant(1), first_center, min_distances),
            shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, points.shape[1]]),
                              min_distances.shape),
            name="sample_rounds",
        )
        num_candidates = tf.shape(candidates)[0]

        def reduce_candidates():
            nearest, _ = nearest_centers(points, candidates, metric, squared_norms=squared_norms)
            weights = tf.math.unsorted_segment_sum(
                tf.ones_like(points[:, 0]), nearest, num_candidates)
            return _weighted_kmeans_plus_plus(
                candidates, weights, num_clusters, -1, _sub_seed(seed, num_rounds + 1), metric)

        def top_up_candidates():
            extra = random_init(
                points, num_clusters - num_candidates, _sub_seed(seed, num_rounds + 2),
                existing=candidates)
            return tf.concat([candidates, extra], axis=0)

        centers = tf.cond(
            num_candidates >= num_clusters, reduce_candidates, top_up_candidates,
            name="reduce_or_top_up")
        # Fewer than num_clusters rows only when the batch holds fewer distinct points.
        centers.set_shape([None, points.shape[1]])
        return centers
