"""Center updates of k-means: full-batch Lloyd means, mini-batch running means and the
moving of nearly empty mini-batch centers.

Pure graph functions; the caller owns the variables they are assigned to.
"""
import tensorflow as tf

from kmeans_estimator.clustering.init import random_init
from kmeans_estimator.clustering.rows import by_row_count, row_range

# From this many points on, the compiled sums run as two halves side by side (see
# cluster_sums_and_counts); below, the second call costs more than it saves. A batch known
# while building the graph to hold fewer points is not compiled at all.
_HALVES_MIN_POINTS = 32768

# Bits of a batch's row count kept in the number of rows summed by the compiled function
# (see `compiled_row_count`).
_COMPILED_ROW_BITS = 4


def compiled_row_count(num_rows):
    """How many leading rows of a batch of `num_rows` the compiled sums take.

    XLA compiles its function anew for every new shape, which costs far more than the sums
    of a mini-batch themselves, so batches whose size changes from step to step must not
    each get a shape of their own. The count kept is `num_rows` with all but its 4 highest
    bits cleared: at least 8/9 of the rows, at most 8 distinct counts between two powers of
    two, and `num_rows` itself for the usual sizes (1024, 500000 = 0b1111010000100100000
    keeps 491520). The rest of the rows are summed op by op.

    Args:
      num_rows: a Python int, or a scalar int32 tensor, at least 0.

    Returns:
      The count, of the same kind as `num_rows`.
    """
    if isinstance(num_rows, int):
        dropped = max(num_rows.bit_length() - _COMPILED_ROW_BITS, 0)
        return num_rows >> dropped << dropped
    bit_length = tf.reduce_sum(tf.cast(
        tf.bitwise.right_shift(num_rows, tf.range(31, dtype=num_rows.dtype)) > 0, num_rows.dtype))
    dropped = tf.maximum(bit_length - _COMPILED_ROW_BITS, 0)
    return tf.bitwise.left_shift(tf.bitwise.right_shift(num_rows, dropped), dropped)


def _segment_sums(points: tf.Tensor, indices: tf.Tensor, num_clusters: int):
    return (tf.math.unsorted_segment_sum(points, indices, num_clusters),
            tf.math.unsorted_segment_sum(tf.ones_like(indices, points.dtype), indices, num_clusters))


# XLA's segment sum beats TensorFlow's scatter-add from mini-batches to full batches (see
# cluster_sums_and_counts).
_COMPILED_SEGMENT_SUMS = tf.function(_segment_sums, jit_compile=True, autograph=False)


def _compiled_sums(points: tf.Tensor, indices: tf.Tensor, num_clusters: int):
    """`_segment_sums` of all rows by XLA, as two equal halves side by side from
    `_HALVES_MIN_POINTS` rows on (XLA's scatter runs on one core). The halves are
    `rows.row_range` views; the row count must come from `compiled_row_count`."""

    def whole():
        return _COMPILED_SEGMENT_SUMS(points, indices, num_clusters)

    def halves():
        half = tf.shape(points)[0] // 2
        first = _COMPILED_SEGMENT_SUMS(row_range(points, 0, half), indices[:half], num_clusters)
        second = _COMPILED_SEGMENT_SUMS(row_range(points, half, half), indices[half:], num_clusters)
        return first[0] + second[0], first[1] + second[1]

    return by_row_count(points, _HALVES_MIN_POINTS - 1, whole, halves, name="in_halves")


def _scatter_sums(points: tf.Tensor, indices: tf.Tensor, num_clusters: int):
    """`_segment_sums` op by op, for the few rows `compiled_row_count` leaves out."""
    sums = tf.tensor_scatter_nd_add(
        tf.zeros([num_clusters, tf.shape(points)[1]], points.dtype), indices[:, tf.newaxis], points)
    counts = tf.math.bincount(indices, minlength=num_clusters, maxlength=num_clusters, dtype=points.dtype)
    return sums, counts


def cluster_sums_and_counts(
    points: tf.Tensor, indices: tf.Tensor, num_clusters: int
) -> tuple[tf.Tensor, tf.Tensor]:
    """Sums and counts the points assigned to each center.

    The leading `compiled_row_count(n)` rows are summed by one XLA-compiled segment sum (two
    side by side for large batches), the few rows left over by TensorFlow's scatter-add; a
    batch known while building the graph to hold fewer than `_HALVES_MIN_POINTS` rows is
    summed by the scatter-add alone, which keeps small train() calls from paying for the
    function's tracing and compiling. The compiled sum beats the scatter-add, a one-hot
    product and `unsorted_segment_sum` op by op on every batch but tiny ones, which lose
    next to nothing.

    Args:
      points: `[n, d]` float tensor.
      indices: `[n]` int tensor, the center each point is assigned to, in `[0, k)`.
      num_clusters: k, a Python int.

    Returns:
      `(sums, counts)`: `[k, d]` sums of the assigned points and `[k]` counts, both of the
      points' dtype.
    """
    with tf.name_scope("cluster_sums_and_counts"):
        indices = tf.cast(indices, tf.int32)
        static_rows = tf.compat.dimension_value(points.shape[0])
        if static_rows is not None:
            if static_rows < _HALVES_MIN_POINTS:
                # Known to be small: tracing and compiling the function into this call's
                # graph would cost a train() call more than it saves per step.
                return _scatter_sums(points, indices, num_clusters)
            compiled_rows = compiled_row_count(static_rows)
            if compiled_rows == static_rows:
                return _compiled_sums(points, indices, num_clusters)
            return _leading_and_rest_sums(points, indices, num_clusters, compiled_rows)
        num_rows = tf.shape(points)[0]
        compiled_rows = compiled_row_count(num_rows)
        # The common mini-batch (a fixed batch size of a compiled row count, one call)
        # skips the slicing and the op-by-op sums of the general case.
        return tf.cond(
            tf.logical_and(tf.equal(compiled_rows, num_rows), num_rows < _HALVES_MIN_POINTS),
            lambda: _COMPILED_SEGMENT_SUMS(points, indices, num_clusters),
            lambda: _leading_and_rest_sums(points, indices, num_clusters, compiled_rows),
            name="compiled_rows_only")


def _leading_and_rest_sums(points, indices, num_clusters, compiled_rows):
    """Sums of the leading `compiled_rows` rows compiled, of the rest op by op, added."""
    leading = row_range(points, 0, compiled_rows)
    if isinstance(compiled_rows, int):
        leading.set_shape([compiled_rows, points.shape[1]])
    sums, counts = _compiled_sums(leading, indices[:compiled_rows], num_clusters)
    rest_sums, rest_counts = _scatter_sums(
        row_range(points, compiled_rows, tf.shape(points)[0] - compiled_rows),
        indices[compiled_rows:], num_clusters)
    return sums + rest_sums, counts + rest_counts


def lloyd_update(centers: tf.Tensor, sums: tf.Tensor, counts: tf.Tensor) -> tf.Tensor:
    """Moves every center to the mean of its assigned points (one Lloyd iteration).

    A center without points keeps its position (the original Estimator moved it to the
    origin, where it then captured points it should not have).

    Args:
      centers: `[k, d]` current centers.
      sums: `[k, d]` sums of the points assigned to each center.
      counts: `[k]` number of points assigned to each center, of the centers' dtype.

    Returns:
      `[k, d]` new centers.

    References:
      Lloyd, "Least squares quantization in PCM", IEEE Trans. Inf. Theory, 1982.
    """
    with tf.name_scope("lloyd_update"):
        counts = counts[:, tf.newaxis]
        means = sums / tf.maximum(counts, 1.0)
        return tf.where(counts > 0.0, means, centers)


def mini_batch_update(
    centers: tf.Tensor, total_counts: tf.Tensor, sums: tf.Tensor, counts: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Moves centers towards their points in a batch, as the original's mini-batch step does.

    With `n` a center's count before the batch, `m` its points in the batch and `s` their
    sum: `new_center = center + (s - m * center) / (n + m)`, `new_total = n + m`: the
    running mean, the rate the original's code states and its centers show when its ops
    run one at a time. (The original reads the counts for the rate and adds the batch's
    counts to them unordered; in sessions running ops in parallel the add usually came
    first, giving 1 / (n + 2m) from run to run, a race not kept here.) A center without
    points in the batch stays where it is.

    Args:
      centers: `[k, d]` current centers.
      total_counts: `[k]` counts of each center before the batch, of the centers' dtype.
      sums: `[k, d]` sums of the batch's points assigned to each center.
      counts: `[k]` number of the batch's points assigned to each center.

    Returns:
      `(new_centers, new_total_counts)`, shaped like `centers` and `total_counts`.

    References:
      Sculley, "Web-scale k-means clustering", WWW 2010 (the running means this follows).
    """
    with tf.name_scope("mini_batch_update"):
        new_total_counts = tf.add(total_counts, counts)
        # A center without points in the batch has sum 0 and count 0, so its step is
        # exactly 0 and it stays where it is.
        step = (sums - counts[:, tf.newaxis] * centers) / tf.maximum(
            new_total_counts[:, tf.newaxis], 1.0)
        return centers + step, new_total_counts


def reassign_nearly_empty(
    points: tf.Tensor, centers: tf.Tensor, total_counts: tf.Tensor, ratio: float, seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Moves the centers that hold almost no points onto random points of the batch.

    A center is nearly empty when its total count is below `ratio` times the largest total
    count. The nearly empty centers (the smallest counts first, at most half the batch) move
    to distinct points of the batch drawn uniformly, none equal to a center; their counts
    become the smallest count of the centers that stay, so that the next batches move them
    about as fast as the least-used of the others. Mini-batch k-means otherwise leaves a
    center that kmeans++ put between blobs, or in a blob another center took over, empty
    for the rest of training.

    Args:
      points: `[n, d]` float tensor, the batch.
      centers: `[k, d]` centers after the batch's update, distinct rows.
      total_counts: `[k]` int64 points assigned to each center in all batches so far.
      ratio: a Python float in (0, 1].
      seed: `[2]` int32 tensor seeding the draw of the points.

    Returns:
      `(centers, total_counts)`, shaped like the inputs.

    References:
      Sculley, "Web-scale k-means clustering", WWW 2010; the reassignment of scikit-learn's
      MiniBatchKMeans (`reassignment_ratio`).
    """
    with tf.name_scope("reassign_nearly_empty"):
        threshold = ratio * tf.cast(tf.reduce_max(total_counts), tf.float64)
        nearly_empty = tf.cast(total_counts, tf.float64) < threshold
        wanted = tf.minimum(tf.reduce_sum(tf.cast(nearly_empty, tf.int32)), tf.shape(points)[0] // 2)

        def move():
            new_positions = random_init(points, wanted, seed, existing=centers)
            num_moved = tf.shape(new_positions)[0]
            # The nearly empty centers have the smallest counts: the first of this order.
            moved = tf.argsort(total_counts, stable=True)[:num_moved, tf.newaxis]
            is_moved = tf.scatter_nd(moved, tf.ones([num_moved], tf.bool), tf.shape(total_counts))
            smallest_kept = tf.reduce_min(tf.where(
                is_moved, tf.constant(total_counts.dtype.max, total_counts.dtype), total_counts))
            return (tf.tensor_scatter_nd_update(centers, moved, new_positions),
                    tf.tensor_scatter_nd_update(total_counts, moved, tf.fill([num_moved], smallest_kept)))

        return tf.cond(wanted > 0, move, lambda: (centers, total_counts), name="if_any")


def relative_change(loss: tf.Tensor, previous_loss: tf.Tensor) -> tf.Tensor:
    """Measures how much the loss moved: `|loss - previous| / (1 + |previous|)`.

    Args:
      loss: scalar float tensor.
      previous_loss: scalar float tensor of the same dtype.

    Returns:
      Scalar tensor, the relative change.
    """
    with tf.name_scope("relative_change"):
        return tf.abs(loss - previous_loss) / (1.0 + tf.abs(previous_loss))
