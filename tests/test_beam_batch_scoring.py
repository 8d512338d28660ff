"""examples/beam_batch_scoring.py and beam_check.py: reading points, rows from classifications, the check.

Beam and tfx-bsl live in their own environment (`make beam-example`), so these tests run
everything of the example that does not need Beam: the arguments, reading `.npy` slices and
TFRecords, the tf.train.Examples, and, on a real export loaded by TensorFlow's SavedModel
loader as tfx-bsl loads it, the rows from its `classification` signature checked against
`predict()`. The pipeline itself runs only where apache-beam and tfx-bsl are installed.
"""
import importlib.util
import io
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
sys.path.insert(0, EXAMPLES)
import beam_batch_scoring as scoring  # noqa: E402
import beam_check  # noqa: E402


def _npy_bytes(array, version=None):
    file = io.BytesIO()
    np.lib.format.write_array(file, array, version=version)
    file.seek(0)
    return file


def _scoring_args(*extra):
    return ["--model_dir", "m", "--input", "p.npy", "--output", "o", *extra]


def test_parse_args_passes_other_flags_to_beam_and_defaults_to_the_direct_runner():
    args, flags = scoring.parse_args(_scoring_args("--num_workers=3", "--feature", "point"))
    assert (args.model_dir, args.input, args.output, args.feature) == ("m", "p.npy", "o", "point")
    assert flags == ["--runner=DirectRunner", "--num_workers=3"]


@pytest.mark.parametrize("runner", [["--runner=FlinkRunner"], ["--runner", "DataflowRunner"]])
def test_parse_args_keeps_a_given_runner(runner):
    _, flags = scoring.parse_args(_scoring_args(*runner))
    assert flags == runner


@pytest.mark.parametrize("extra", [["--input", "points.csv"], ["--rows_per_read", "0"]])
def test_parse_args_rejects_a_bad_input_or_slice_size(extra, capsys):
    with pytest.raises(SystemExit):
        scoring.parse_args(_scoring_args(*extra))
    assert extra[0] in capsys.readouterr().err


@pytest.mark.parametrize("dtype, version", [(np.float32, None), (np.float64, None), (np.int32, (2, 0))])
def test_npy_slices_read_back_the_array_row_by_row(dtype, version):
    array = np.arange(7 * 3, dtype=dtype).reshape(7, 3)
    file = _npy_bytes(array, version)
    layout = scoring.npy_layout(file)
    rows = [row for start, stop in scoring.npy_slices(layout[0], 3) for row in scoring.read_npy_rows(file, layout, start, stop)]
    assert scoring.npy_slices(7, 3) == [(0, 3), (3, 6), (6, 7)]
    assert [index for index, _ in rows] == list(range(7))
    np.testing.assert_array_equal(np.stack([row for _, row in rows]), array)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros(4, np.float32), "2-D"),
        (np.asfortranarray(np.zeros((4, 2), np.float32)), "C order"),
        (np.zeros((4, 2), np.complex64), "real numbers"),
    ],
)
def test_npy_layout_rejects_arrays_that_are_not_rows_of_reals(array, message):
    with pytest.raises(ValueError, match=message):
        scoring.npy_layout(_npy_bytes(array))


def test_example_from_point_parses_to_the_point_as_float32():
    point = np.array([0.1, -2.5, 3.0], np.float64)
    parsed = tf.io.parse_example(
        [scoring.example_from_point(point, "x")], {"x": tf.io.FixedLenFeature([3], tf.float32)}
    )
    np.testing.assert_array_equal(parsed["x"].numpy(), [point.astype(np.float32)])


def test_read_tfrecord_numbers_records_in_file_order(tmp_path):
    path = str(tmp_path / "points.tfrecord")
    points = np.arange(10, dtype=np.float32).reshape(5, 2)
    beam_check.write_tfrecord(points, path)
    records = list(scoring.read_tfrecord(path))
    assert [number for number, _ in records] == list(range(5))
    assert [record for _, record in records] == [scoring.example_from_point(point, "x") for point in points]


def test_nearest_from_classes_takes_the_highest_score_and_the_first_of_ties():
    assert scoring.nearest_from_classes([("0", -4.0), ("1", -0.5), ("2", -0.5)]) == (1, 0.5)
    assert scoring.nearest_from_classes([(b"0", -1.0), (b"1", -3.0)]) == (0, 1.0)
    with pytest.raises(ValueError, match="at least one class"):
        scoring.nearest_from_classes([])


def test_format_row_keeps_a_float32_distance_exactly():
    distance = float(np.float32(1) / np.float32(3))
    line = scoring.format_row((12, 3, distance))
    assert line.startswith("12,3,")
    index, cluster, parsed = scoring.parse_row(line)
    assert (index, cluster, np.float32(parsed)) == (12, 3, np.float32(distance))


@pytest.fixture(scope="module")
def trained_export(tmp_path_factory):
    """A KMeans trained on 200 blob points, its parsing export, and predict()'s rows."""
    points = beam_check.make_points(num_points=200, dimension=2, seed=4)
    kmeans = beam_check.train(points, str(tmp_path_factory.mktemp("model")))
    export_dir = beam_check.export(kmeans, 2, str(tmp_path_factory.mktemp("export")))
    return points, export_dir, beam_check.predicted_rows(kmeans, points)


def _classify(export_dir, serialized):
    """The classification signature's classes and scores, loaded as tfx-bsl loads the model."""
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, [scoring.SERVING_TAG], export_dir)
        signature = meta_graph.signature_def[scoring.CLASSIFICATION_SIGNATURE]
        (input_info,) = signature.inputs.values()
        return session.run(
            [signature.outputs["classes"].name, signature.outputs["scores"].name], {input_info.name: serialized}
        )


def test_rows_from_the_classification_signature_match_predict(trained_export, tmp_path):
    points, export_dir, expected = trained_export
    path = str(tmp_path / "points.npy")
    np.save(path, points)
    with open(path, "rb") as file:
        layout = scoring.npy_layout(file)
        keyed = [
            (index, scoring.example_from_point(point, beam_check.FEATURE))
            for start, stop in scoring.npy_slices(layout[0], 64)
            for index, point in scoring.read_npy_rows(file, layout, start, stop)
        ]
    classes, scores = _classify(export_dir, [example for _, example in keyed])
    rows = [
        (index, *scoring.nearest_from_classes(zip(point_classes, point_scores)))
        for (index, _), point_classes, point_scores in zip(keyed, classes, scores)
    ]
    assert beam_check.compare(sorted(rows), expected, beam_check.distance_tolerance(points)) == len(points)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda rows: rows[:-1], "indices"),
        (lambda rows: [(rows[0][0], rows[0][1] + 1, rows[0][2]), *rows[1:]], "point 0: cluster"),
        (lambda rows: [(rows[0][0], rows[0][1], rows[0][2] * 1.01 + 0.01), *rows[1:]], "point 0: distance"),
    ],
)
def test_compare_names_the_first_difference_from_predict(trained_export, change, message):
    points, _, expected = trained_export
    with pytest.raises(ValueError, match=message):
        beam_check.compare(change(list(expected)), expected, beam_check.distance_tolerance(points))


REPO = os.path.dirname(EXAMPLES)
BEAM_PYTHON = os.path.join(REPO, ".venv-beam", "bin", "python")


def _beam_importable_here():
    return all(importlib.util.find_spec(name) is not None for name in ("apache_beam", "tfx_bsl"))


def test_pipeline_output_matches_predict(trained_export, tmp_path):
    """The Beam pipeline itself on Beam's DirectRunner, both inputs: in this environment when
    it has apache-beam and tfx-bsl, otherwise `examples/beam_check.py` in `.venv-beam`, which
    `make beam-env` builds (`.ci/run` builds it before the suite)."""
    if not _beam_importable_here():
        if not os.path.exists(BEAM_PYTHON):
            message = "apache-beam and tfx-bsl are not installed: `make beam-env` builds .venv-beam"
            if os.environ.get("CI"):
                pytest.fail(f"{message}, and CI (`make test`) must build it")
            pytest.skip(message)
        finished = subprocess.run([BEAM_PYTHON, os.path.join(EXAMPLES, "beam_check.py")], cwd=str(tmp_path),
                                  capture_output=True, text=True, timeout=900, check=False)
        assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-4000:]
        assert "OK points.npy: 1000 rows match predict()" in finished.stdout
        assert "OK points.tfrecord: 1000 rows match predict()" in finished.stdout
        return
    points, export_dir, expected = trained_export
    for kind in ("npy", "tfrecord"):
        path = str(tmp_path / f"points.{kind}")
        if kind == "npy":
            np.save(path, points)
        else:
            beam_check.write_tfrecord(points, path)
        rows = beam_check.score(export_dir, path, str(tmp_path / f"scores_{kind}"))
        assert beam_check.compare(rows, expected, beam_check.distance_tolerance(points)) == len(points)
