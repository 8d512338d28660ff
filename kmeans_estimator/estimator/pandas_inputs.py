"""pandas_input_fn: the columns of a pandas DataFrame fed in batches through numpy_input_fn.

pandas is an optional dependency (`pip install kmeans-estimator[pandas]`); it is imported
when `pandas_input_fn` is called, so the package imports without it.
"""
import numpy as np

from kmeans_estimator.estimator.checks import type_name
from kmeans_estimator.estimator.inputs import numpy_input_fn

_INSTALL_HINT = "pip install kmeans-estimator[pandas]"


def _import_pandas():
    try:
        import pandas
    except ImportError as error:
        raise ImportError(
            f"pandas_input_fn needs pandas, which is not installed; install it with `{_INSTALL_HINT}`"
        ) from error
    return pandas


def _column_values(series):
    """A copy of one column's values as a numpy array, strings as a unicode or bytes array.

    pandas keeps strings in object (or its own string) columns; those holding only str,
    or only bytes, become arrays numpy_input_fn feeds. Any other object column stays an
    object array, which numpy_input_fn rejects naming the column.
    """
    values = series.to_numpy(copy=True)
    if values.dtype == object and len(values):
        for kind in (str, bytes):
            if all(isinstance(value, kind) for value in values):
                return np.array(values.tolist(), dtype=kind)
    return values


def _columns(frame, argument):
    """`{column name: values}` of a DataFrame whose column names are unique strings."""
    for name in frame.columns:
        if not isinstance(name, str):
            raise TypeError(f"{argument}'s column names must be strings, got {name!r}")
    if not frame.columns.is_unique:
        repeated = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise ValueError(f"{argument}'s column names must be unique, got repeated {repeated}")
    return {name: _column_values(frame[name]) for name in frame.columns}


def pandas_input_fn(
    x,
    y=None,
    batch_size=128,
    num_epochs=1,
    shuffle=None,
    queue_capacity=1000,
    num_threads=1,
    target_column="target",
):
    """Returns an input_fn feeding a DataFrame's columns, as tf.estimator's pandas_input_fn did.

    Each batch's features are a dict of column name to a Tensor of shape [batch]; the
    labels are y's values (a Series) or a dict of its columns (a DataFrame). The values
    are copied when this is called, so later changes to `x` or `y` are not fed. Batching,
    epochs and shuffling are those of `numpy_input_fn`, which does the feeding
    (tf.data instead of tf.estimator's queues; the row order with shuffle differs).

    Args:
      x: a pandas DataFrame with unique str column names.
      y: None, a pandas Series or a pandas DataFrame, with the same index as x.
      batch_size: positive int, rows per batch.
      num_epochs: positive int, passes over the data; None repeats forever.
      shuffle: True or False, required (True is usual for training).
      queue_capacity: positive int, rows prefetched; None means len(x) (4 * len(x)
        with shuffle), as in tf.estimator.
      num_threads: positive int, accepted for compatibility (see `numpy_input_fn`).
      target_column: str; with a Series y, x must have no column of this name (as in
        tf.estimator, where y became such a column). The labels are not renamed.

    Returns:
      An input_fn taking no arguments that returns a `tf.data.Dataset` of
      `(features, labels)`, or of features alone when y is None.

    Raises:
      ImportError: pandas is not installed.
      ValueError: shuffle is not a bool; x has a column named `target_column` while y
        is a Series; the indexes of x and y differ; x's column names repeat; or
        numpy_input_fn rejects the data or a numeric argument.
      TypeError: x is not a DataFrame, y not a Series or DataFrame, target_column not a
        str, a column name not a str, or a column's values are not numbers, booleans or
        strings.
    """
    pandas = _import_pandas()
    if not isinstance(shuffle, bool):
        raise ValueError(
            "shuffle must be given explicitly as True or False (True is usual for training), "
            f"got {shuffle!r}"
        )
    if not isinstance(x, pandas.DataFrame):
        raise TypeError(f"x must be a pandas DataFrame, got {type_name(x)}")
    if not isinstance(target_column, str):
        raise TypeError(f"target_column must be a str, got {type_name(target_column)}")
    labels = None
    if y is not None:
        if not isinstance(y, (pandas.Series, pandas.DataFrame)):
            raise TypeError(f"y must be None, a pandas Series or a pandas DataFrame, got {type_name(y)}")
        if isinstance(y, pandas.Series) and target_column in x.columns:
            raise ValueError(
                f"target_column={target_column!r} names a column x already has; give another "
                f"target_column (x's columns: {list(x.columns)})"
            )
        if not np.array_equal(x.index, y.index):
            raise ValueError(f"the indexes of x and y must match, got x.index={x.index!r} and y.index={y.index!r}")
        labels = _columns(y, "y") if isinstance(y, pandas.DataFrame) else _column_values(y)
    if queue_capacity is None:
        queue_capacity = max(1, len(x) * (4 if shuffle else 1))
    return numpy_input_fn(
        _columns(x, "x"),
        labels,
        batch_size=batch_size,
        num_epochs=num_epochs,
        shuffle=shuffle,
        queue_capacity=queue_capacity,
        num_threads=num_threads,
    )
