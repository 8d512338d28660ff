"""The k-means model_fn: the `EstimatorSpec` of each mode, built from the `Settings`."""
import tensorflow as tf

from kmeans_estimator.clustering import distances
from kmeans_estimator.estimator import distributed, export_outputs
from kmeans_estimator.estimator.spec import EstimatorSpec, ModeKeys
from kmeans_estimator.kmeans import earlier_checkpoints, initialization, step, summaries, variables
from kmeans_estimator.kmeans.features import finite, non_empty, points_from_features
from kmeans_estimator.kmeans.hooks import CountRunAtEndOfInputHook, InitializeClustersHook, LossRelativeChangeHook

# Prediction keys and signature names, the original's.
ALL_DISTANCES = "all_distances"
CLUSTER_INDEX = "cluster_index"
SCORE = "score"
CLASSIFICATION = "classification"
# Signatures of what the model holds: the centers, without inputs and for REST clients.
CLUSTER_CENTERS = "cluster_centers"
CLUSTER_CENTERS_REST = "cluster_centers_rest"


def serving_outputs(settings, all_distances, centers):
    """The export outputs of the SavedModel, keyed by signature name.

    From the `[n, k]` distances: predict signatures `serving_default` and `cluster_index`
    (int64 `[n]` index of the nearest center), `all_distances` (`[n, k]`) and `score`
    (`[n]` distance to the nearest center); and `classification`, built only against a
    receiver of serialized tf.Example protos: classes are the cluster ids as strings,
    scores the negative distances, so the best class has the highest score.

    From the `[k, d]` centers variable: `cluster_centers`, a predict signature without
    inputs whose float32 `[k, d]` output is the centers as `KMeans.cluster_centers()`
    returns them, and `cluster_centers_rest`, the same output behind the receiver's
    inputs, which it does not read (TF Serving's REST API cannot call a signature
    without inputs).
    """
    k = settings.num_clusters
    with tf.name_scope("kmeans/serving"):
        centers_value = tf.identity(centers.read_value(), name="cluster_centers")
        index = tf.argmin(all_distances, axis=1, output_type=tf.int64, name="cluster_index")
        score = tf.reduce_min(all_distances, axis=1, name="score")
        class_names = tf.constant([[str(cluster) for cluster in range(k)]], name="class_names")
        classes = tf.tile(class_names, tf.stack([tf.shape(all_distances)[0], 1]), name="classes")
        scores = tf.negative(all_distances, name="class_scores")
    return {
        export_outputs.SERVING_DEFAULT: export_outputs.PredictOutput(index),
        CLUSTER_INDEX: export_outputs.PredictOutput(index),
        ALL_DISTANCES: export_outputs.PredictOutput(all_distances),
        SCORE: export_outputs.PredictOutput(score),
        CLASSIFICATION: export_outputs.ClassificationOutput(scores=scores, classes=classes),
        CLUSTER_CENTERS: export_outputs.NoInputPredictOutput(centers_value),
        CLUSTER_CENTERS_REST: export_outputs.PredictOutput(centers_value),
    }


def _predict_spec(settings, points, centers, nearest, trained):
    """The PREDICT spec: what `predict()` yields and what an exported SavedModel serves.

    `predict()` reads `nearest` from the blocked nearest-center search, which never holds
    the `[n, k]` distance matrix when only `cluster_index` is asked for. The signatures
    read the full matrix instead (serving batches are small): its argmin is made of
    TensorFlow Lite builtin ops, where the blocked search's while_loop cannot be converted.
    `trained` (see `_trained_check`) runs before any prediction.
    """
    with tf.name_scope("kmeans/distances"):
        all_distances = finite(distances.pairwise_distances(points, centers, settings.distance_metric))
    # `predict()` checks that the centers were trained; a SavedModel holds trained ones.
    with tf.control_dependencies([trained]):
        predictions = {CLUSTER_INDEX: tf.identity(nearest), ALL_DISTANCES: tf.identity(all_distances)}
    return EstimatorSpec(
        ModeKeys.PREDICT, predictions=predictions, export_outputs=serving_outputs(settings, all_distances, centers))


def _train_spec(settings, points, centers, initialized, config):
    """The TRAIN spec: the init hook has the chief choose the centers, then every run steps.

    Mini-batch graphs also restore the checkpoints of earlier releases (see
    `earlier_checkpoints`).

    With `save_summary_steps`, the chief's summaries also show the clusters' sizes and
    the centers' movement, and its `ProjectorHook` labels the centers for TensorBoard's
    projector (see `summaries`).
    """
    init = None
    own_device = distributed.own_task_device(config)
    mini_batch = None
    if settings.use_mini_batch:
        mini_batch = variables.mini_batch_variables(
            num_clusters=settings.num_clusters, num_features=centers.shape[1],
            steps_per_iteration=settings.mini_batch_steps_per_iteration)
    if config.is_chief:
        copies = [mini_batch.working] if mini_batch is not None and mini_batch.working is not None else []
        init = initialization.build_init(settings, points, centers, initialized, own_device, center_copies=copies)
    # Read once: on a cluster each read of a variable is a transfer from its ps task.
    centers_now = centers.read_value()
    nearest, loss = _assign(settings, points, centers_now)
    tf.compat.v1.summary.scalar("loss/raw", loss)
    chief_hooks = []
    if config.save_summary_steps:
        state = summaries.add_training_summaries(settings.num_clusters, centers_now, nearest, own_device)
        chief_hooks.append(summaries.ProjectorHook(config.model_dir, state, config.save_summary_steps))
    train_op = step.train_op(settings, points, centers, centers_now, nearest, state=mini_batch)
    if mini_batch is not None:
        earlier_checkpoints.add_fallback(centers=centers, state=mini_batch)
    hooks = [InitializeClustersHook(init, initialized, settings.num_clusters, initialization.init_source(settings)),
             CountRunAtEndOfInputHook(step.end_of_input_increment())]
    if settings.relative_tolerance is not None:
        hooks.append(LossRelativeChangeHook(settings.relative_tolerance))
    return EstimatorSpec(ModeKeys.TRAIN, loss=loss, train_op=train_op, training_hooks=hooks,
                         training_chief_hooks=chief_hooks)


def _assign(settings, points, centers):
    """Each point's nearest center, checked finite, and the loss (the sum of their distances)."""
    with tf.name_scope("kmeans/assign"):
        nearest, nearest_distance = distances.nearest_centers(points, centers, settings.distance_metric)
        nearest_distance = finite(nearest_distance)
        # Every update reads the assignments, so none runs before the check.
        with tf.control_dependencies([nearest_distance]):
            nearest = tf.identity(nearest)
        return nearest, tf.reduce_sum(nearest_distance, name="loss")


def _trained_check(initialized):
    """Fails the run with `tf.errors.InvalidArgumentError`, as the original did, when the
    centers were never chosen: no checkpoint to restore, or one saved before training chose them."""
    return tf.debugging.Assert(
        initialized.read_value(),
        ["KMeans has no trained centers: the model directory holds no checkpoint whose centers were "
         "chosen; call train() first"],
        name="kmeans/trained_check")


def build_model_fn(settings):
    """The `model_fn(features, mode, config)` of k-means with `settings`."""

    def kmeans_model_fn(features, mode, config):
        raw_points = points_from_features(features, settings.feature_columns)
        num_features = raw_points.shape[1]
        # Only training reads the initial centers; evaluate and predict restore the trained
        # ones, and a checkpoint of another dimension is reported by the restore check.
        if mode == ModeKeys.TRAIN:
            initialization.check_given_dimension(settings, num_features)
        points = distances.prepare_points(non_empty(raw_points), settings.distance_metric)
        centers, initialized = variables.centers_and_initialized(settings.num_clusters, num_features)
        if mode == ModeKeys.TRAIN:
            return _train_spec(settings, points, centers, initialized, config)
        nearest, loss = _assign(settings, points, centers)
        trained = _trained_check(initialized)
        if mode == ModeKeys.PREDICT:
            return _predict_spec(settings, points, centers, nearest, trained)
        with tf.control_dependencies([trained]):
            loss = tf.identity(loss)
        return EstimatorSpec(mode, loss=loss, eval_metric_ops={SCORE: tf.compat.v1.metrics.mean(loss, name="score")})

    return kmeans_model_fn
