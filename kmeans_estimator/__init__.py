"""kmeans-estimator: the KMeans Estimator and Estimator machinery for TensorFlow 2.16+.

Porting from TensorFlow's own Estimator takes one import change:
`tf.compat.v1.estimator.experimental.KMeans` becomes `kmeans_estimator.KMeans`
(also `kmeans_estimator.experimental.KMeans`), `tf.estimator.Estimator`
becomes `kmeans_estimator.Estimator`, `tf.estimator.export` becomes
`kmeans_estimator.export`, `tf.compat.v1.estimator.inputs` becomes
`kmeans_estimator.inputs`; `tf.estimator.WarmStartSettings`, `VocabInfo` and the
SessionRunHook family (`tf.estimator.StopAtStepHook`, ...) are here under the
same names (the hooks also in `kmeans_estimator.hooks`);
`tf.estimator.train_and_evaluate`, `TrainSpec`, `EvalSpec` and the exporters keep their
names here.

For a program that should run with no line changed, `python -m kmeans_estimator SCRIPT.py`
(or `install_tf_estimator_alias()`, called by the program itself) makes `tf.estimator`,
`tf.compat.v1.estimator` and `tensorflow_estimator` resolve to this package; importing
the package alone never does.
"""
from kmeans_estimator._allocator import prefer_bfc_cpu_allocator
from kmeans_estimator._tensorflow_check import require_tensorflow

# Before TensorFlow allocates anything (see the function's docstring).
prefer_bfc_cpu_allocator()
require_tensorflow()

from kmeans_estimator import experimental, export, hooks, inputs  # noqa: E402
from kmeans_estimator.estimator.estimator import Estimator  # noqa: E402
from kmeans_estimator.estimator.exporters import BestExporter, Exporter, FinalExporter, LatestExporter  # noqa: E402
from kmeans_estimator.estimator.run_config import RunConfig  # noqa: E402
from kmeans_estimator.estimator.spec import EstimatorSpec, ModeKeys  # noqa: E402
from kmeans_estimator.estimator.warm_start import VocabInfo, WarmStartSettings  # noqa: E402
from kmeans_estimator.hooks import (  # noqa: E402
    CheckpointSaverHook,
    CheckpointSaverListener,
    FeedFnHook,
    FinalOpsHook,
    GlobalStepWaiterHook,
    LoggingTensorHook,
    NanLossDuringTrainingError,
    NanTensorHook,
    ProfilerHook,
    SecondOrStepTimer,
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
    StepCounterHook,
    StopAtStepHook,
    SummarySaverHook,
)
from kmeans_estimator.estimator.training import EvalSpec, TrainSpec, train_and_evaluate  # noqa: E402
from kmeans_estimator.kmeans import KMeans  # noqa: E402
from kmeans_estimator.tf_estimator_alias import install_tf_estimator_alias  # noqa: E402

KMeansClustering = KMeans

__version__ = "0.1.0"

__all__ = [
    "BestExporter",
    "Estimator",
    "EstimatorSpec",
    "EvalSpec",
    "Exporter",
    "FinalExporter",
    "KMeans",
    "KMeansClustering",
    "LatestExporter",
    "ModeKeys",
    "RunConfig",
    "TrainSpec",
    "VocabInfo",
    "WarmStartSettings",
    "experimental",
    "export",
    "hooks",
    "inputs",
    "install_tf_estimator_alias",
    *hooks.__all__,
    "train_and_evaluate",
]
