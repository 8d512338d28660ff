"""A TF1-style program written for the original KMeans: v2 behaviour off, limit_epochs input.

Run as `python tf1_limit_epochs.py MODEL_DIR`; prints one JSON line with what it saw.
"""
import json
import sys

import numpy as np
import tensorflow.compat.v1 as tf

import kmeans_estimator as ke

tf.disable_v2_behavior()

model_dir = sys.argv[1]
rng = np.random.RandomState(0)
points = np.concatenate([rng.normal(center, 0.3, (40, 2)) for center in ((-4, 4), (4, 4), (0, 0))])
points = points.astype(np.float32)


def input_fn():
    return tf.train.limit_epochs(tf.convert_to_tensor(points), num_epochs=1)


kmeans = ke.experimental.KMeans(3, model_dir=model_dir, use_mini_batch=False, seed=1)
scores = []
for _ in range(5):
    kmeans.train(input_fn)
    centers = kmeans.cluster_centers()
    scores.append(float(kmeans.score(input_fn)))
indices = list(kmeans.predict_cluster_index(input_fn))


def serving_input_receiver_fn():
    placeholder = tf.placeholder(tf.float32, [None, 2], name="points")
    return ke.export.TensorServingInputReceiver(placeholder, {"points": placeholder})


export_dir = kmeans.export_saved_model(model_dir, serving_input_receiver_fn)
again = ke.experimental.KMeans(3, model_dir=model_dir, use_mini_batch=False, seed=1)
print(json.dumps({
    "steps": int(kmeans.get_variable_value("global_step")),
    "centers": centers.tolist(),
    "scores": scores,
    "num_indices": len(indices),
    "indices_in_range": all(0 <= int(index) < 3 for index in indices),
    "export_dir": export_dir.decode() if isinstance(export_dir, bytes) else export_dir,
    "same_centers_again": bool(np.array_equal(again.cluster_centers(), centers)),
}))
