"""Argument checks shared by the Estimator, the receivers, export outputs, SavedModel writer,
exporters and train_and_evaluate's specs."""
import numbers


def type_name(value):
    """The class name of `value`, for error messages."""
    return type(value).__name__


def check_name(name, argument):
    """Checks a dict key is a non-empty string."""
    if not isinstance(name, str):
        raise TypeError(f"{argument} keys must be strings, got {name!r}")
    if not name:
        raise ValueError(f"{argument} keys must be non-empty strings, got ''")


def check_mapping(value, argument, expected):
    """Checks `value` is a non-empty dict with non-empty string keys."""
    if not isinstance(value, dict):
        raise TypeError(f"{argument} must be {expected}, got {type_name(value)}")
    if not value:
        raise ValueError(f"{argument} must not be empty, got {{}}")
    for name in value:
        check_name(name, argument)


def as_tensor_dict(value, single_key, argument, allowed_types):
    """Returns `value` as a dict of name to tensor, wrapping a single tensor under `single_key`."""
    if isinstance(value, allowed_types):
        return {single_key: value}
    kinds = " or ".join(kind.__name__ for kind in allowed_types)
    check_mapping(value, argument, f"a {kinds} or a dict of str to them")
    for name, tensor in value.items():
        if not isinstance(tensor, allowed_types):
            raise TypeError(f"{argument}[{name!r}] must be a {kinds}, got {type_name(tensor)}")
    return dict(value)


def check_mapping_values(value, argument, types, what, expected=None):
    """Checks `value` is a non-empty dict of non-empty str keys to instances of `types`.

    Args:
      value: the argument to check.
      argument: its name, for messages.
      types: a type or tuple of types every value must be an instance of.
      what: the values' description in messages, e.g. "a SignatureDef".
      expected: the whole argument's description; "a dict of str to <what>" by default.
    """
    check_mapping(value, argument, expected or f"a dict of str to {what}")
    for name, item in value.items():
        if not isinstance(item, types):
            raise TypeError(f"{argument}[{name!r}] must be {what}, got {type_name(item)}")


def check_positive_or_none(value, argument):
    """Checks `value` is a positive integer or None.

    Raises:
      ValueError: naming `argument` and the value given.
    """
    if value is not None and (not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0):
        raise ValueError(f"{argument} must be a positive integer or None, got {value!r}")
