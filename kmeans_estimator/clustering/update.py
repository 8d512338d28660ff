"""Center updates of k-means: full-batch Lloyd means and mini-batch running means.

Pure graph functions; the caller owns the variables they are assigned to.
"""
import tensorflow as tf

from kmeans_estimator.clustering.rows import ALIGNED_ROWS, by_row_count, row_range

# The one-hot product beats the scatter-add up to about this many centers (see
# cluster_sums_and_counts for the measurements).
_ONE_HOT_MAX_CLUSTERS = 16

# From this many points on, the scatter-add runs as two halves side by side (see
# _sums_by_scatter); below, the second op costs more than it saves.
_HALVES_MIN_POINTS = 65536


def _scatter_sums(points: tf.Tensor, indices: tf.Tensor, num_clusters: int) -> tf.Tensor:
    return tf.tensor_scatter_nd_add(
        tf.zeros([num_clusters, tf.shape(points)[1]], points.dtype),
        indices[:, tf.newaxis], points)


def _scatter_sums_in_halves(
    points: tf.Tensor, indices: tf.Tensor, num_clusters: int
) -> tf.Tensor:
    """`_scatter_sums` as two ops over the two halves of the batch, which run side by side.

    The halves are `rows.row_range` views, cut at a multiple of `rows.ALIGNED_ROWS` rows.
    """
    num_points = tf.shape(points)[0]
    half = num_points // 2 // ALIGNED_ROWS * ALIGNED_ROWS
    first = _scatter_sums(row_range(points, 0, half), indices[:half], num_clusters)
    second = _scatter_sums(
        row_range(points, half, num_points - half), indices[half:], num_clusters)
    return first + second


def _sums_by_scatter(
    points: tf.Tensor, indices: tf.Tensor, num_clusters: int
) -> tuple[tf.Tensor, tf.Tensor]:
    # TensorFlow's scatter-add runs on one core. Two halves side by side took 47 against 70 ms
    # for n=500000, d=100, k=500; cut with points[a:b] they were copies of the rows (191 MB
    # more peak memory for that fit), hence the views.
    sums = by_row_count(
        points, _HALVES_MIN_POINTS - 1,
        lambda: _scatter_sums(points, indices, num_clusters),
        lambda: _scatter_sums_in_halves(points, indices, num_clusters),
        name="in_halves")
    counts = tf.math.bincount(
        tf.cast(indices, tf.int32), minlength=num_clusters, maxlength=num_clusters,
        dtype=points.dtype)
    return sums, counts


def _sums_by_one_hot(
    points: tf.Tensor, indices: tf.Tensor, num_clusters: int
) -> tuple[tf.Tensor, tf.Tensor]:
    membership = tf.one_hot(indices, num_clusters, dtype=points.dtype)
    sums = tf.matmul(membership, points, transpose_a=True)
    counts = tf.reduce_sum(membership, axis=0)
    return sums, counts


def cluster_sums_and_counts(
    points: tf.Tensor, indices: tf.Tensor, num_clusters: int
) -> tuple[tf.Tensor, tf.Tensor]:
    """Sums and counts the points assigned to each center.

    Up to 16 centers this multiplies a one-hot `[n, k]` membership matrix with the points;
    above, it scatter-adds the points into a `[k, d]` zero matrix and counts with a
    bincount. Measured on the shared 2-core development machine (float32, ms per call, best
    of 5; scatter-add / one-hot / `unsorted_segment_sum`, the former choice above 64
    centers): n=500000 d=100 k=500: 60 / 660 / 182; n=500000 d=100 k=50: 56 / 91 / 161;
    n=65536 d=100 k=100: 8.4 / 21.5 / 23.1; n=65536 d=100 k=50: 8.4 / 12.3 / 22.7;
    n=65536 d=100 k=10: 7.9 / 4.8 / 18.2; n=16384 d=10 k=200: 0.84 / 2.03 / 1.21;
    n=1024 d=100 k=100: 0.26 / 0.37 / 0.37; n=1024 d=100 k=50: 0.23 / 0.24 / 0.35;
    n=100 d=2 k=3: 0.11 / 0.11 / 0.10.

    Args:
      points: `[n, d]` float tensor.
      indices: `[n]` int tensor, the center each point is assigned to, in `[0, k)`.
      num_clusters: k, a Python int.

    Returns:
      `(sums, counts)`: `[k, d]` sums of the assigned points and `[k]` counts, both of the
      points' dtype.
    """
    with tf.name_scope("cluster_sums_and_counts"):
        if num_clusters <= _ONE_HOT_MAX_CLUSTERS:
            return _sums_by_one_hot(points, indices, num_clusters)
        return _sums_by_scatter(points, indices, num_clusters)


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
    """Moves centers towards their points in a batch with a per-center rate of 1 / count.

    Each center becomes the running mean of all points ever assigned to it: with
    `new_total = total + count`, `new_center = center + (sum - count * center) / new_total`.
    From zero totals this is exactly the batch mean; centers without points in the batch
    are left unchanged.

    Args:
      centers: `[k, d]` current centers.
      total_counts: `[k]` points assigned to each center in all earlier batches.
      sums: `[k, d]` sums of the batch's points assigned to each center.
      counts: `[k]` number of the batch's points assigned to each center.

    Returns:
      `(new_centers, new_total_counts)`, shaped like `centers` and `total_counts`.

    References:
      Sculley, "Web-scale k-means clustering", WWW 2010.
    """
    with tf.name_scope("mini_batch_update"):
        new_total_counts = tf.add(total_counts, counts)
        # A center without points in the batch has sum 0 and count 0, so its step is
        # exactly 0 and it stays where it is.
        step = (sums - counts[:, tf.newaxis] * centers) / tf.maximum(
            new_total_counts[:, tf.newaxis], 1.0)
        return centers + step, new_total_counts


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
