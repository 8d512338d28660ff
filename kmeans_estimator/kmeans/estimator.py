"""KMeans: the k-means Estimator, a drop-in for `tf.compat.v1.estimator.experimental.KMeans`."""
import numpy as np
import tensorflow as tf

from kmeans_estimator.clustering import distances
from kmeans_estimator.estimator.estimator import Estimator
from kmeans_estimator.kmeans import model_fn, settings as settings_lib, variables


class KMeans(Estimator):
    """An Estimator for k-means clustering.

    The constructor, methods and class constants are those of
    `tf.compat.v1.estimator.experimental.KMeans`, with the original's defaults; the
    README's "Differences from the original" lists what behaves otherwise and the
    arguments that choose it.

    Args:
      num_clusters: number of centers, a positive integer; ignored when
        `initial_clusters` is an array or tensor of centers.
      model_dir: directory for checkpoints and event files.
      initial_clusters: how to choose the first centers: `RANDOM_INIT`,
        `KMEANS_PLUS_PLUS_INIT`, `KMEANS_PARALLEL_INIT`, a [k, d] array or tensor of
        centers, or a callable `f(inputs, k)` returning 0 to k centers from an input
        batch (called on successive batches until all centers are chosen).
      distance_metric: `SQUARED_EUCLIDEAN_DISTANCE` or `COSINE_DISTANCE`. For cosine,
        points and centers are l2-normalized and distances are `1 - cos`; full-batch
        steps and iterations of more than one step store unit-length centers (spherical
        k-means), one-step mini-batch training stores the running means.
      seed: integer seed for the initialization; None draws a random one.
      use_mini_batch: True for mini-batch k-means, False for full-batch Lloyd
        iterations (each step then needs the whole data set as one batch).
      mini_batch_steps_per_iteration: N, the steps of one iteration. With 1, every step
        moves `clusters` towards its batch, per-center counts accumulating over all of
        training (mini-batch k-means); with more, the steps move the running means in
        `clusters_updated` and the step after each N copies them into `clusters`, the
        counts then restarting (see `kmeans.step.mini_batch_update`).
      kmeans_plus_plus_num_retries: extra candidates per kmeans++ center; negative for
        about 2 + log(k).
      relative_tolerance: stop training once the loss changes by less than this,
        relatively, between steps; None never stops early.
      config: a `RunConfig`.
      feature_columns: feature columns for `input_layer`; None uses the features
        themselves (a Tensor, or a dict concatenated in key order).
      mini_batch_init_size: mini-batch mode with a named init only: the chief gathers
        whole batches until it holds at least this many points and chooses the centers
        from all of them; 1 (the default) chooses from the first batch alone; None
        gathers three batches (three times the first batch's size). Runs that only
        gather train no step and leave the global step as it was.
      reassignment_ratio: mini-batch mode with one step per iteration only: about every
        `10 * num_clusters` points, centers whose total count is below this times the
        largest count move to random points of the batch; a number in [0, 1]; 0 (the
        default) never moves them.

    Raises:
      ValueError: an argument is invalid; the message names it.
    """

    ALL_DISTANCES = model_fn.ALL_DISTANCES
    CLUSTER_CENTERS_VAR_NAME = variables.CLUSTER_CENTERS_VAR_NAME
    CLUSTER_INDEX = model_fn.CLUSTER_INDEX
    COSINE_DISTANCE = distances.COSINE
    KMEANS_PLUS_PLUS_INIT = settings_lib.KMEANS_PLUS_PLUS_INIT
    KMEANS_PARALLEL_INIT = settings_lib.KMEANS_PARALLEL_INIT
    RANDOM_INIT = settings_lib.RANDOM_INIT
    SCORE = model_fn.SCORE
    SQUARED_EUCLIDEAN_DISTANCE = distances.SQUARED_EUCLIDEAN

    def __init__(
        self,
        num_clusters,
        model_dir=None,
        initial_clusters=RANDOM_INIT,
        distance_metric=SQUARED_EUCLIDEAN_DISTANCE,
        seed=None,
        use_mini_batch=True,
        mini_batch_steps_per_iteration=1,
        kmeans_plus_plus_num_retries=2,
        relative_tolerance=None,
        config=None,
        feature_columns=None,
        mini_batch_init_size=1,
        reassignment_ratio=0.0,
    ):
        self._settings = settings_lib.build_settings(
            num_clusters, initial_clusters, distance_metric, seed, use_mini_batch,
            mini_batch_steps_per_iteration, kmeans_plus_plus_num_retries, relative_tolerance,
            feature_columns, mini_batch_init_size, reassignment_ratio)
        super().__init__(model_fn=model_fn.build_model_fn(self._settings), model_dir=model_dir, config=config)

    @property
    def settings(self):
        """The validated constructor arguments, a frozen `kmeans.settings.Settings`."""
        return self._settings

    def reuses_graphs(self):
        """The k-means graph depends only on its input and the settings, unless initial
        centers come from the caller's callable."""
        return not callable(self._settings.initial_clusters)

    def ready_for_evaluation(self, checkpoint_path):
        """False for a checkpoint saved before the centers were chosen (`initialized` False).

        Its centers are the zeros they start as: evaluating it would give a meaningless
        score, and exporting it a model that puts every point in cluster 0. A checkpoint
        without the variable (none of ours or the original's) counts as ready.
        """
        reader = tf.train.load_checkpoint(checkpoint_path)
        name = variables.INITIALIZED_VAR_NAME
        return not reader.has_tensor(name) or bool(reader.get_tensor(name))

    # The k-means methods of the original.

    def cluster_centers(self):
        """Returns the cluster centers of the latest checkpoint, a [k, d] float32 array."""
        return self.get_variable_value(self.CLUSTER_CENTERS_VAR_NAME)

    def predict_cluster_index(self, input_fn):
        """Yields the index of the nearest center for each input point."""
        for prediction in self.predict(input_fn, predict_keys=[self.CLUSTER_INDEX]):
            yield prediction[self.CLUSTER_INDEX]

    def score(self, input_fn):
        """Returns the sum of distances of the first batch's points to their nearest centers.

        This is positive, where scikit-learn's `score` returns the negative sum.
        """
        return self.evaluate(input_fn=input_fn, steps=1)[self.SCORE]

    def transform(self, input_fn):
        """Yields each input point's distances to all centers.

        Euclidean distances (the square root, as in scikit-learn) for the squared-Euclidean
        metric, `1 - cos` for cosine: what the original returned, whatever its docs said.
        """
        take_root = self._settings.distance_metric == self.SQUARED_EUCLIDEAN_DISTANCE
        for prediction in self.predict(input_fn, predict_keys=[self.ALL_DISTANCES]):
            row = prediction[self.ALL_DISTANCES]
            yield np.sqrt(row) if take_root else row
