"""Squared-Euclidean and cosine distances between points and centers as graph ops.

Holds the blocked nearest-center search that every assignment step of k-means runs.
"""
import tensorflow as tf

from kmeans_estimator.clustering.rows import ALIGNED_ROWS, by_row_count, row_range

SQUARED_EUCLIDEAN = "squared_euclidean"
COSINE = "cosine"
METRICS = (SQUARED_EUCLIDEAN, COSINE)

# How many score entries (rows x centers) one block of the nearest-center search may hold.
# 2**20 float32 entries is 4 MiB; benchmarks/RESULTS.md has the measurements behind it.
_BLOCK_ENTRIES = 2**20


def _default_rows_per_block(entries_per_row: int | None) -> int:
    """Rows per block by default: about `_BLOCK_ENTRIES / entries_per_row` (k scores per row
    in the nearest-center search), at least 256, a multiple of 16; 1024 when
    `entries_per_row` is unknown while building the graph."""
    if entries_per_row is None:
        return 1024
    rows = _BLOCK_ENTRIES // max(entries_per_row, 1)
    return max(256, rows // ALIGNED_ROWS * ALIGNED_ROWS)


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")


def prepare_points(points: tf.Tensor, metric: str) -> tf.Tensor:
    """Puts input points into the form the other distance functions expect.

    Args:
      points: `[n, d]` float tensor.
      metric: one of `METRICS`.

    Returns:
      The points l2-normalized row by row for `COSINE`; the points themselves for
      `SQUARED_EUCLIDEAN`.

    Raises:
      ValueError: if `metric` is not one of `METRICS`.
    """
    _check_metric(metric)
    if metric == COSINE:
        with tf.name_scope("normalize_points"):
            return tf.math.l2_normalize(points, axis=1)
    return points


def row_squared_norms(points: tf.Tensor) -> tf.Tensor:
    """Squared l2 norm of every row of `points`, without a large `[n, d]` temporary.

    `tf.reduce_sum(tf.square(points), axis=1)` first writes all n x d squares: 191 MiB
    beside the points for 500000 x 100 float32, which with oneDNN on (TensorFlow's default
    on x86) the CPU allocator then keeps in the process. A batch of more than `_BLOCK_ENTRIES`
    values therefore takes one Euclidean-norm reduction, which reads the points once and
    writes only the n norms (faster there than the square and the sum, whole or block by
    block), squared back, which can differ from the sum of squares in the last bit. Smaller
    batches take the square and the sum, quick and steady at that size, where the norm
    reduction's time varies by up to a whole mini-batch step.

    Args:
      points: `[n, d]` float tensor; n may be unknown while building the graph.

    Returns:
      `[n]` tensor of the points' dtype.
    """
    with tf.name_scope("row_squared_norms"):
        max_small_rows = _BLOCK_ENTRIES // max(tf.compat.dimension_value(points.shape[1]) or 1, 1)
        return by_row_count(
            points, max_small_rows,
            lambda: tf.reduce_sum(tf.square(points), axis=1),
            lambda: tf.square(tf.math.reduce_euclidean_norm(points, axis=1)),
            name="small_batch")


def _check_block_rows(block_rows: int) -> None:
    if block_rows <= 0:
        raise ValueError(f"block_rows must be a positive integer, got {block_rows}")


def _by_row_blocks(
    points: tf.Tensor, block_rows: int, compute_block, dtypes: tuple
) -> tuple[tf.Tensor, ...]:
    """Applies `compute_block` to `points` block by block of rows and joins the results.

    `compute_block` maps `[rows, d]` rows to a tuple of `[rows]` tensors of `dtypes`. Inputs
    of at most `block_rows` rows are done without a loop: decided while building the graph
    when n is known, at run time (a `tf.cond`) when it is not. The loop's machinery costs
    more than the product itself for a mini-batch.

    A one-block input is not split further for the second core: two halves side by side
    win on a cached batch but lose under a real input pipeline, which needs that core.
    """
    outputs = by_row_count(
        points, block_rows,
        lambda: compute_block(points),
        lambda: _loop_over_row_blocks(points, block_rows, compute_block, dtypes),
        name="one_block",
    )
    for output in outputs:
        output.set_shape(points.shape[:1])
    return tuple(outputs)


def _loop_over_row_blocks(
    points: tf.Tensor, block_rows: int, compute_block, dtypes: tuple
) -> tuple[tf.Tensor, ...]:
    """The loop of `_by_row_blocks`.

    Blocks are cut by `rows.row_range`, views of the batch when `block_rows` is a multiple
    of `rows.ALIGNED_ROWS` (as the defaults are). `points[start:stop]` would copy every
    block whose rows are not a multiple of 64 bytes, which makes a pass markedly slower.
    """
    num_rows = tf.shape(points)[0]
    num_blocks = (num_rows + block_rows - 1) // block_rows
    results = tuple(
        tf.TensorArray(dtype, size=num_blocks, infer_shape=False, element_shape=tf.TensorShape([None]))
        for dtype in dtypes
    )

    def next_block(block_index, *results):
        outputs = compute_block(row_range(points, block_index * block_rows, block_rows))
        return (block_index + 1,) + tuple(
            result.write(block_index, output) for result, output in zip(results, outputs))

    _, *results = tf.while_loop(
        lambda block_index, *_: block_index < num_blocks,
        next_block,
        (tf.constant(0),) + results,
        parallel_iterations=2,
        name="blocks",
    )
    return tuple(result.concat() for result in results)


def _scoring_centers(centers: tf.Tensor, metric: str) -> tuple[tf.Tensor, tf.Tensor | None]:
    """Returns (scaled centers, per-center bias) such that the score of point x and center c
    is `x . scaled_c + bias_c`, highest for the nearest center.

    Squared Euclidean: ||x - c||^2 = ||x||^2 - (2 x.c - ||c||^2), the part in brackets is the
    score. Cosine: 1 - cos = 1 - x.c for unit vectors, so the score is x.c and no bias. The
    scores are the exact negations of `||c||^2 - 2 x.c` and `-x.c` (a sign is exact in
    floating point), so the highest score picks the center the lowest distance would.
    """
    if metric == COSINE:
        return tf.math.l2_normalize(centers, axis=1), None
    return 2.0 * centers, -tf.reduce_sum(tf.square(centers), axis=1)


def _distances_from_scores(scores: tf.Tensor, metric: str, squared_norms: tf.Tensor | None) -> tf.Tensor:
    """Distances from scores: `1 - score` for cosine, `||x||^2 - score` clipped at 0 otherwise
    (`squared_norms` shaped to broadcast against `scores`)."""
    if metric == COSINE:
        return 1.0 - scores
    return tf.maximum(squared_norms - scores, 0.0)


def _nearest_in_block(
    block: tf.Tensor, scaled_centers: tf.Tensor, bias: tf.Tensor | None
) -> tuple[tf.Tensor, tf.Tensor]:
    """The index of each row's best-scoring center and that score (see `_scoring_centers`).

    `top_k(k=1)` returns the first of the highest scores, the lowest index on ties as
    `argmin` does, and its value in the same op. On CPU it is a vectorized maximum and a
    scan of each row up to it, where `ArgMin` compares index-value pairs one by one, which
    is slower (figures in benchmarks/RESULTS.md, "Design measurements").
    """
    scores = tf.matmul(block, scaled_centers, transpose_b=True)
    if bias is not None:
        # A BiasAdd right after the product is fused into it by TensorFlow's graph rewriter.
        scores = tf.nn.bias_add(scores, bias)
    best_scores, indices = tf.math.top_k(scores, k=1, sorted=False)
    return tf.cast(indices[:, 0], tf.int64), best_scores[:, 0]


def nearest_centers(
    points: tf.Tensor,
    centers: tf.Tensor,
    metric: str,
    block_rows: int | None = None,
    squared_norms: tf.Tensor | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Finds the nearest center of every point and the distance to it.

    Scores `2 x.c - ||c||^2` (or `x.c` for cosine) are computed block by block of rows, so
    the full `[n, k]` matrix is never held; each row's highest score is subtracted from
    `||x||^2` (see `row_squared_norms`, taken for the whole batch at once) only. Blocks of a
    few thousand rows run about as fast as one product over the whole batch, which holds all
    `[n, k]` scores at once; smaller blocks are slower. The default block therefore holds
    about 2**20 scores (4 MiB in float32): 2096 rows for k=500.

    Args:
      points: `[n, d]` float tensor, already passed through `prepare_points`; n may be
        unknown while building the graph but must be positive at run time.
      centers: `[k, d]` float tensor of the same dtype, k >= 1.
      metric: one of `METRICS`.
      block_rows: rows per block; by default about 2**20 / k (at least 256, a multiple of 16,
        so that blocks are views of an aligned batch, not copies). Inputs with at most
        that many rows are done in one block without a loop: decided while building the graph
        when n is known, at run time (a `tf.cond`) when it is not.
      squared_norms: optional `[n]` `row_squared_norms(points)`, for callers that search
        the same points with many sets of centers; only read for `SQUARED_EUCLIDEAN`.

    Returns:
      `(indices, distances)`: int64 `[n]` index of the nearest center, and `[n]` distance to
      it, squared Euclidean (clipped at 0) or `1 - cos`.

    Raises:
      ValueError: if `metric` is not one of `METRICS` or `block_rows` is not positive.
    """
    _check_metric(metric)
    if block_rows is None:
        block_rows = _default_rows_per_block(tf.compat.dimension_value(centers.shape[0]))
    _check_block_rows(block_rows)
    with tf.name_scope("nearest_centers"):
        scaled_centers, bias = _scoring_centers(centers, metric)
        indices, best_scores = _by_row_blocks(
            points, block_rows,
            lambda block: _nearest_in_block(block, scaled_centers, bias),
            (tf.int64, points.dtype),
        )
        if metric == SQUARED_EUCLIDEAN and squared_norms is None:
            squared_norms = row_squared_norms(points)
        return indices, _distances_from_scores(best_scores, metric, squared_norms)


def pairwise_distances(
    points: tf.Tensor,
    centers: tf.Tensor,
    metric: str,
    squared_norms: tf.Tensor | None = None,
) -> tf.Tensor:
    """Computes the distance of every point to every center.

    Args:
      points: `[n, d]` float tensor, already passed through `prepare_points`.
      centers: `[k, d]` float tensor of the same dtype.
      metric: one of `METRICS`.
      squared_norms: optional `[n]` squared l2 norms of the points, for callers that compare
        the same points with many sets of centers; only read for `SQUARED_EUCLIDEAN`.

    Returns:
      `[n, k]` tensor of squared Euclidean distances (clipped at 0) or `1 - cos`.

    Raises:
      ValueError: if `metric` is not one of `METRICS`.
    """
    _check_metric(metric)
    with tf.name_scope("pairwise_distances"):
        scaled_centers, bias = _scoring_centers(centers, metric)
        scores = tf.matmul(points, scaled_centers, transpose_b=True)
        if bias is not None:
            scores = scores + bias
        if metric == SQUARED_EUCLIDEAN and squared_norms is None:
            squared_norms = tf.reduce_sum(tf.square(points), axis=1)
        return _distances_from_scores(
            scores, metric, None if squared_norms is None else squared_norms[:, tf.newaxis])
