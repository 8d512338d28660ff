"""Packaging for kmeans-estimator.

TensorFlow is an extra, never a hard requirement, so that installing this
package cannot replace the TensorFlow build a user already has:
``pip install kmeans-estimator[cpu]`` or ``kmeans-estimator[gpu]``. pandas is
an extra too (``[pandas]``), needed only by ``inputs.pandas_input_fn``.
"""
from setuptools import find_packages, setup

TF_RANGE = ">=2.16,<2.22"

setup(
    name="kmeans-estimator",
    version="0.1.0",
    description=(
        "KMeans Estimator and the Estimator machinery for TensorFlow 2.16+, "
        "a drop-in replacement for tf.compat.v1.estimator.experimental.KMeans"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(include=["kmeans_estimator", "kmeans_estimator.*"]),
    python_requires=">=3.10,<3.13",
    install_requires=["numpy"],
    extras_require={
        "cpu": ["tensorflow-cpu" + TF_RANGE],
        "gpu": ["tensorflow[and-cuda]" + TF_RANGE],
        "pandas": ["pandas"],
        "test": ["pytest", "tensorboard", "pandas"],
        "bench": ["scikit-learn", "matplotlib"],
    },
    classifiers=[
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
