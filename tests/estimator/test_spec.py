"""EstimatorSpec: each mode's required fields and the checks on what a model_fn returns."""
import pytest
import tensorflow as tf

from kmeans_estimator.estimator.spec import EstimatorSpec, ModeKeys


@pytest.fixture
def graph():
    with tf.Graph().as_default() as graph:
        yield graph


def test_train_spec_keeps_its_fields(graph):
    loss = tf.constant(1.0)
    train_op = tf.no_op()
    spec = EstimatorSpec(ModeKeys.TRAIN, loss=loss, train_op=train_op)
    assert spec.loss is loss and spec.train_op is train_op
    assert spec.eval_metric_ops == {} and spec.training_hooks == ()
    assert isinstance(spec.scaffold, tf.compat.v1.train.Scaffold)


@pytest.mark.parametrize(
    "mode, fields, missing",
    [
        (ModeKeys.TRAIN, {"loss": True}, "train_op"),
        (ModeKeys.TRAIN, {"train_op": True}, "loss"),
        (ModeKeys.EVAL, {}, "loss"),
        (ModeKeys.PREDICT, {}, "predictions"),
    ],
)
def test_a_missing_required_field_is_named(graph, mode, fields, missing):
    values = {"loss": tf.constant(1.0), "train_op": tf.no_op()}
    with pytest.raises(ValueError, match=missing):
        EstimatorSpec(mode, **{name: values[name] for name in fields})


def test_unknown_mode_is_an_error(graph):
    with pytest.raises(ValueError, match="'predict'"):
        EstimatorSpec("predict", predictions=tf.constant(1.0))


def test_loss_must_be_a_scalar(graph):
    with pytest.raises(ValueError, match="scalar"):
        EstimatorSpec(ModeKeys.EVAL, loss=tf.constant([1.0, 2.0]))


def test_predictions_must_be_tensors(graph):
    with pytest.raises(TypeError, match="predictions"):
        EstimatorSpec(ModeKeys.PREDICT, predictions=[1.0])


def test_metrics_must_be_value_update_pairs(graph):
    with pytest.raises(TypeError, match="eval_metric_ops\\['acc'\\]"):
        EstimatorSpec(ModeKeys.EVAL, loss=tf.constant(1.0), eval_metric_ops={"acc": tf.constant(1.0)})


def test_hooks_must_be_session_run_hooks(graph):
    with pytest.raises(TypeError, match="training_hooks"):
        EstimatorSpec(ModeKeys.TRAIN, loss=tf.constant(1.0), train_op=tf.no_op(), training_hooks=[object()])


def test_scaffold_must_be_a_scaffold(graph):
    with pytest.raises(TypeError, match="scaffold"):
        EstimatorSpec(ModeKeys.PREDICT, predictions=tf.constant(1.0), scaffold=object())
