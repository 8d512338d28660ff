"""The scenarios: each a program for the original, written once against the public API.

A scenario is a function `(KMeans, est, model_dir) -> dict`: `KMeans` is the class under
test, `est` its module (`tf.compat.v1.estimator` on the original's side, `kmeans_estimator`
on ours: each has `RunConfig`, `inputs.numpy_input_fn` and `export`), and `model_dir` a new,
empty directory of its own. The dict holds what the program observed, as JSON. Both sides'
dicts must be equal, field by field (floats to a relative 1e-4), except for the fields of a
`Difference`: a row of the README's table of differences, whose `expect` asserts what that
row documents.
"""
import dataclasses
import os
import re
import warnings
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

from tests.compat.differential import inputs
from tests.compat.differential.inputs import INITIAL_CENTERS, POINTS, PROBES
from tests.compat.differential.observe import (
    checkpoint_numbers, files_under, outcome, plain, raised, state, summary_tags)


@dataclasses.dataclass(frozen=True)
class Difference:
    """A deliberate difference: the README row `situation` (its first cell) documents it.

    `fields` are left out of the equality check; `expect(original, ours)` gets both records
    and returns True when each side shows what the row says.
    """

    situation: str
    fields: Tuple[str, ...]
    expect: Callable[[dict, dict], bool]


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable
    difference: Optional[Difference] = None


SCENARIOS: Dict[str, Scenario] = {}


def scenario(difference=None):
    """Registers the decorated function as a scenario named after it."""

    def register(run):
        SCENARIOS[run.__name__] = Scenario(run.__name__, run, difference)
        return run

    return register


# What the scenarios read back from a trained model.

def predictions(kmeans, points=PROBES):
    """`predict()`'s two keys for `points`, in order."""
    results = list(kmeans.predict(inputs.limit_epochs(points)))
    return {
        "cluster_index": [int(result["cluster_index"]) for result in results],
        "all_distances": [plain(result["all_distances"]) for result in results],
    }


def full_record(kmeans, points=POINTS):
    """The model's state, then what `predict`, `predict_cluster_index`, `transform`, `score`
    and `evaluate` give for it."""
    record = state(kmeans)
    record.update(predictions(kmeans))
    record["predict_cluster_index"] = [
        int(index) for index in kmeans.predict_cluster_index(inputs.limit_epochs(PROBES))]
    record["transform"] = [plain(row) for row in kmeans.transform(inputs.limit_epochs(PROBES))]
    record["score"] = float(kmeans.score(inputs.constant(points)))
    record["evaluate"] = plain(kmeans.evaluate(inputs.constant(points), steps=1))
    return record


def steps_after_calls(kmeans, input_fn, calls, **train_args):
    """The global step after each of `calls` `train()` calls."""
    steps = []
    for _ in range(calls):
        kmeans.train(input_fn, **train_args)
        steps.append(int(kmeans.get_variable_value("global_step")))
    return steps


def one_thread_config(est, **kwargs):
    """A RunConfig whose sessions run one op at a time in the calling thread
    (`inter_op_parallelism_threads=-1`).

    The original's mini-batch step reads the counts for its rate and adds to them with no
    order between the two: in parallel sessions a race, in this one always read first, so
    its centers are deterministic (`defect_mini_batch_rate_races_in_parallel_sessions`
    shows the race). Ours gives the same centers in any session.
    """
    session_config = tf.compat.v1.ConfigProto(inter_op_parallelism_threads=-1)
    return est.RunConfig(session_config=session_config, **kwargs)


def _kmeans(KMeans, est, model_dir, mode, **kwargs):
    """KMeans of 3 clusters in `mode`: "full_batch", "mini_batch" (N = 1) or "mini_batch_3" (N = 3),
    from INITIAL_CENTERS and in `one_thread_config` unless told otherwise."""
    kwargs.setdefault("initial_clusters", INITIAL_CENTERS)
    kwargs.setdefault("config", one_thread_config(est))
    if mode == "full_batch":
        return KMeans(3, model_dir=model_dir, use_mini_batch=False, **kwargs)
    steps = 3 if mode == "mini_batch_3" else 1
    return KMeans(3, model_dir=model_dir, use_mini_batch=True, mini_batch_steps_per_iteration=steps, **kwargs)


MODES = ("full_batch", "mini_batch", "mini_batch_3")


# Training in each mode on each kind of input, from given centers.

def _constant_steps(mode):
    def run(KMeans, est, model_dir):
        kmeans = _kmeans(KMeans, est, model_dir, mode)
        record = {"steps": steps_after_calls(kmeans, inputs.constant(), 2, steps=2)}
        record.update(full_record(kmeans))
        return record
    return run


def _one_step_at_a_time(mode):
    def run(KMeans, est, model_dir):
        kmeans = _kmeans(KMeans, est, model_dir, mode)
        centers = []
        for _ in range(4):
            kmeans.train(inputs.dataset(repeat=True), steps=1)
            centers.append(plain(kmeans.cluster_centers()))
        return {"centers_after_each_step": centers, **state(kmeans)}
    return run


def _docs_example(mode):
    """The docs' loop: train, then score, on a one-epoch input; init from the first batch."""
    def run(KMeans, est, model_dir):
        kmeans = _kmeans(KMeans, est, model_dir, mode, initial_clusters=inputs.first_points)
        input_fn = inputs.limit_epochs()
        steps, scores = [], []
        for _ in range(3):
            kmeans.train(input_fn)
            steps.append(int(kmeans.get_variable_value("global_step")))
            scores.append(float(kmeans.score(input_fn)))
        return {"steps": steps, "scores": scores, **state(kmeans)}
    return run


def _three_epochs(mode):
    def run(KMeans, est, model_dir):
        kmeans = _kmeans(KMeans, est, model_dir, mode)
        return {"steps": steps_after_calls(kmeans, inputs.limit_epochs(num_epochs=3), 3), **state(kmeans)}
    return run


def _dataset_that_ends(mode):
    def run(KMeans, est, model_dir):
        kmeans = _kmeans(KMeans, est, model_dir, mode)
        return {"steps": steps_after_calls(kmeans, inputs.dataset(), 2), **state(kmeans)}
    return run


def _numpy_input_fn(mode, num_epochs):
    def run(KMeans, est, model_dir):
        kmeans = _kmeans(KMeans, est, model_dir, mode)
        input_fn = est.inputs.numpy_input_fn(POINTS, batch_size=10, num_epochs=num_epochs, shuffle=False)
        train_args = {} if num_epochs else {"steps": 4}
        return {"steps": steps_after_calls(kmeans, input_fn, 2, **train_args), **state(kmeans)}
    return run


@scenario()
def docs_example_as_printed(KMeans, est, model_dir):
    """The original's API page example: default (random, unseeded) init, full batch, ten
    train-then-score rounds on a one-epoch input, then the index of every point."""
    points = np.random.RandomState(7).uniform(0, 1000, [100, 2])
    input_fn = lambda: tf.compat.v1.train.limit_epochs(  # noqa: E731 - the docs' own input_fn
        tf.convert_to_tensor(points, dtype=tf.float32), num_epochs=1)
    kmeans = KMeans(num_clusters=5, use_mini_batch=False, model_dir=model_dir)
    steps, scores = [], []
    for _ in range(10):
        kmeans.train(input_fn)
        steps.append(int(kmeans.get_variable_value("global_step")))
        scores.append(float(kmeans.score(input_fn)))
    indices = list(kmeans.predict_cluster_index(input_fn))
    return {"steps": steps, "scores_never_rise": all(b <= a * (1 + 1e-6) for a, b in zip(scores, scores[1:])),
            "num_indices": len(indices), "indices_in_range": all(0 <= int(i) < 5 for i in indices),
            "checkpoints": checkpoint_numbers(model_dir)}


for _mode in MODES:
    for _make, _suffix in ((_constant_steps, "constant_steps"), (_one_step_at_a_time, "one_step_at_a_time"),
                           (_docs_example, "docs_example_loop"), (_three_epochs, "limit_epochs_3"),
                           (_dataset_that_ends, "dataset_that_ends"),
                           (lambda mode: _numpy_input_fn(mode, 1), "numpy_input_fn_one_epoch"),
                           (lambda mode: _numpy_input_fn(mode, None), "numpy_input_fn_repeating")):
        _run = _make(_mode)
        _run.__name__ = f"{_mode}_{_suffix}"
        scenario()(_run)


# Inputs of other shapes, init, metric and stopping rules (full batch unless named).

@scenario()
def queue_runner_input(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch")
    return {"steps": steps_after_calls(kmeans, inputs.queue_runner(), 1, steps=3), **state(kmeans)}


@scenario()
def feature_dict_input(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch", initial_clusters=INITIAL_CENTERS)
    kmeans.train(inputs.feature_dict(), steps=3)
    record = state(kmeans)
    record["predict"] = [int(index) for index in kmeans.predict_cluster_index(inputs.feature_dict(PROBES, once=True))]
    record["score"] = float(kmeans.score(inputs.feature_dict()))
    return record


@scenario()
def feature_columns_input(KMeans, est, model_dir):
    columns = [tf.feature_column.numeric_column("x", shape=[2])]
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch", feature_columns=columns)
    kmeans.train(lambda: {"x": tf.constant(POINTS)}, steps=3)
    record = state(kmeans)
    record["score"] = float(kmeans.score(lambda: {"x": tf.constant(POINTS)}))
    return record


@scenario()
def cosine_distance(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch", distance_metric=KMeans.COSINE_DISTANCE)
    kmeans.train(inputs.constant(), steps=3)
    return full_record(kmeans)


@scenario()
def cosine_distance_mini_batch(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "mini_batch", distance_metric=KMeans.COSINE_DISTANCE)
    kmeans.train(inputs.dataset(repeat=True), steps=4)
    return state(kmeans)


@scenario()
def cosine_distance_mini_batch_3(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "mini_batch_3", distance_metric=KMeans.COSINE_DISTANCE)
    kmeans.train(inputs.dataset(repeat=True), steps=4)
    return state(kmeans)


@scenario()
def callable_init(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch", initial_clusters=inputs.first_points)
    kmeans.train(inputs.constant(), steps=3)
    return full_record(kmeans)


def _chose_input_points(kmeans):
    """Whether every center is one of the points."""
    centers = kmeans.cluster_centers()
    return bool(all(np.any(np.all(np.isclose(POINTS, center), axis=1)) for center in centers))


_SEEDED_PICKS = Difference(
    "seeded `RANDOM_INIT` or `KMEANS_PLUS_PLUS_INIT`",
    ("centers",),
    lambda original, ours: original["centers_are_points"] and ours["centers_are_points"])


def _seeded_init(KMeans, model_dir, initial_clusters):
    """The centers a seeded init picks, and the step after it (100 steps per iteration: no sync)."""
    kmeans = KMeans(3, model_dir=model_dir, use_mini_batch=True, mini_batch_steps_per_iteration=100,
                    initial_clusters=initial_clusters, seed=5)
    kmeans.train(inputs.constant(), steps=1)
    return {"centers_are_points": _chose_input_points(kmeans), "centers": plain(kmeans.cluster_centers()),
            "global_step": int(kmeans.get_variable_value("global_step"))}


@scenario(_SEEDED_PICKS)
def random_init_seeded(KMeans, est, model_dir):
    return _seeded_init(KMeans, model_dir, KMeans.RANDOM_INIT)


@scenario(_SEEDED_PICKS)
def kmeans_plus_plus_init_seeded(KMeans, est, model_dir):
    return _seeded_init(KMeans, model_dir, KMeans.KMEANS_PLUS_PLUS_INIT)


@scenario()
def kmeans_plus_plus_converges(KMeans, est, model_dir):
    """Seeded kmeans++ on three far blobs: any pick of the seed gives the same centers."""
    kmeans = KMeans(3, model_dir=model_dir, use_mini_batch=False, initial_clusters=KMeans.KMEANS_PLUS_PLUS_INIT,
                    seed=1)
    kmeans.train(inputs.constant(), steps=5)
    centers = sorted(plain(kmeans.cluster_centers()))
    return {"sorted_centers": centers, "global_step": int(kmeans.get_variable_value("global_step"))}


@scenario()
def train_max_steps(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch")
    steps = [steps_after_calls(kmeans, inputs.constant(), 1, max_steps=max_steps)[0] for max_steps in (3, 3, 5)]
    return {"steps": steps, **state(kmeans)}


@scenario()
def train_max_steps_on_an_input_that_ends(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "mini_batch")
    steps = steps_after_calls(kmeans, inputs.dataset(), 3, max_steps=7)
    return {"steps": steps, **state(kmeans)}


@scenario()
def train_steps_on_an_input_that_ends(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "mini_batch")
    steps = steps_after_calls(kmeans, inputs.dataset(), 2, steps=10)
    return {"steps": steps, **state(kmeans)}


@scenario()
def relative_tolerance_stops_early(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch", relative_tolerance=1e-4)
    kmeans.train(inputs.constant(), steps=50)
    return state(kmeans)


@scenario()
def evaluate_steps_none_reads_the_input_to_its_end(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch")
    kmeans.train(inputs.constant(), steps=2)
    return {"evaluate": plain(kmeans.evaluate(inputs.dataset(), steps=None)),
            "evaluate_3_epochs": plain(kmeans.evaluate(inputs.limit_epochs(num_epochs=3)))}


@scenario()
def evaluate_names_its_metrics_and_eval_dir(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch")
    kmeans.train(inputs.constant(), steps=2)
    result = kmeans.evaluate(inputs.constant(), steps=2, name="holdout")
    return {"evaluate": plain(result), "eval_dirs": sorted(name for name in os.listdir(model_dir)
                                                           if name.startswith("eval"))}


@scenario()
def predict_keys_and_yield_single_examples(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch")
    kmeans.train(inputs.constant(), steps=2)
    only_index = list(kmeans.predict(inputs.limit_epochs(PROBES), predict_keys=["cluster_index"]))
    batches = list(kmeans.predict(inputs.limit_epochs(PROBES), yield_single_examples=False))
    return {"keys": sorted(only_index[0]), "indices": [int(row["cluster_index"]) for row in only_index],
            "batch_keys": sorted(batches[0]), "batch_shapes": [list(np.shape(batches[0][key]))
                                                                for key in sorted(batches[0])]}


def _signatures(export_dir):
    """The export's signature keys, and what its three original signatures return for PROBES."""
    loaded = tf.saved_model.load(export_dir)
    record = {"signature_keys": sorted(loaded.signatures.keys())}
    for key in ("serving_default", "cluster_index", "all_distances"):
        function = loaded.signatures[key]
        outputs = function(x=tf.constant(PROBES))
        record[key] = {name: plain(value.numpy()) for name, value in outputs.items()}
        record[key + "_inputs"] = sorted(function.structured_input_signature[1])
    return record


_EXPORT_ADDITIONS = Difference(
    "the SavedModel",
    ("signature_keys",),
    lambda original, ours: (original["signature_keys"] == ["all_distances", "cluster_index", "serving_default"]
                            and set(original["signature_keys"]) < set(ours["signature_keys"])))


@scenario(_EXPORT_ADDITIONS)
def export_saved_model_signatures(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch")
    kmeans.train(inputs.constant(), steps=2)
    export_dir = kmeans.export_saved_model(os.path.join(model_dir, "export"), inputs.raw_receiver_fn(est))
    path = export_dir.decode() if isinstance(export_dir, bytes) else export_dir
    record = _signatures(path)
    record["returned_bytes"] = isinstance(export_dir, bytes)
    record["version_is_numeric"] = os.path.basename(path).isdigit()
    return record


_TENSORBOARD_ADDITIONS = Difference(
    "TensorBoard",
    ("train_tags",),
    lambda original, ours: set(original["train_tags"]) < set(ours["train_tags"]))


@scenario(_TENSORBOARD_ADDITIONS)
def summary_tags_of_train_and_evaluate(KMeans, est, model_dir):
    config = one_thread_config(est, save_summary_steps=1, log_step_count_steps=1)
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch", config=config)
    kmeans.train(inputs.constant(), steps=3)
    kmeans.evaluate(inputs.constant(), steps=1)
    return {"train_tags": summary_tags(model_dir), "eval_tags": summary_tags(os.path.join(model_dir, "eval"))}


@scenario()
def progress_logs_of_a_training_call(KMeans, est, model_dir, logs=None):
    config = one_thread_config(est, log_step_count_steps=50)
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch", config=config)
    kmeans.train(inputs.constant(), steps=120)
    lines = logs.tracked(model_dir)
    # Two things in these lines follow the original's timing, not its rules: how many
    # `global_step/sec` lines it printed (one or two), and whether its `loss = ..., step = N`
    # read the global step before or after that run's increment (N or N + 1; ours: N). So
    # the rate lines are only counted present, and those steps are taken down to the
    # multiple of log_step_count_steps they fall on.
    floored = [re.sub(r"step = (\d+)", lambda found: f"step = {int(found.group(1)) // 50 * 50}", line)
               if line.startswith("INFO loss = ") else line for line in lines]
    return {"logs": [line for line in floored if "global_step/sec" not in line],
            "rate_logged": any("global_step/sec" in line for line in lines), **state(kmeans)}


@scenario()
def model_dir_layout(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch")
    kmeans.train(inputs.constant(), steps=2)
    kmeans.evaluate(inputs.constant(), steps=1)
    names = set(os.listdir(model_dir))
    return {"has": sorted(name for name in ("checkpoint", "graph.pbtxt", "eval") if name in names),
            "event_files": any(name.startswith("events.out.tfevents.") for name in names),
            "meta_of_latest": f"model.ckpt-{checkpoint_numbers(model_dir)[-1]}.meta" in names,
            "load_variable_is_centers": bool(np.allclose(
                tf.compat.v1.train.load_variable(model_dir, "clusters"), kmeans.cluster_centers()))}


@scenario()
def get_variable_names_and_values(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "mini_batch")
    kmeans.train(inputs.constant(), steps=2)
    names = sorted(kmeans.get_variable_names())
    return {"names": names, "initialized": bool(kmeans.get_variable_value("initialized"))}


@scenario()
def a_second_estimator_on_the_same_model_dir_goes_on(KMeans, est, model_dir):
    _kmeans(KMeans, est, model_dir, "full_batch").train(inputs.constant(), steps=2)
    again = _kmeans(KMeans, est, model_dir, "full_batch")
    again.train(inputs.constant(), steps=1)
    return state(again)


@scenario()
def initial_centers_given_ignore_num_clusters(KMeans, est, model_dir):
    kmeans = KMeans(7, model_dir=model_dir, use_mini_batch=False, initial_clusters=INITIAL_CENTERS)
    kmeans.train(inputs.constant(), steps=1)
    return state(kmeans)


# Bad arguments: the exception type, and what was written before it.

def _bad(call):
    """What the original did with a bad argument: the exception type and the files written
    first, or (where it accepted the argument) the checkpoints the call left."""
    def run(KMeans, est, model_dir):
        error = raised(call, KMeans, est, model_dir)
        if error is None:
            return {"raised": None, "checkpoints": checkpoint_numbers(model_dir)}
        return {"raised": error, "written": files_under(model_dir)}
    return run


# The original found these only once training ran, after writing graph.pbtxt, an event file
# and model.ckpt-0; here the same exception type comes before anything is written.
_CHECKED_BEFORE_WRITING = Difference(
    "an argument the original rejected only once training ran", ("written",),
    lambda original, ours: "model.ckpt-0.index" in original["written"] and ours["written"] == [])
_CHECKED_EARLY = ("bad_num_clusters_zero", "bad_num_clusters_negative", "bad_kmeans_plus_plus_on_too_few_points")


def _trained(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch")
    kmeans.train(inputs.constant(), steps=1)
    return kmeans


_BAD_CALLS = {
    "bad_initial_clusters_name": lambda K, est, d: K(3, model_dir=d, initial_clusters="bogus"),
    "bad_distance_metric": lambda K, est, d: K(3, model_dir=d, distance_metric="bogus"),
    "bad_train_steps_0": lambda K, est, d: _kmeans(K, est, d, "full_batch").train(inputs.constant(), steps=0),
    "bad_train_steps_negative": lambda K, est, d: _kmeans(K, est, d, "full_batch").train(inputs.constant(), steps=-1),
    "bad_train_steps_and_max_steps": lambda K, est, d: _kmeans(K, est, d, "full_batch").train(
        inputs.constant(), steps=1, max_steps=2),
    "bad_train_max_steps_0": lambda K, est, d: _kmeans(K, est, d, "full_batch").train(inputs.constant(), max_steps=0),
    "bad_evaluate_steps_0": lambda K, est, d: _kmeans(K, est, d, "full_batch").evaluate(inputs.constant(), steps=0),
    "bad_export_without_receiver": lambda K, est, d: _kmeans(K, est, d, "full_batch").export_saved_model(
        os.path.join(d, "export"), None),
    "bad_export_without_checkpoint": lambda K, est, d: _kmeans(K, est, d, "full_batch").export_saved_model(
        os.path.join(d, "export"), inputs.raw_receiver_fn(est)),
    "bad_predict_without_checkpoint": lambda K, est, d: list(_kmeans(K, est, d, "full_batch").predict(
        inputs.limit_epochs(PROBES))),
    "bad_cluster_centers_without_checkpoint": lambda K, est, d: _kmeans(K, est, d, "full_batch").cluster_centers(),
    "bad_input_fn_not_callable": lambda K, est, d: _kmeans(K, est, d, "full_batch").train(POINTS, steps=1),
    "bad_train_hooks_not_hooks": lambda K, est, d: _kmeans(K, est, d, "full_batch").train(
        inputs.constant(), hooks=[object()], steps=1),
    "bad_kmeans_plus_plus_on_too_few_points": lambda K, est, d: K(
        5, model_dir=d, use_mini_batch=True, initial_clusters=K.KMEANS_PLUS_PLUS_INIT, seed=1).train(
        inputs.dataset(batch_size=3, repeat=True), steps=1),
    "bad_num_clusters_zero": lambda K, est, d: K(0, model_dir=d, use_mini_batch=False).train(
        inputs.constant(), steps=1),
    "bad_num_clusters_negative": lambda K, est, d: K(-2, model_dir=d, use_mini_batch=False).train(
        inputs.constant(), steps=1),
    "bad_mini_batch_steps_per_iteration_zero": lambda K, est, d: K(
        3, model_dir=d, initial_clusters=INITIAL_CENTERS, mini_batch_steps_per_iteration=0).train(
        inputs.constant(), steps=2),
    "bad_config_not_a_run_config": lambda K, est, d: K(3, model_dir=d, config="not a config"),
    "bad_seed_not_an_integer": lambda K, est, d: K(
        3, model_dir=d, use_mini_batch=False, seed="five").train(inputs.constant(), steps=1),
    "bad_use_mini_batch_not_a_bool": lambda K, est, d: K(
        3, model_dir=d, use_mini_batch="no", initial_clusters=INITIAL_CENTERS).train(inputs.constant(), steps=1),
    "bad_relative_tolerance_negative": lambda K, est, d: K(
        3, model_dir=d, use_mini_batch=False, initial_clusters=INITIAL_CENTERS, relative_tolerance=-1.0).train(
        inputs.constant(), steps=2),
    "bad_kmeans_plus_plus_num_retries_not_an_integer": lambda K, est, d: K(
        3, model_dir=d, use_mini_batch=False, initial_clusters=K.KMEANS_PLUS_PLUS_INIT, seed=1,
        kmeans_plus_plus_num_retries="two").train(inputs.constant(), steps=1),
    "bad_num_clusters_not_an_integer": lambda K, est, d: K(
        2.5, model_dir=d, use_mini_batch=False, seed=1).train(inputs.constant(), steps=1),
    "bad_feature_columns_not_columns": lambda K, est, d: K(
        3, model_dir=d, use_mini_batch=False, initial_clusters=INITIAL_CENTERS, feature_columns=["x"]).train(
        lambda: {"x": tf.constant(POINTS)}, steps=1),
    "bad_evaluate_without_checkpoint": lambda K, est, d: _kmeans(K, est, d, "full_batch").evaluate(
        inputs.constant(), steps=1),
    "bad_score_without_checkpoint": lambda K, est, d: _kmeans(K, est, d, "full_batch").score(inputs.constant()),
    "bad_transform_without_checkpoint": lambda K, est, d: list(_kmeans(K, est, d, "full_batch").transform(
        inputs.limit_epochs(PROBES))),
}


@scenario()
def bad_get_variable_value_unknown_name(KMeans, est, model_dir):
    return {"raised": raised(_trained(KMeans, est, model_dir).get_variable_value, "nope")}


for _name, _call in _BAD_CALLS.items():
    _run = _bad(_call)
    _run.__name__ = _name
    scenario(_CHECKED_BEFORE_WRITING if _name in _CHECKED_EARLY else None)(_run)


# The original's defects, and what it lacked: each a row of the README's differences.

def _running_means(start, counts, batch, steps):
    """The centers after `steps` mini-batch steps on `batch` at the rate 1 / (n + m) and,
    the other outcome of the original's race, 1 / (n + 2m): `{rule: [k, d] list}`."""
    found = {}
    for rule, extra in (("n+m", 0), ("n+2m", 1)):
        centers, totals = start.astype(np.float64), np.array(counts, np.float64)
        for _ in range(steps):
            nearest = ((batch[:, None] - centers[None]) ** 2).sum(-1).argmin(1)
            for cluster in range(len(centers)):
                members = batch[nearest == cluster]
                if len(members):
                    m = len(members)
                    centers[cluster] += (members.sum(0) - m * centers[cluster]) / (totals[cluster] + m + extra * m)
                    totals[cluster] += m
        found[rule] = centers
    return found


def _rate_of_both_rules(original, ours):
    return ours["rate"] == "n+m" and original["rate"] in ("n+m", "n+2m")


@scenario(Difference("mini-batch steps in sessions that run ops in parallel", ("rate",), _rate_of_both_rules))
def defect_mini_batch_rate_races_in_parallel_sessions(KMeans, est, model_dir):
    """One mini-batch step in the default RunConfig (ops in parallel): which rate moved the centers."""
    kmeans = KMeans(3, model_dir=model_dir, use_mini_batch=True, initial_clusters=INITIAL_CENTERS)
    kmeans.train(inputs.constant(), steps=1)
    centers = kmeans.cluster_centers()
    expected = _running_means(INITIAL_CENTERS, np.ones(3), POINTS, 1)
    rate = next((rule for rule, value in expected.items() if np.allclose(centers, value, rtol=1e-5)), "neither")
    return {"rate": rate, "counts": plain(kmeans.get_variable_value("Variable"))}


def _raises_only_on_the_original(original_type, ours_type=None):
    return lambda original, ours: original["raised"] == original_type and ours["raised"] == ours_type


@scenario(Difference("kmeans++ with `seed=None`", ("raised", "global_step"),
                     _raises_only_on_the_original("ValueError")))
def defect_kmeans_plus_plus_without_seed(KMeans, est, model_dir):
    kmeans = KMeans(3, model_dir=model_dir, use_mini_batch=False, initial_clusters=KMeans.KMEANS_PLUS_PLUS_INIT)
    error = raised(kmeans.train, inputs.constant(), steps=2)
    step = None if error else int(kmeans.get_variable_value("global_step"))
    return {"raised": error, "global_step": step}


def _far_center_kept(original, ours):
    return (np.allclose(original["centers"][2], [0.0, 0.0]) and np.allclose(ours["centers"][2], [50.0, 50.0]))


@scenario(Difference("an empty cluster in full-batch mode", ("centers",), _far_center_kept))
def defect_empty_cluster_moves_to_the_origin(KMeans, est, model_dir):
    start = np.array([[-4.0, 4.0], [4.0, 4.0], [50.0, 50.0]], np.float32)
    kmeans = KMeans(3, model_dir=model_dir, use_mini_batch=False, initial_clusters=start)
    kmeans.train(inputs.constant(), steps=1)
    return {"centers": plain(kmeans.cluster_centers()), "global_step": int(kmeans.get_variable_value("global_step"))}


@scenario(Difference("`num_clusters` above the number of points", ("raised", "written"),
                     lambda original, ours: original["raised"] is None and ours["raised"] == "InvalidArgumentError"
                     and ours["written"] == []))
def defect_more_clusters_than_points(KMeans, est, model_dir):
    kmeans = KMeans(8, model_dir=model_dir, use_mini_batch=False, seed=1)
    error = raised(kmeans.train, inputs.constant(POINTS[:5]), steps=1)
    return {"raised": error, "written": checkpoint_numbers(model_dir)}


@scenario(Difference("a batch of `num_clusters` points or more, but fewer distinct ones", ("warned",),
                     lambda original, ours: not original["warned"] and ours["warned"]))
def defect_repeated_centers_pass_silently(KMeans, est, model_dir):
    points = np.repeat(POINTS[:2], 3, axis=0)  # 6 points, 2 distinct
    kmeans = KMeans(3, model_dir=model_dir, use_mini_batch=False, seed=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kmeans.train(inputs.constant(points), steps=1)
    return {"warned": any(type(w.message).__name__ == "ConvergenceWarning" for w in caught),
            "global_step": int(kmeans.get_variable_value("global_step"))}


@scenario(_CHECKED_BEFORE_WRITING)
def bad_initial_centers_of_another_dimension(KMeans, est, model_dir):
    kmeans = KMeans(3, model_dir=model_dir, use_mini_batch=False, initial_clusters=np.zeros([3, 5], np.float32))
    return {"raised": raised(kmeans.train, inputs.constant(), steps=1), "written": files_under(model_dir)}


@scenario(Difference("float64 or integer features", ("raised", "global_step"),
                     _raises_only_on_the_original("TypeError")))
def defect_float64_features(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch")
    error = raised(kmeans.train, inputs.constant(POINTS.astype(np.float64)), steps=1)
    return {"raised": error, "global_step": None if error else int(kmeans.get_variable_value("global_step"))}


@scenario(Difference("NaN or Inf in the input", ("raised", "checkpoints"),
                     _raises_only_on_the_original("NanLossDuringTrainingError", "InvalidArgumentError")))
def defect_nan_in_the_input(KMeans, est, model_dir):
    points = POINTS.copy()
    points[3, 1] = np.nan
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch")
    error = raised(kmeans.train, inputs.constant(points), steps=2)
    return {"raised": error, "checkpoints": checkpoint_numbers(model_dir)}


@scenario()
def bad_predict_with_another_dimension(KMeans, est, model_dir):
    kmeans = _trained(KMeans, est, model_dir)
    return {"raised": raised(lambda: list(kmeans.predict(inputs.limit_epochs(np.ones([4, 3], np.float32)))))}


@scenario()
def bad_model_dir_of_another_mode(KMeans, est, model_dir):
    """A mini-batch model of N = 3 on the model directory of a full-batch one: keys are missing."""
    _trained(KMeans, est, model_dir)
    other = _kmeans(KMeans, est, model_dir, "mini_batch_3")
    return {"raised": raised(other.train, inputs.constant(), steps=1)}


@scenario(Difference("`model.ckpt-0` of a new model", ("initialized_at_0",),
                     lambda original, ours: original["initialized_at_0"] is False and ours["initialized_at_0"] is True))
def checkpoint_at_session_start(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch")
    kmeans.train(inputs.constant(), steps=2)
    first = os.path.join(model_dir, "model.ckpt-0")
    return {"checkpoints": checkpoint_numbers(model_dir),
            "initialized_at_0": bool(tf.compat.v1.train.load_variable(first, "initialized"))}


@scenario(Difference("`numpy_input_fn(shuffle=None)`", ("raised",), _raises_only_on_the_original("ValueError")))
def addition_numpy_input_fn_shuffle_none(KMeans, est, model_dir):
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch")
    return {"raised": raised(lambda: kmeans.train(est.inputs.numpy_input_fn(POINTS, batch_size=30, shuffle=None),
                                                  steps=1))}


@scenario(Difference("`initial_clusters=KMEANS_PARALLEL_INIT`", ("raised",),
                     _raises_only_on_the_original("ValueError")))
def addition_kmeans_parallel_init(KMeans, est, model_dir):
    kmeans_parallel = getattr(KMeans, "KMEANS_PARALLEL_INIT", "kmeans_parallel")

    def train():
        KMeans(3, model_dir=model_dir, use_mini_batch=False, initial_clusters=kmeans_parallel, seed=1).train(
            inputs.constant(), steps=2)

    return {"raised": raised(train)}


@scenario(Difference("mini-batch quality", ("raised",), _raises_only_on_the_original("TypeError")))
def addition_mini_batch_quality_settings(KMeans, est, model_dir):
    def train():
        KMeans(3, model_dir=model_dir, use_mini_batch=True, initial_clusters=INITIAL_CENTERS,
               mini_batch_init_size=None, reassignment_ratio=0.01).train(inputs.constant(), steps=2)

    return {"raised": raised(train)}


@scenario(Difference("`tf.estimator` on TF >= 2.16", ("tf_has_estimator",),
                     lambda original, ours: original["tf_has_estimator"] and not ours["tf_has_estimator"]))
def addition_tf_estimator_namespace(KMeans, est, model_dir):
    return {"tf_has_estimator": hasattr(tf, "estimator") and hasattr(tf.compat.v1, "estimator")}


@scenario(Difference("`graph.pbtxt`, `.meta` and event files", ("graph_pbtxt_over_1mb",),
                     lambda original, ours: original["graph_pbtxt_over_1mb"] and not ours["graph_pbtxt_over_1mb"]))
def files_of_a_large_constant_input(KMeans, est, model_dir):
    points = np.tile(POINTS, (5000, 1))  # 150000 x 2 float32: 1.2 MB
    kmeans = _kmeans(KMeans, est, model_dir, "full_batch")
    kmeans.train(inputs.constant(points), steps=1)
    size = os.path.getsize(os.path.join(model_dir, "graph.pbtxt"))
    # Not the centers: float32 sums of 50000 points each round differently on the two sides.
    return {"graph_pbtxt_over_1mb": size > 2 ** 20, "global_step": int(kmeans.get_variable_value("global_step")),
            "checkpoints": checkpoint_numbers(model_dir)}
