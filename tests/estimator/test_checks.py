"""Tests for the argument checks every module of the Estimator machinery shares."""
import math

import numpy as np
import pytest

from kmeans_estimator.estimator import checks


@pytest.mark.parametrize("check, value, expected", [
    (checks.check_int, -3, -3),
    (checks.check_int, np.int64(4), 4),
    (checks.check_optional_int, None, None),
    (checks.check_positive_int, 1, 1),
    (checks.check_optional_positive_int, None, None),
    (checks.check_optional_non_negative_int, 0, 0),
])
def test_integer_checks_return_the_value_as_an_int(check, value, expected):
    result = check("count", value)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize("check, value, message", [
    (checks.check_int, 1.0, "count must be an integer, got 1.0"),
    (checks.check_optional_int, True, "count must be an integer or None, got True"),
    (checks.check_positive_int, 0, "count must be a positive integer, got 0"),
    (checks.check_optional_positive_int, "2", "count must be a positive integer or None, got '2'"),
    (checks.check_optional_non_negative_int, -1, "count must be a non-negative integer or None, got -1"),
    (checks.check_positive_number, 0, "count must be a positive number, got 0"),
    (checks.check_non_negative_number, math.nan, "count must be a non-negative number, got nan"),
    (checks.check_optional_non_negative_number, False, "count must be a non-negative number or None, got False"),
])
def test_checks_name_the_argument_the_expectation_and_the_value(check, value, message):
    with pytest.raises(ValueError) as raised:
        check("count", value)
    assert str(raised.value) == message


def test_type_error_is_raised_for_a_non_integer_when_asked():
    with pytest.raises(TypeError, match="size must be a positive integer or None, got 2.0"):
        checks.check_optional_positive_int("size", 2.0, type_error=TypeError)
    with pytest.raises(ValueError, match="size must be a positive integer or None, got 0"):
        checks.check_optional_positive_int("size", 0, type_error=TypeError)


@pytest.mark.parametrize("check, value", [
    (checks.check_positive_number, 0.5),
    (checks.check_non_negative_number, 0),
    (checks.check_optional_non_negative_number, None),
])
def test_number_checks_return_the_value(check, value):
    assert check("delay", value) is value


def test_unit_is_named_in_the_message():
    with pytest.raises(ValueError, match="wait must be a non-negative number of seconds, got -1"):
        checks.check_non_negative_number("wait", -1, unit="seconds")


@pytest.mark.parametrize("value, integer, number", [
    (3, True, True), (np.int32(3), True, True), (2.5, False, True), (True, False, False), ("3", False, False),
])
def test_is_integer_and_is_number(value, integer, number):
    assert (checks.is_integer(value), checks.is_number(value)) == (integer, number)
