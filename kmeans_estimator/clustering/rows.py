"""Ranges of rows of a batch, cut so that TensorFlow can hand them out without copying, and
the choice of a computation by a batch's row count.

`points[start:stop]` on an `[n, d]` tensor is a view of the batch only when one row is a
multiple of 64 bytes; otherwise TensorFlow copies the rows (for d=100 float32, a row is
400 bytes). A slice of the batch flattened to one dimension is a view whenever it starts on
a 64-byte boundary. Ranges that start at a multiple of `ALIGNED_ROWS` rows of a 64-byte
aligned batch always do, whatever d is.
"""
import tensorflow as tf

# 16 rows are 64 * d bytes of float32 (and a multiple of 64 bytes for any wider dtype).
ALIGNED_ROWS = 16


def row_range(points: tf.Tensor, start: tf.Tensor | int, num_rows: tf.Tensor | int) -> tf.Tensor:
    """Rows `[start, start + num_rows)` of `[n, d]` points (fewer at the end of the batch).

    A view of `points`, not a copy, when `start` is a multiple of `ALIGNED_ROWS` and the
    batch is 64-byte aligned, as TensorFlow's own buffers are.
    """
    row_size = tf.shape(points, out_type=tf.int64)[1]
    begin = tf.cast(start, tf.int64) * row_size
    end = begin + tf.cast(num_rows, tf.int64) * row_size
    rows = tf.reshape(tf.reshape(points, [-1])[begin:end], tf.stack([-1, row_size]))
    rows.set_shape([None, points.shape[1]])
    return rows


def by_row_count(points: tf.Tensor, max_small_rows: int, small, large, name: str):
    """`small()` for a batch of at most `max_small_rows` rows, else `large()`.

    Decided while building the graph when the batch's row count is known, at run time (a
    `tf.cond` named `name`) when it is not. Both callables take no arguments and return
    tensors of the same structure.
    """
    static_rows = tf.compat.dimension_value(points.shape[0])
    if static_rows is not None:
        return small() if static_rows <= max_small_rows else large()
    return tf.cond(tf.shape(points)[0] <= max_small_rows, small, large, name=name)
