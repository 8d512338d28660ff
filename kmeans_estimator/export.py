"""The `export` namespace of tf.estimator: serving input receivers and export outputs."""
from kmeans_estimator.estimator.export_outputs import (
    ClassificationOutput,
    EvalOutput,
    ExportOutput,
    NoInputPredictOutput,
    PredictOutput,
    RegressionOutput,
    TrainOutput,
)
from kmeans_estimator.estimator.receivers import (
    ServingInputReceiver,
    SupervisedInputReceiver,
    TensorServingInputReceiver,
    build_parsing_serving_input_receiver_fn,
    build_raw_serving_input_receiver_fn,
    build_raw_supervised_input_receiver_fn,
)

__all__ = [
    "ClassificationOutput",
    "EvalOutput",
    "ExportOutput",
    "NoInputPredictOutput",
    "PredictOutput",
    "RegressionOutput",
    "ServingInputReceiver",
    "SupervisedInputReceiver",
    "TensorServingInputReceiver",
    "TrainOutput",
    "build_parsing_serving_input_receiver_fn",
    "build_raw_serving_input_receiver_fn",
    "build_raw_supervised_input_receiver_fn",
]
