"""The original KMeans Estimator's documented example, in Python 3, on kmeans-estimator.

100 random 2-D points, 5 clusters, full-batch k-means: 10 rounds of train +
score, printing how far the centers moved and the score, then each point's
cluster. Compared with the original, only the import line changed
(`tf.compat.v1.estimator.experimental.KMeans` -> `kmeans_estimator.KMeans`).

Run: `make example` (sets everything up), or `python examples/quickstart.py`.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kmeans_estimator  # noqa: E402


def main():
    # TensorFlow's own deprecation notices (queue inputs, checkpoint helpers) would drown the output.
    tf.get_logger().setLevel("ERROR")
    num_points = 100
    dimensions = 2
    points = np.random.uniform(0, 1000, [num_points, dimensions])

    def input_fn():
        return tf.compat.v1.train.limit_epochs(tf.convert_to_tensor(points, dtype=tf.float32), num_epochs=1)

    num_clusters = 5
    kmeans = kmeans_estimator.KMeans(num_clusters=num_clusters, use_mini_batch=False)

    # train
    num_iterations = 10
    previous_centers = None
    for _ in range(num_iterations):
        kmeans.train(input_fn)
        cluster_centers = kmeans.cluster_centers()
        if previous_centers is not None:
            print("delta:", cluster_centers - previous_centers)
        previous_centers = cluster_centers
        print("score:", kmeans.score(input_fn))
    print("cluster centers:", cluster_centers)

    # map the input points to their clusters
    cluster_indices = list(kmeans.predict_cluster_index(input_fn))
    for i, point in enumerate(points):
        cluster_index = cluster_indices[i]
        center = cluster_centers[cluster_index]
        print("point:", point, "is in cluster", cluster_index, "centered at", center)


if __name__ == "__main__":
    main()
