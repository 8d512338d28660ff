"""The exporters on the trained linear model: what each exports, what it keeps, what it checks."""
import os

import pytest
import tensorflow as tf

import kmeans_estimator as ke

FEATURES = {"x": tf.TensorSpec([None, 3], tf.float32)}


def _receiver_fn():
    return ke.export.build_raw_serving_input_receiver_fn(FEATURES)()


def _export(exporter, estimator, export_path, eval_result=None, is_the_final_export=False):
    return exporter.export(estimator, str(export_path), estimator.latest_checkpoint(),
                           eval_result or {"loss": 1.0, "global_step": 150}, is_the_final_export)


def _write_eval_events(directory, losses_by_step):
    """Real event files holding one `loss` summary per step, as evaluations write them."""
    with tf.Graph().as_default():
        writer = tf.compat.v1.summary.FileWriter(str(directory))
        for step, loss in losses_by_step.items():
            value = tf.compat.v1.Summary.Value(tag="loss", simple_value=loss)
            writer.add_summary(tf.compat.v1.Summary(value=[value]), step)
        writer.close()


def test_latest_exporter_keeps_the_newest_exports(trained_linear, tmp_path):
    exporter = ke.LatestExporter("latest", _receiver_fn, exports_to_keep=2)
    paths = [_export(exporter, trained_linear, tmp_path) for _ in range(3)]
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(path).decode() for path in paths[1:])


def test_latest_exporter_leaves_directories_that_are_not_versions(trained_linear, tmp_path):
    for name in ("temp-1", "notes"):
        (tmp_path / name).mkdir()
    path = _export(ke.LatestExporter("latest", _receiver_fn, exports_to_keep=1), trained_linear, tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted(["temp-1", "notes", os.path.basename(path).decode()])


def test_final_exporter_skips_evaluations_before_the_final_one(trained_linear, tmp_path):
    assert _export(ke.FinalExporter("final", _receiver_fn), trained_linear, tmp_path / "final") is None
    assert not (tmp_path / "final").exists()


def test_final_exporter_writes_a_loadable_model_on_the_final_export(trained_linear, tmp_path):
    path = _export(ke.FinalExporter("final", _receiver_fn), trained_linear, tmp_path, is_the_final_export=True)
    assert "serving_default" in tf.saved_model.load(path.decode()).signatures


def test_best_exporter_exports_only_smaller_losses(trained_linear, tmp_path):
    exporter = ke.BestExporter(serving_input_receiver_fn=_receiver_fn, event_file_pattern=None)
    exported = [_export(exporter, trained_linear, tmp_path, {"loss": loss, "global_step": step}) is not None
                for step, loss in [(10, 3.0), (20, 5.0), (30, 2.0), (40, 2.0)]]
    assert exported == [True, False, True, False]
    assert len(os.listdir(tmp_path)) == 2


@pytest.mark.parametrize("loss, step, exported", [
    (2.5, 40, False),  # worse than the best event, 2.0 at step 20
    (1.5, 40, True),
    (2.5, 20, True),  # the events of the step being judged are its own: the best other is 3.0
])
def test_best_exporter_compares_with_the_best_evaluation_in_event_files(trained_linear, tmp_path, loss, step, exported):
    _write_eval_events(tmp_path / "events", {10: 4.0, 20: 2.0, 30: 3.0})
    exporter = ke.BestExporter(serving_input_receiver_fn=_receiver_fn,
                               event_file_pattern=str(tmp_path / "events" / "*.tfevents.*"))
    result = _export(exporter, trained_linear, tmp_path / "best", {"loss": loss, "global_step": step})
    assert (result is not None) == exported


def test_best_exporter_uses_a_custom_compare_fn(trained_linear, tmp_path):
    def larger_mae(best_eval_result, current_eval_result):
        return current_eval_result["mae"] > best_eval_result["mae"]

    exporter = ke.BestExporter(serving_input_receiver_fn=_receiver_fn, event_file_pattern=None, compare_fn=larger_mae)
    exported = [_export(exporter, trained_linear, tmp_path, {"mae": mae, "global_step": 1}) is not None
                for mae in (1.0, 0.5, 2.0)]
    assert exported == [True, False, True]


def test_best_exporter_default_compare_needs_a_loss(trained_linear, tmp_path):
    exporter = ke.BestExporter(serving_input_receiver_fn=_receiver_fn, event_file_pattern=None)
    _export(exporter, trained_linear, tmp_path, {"loss": 1.0, "global_step": 1})
    with pytest.raises(ValueError, match=r"current_eval_result must hold a 'loss' to compare, got \{'mae': 1.0\}"):
        _export(exporter, trained_linear, tmp_path, {"mae": 1.0})


@pytest.mark.parametrize("make, error, match", [
    (lambda: ke.LatestExporter("", _receiver_fn), ValueError, "name must be a non-empty string, got ''"),
    (lambda: ke.FinalExporter(None, _receiver_fn), ValueError, "name must be a non-empty string, got None"),
    (lambda: ke.BestExporter(), TypeError, "serving_input_receiver_fn must be callable, got NoneType"),
    (lambda: ke.LatestExporter("latest", _receiver_fn, exports_to_keep=0), ValueError,
     "exports_to_keep must be a positive integer or None, got 0"),
    (lambda: ke.LatestExporter("latest", _receiver_fn, assets_extra=["a.txt"]), TypeError,
     "assets_extra must be a dict of destination to source file or None, got list"),
    (lambda: ke.FinalExporter("final", _receiver_fn, as_text="yes"), TypeError, "as_text must be True or False, got 'yes'"),
    (lambda: ke.BestExporter(serving_input_receiver_fn=_receiver_fn, compare_fn=lambda a, b: True), ValueError,
     r"compare_fn must take the arguments \['best_eval_result', 'current_eval_result'\] and no other required "
     r"ones, got a function of \['a', 'b'\]"),
    (lambda: ke.BestExporter(serving_input_receiver_fn=_receiver_fn, compare_fn=None), TypeError,
     "compare_fn must be callable, got NoneType"),
    (lambda: ke.BestExporter(serving_input_receiver_fn=_receiver_fn, event_file_pattern=3), TypeError,
     "event_file_pattern must be a str or None, got int"),
])
def test_exporters_reject_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_exporter_subclass_must_implement_name_and_export():
    class NamedOnly(ke.Exporter):
        name = "named"

    with pytest.raises(TypeError, match="abstract method"):
        NamedOnly()
