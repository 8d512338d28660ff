"""Argument checks of the Estimator machinery, in one place so that every argument is judged
and reported the same way.

Each `check_*` function takes the argument's `name` (for the message) and the `value` given,
returns the value it accepted (integers as `int`) and raises ValueError with a message naming
the argument, what was expected and what was given: ``steps must be a positive integer or
None, got 0``. The integer checks take `type_error`, the exception for a value that is not an
integer at all (ValueError unless given); the number checks take `unit`, what the number
counts ("seconds"), named in the message.

Booleans are neither integers nor numbers here, although Python counts them as both: a
``True`` given for a count is a mistake, not a 1.
"""
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


def is_integer(value):
    """Whether `value` is an integer (a Python or numpy one), booleans excepted."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value):
    """Whether `value` is a real number (integer or float, Python or numpy), booleans excepted."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _fail(name, value, expected, optional, error=ValueError):
    suffix = " or None" if optional else ""
    raise error(f"{name} must be {expected}{suffix}, got {value!r}")


def _integer(name, value, minimum, expected, optional, type_error):
    """`value` as an int, after checking it is an integer of at least `minimum` (or None)."""
    if value is None and optional:
        return None
    if not is_integer(value):
        _fail(name, value, expected, optional, type_error)
    if minimum is not None and value < minimum:
        _fail(name, value, expected, optional)
    return int(value)


def check_int(name, value, *, type_error=ValueError):
    """Checks `value` is an integer."""
    return _integer(name, value, None, "an integer", False, type_error)


def check_optional_int(name, value, *, type_error=ValueError):
    """Checks `value` is an integer or None."""
    return _integer(name, value, None, "an integer", True, type_error)


def check_positive_int(name, value, *, type_error=ValueError):
    """Checks `value` is an integer >= 1."""
    return _integer(name, value, 1, "a positive integer", False, type_error)


def check_optional_positive_int(name, value, *, type_error=ValueError):
    """Checks `value` is an integer >= 1 or None."""
    return _integer(name, value, 1, "a positive integer", True, type_error)


def check_optional_non_negative_int(name, value, *, type_error=ValueError):
    """Checks `value` is an integer >= 0 or None."""
    return _integer(name, value, 0, "a non-negative integer", True, type_error)


def _number(name, value, positive, unit, optional):
    if value is None and optional:
        return None
    expected = "a positive number" if positive else "a non-negative number"
    if unit:
        expected += f" of {unit}"
    # Written so that NaN, for which every comparison is false, fails too.
    if not is_number(value) or not (value > 0 if positive else value >= 0):
        _fail(name, value, expected, optional)
    return value


def check_positive_number(name, value, unit=None):
    """Checks `value` is a number > 0 (NaN is not)."""
    return _number(name, value, True, unit, False)


def check_non_negative_number(name, value, unit=None):
    """Checks `value` is a number >= 0 (NaN is not)."""
    return _number(name, value, False, unit, False)


def check_optional_non_negative_number(name, value, unit=None):
    """Checks `value` is a number >= 0 or None."""
    return _number(name, value, False, unit, True)
