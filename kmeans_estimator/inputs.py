"""The `inputs` namespace of tf.estimator: ready-made input functions."""
from kmeans_estimator.estimator.inputs import numpy_input_fn
from kmeans_estimator.estimator.pandas_inputs import pandas_input_fn

__all__ = ["numpy_input_fn", "pandas_input_fn"]
