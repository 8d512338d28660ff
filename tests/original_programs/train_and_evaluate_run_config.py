"""KMeans trained through tf.estimator.train_and_evaluate, configured by tf.estimator.RunConfig.

Usage: python train_and_evaluate_run_config.py MODEL_DIR. Prints one JSON line.
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf
from tensorflow.estimator import RunConfig

model_dir = sys.argv[1]
rng = np.random.RandomState(3)
blobs = [rng.normal(center, 0.2, (30, 2)) for center in ((0, 0), (5, 5), (-5, 5))]
points = np.concatenate(blobs).astype(np.float32)


def input_fn():
    return tf.constant(points)


kmeans = tf.compat.v1.estimator.experimental.KMeans(
    num_clusters=3, use_mini_batch=False, seed=3, model_dir=model_dir,
    config=RunConfig(save_checkpoints_steps=4, keep_checkpoint_max=2))
receiver_fn = tf.estimator.export.build_raw_serving_input_receiver_fn(tf.TensorSpec([None, 2], tf.float32))
train_spec = tf.estimator.TrainSpec(input_fn, max_steps=8)
eval_spec = tf.estimator.EvalSpec(input_fn, steps=1, throttle_secs=0,
                                  exporters=[tf.estimator.LatestExporter("latest", receiver_fn)])
eval_result, export_results = tf.estimator.train_and_evaluate(kmeans, train_spec, eval_spec)

export_dirs = [path.decode() if isinstance(path, bytes) else path for path in export_results]
print(json.dumps({
    "global_step": int(eval_result["global_step"]),
    "loss": float(eval_result["loss"]),
    "num_centers": len(kmeans.cluster_centers()),
    "saved_models": [os.path.isfile(os.path.join(path, "saved_model.pb")) for path in export_dirs],
    "is_estimator": isinstance(kmeans, tf.estimator.Estimator),
}))
