"""Robustness metrics: how far an attack succeeds, how well a defence spots attackers, who is left behind.

A poisoning experiment is judged on more than clean accuracy. This module holds the small measures
the robustness literature reports next to it, each defined once so that every run and every figure
means the same thing by it:

- :func:`attack_success_rate`: the share of the samples an attack aims at that the model classifies
  as the attacker's target class;
- :func:`detection_rates`: how many malicious hospitals a defence flags, and how many honest ones it
  flags by mistake;
- :func:`worst_decile`: the mean of the lowest tenth of per-hospital values (say, accuracies), the
  fairness view that an average hides;
- :func:`robustness_degradation`: ``D_r = A_clean - A_attacked``, the accuracy an attack costs.

Every rate is NaN, not an error, when nothing qualifies for its denominator: an evaluation set
without a source-class sample, a round without malicious hospitals, both happen in a sweep.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["attack_success_rate", "detection_rates", "robustness_degradation", "worst_decile"]


def attack_success_rate(predictions: ArrayLike, labels: ArrayLike, *, target: int, source: int | None = None) -> float:
    """Share of the attacked samples predicted as ``target``; NaN when no sample is attacked.

    ``predictions`` and ``labels`` are the predicted and the true class ids of the same N samples.

    - ``source`` is None (backdoor: the inputs already carry the trigger): the samples attacked are
      those whose true label is not ``target``, since a sample of the target class proves nothing;
    - ``source`` given (targeted label flip, ``source`` → ``target``): the samples attacked are those
      whose true label is ``source``.
    """
    predicted = _class_ids("predictions", predictions)
    truth = _class_ids("labels", labels)
    if predicted.shape != truth.shape:
        raise ValueError(f"predictions and labels must have the same shape, got {predicted.shape} and {truth.shape}")
    target = _class_id("target", target)
    if source is None:
        attacked = truth != target
    else:
        source = _class_id("source", source)
        if source == target:
            raise ValueError(f"source={source} must differ from target={target}")
        attacked = truth == source
    return _share(predicted[attacked] == target)


def detection_rates(flagged: ArrayLike, malicious: ArrayLike) -> tuple[float, float]:
    """``(detection rate, false-alarm rate)`` of a defence over the same hospitals.

    The detection rate is the share of malicious hospitals that are flagged (the true-positive
    rate); the false-alarm rate is the share of honest hospitals that are flagged (the false-positive
    rate). Each is NaN when its group is empty.
    """
    flags = _bools("flagged", flagged)
    bad = _bools("malicious", malicious)
    if flags.shape != bad.shape:
        raise ValueError(f"flagged and malicious must have the same shape, got {flags.shape} and {bad.shape}")
    return _share(flags[bad]), _share(flags[~bad])


def worst_decile(values: ArrayLike) -> float:
    """Mean of the lowest ⌈10%⌉ of the finite ``values`` (at least one of them); NaN when none is finite.

    NaN and infinite values (a hospital without a test set, say) are left out before counting.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {array.shape}")
    finite = np.sort(array[np.isfinite(array)])
    if finite.size == 0:
        return float("nan")
    count = -(-finite.size // 10)  # ⌈n / 10⌉ in integers: 0.1 * 30 is 3.0000000000000004 in floats
    return float(np.mean(finite[:count]))


def robustness_degradation(clean_accuracy: float, attacked_accuracy: float) -> float:
    """``D_r = A_clean - A_attacked``: the accuracy an attack costs (negative if the attack helped).

    Both accuracies are fractions in [0, 1]; NaN propagates, so a missing accuracy gives NaN.
    """
    return _accuracy("clean_accuracy", clean_accuracy) - _accuracy("attacked_accuracy", attacked_accuracy)


def _share(hits: NDArray[np.bool_]) -> float:
    return float(np.mean(hits)) if hits.size else float("nan")


def _class_ids(name: str, values: ArrayLike) -> NDArray[np.int64]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D class ids, got shape {array.shape}")
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold integer class ids, got dtype {array.dtype}")
    bad = np.unique(array[(array < 0) | (np.mod(array, 1) != 0)])
    if bad.size:
        raise ValueError(f"{name} must hold non-negative integer class ids, got {bad[:5].tolist()}")
    return array.astype(np.int64)


def _class_id(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name}={value!r} must be a non-negative integer class id")
    return int(value)


def _bools(name: str, values: ArrayLike) -> NDArray[np.bool_]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, one entry per hospital, got shape {array.shape}")
    if array.dtype.kind == "b":
        return array
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold booleans (or 0/1), got dtype {array.dtype}")
    bad = np.unique(array[(array != 0) & (array != 1)])
    if bad.size:
        raise ValueError(f"{name} must hold booleans (or 0/1), got {bad[:5].tolist()}")
    return array.astype(np.bool_)


def _accuracy(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}={value!r} must be a number")  # noqa: TRY004 - every bad argument is a ValueError here
    number = float(value)
    if not math.isnan(number) and not 0.0 <= number <= 1.0:
        raise ValueError(f"{name}={value!r} must lie in [0, 1] (a fraction, not a percentage)")
    return number
