"""A linear-regression model_fn: the non-k-means model the Estimator tests run."""
import numpy as np
import tensorflow as tf

import kmeans_estimator as ke

TRUE_WEIGHTS = np.array([[1.0], [2.0], [-1.0]], dtype=np.float32)
TRUE_BIAS = 0.5


def linear_model_fn(features, labels, mode, params):
    """y = x w + b, trained by gradient descent on the mean squared error."""
    x = features["x"] if isinstance(features, dict) else features
    weights = tf.compat.v1.get_variable("w", shape=[3, 1], initializer=tf.compat.v1.zeros_initializer())
    bias = tf.compat.v1.get_variable("b", shape=[], initializer=tf.compat.v1.zeros_initializer())
    prediction = tf.squeeze(tf.matmul(x, weights), 1) + bias
    predictions = {"y": prediction, "double_y": 2.0 * prediction}
    if mode == ke.ModeKeys.PREDICT:
        return ke.EstimatorSpec(
            mode,
            predictions=predictions,
            export_outputs={"serving_default": ke.export.PredictOutput({"y": prediction})},
        )
    loss = tf.reduce_mean(tf.square(prediction - labels))
    if mode == ke.ModeKeys.EVAL:
        return ke.EstimatorSpec(
            mode,
            loss=loss,
            predictions=predictions,
            eval_metric_ops={"mae": tf.compat.v1.metrics.mean_absolute_error(labels, prediction)},
        )
    optimizer = tf.compat.v1.train.GradientDescentOptimizer(params["learning_rate"])
    train_op = optimizer.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
    return ke.EstimatorSpec(mode, loss=loss, train_op=train_op, predictions=predictions)


def make_data(num_rows=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_rows, 3)).astype(np.float32)
    y = (x @ TRUE_WEIGHTS)[:, 0] + TRUE_BIAS
    return x, y.astype(np.float32)
