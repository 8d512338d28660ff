"""Batch scoring with Apache Beam: each point's cluster and distance from an exported KMeans.

Reads points from a `.npy` file (a 2-D numeric array, one point a row) or from a TFRecord
file of `tf.train.Example`s, scores them with tfx-bsl's `RunInference` against the
`classification` signature of a KMeans SavedModel exported with
`kmeans_estimator.export.build_parsing_serving_input_receiver_fn`, and writes CSV files
`<output>-SSSSS-of-NNNNN.csv` with the header `index,cluster,distance`: the point's row in
the `.npy` (or its record number in the TFRecord file), the index of its nearest center and
its distance to that center (in the model's metric).

    python examples/beam_batch_scoring.py --model_dir EXPORT/1700000000 \
        --input points.npy --output scores/part

Every other flag goes to Beam's `PipelineOptions`; without `--runner` the pipeline runs on
the DirectRunner, on this machine. Past one machine, the same pipeline runs on Dataflow
(`--runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp
--requirements_file=examples/requirements-beam.txt`, with `gs://` paths for the model, the
input and the output) or on Flink (`--runner=FlinkRunner --flink_master=HOST:8081
--environment_type=LOOPBACK` or a worker container). A `.npy` file is read in slices of
`--rows_per_read` rows on any worker; a TFRecord file is read in order by one worker, so
split a large TFRecord input into several files scored one run each. Workers need only
tfx-bsl and its TensorFlow: the SavedModel holds the model, kmeans-estimator is not needed.

`make beam-example` builds the environment `.venv-beam` (examples/requirements-beam.txt) and
runs examples/beam_check.py, which checks this pipeline's output against `predict()`.
"""
import argparse
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CSV_HEADER = "index,cluster,distance"
NPY_SUFFIX = ".npy"
TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords")
CLASSIFICATION_SIGNATURE = "classification"
SERVING_TAG = "serve"
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def parse_args(argv=None):
    """Splits the command line into this script's arguments and Beam's pipeline flags.

    Returns:
      `(args, pipeline_flags)`: `args` has `model_dir`, `input`, `output`, `feature`
      and `rows_per_read`; `pipeline_flags` is the list of the other flags, for
      `PipelineOptions`, with `--runner=DirectRunner` added when no runner is given.

    Raises:
      SystemExit: a required argument is missing, or `--input` is neither a `.npy` nor a
        TFRecord file name, or `--rows_per_read` is not a positive integer (argparse's exit).
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model_dir", required=True, help="the SavedModel's version directory")
    parser.add_argument("--input", required=True, help="a .npy file or a .tfrecord file of tf.train.Examples")
    parser.add_argument("--output", required=True, help="prefix of the CSV files written")
    parser.add_argument(
        "--feature", default="x",
        help="the float feature the export parses, for .npy input: each row becomes that feature (default x)",
    )
    parser.add_argument("--rows_per_read", type=int, default=10000, help="rows of a .npy file read as one slice")
    args, pipeline_flags = parser.parse_known_args(argv)
    if input_kind(args.input) is None:
        parser.error(
            f"--input must name a {NPY_SUFFIX} file or a TFRecord file "
            f"({', '.join(TFRECORD_SUFFIXES)}), got {args.input!r}"
        )
    if args.rows_per_read < 1:
        parser.error(f"--rows_per_read must be a positive integer, got {args.rows_per_read}")
    if not any(flag == "--runner" or flag.startswith("--runner=") for flag in pipeline_flags):
        pipeline_flags = ["--runner=DirectRunner", *pipeline_flags]
    return args, pipeline_flags


def input_kind(path):
    """'npy' or 'tfrecord' from the file name's suffix, or None for any other name."""
    if path.endswith(NPY_SUFFIX):
        return "npy"
    if path.endswith(TFRECORD_SUFFIXES):
        return "tfrecord"
    return None


def npy_layout(file):
    """The shape of a `.npy` file's array and where its rows start, read from its header.

    Args:
      file: a binary file object at the start of the file, seekable.

    Returns:
      `(num_rows, dtype, data_offset)`: `dtype` has the array's row width as its shape
      (`np.dtype((float32, d))`), so one row is `dtype.itemsize` bytes.

    Raises:
      ValueError: the file is of a format version other than 1.0 or 2.0, or the array is not 2-D, not in C order, or not of a real numeric dtype.
    """
    version = np.lib.format.read_magic(file)
    if version not in _HEADER_READERS:
        raise ValueError(f"--input .npy must be of format version 1.0 or 2.0 (what np.save writes), got {version}")
    shape, fortran_order, dtype = _HEADER_READERS[version](file)
    if len(shape) != 2:
        raise ValueError(f"--input .npy must hold a 2-D array [num_points, dimension], got shape {shape}")
    if fortran_order:
        raise ValueError("--input .npy must be in C order, got a Fortran-order array; save np.ascontiguousarray(points)")
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
        raise ValueError(f"--input .npy must hold real numbers, got dtype {dtype}")
    return shape[0], np.dtype((dtype, shape[1])), file.tell()


def npy_slices(num_rows, rows_per_read):
    """`(start, stop)` row ranges of at most `rows_per_read` rows covering `num_rows` rows."""
    return [(start, min(start + rows_per_read, num_rows)) for start in range(0, num_rows, rows_per_read)]


def read_npy_rows(file, layout, start, stop):
    """Yields `(index, row)` for rows `start` to `stop` of a `.npy` file, reading only those.

    Args:
      file: a seekable binary file object of the `.npy` file.
      layout: what `npy_layout` returned for it.
      start, stop: the row range.
    """
    _, row_dtype, data_offset = layout
    file.seek(data_offset + start * row_dtype.itemsize)
    rows = np.frombuffer(file.read((stop - start) * row_dtype.itemsize), dtype=row_dtype)
    for offset, row in enumerate(rows):
        yield start + offset, row


def example_from_point(point, feature):
    """A point as a serialized `tf.train.Example` with one float feature named `feature`."""
    import tensorflow as tf

    float_list = tf.train.FloatList(value=np.asarray(point, np.float32).tolist())
    example = tf.train.Example(features=tf.train.Features(feature={feature: tf.train.Feature(float_list=float_list)}))
    return example.SerializeToString()


def read_tfrecord(path):
    """Yields `(record_number, serialized_record)` for every record of a TFRecord file, in order."""
    import tensorflow as tf

    for number, record in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
        yield number, record


def nearest_from_classes(classes):
    """The cluster and distance of a point from its classification: the class of highest score.

    Args:
      classes: `(label, score)` pairs of the `classification` signature for one point:
        labels are the cluster ids as strings (or bytes), scores the negative distances.

    Returns:
      `(cluster, distance)`, the first of equal best classes winning, as `argmin` does.

    Raises:
      ValueError: `classes` is empty.
    """
    best_label, best_score = None, None
    for label, score in classes:
        if best_score is None or score > best_score:
            best_label, best_score = label, score
    if best_score is None:
        raise ValueError("a classification must have at least one class, got none")
    return int(best_label), -float(best_score)


def row_from_prediction(keyed_log):
    """`(index, cluster, distance)` from RunInference's `(index, PredictionLog)` of a classify call."""
    index, prediction_log = keyed_log
    (classifications,) = prediction_log.classify_log.response.result.classifications
    return (index, *nearest_from_classes((klass.label, klass.score) for klass in classifications.classes))


def format_row(row):
    """One CSV line: the index and cluster as integers, the distance with float32's 9 digits."""
    index, cluster, distance = row
    return f"{index},{cluster},{distance:.9g}"


def parse_row(line):
    """`(index, cluster, distance)` from a CSV line written by `format_row`."""
    index, cluster, distance = line.split(",")
    return int(index), int(cluster), float(distance)


def _open(path):
    """Opens a local or remote (gs://, s3://, hdfs://) file for reading, through Beam."""
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.open(path, compression_type="uncompressed")


def _npy_slice_rows(path, layout, row_range):
    with _open(path) as file:
        yield from read_npy_rows(file, layout, *row_range)


def keyed_examples(pipeline, args):
    """The PCollection of `(index, serialized tf.Example)` of every point of `args.input`.

    Its element type is declared: RunInference picks keyed or unkeyed output from it.
    """
    import typing

    import apache_beam as beam

    keyed_example = typing.Tuple[int, bytes]

    if input_kind(args.input) == "npy":
        with _open(args.input) as file:
            layout = npy_layout(file)
        return (
            pipeline
            | "Slices" >> beam.Create(npy_slices(layout[0], args.rows_per_read))
            | "SpreadSlices" >> beam.Reshuffle()
            | "ReadRows" >> beam.FlatMap(lambda row_range: _npy_slice_rows(args.input, layout, row_range))
            | "ToExamples" >> beam.MapTuple(
                lambda index, point: (index, example_from_point(point, args.feature))
            ).with_output_types(keyed_example)
        )
    return (
        pipeline
        | "File" >> beam.Create([args.input])
        | "ReadRecords" >> beam.FlatMap(read_tfrecord).with_output_types(keyed_example)
        | "SpreadRecords" >> beam.Reshuffle()
    )


def build_pipeline(pipeline, args):
    """Adds reading, RunInference and writing the CSV files to `pipeline`."""
    import apache_beam as beam
    from tfx_bsl.public.beam import RunInference
    from tfx_bsl.public.proto import model_spec_pb2

    inference_spec = model_spec_pb2.InferenceSpecType(
        saved_model_spec=model_spec_pb2.SavedModelSpec(
            model_path=args.model_dir, signature_name=[CLASSIFICATION_SIGNATURE], tag=[SERVING_TAG]
        )
    )
    return (
        keyed_examples(pipeline, args)
        | "Score" >> RunInference(inference_spec)
        | "Nearest" >> beam.Map(row_from_prediction)
        | "Format" >> beam.Map(format_row)
        | "Write" >> beam.io.WriteToText(args.output, file_name_suffix=".csv", header=CSV_HEADER)
    )


def main(argv=None):
    """Runs the pipeline to the end; returns the pipeline's final state."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    args, pipeline_flags = parse_args(argv)
    pipeline = beam.Pipeline(options=PipelineOptions(pipeline_flags))
    build_pipeline(pipeline, args)
    result = pipeline.run()
    return result.wait_until_finish()


if __name__ == "__main__":
    main()
