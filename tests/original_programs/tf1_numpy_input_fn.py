"""A TF1-style KMeans program: tensorflow.compat.v1 as tf, v2 behaviour off, tf.estimator.inputs.

Usage: python tf1_numpy_input_fn.py MODEL_DIR. Prints one JSON line.
"""
import json
import sys

import numpy as np
import tensorflow.compat.v1 as tf

tf.disable_v2_behavior()

model_dir = sys.argv[1]
rng = np.random.RandomState(5)
points = np.concatenate([rng.normal(center, 0.2, (20, 2)) for center in ((0, 0), (6, 0), (0, 6))])
points = points.astype(np.float32)

train_input = tf.estimator.inputs.numpy_input_fn({"points": points}, batch_size=30, num_epochs=None, shuffle=True)
kmeans = tf.estimator.experimental.KMeans(
    num_clusters=3, model_dir=model_dir, use_mini_batch=True, seed=2,
    initial_clusters=tf.estimator.experimental.KMeans.KMEANS_PLUS_PLUS_INIT,
    config=tf.estimator.RunConfig(tf_random_seed=2, save_summary_steps=5))
kmeans.train(train_input, hooks=[tf.estimator.StopAtStepHook(last_step=20)])

centers = kmeans.cluster_centers()
predict_input = tf.estimator.inputs.numpy_input_fn({"points": points}, num_epochs=1, shuffle=False)
indices = [int(prediction["cluster_index"]) for prediction in kmeans.predict(predict_input)]
print(json.dumps({
    "global_step": int(kmeans.get_variable_value("global_step")),
    "checkpoint_centers_match": bool(np.array_equal(tf.train.load_variable(model_dir, "clusters"), centers)),
    "num_indices": len(indices),
    "num_clusters_used": len(set(indices)),
}))
