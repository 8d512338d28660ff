"""KMeans calls in kept graphs and sessions give what calls in new ones give."""
import numpy as np
import pytest
import tensorflow as tf

import kmeans_estimator as ke


class NeverKept(ke.KMeans):
    def reuses_graphs(self):
        return False


def docs_example_results(cls, points, model_dir, **kwargs):
    """Three rounds of the original docs' example (train, cluster_centers, score), then predict."""
    def input_fn():
        return tf.compat.v1.train.limit_epochs(tf.convert_to_tensor(points, dtype=tf.float32), num_epochs=1)

    model = cls(num_clusters=5, seed=3, model_dir=model_dir, **kwargs)
    results = []
    for _ in range(3):
        model.train(input_fn)
        results += [model.cluster_centers(), model.score(input_fn)]
    results.append(np.array(list(model.predict_cluster_index(input_fn))))
    results.append(model.get_variable_value("global_step"))
    return results


@pytest.mark.parametrize("settings", [
    dict(use_mini_batch=False, initial_clusters=ke.KMeans.KMEANS_PLUS_PLUS_INIT),
    dict(use_mini_batch=True, initial_clusters=ke.KMeans.RANDOM_INIT),
])
def test_kept_sessions_change_no_result(points, tmp_path, settings):
    kept = docs_example_results(ke.KMeans, points, str(tmp_path / "kept"), **settings)
    fresh = docs_example_results(NeverKept, points, str(tmp_path / "fresh"), **settings)
    assert kept[-1] > 0
    for mine, theirs in zip(kept, fresh):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)


def test_a_callable_initialization_is_never_kept(points, tmp_path):
    def first_points(inputs, k):
        return inputs[:k]

    model = ke.KMeans(num_clusters=3, initial_clusters=first_points, model_dir=str(tmp_path))
    assert not model.reuses_graphs()
    assert ke.KMeans(num_clusters=3).reuses_graphs()


def test_fed_constants_in_kept_graphs_change_no_result(tmp_path):
    """A dataset of 1.2 MB of points is fed (fed_constants) and kept; the same dataset in a
    graph that cannot be rebuilt (something in a collection) holds them as a constant."""
    large = np.random.default_rng(2).normal(size=(3000, 100)).astype(np.float32)

    def input_fn(fed):
        def dataset():
            if not fed:
                tf.compat.v1.add_to_collection("unrelated", 0)
            return tf.data.Dataset.from_tensor_slices(large).repeat().batch(100)

        return dataset

    results = []
    for cls, fed in ((ke.KMeans, True), (NeverKept, False)):
        model = cls(num_clusters=4, seed=3, use_mini_batch=True, model_dir=str(tmp_path / str(fed)))
        centers = []
        for _ in range(2):
            model.train(input_fn(fed), steps=3)
            centers.append(model.cluster_centers())
        results.append(centers)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)
