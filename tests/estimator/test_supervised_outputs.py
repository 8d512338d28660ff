"""TrainOutput and EvalOutput: the supervised signatures of exported TRAIN and EVAL graphs."""
import pytest
import tensorflow as tf

import kmeans_estimator as ke

OUTPUT_CLASSES = [
    (ke.export.TrainOutput, "tensorflow/supervised/training"),
    (ke.export.EvalOutput, "tensorflow/supervised/eval"),
]


@pytest.fixture
def graph():
    with tf.Graph().as_default() as graph:
        yield graph


@pytest.fixture
def tensors(graph):
    """Features, labels, a loss, predictions and one metric of a tiny model."""
    x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
    label = tf.compat.v1.placeholder(tf.float32, [None], name="label")
    prediction = 2.0 * x
    return {
        "receivers": {"x": x, "label": label},
        "loss": tf.reduce_mean(tf.square(prediction - label)),
        "prediction": prediction,
        "metric": tf.compat.v1.metrics.mean_absolute_error(label, prediction),
    }


@pytest.mark.parametrize("output_class, method_name", OUTPUT_CLASSES)
def test_signature_has_the_method_name_and_every_receiver_as_input(tensors, output_class, method_name):
    signature = output_class(loss=tensors["loss"]).as_signature_def(tensors["receivers"])
    assert signature.method_name == method_name
    assert set(signature.inputs) == {"x", "label"}


def test_dict_outputs_are_keyed_under_loss_predictions_and_metrics(tensors):
    output = ke.export.EvalOutput(
        loss={"mse": tensors["loss"]},
        predictions={"y": tensors["prediction"]},
        metrics={"mae": tensors["metric"]},
    )
    signature = output.as_signature_def(tensors["receivers"])
    assert set(signature.outputs) == {"loss/mse", "predictions/y", "metrics/mae/value", "metrics/mae/update_op"}


def test_single_tensors_and_a_single_metric_take_the_prefix_as_their_key(tensors):
    output = ke.export.EvalOutput(loss=tensors["loss"], predictions=tensors["prediction"], metrics=tensors["metric"])
    assert set(output.as_signature_def(tensors["receivers"]).outputs) == {
        "loss", "predictions", "metrics/value", "metrics/update_op"}


def test_keys_already_starting_with_their_prefix_are_kept_and_tuples_are_joined(tensors):
    output = ke.export.EvalOutput(
        loss={"loss_total": tensors["loss"]},
        predictions={("head", "y"): tensors["prediction"]},
        metrics={"metrics/mae": tensors["metric"]},
    )
    assert set(output.as_signature_def(tensors["receivers"]).outputs) == {
        "loss_total", "predictions/head/y", "metrics/mae/value", "metrics/mae/update_op"}


def test_outputs_are_left_out_when_not_given(tensors):
    output = ke.export.TrainOutput(loss=tensors["loss"])
    assert (output.predictions, output.metrics) == (None, None)
    assert set(output.as_signature_def(tensors["receivers"]).outputs) == {"loss"}


def test_keys_match_tensorflows_own_eval_output(tensors):
    tf_export_output = pytest.importorskip("tensorflow.python.saved_model.model_utils.export_output")
    arguments = dict(
        loss={"mse": tensors["loss"]},
        predictions={"y": tensors["prediction"], "predictions_raw": tensors["prediction"]},
        metrics={"mae": tensors["metric"]},
    )
    ours = ke.export.EvalOutput(**arguments).as_signature_def(tensors["receivers"])
    theirs = tf_export_output.EvalOutput(**arguments).as_signature_def(tensors["receivers"])
    assert ours.method_name == theirs.method_name
    assert set(ours.outputs) == set(theirs.outputs)


def test_an_update_operation_is_served_as_a_tensor_that_runs_it(graph):
    counter = tf.compat.v1.Variable(0, name="counter")
    update = tf.group(counter.assign_add(1))
    output = ke.export.EvalOutput(loss=tf.constant(0.0), metrics={"count": (counter.read_value(), update)})
    signature = output.as_signature_def({"x": tf.compat.v1.placeholder(tf.float32, [None])})
    with tf.compat.v1.Session() as session:
        session.run(counter.initializer)
        session.run(signature.outputs["metrics/count/update_op"].name)
        session.run(signature.outputs["metrics/count/update_op"].name)
        assert session.run(counter) == 2


@pytest.mark.parametrize(
    "arguments, error, match",
    [
        ({"loss": [1.0]}, TypeError, "loss must be a Tensor, got list"),
        ({"predictions": {"y": 1.0}}, TypeError, r"predictions\['y'\] must be a Tensor, got float"),
        ({"predictions": {3: "y"}}, TypeError, "predictions keys must be strings, got 3"),
        ({"predictions": {"": "y"}}, ValueError, "predictions keys must be non-empty strings"),
        ({"metrics": {"mae": "value"}}, TypeError,
         r"metrics\['metrics/mae'\] must be a \(value_tensor, update_op\) pair"),
        ({"metrics": {"mae": (1.0, "op")}}, TypeError, r"metrics\['metrics/mae'\] value must be a Tensor, got float"),
    ],
)
def test_malformed_outputs_are_rejected_naming_the_argument(graph, arguments, error, match):
    with pytest.raises(error, match=match):
        ke.export.EvalOutput(**arguments)


def test_an_update_op_that_is_neither_tensor_nor_operation_is_rejected(graph):
    with pytest.raises(TypeError, match=r"metrics\['metrics/mae'\] update_op must be a Tensor or Operation, got str"):
        ke.export.EvalOutput(metrics={"mae": (tf.constant(1.0), "op")})
