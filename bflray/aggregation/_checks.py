"""Hyperparameter checks with messages that name the field and the offending value."""

from __future__ import annotations

import math
import numbers

from bflray.aggregation.errors import AggregationError


def check_int(name: str, value: object, *, minimum: int) -> int:
    """``value`` as an int ≥ ``minimum`` (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise AggregationError(f"{name}={value!r} must be an integer")
    if value < minimum:
        raise AggregationError(f"{name}={value} must be at least {minimum}")
    return int(value)


def check_real(name: str, value: object, *, low: float, high: float, open_low: bool = False, open_high: bool = False) -> float:
    """``value`` as a finite float in the interval from ``low`` to ``high`` (each end closed unless open)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise AggregationError(f"{name}={value!r} must be a finite number")
    number = float(value)
    too_low = number <= low if open_low else number < low
    too_high = number >= high if open_high else number > high
    if too_low or too_high:
        interval = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
        raise AggregationError(f"{name}={value} must lie in {interval}")
    return number


def check_positive(name: str, value: object) -> float:
    """``value`` as a finite float > 0."""
    return check_real(name, value, low=0.0, high=math.inf, open_low=True, open_high=True)
