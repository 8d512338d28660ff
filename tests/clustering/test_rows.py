"""row_range: the rows it cuts, and whether TensorFlow hands them out as views.

TensorFlow records where each output of a traced run lives (the allocation's address); a
view reports the address of the buffer it points into, a copy a buffer of its own.
"""
import numpy as np
import pytest
import tensorflow as tf

from kmeans_estimator.clustering import distances, rows


@pytest.mark.parametrize("start, num_rows", [(0, 5), (16, 16), (3, 7), (30, 10), (32, 0)],
                         ids=["head", "aligned", "unaligned", "past_the_end", "empty"])
@pytest.mark.parametrize("known_shape", [True, False], ids=["static_shape", "unknown_shape"])
def test_row_range_cuts_the_rows_numpy_would(run, start, num_rows, known_shape):
    points = np.arange(32 * 3, dtype=np.float32).reshape(32, 3)

    def build():
        batch = tf.constant(points)
        if not known_shape:
            batch = tf.compat.v1.placeholder_with_default(batch, [None, None])
        cut = rows.row_range(batch, start, num_rows)
        assert cut.shape.as_list()[1] == (3 if known_shape else None)
        return cut

    np.testing.assert_array_equal(run(build), points[start:start + num_rows])


def _buffer_addresses(fetch_names, build, feed):
    """Runs `build(input)` traced with `feed` as input; returns {name: address of the buffer
    holding that output}."""
    with tf.Graph().as_default():
        given = tf.compat.v1.placeholder(feed.dtype, [None, feed.shape[1]])
        fetches = build(given)
        metadata = tf.compat.v1.RunMetadata()
        with tf.compat.v1.Session() as session:
            session.run(fetches, {given: feed}, options=tf.compat.v1.RunOptions(
                trace_level=tf.compat.v1.RunOptions.FULL_TRACE), run_metadata=metadata)
    addresses = {}
    for device in metadata.step_stats.dev_stats:
        for node in device.node_stats:
            if node.node_name in fetch_names and node.output:
                addresses[node.node_name] = (
                    node.output[0].tensor_description.allocation_description.ptr)
    assert set(addresses) == set(fetch_names)
    return addresses


@pytest.mark.parametrize("num_features", [100, 3])
def test_ranges_starting_at_aligned_rows_are_views_of_the_batch(num_features):
    def build(given):
        # Computed in the graph (not a constant the graph optimizer could fold), so that the
        # batch is a buffer TensorFlow allocated, which is aligned.
        batch = tf.multiply(given, 2.0, name="batch")
        return [batch,
                tf.identity(rows.row_range(batch, rows.ALIGNED_ROWS, 16), name="aligned_cut"),
                tf.identity(rows.row_range(batch, 1, 16), name="unaligned_cut"),
                tf.identity(batch[rows.ALIGNED_ROWS:32], name="two_dimensional_cut")]

    addresses = _buffer_addresses(
        {"batch", "aligned_cut", "unaligned_cut", "two_dimensional_cut"}, build,
        np.ones((64, num_features), np.float32))
    assert addresses["aligned_cut"] == addresses["batch"]
    # A row of 4 * d bytes is not a multiple of 64 bytes for these d: both other cuts copy.
    assert addresses["unaligned_cut"] != addresses["batch"]
    assert addresses["two_dimensional_cut"] != addresses["batch"]


@pytest.mark.parametrize("entries_per_row", [1, 3, 100, 500, 5000, 2**21])
def test_default_blocks_start_at_aligned_rows(entries_per_row):
    block_rows = distances._default_rows_per_block(entries_per_row)
    assert block_rows % rows.ALIGNED_ROWS == 0 and block_rows >= 256
    assert distances._default_rows_per_block(None) % rows.ALIGNED_ROWS == 0


@pytest.mark.parametrize("num_rows, expected", [(4, "small"), (5, "large")])
@pytest.mark.parametrize("known_shape", [True, False], ids=["static_shape", "unknown_shape"])
def test_by_row_count_picks_by_the_number_of_rows(run, num_rows, expected, known_shape):
    def build():
        batch = tf.zeros([num_rows, 2])
        if not known_shape:
            batch = tf.compat.v1.placeholder_with_default(batch, [None, 2])
        chosen = rows.by_row_count(batch, 4, lambda: tf.constant("small"),
                                   lambda: tf.constant("large"), name="choice")
        # Known row counts are decided while building the graph: no cond in it.
        conds = [op for op in tf.compat.v1.get_default_graph().get_operations()
                 if op.type in ("If", "StatelessIf", "Switch")]
        assert bool(conds) == (not known_shape)
        return chosen

    assert run(build).decode() == expected
