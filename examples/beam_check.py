"""Checks examples/beam_batch_scoring.py end to end against `KMeans.predict()`.

Trains a small KMeans, exports it with a receiver of serialized tf.Examples, writes the
points as a `.npy` file and as a TFRecord file of tf.train.Examples, scores each on Beam's
DirectRunner and checks that every point's cluster and distance in the CSV output are those
`predict()` gives. Prints one `OK` line per input and exits non-zero on any difference.

Run: `make beam-example` (builds .venv-beam with tfx-bsl, Beam and TensorFlow first).
"""
import glob
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kmeans_estimator  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import beam_batch_scoring  # noqa: E402

FEATURE = "x"
NUM_CLUSTERS = 4
# How far a written distance may be from predict()'s, relative to the largest squared norm.
RELATIVE_TOLERANCE = 1e-6


def make_points(num_points=1000, dimension=3, seed=0):
    """`num_points` float32 points in `NUM_CLUSTERS` Gaussian blobs around random means."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-10.0, 10.0, size=(NUM_CLUSTERS, dimension))
    labels = rng.integers(NUM_CLUSTERS, size=num_points)
    return (means[labels] + rng.normal(scale=1.0, size=(num_points, dimension))).astype(np.float32)


def train(points, model_dir):
    """A full-batch kmeans++ KMeans trained for 10 Lloyd steps on `points`."""
    kmeans = kmeans_estimator.KMeans(
        NUM_CLUSTERS, model_dir=model_dir, use_mini_batch=False, seed=1,
        initial_clusters=kmeans_estimator.KMeans.KMEANS_PLUS_PLUS_INIT,
    )
    kmeans.train(lambda: tf.constant(points), steps=10)
    return kmeans


def export(kmeans, dimension, export_dir_base):
    """Exports `kmeans` parsing tf.Examples with one float feature `x` of `dimension` values.

    Returns:
      The version directory, as str.
    """
    feature_spec = {FEATURE: tf.io.FixedLenFeature([dimension], tf.float32)}
    receiver_fn = kmeans_estimator.export.build_parsing_serving_input_receiver_fn(feature_spec)
    return kmeans.export_saved_model(export_dir_base, receiver_fn).decode()


def predicted_rows(kmeans, points):
    """`(index, cluster, distance)` of every point as `predict()` gives them."""
    predictions = kmeans.predict(
        lambda: tf.data.Dataset.from_tensors(points), predict_keys=["cluster_index", "all_distances"]
    )
    return [
        (index, int(prediction["cluster_index"]), float(prediction["all_distances"][prediction["cluster_index"]]))
        for index, prediction in enumerate(predictions)
    ]


def write_tfrecord(points, path):
    """Writes each point as a tf.train.Example with the float feature `x`, in row order."""
    with tf.io.TFRecordWriter(path) as writer:
        for point in points:
            writer.write(beam_batch_scoring.example_from_point(point, FEATURE))


def read_output(prefix):
    """The `(index, cluster, distance)` rows of every CSV file the pipeline wrote, by index."""
    rows = []
    for path in sorted(glob.glob(prefix + "-*.csv")):
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
        if not lines or lines[0] != beam_batch_scoring.CSV_HEADER:
            raise ValueError(f"{path} must start with the header {beam_batch_scoring.CSV_HEADER!r}, got {lines[:1]}")
        rows.extend(beam_batch_scoring.parse_row(line) for line in lines[1:])
    return sorted(rows)


def distance_tolerance(points):
    """How far two float32 computations of the same squared distance may be apart.

    Distances are `|x|^2 - 2 x.c + |c|^2`: float32 rounding errors scale with the squared
    norms, not with the (possibly tiny) distance, and a serving graph fed by ParseExample
    may round differently from predict()'s graph. Centers lie inside the points' hull, so
    the points' largest squared norm bounds theirs.
    """
    return RELATIVE_TOLERANCE * (1.0 + float(np.max(np.sum(np.square(points, dtype=np.float64), axis=1))))


def compare(rows, expected, tolerance):
    """Checks scored rows against `predicted_rows`; returns the number of rows.

    Args:
      rows: `(index, cluster, distance)` rows read back from the pipeline, by index.
      expected: `predicted_rows` of the same points.
      tolerance: the largest difference allowed between two distances (`distance_tolerance`).

    Raises:
      ValueError: the indices differ (a point missing or scored twice), or a point's cluster
        differs, or its distance is more than `tolerance` from predict()'s.
    """
    indices = [row[0] for row in rows]
    if indices != [row[0] for row in expected]:
        raise ValueError(
            f"scored rows must have the indices 0..{len(expected) - 1} once each, got {len(rows)} rows "
            f"with indices {sorted(set(range(len(expected))) ^ set(indices))[:10]} missing or extra"
        )
    for (index, cluster, distance), (_, want_cluster, want_distance) in zip(rows, expected):
        if cluster != want_cluster:
            raise ValueError(f"point {index}: cluster must be {want_cluster} as predict() says, got {cluster}")
        if abs(distance - want_distance) > tolerance:
            raise ValueError(f"point {index}: distance must be {want_distance} as predict() says, got {distance}")
    return len(rows)


def score(model_dir, input_path, output_prefix):
    """Runs the Beam pipeline of beam_batch_scoring.py on the DirectRunner and reads its output."""
    beam_batch_scoring.main(
        ["--model_dir", model_dir, "--input", input_path, "--output", output_prefix,
         "--feature", FEATURE, "--rows_per_read", "300"]
    )
    return read_output(output_prefix)


def main():
    tf.get_logger().setLevel("ERROR")
    points = make_points()
    with tempfile.TemporaryDirectory() as work:
        kmeans = train(points, os.path.join(work, "model"))
        model_dir = export(kmeans, points.shape[1], os.path.join(work, "export"))
        expected = predicted_rows(kmeans, points)
        tolerance = distance_tolerance(points)
        np.save(os.path.join(work, "points.npy"), points)
        write_tfrecord(points, os.path.join(work, "points.tfrecord"))
        for name in ("points.npy", "points.tfrecord"):
            rows = score(model_dir, os.path.join(work, name), os.path.join(work, "scores", name))
            print(f"OK {name}: {compare(rows, expected, tolerance)} rows match predict()", flush=True)


if __name__ == "__main__":
    main()
