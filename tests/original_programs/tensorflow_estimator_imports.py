"""A model_fn Estimator and KMeansClustering, imported from the tensorflow_estimator package.

Usage: python tensorflow_estimator_imports.py MODEL_DIR. Prints one JSON line.
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf
import tensorflow_estimator as tfe
from tensorflow_estimator.python.estimator.canned import kmeans as kmeans_lib
from tensorflow_estimator.python.estimator.canned.kmeans import KMeansClustering
from tensorflow_estimator.python.estimator.export import export_lib

model_dir = sys.argv[1]
xs = np.linspace(-1, 1, 64).astype(np.float32)
ys = 3 * xs


def model_fn(features, labels, mode, params):
    weight = tf.compat.v1.get_variable("weight", [], initializer=tf.compat.v1.zeros_initializer())
    predictions = features["x"] * weight
    if mode == tfe.estimator.ModeKeys.PREDICT:
        return tfe.estimator.EstimatorSpec(
            mode, predictions={"y": predictions},
            export_outputs={"serving_default": export_lib.PredictOutput({"y": predictions})})
    loss = tf.reduce_mean(tf.square(predictions - labels))
    optimizer = tf.compat.v1.train.GradientDescentOptimizer(params["learning_rate"])
    train_op = optimizer.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
    return tfe.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


regressor = tfe.estimator.Estimator(model_fn, model_dir=os.path.join(model_dir, "regressor"),
                                    params={"learning_rate": 0.5})
train_input = tfe.estimator.inputs.numpy_input_fn({"x": xs}, ys, batch_size=16, num_epochs=None, shuffle=True)
regressor.train(train_input, steps=40)
eval_input = tfe.estimator.inputs.numpy_input_fn({"x": xs}, ys, batch_size=64, num_epochs=1, shuffle=False)
metrics = regressor.evaluate(eval_input)
predictions = [float(p["y"]) for p in regressor.predict(eval_input)]

points = np.array([[0, 0], [0, 1], [10, 10], [10, 11]], np.float32)
kmeans = KMeansClustering(2, model_dir=os.path.join(model_dir, "kmeans"), use_mini_batch=False, seed=1)
kmeans.train(lambda: tf.constant(points), steps=3)
# The original's own tests call its module's feature parser.
with tf.Graph().as_default():
    parsed = kmeans_lib._parse_features_if_necessary({"b": tf.constant([[1.0], [2.0]]), "a": tf.constant([[3.0], [4.0]])}, None)
    with tf.compat.v1.Session() as session:
        parsed_points = session.run(parsed).tolist()

print(json.dumps({
    "parsed_points": parsed_points,
    "weight": float(regressor.get_variable_value("weight")),
    "loss": float(metrics["loss"]),
    "num_predictions": len(predictions),
    "centers": sorted(kmeans.cluster_centers().tolist()),
}))
