"""A trained linear-regression Estimator shared by the Estimator tests."""
import pytest

import kmeans_estimator as ke
from tests.estimator.linear_model import linear_model_fn, make_data


@pytest.fixture(scope="session")
def linear_data():
    return make_data()


@pytest.fixture(scope="session")
def trained_linear(tmp_path_factory, linear_data):
    """A linear Estimator trained for 150 full-batch steps; tests must not train it further."""
    x, y = linear_data
    estimator = ke.Estimator(
        linear_model_fn,
        model_dir=str(tmp_path_factory.mktemp("linear")),
        config=ke.RunConfig(save_summary_steps=10, tf_random_seed=1),
        params={"learning_rate": 0.2},
    )
    estimator.train(ke.inputs.numpy_input_fn({"x": x}, y, batch_size=64, num_epochs=None), steps=150)
    return estimator
