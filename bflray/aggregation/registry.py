"""Aggregation rules by name, with what each needs to run under secure aggregation.

Every rule has the call shape ``rule(updates, weights, **keyword_only_params) -> aggregate``.
:func:`get_rule` finds a rule by its registered name or imports one given as
``"package.module:function"``; :func:`register_rule` adds a user's rule under a short name;
:func:`rule_info` says how a rule can be combined with secret-shared updates:

- ``"weighted_sum"``: the aggregate is Σ c_i x_i with public coefficients, so it can be
  computed on additive shares and only the aggregate is revealed (fedavg, reputation, stake);
- ``"distance_selection"``: a selection on the N × N pairwise distance or cosine matrix, which
  can be computed on shares and revealed, followed by a weighted sum (krum, multi_krum,
  cosine_filter);
- ``"plaintext_only"``: coordinate-wise or iterative maths that needs the updates in the clear.

``needs`` names the per-round keyword inputs the caller must supply besides the
hyperparameters (e.g. ``("reputation",)``), ``per_hospital`` those of them that hold one value
per hospital. Built-in rules are imported only when asked for.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, TypeVar, get_args, overload

from bflray.aggregation.errors import AggregationError

SecureCompatibility: TypeAlias = Literal["weighted_sum", "distance_selection", "plaintext_only"]
AggregationRule: TypeAlias = Callable[..., Any]
RuleT = TypeVar("RuleT", bound=Callable[..., Any])

_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class RuleInfo:
    """What a rule needs.

    Attributes
    ----------
    name:
        The rule's registered name, or its ``"module:function"`` path.
    secure_compatible:
        ``"weighted_sum"``, ``"distance_selection"`` or ``"plaintext_only"`` (see the module doc).
    needs:
        Per-round keyword inputs the caller must pass, e.g. ``("reputation",)`` or ``("center",)``.
    per_hospital:
        Those of ``needs`` that hold one value per hospital, shape (N,): whoever drops or
        reorders updates must drop or reorder these with them.
    """

    name: str
    secure_compatible: SecureCompatibility
    needs: tuple[str, ...] = ()
    per_hospital: tuple[str, ...] = ()


_BUILTIN: dict[str, tuple[str, RuleInfo]] = {
    "fedavg": ("fedavg:fedavg", RuleInfo("fedavg", "weighted_sum")),
    "reputation": (
        "reputation:reputation_weighted",
        RuleInfo("reputation", "weighted_sum", needs=("reputation",), per_hospital=("reputation",)),
    ),
    "stake": ("stake:stake_weighted", RuleInfo("stake", "weighted_sum", needs=("stake",), per_hospital=("stake",))),
    "krum": ("krum:krum", RuleInfo("krum", "distance_selection")),
    "multi_krum": ("multi_krum:multi_krum", RuleInfo("multi_krum", "distance_selection")),
    "cosine_filter": ("cosine_filter:cosine_filter", RuleInfo("cosine_filter", "distance_selection")),
    "median": ("median:median", RuleInfo("median", "plaintext_only")),
    "trimmed_mean": ("trimmed_mean:trimmed_mean", RuleInfo("trimmed_mean", "plaintext_only")),
    "bulyan": ("bulyan:bulyan", RuleInfo("bulyan", "plaintext_only")),
    "geometric_median": ("geometric_median:geometric_median", RuleInfo("geometric_median", "plaintext_only")),
    "centered_clipping": (
        "centered_clipping:centered_clipping",
        RuleInfo("centered_clipping", "plaintext_only", needs=("center",)),
    ),
    "norm_bounding": ("norm_bounding:norm_bounding", RuleInfo("norm_bounding", "plaintext_only")),
    "filtered_trimmed_mean": (
        "filtered_trimmed_mean:filtered_trimmed_mean",
        RuleInfo("filtered_trimmed_mean", "plaintext_only", needs=("reputation",), per_hospital=("reputation",)),
    ),
}
"""Built-in rules: their path under ``bflray.aggregation`` and their info."""

_registered: dict[str, tuple[AggregationRule, RuleInfo]] = {}


@overload
def register_rule(
    name: str,
    rule: None = None,
    *,
    secure_compatible: SecureCompatibility = ...,
    needs: tuple[str, ...] = ...,
    per_hospital: tuple[str, ...] = ...,
) -> Callable[[RuleT], RuleT]: ...


@overload
def register_rule(
    name: str,
    rule: RuleT,
    *,
    secure_compatible: SecureCompatibility = ...,
    needs: tuple[str, ...] = ...,
    per_hospital: tuple[str, ...] = ...,
) -> RuleT: ...


@overload
def register_rule(
    name: str,
    rule: str,
    *,
    secure_compatible: SecureCompatibility = ...,
    needs: tuple[str, ...] = ...,
    per_hospital: tuple[str, ...] = ...,
) -> AggregationRule: ...


def register_rule(
    name: str,
    rule: AggregationRule | str | None = None,
    *,
    secure_compatible: SecureCompatibility = "plaintext_only",
    needs: tuple[str, ...] = (),
    per_hospital: tuple[str, ...] = (),
) -> Any:
    """Register ``rule`` under ``name``; without ``rule``, a decorator that does.

    ``rule`` may be a callable or a ``"module:function"`` path, imported now. ``name`` must be
    lower-case letters, digits and underscores, and not yet taken. A user's rule is treated as
    ``"plaintext_only"`` unless stated otherwise.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise AggregationError(f"rule name {name!r} must be lower-case letters, digits and underscores")
    if name in _BUILTIN or name in _registered:
        raise AggregationError(f"aggregation rule {name!r} is already registered")
    if secure_compatible not in get_args(SecureCompatibility):
        raise AggregationError(
            f"secure_compatible={secure_compatible!r} must be one of {', '.join(get_args(SecureCompatibility))}"
        )
    if not all(isinstance(need, str) and need.isidentifier() for need in needs):
        raise AggregationError(f"needs={needs!r} must be keyword names")
    if not set(per_hospital) <= set(needs):
        raise AggregationError(f"per_hospital={per_hospital!r} must be among needs={needs!r}")
    info = RuleInfo(name, secure_compatible, tuple(needs), tuple(per_hospital))

    def add(function: RuleT) -> RuleT:
        if not callable(function):
            raise AggregationError(f"aggregation rule {name!r} must be callable, got {function!r}")
        _registered[name] = (function, info)
        return function

    if rule is None:
        return add
    return add(_load(rule) if isinstance(rule, str) else rule)


def get_rule(name: str) -> AggregationRule:
    """The rule registered as ``name``, or the function at ``"module:function"``."""
    if ":" in name:
        return _load(name)
    if name in _registered:
        return _registered[name][0]
    if name in _BUILTIN:
        return _load(f"bflray.aggregation.{_BUILTIN[name][0]}")
    raise _unknown(name)


def rule_info(name: str) -> RuleInfo:
    """What rule ``name`` needs; a ``"module:function"`` rule is assumed ``"plaintext_only"``."""
    if ":" in name:
        _load(name)
        return RuleInfo(name, "plaintext_only", ())
    if name in _registered:
        return _registered[name][1]
    if name in _BUILTIN:
        return _BUILTIN[name][1]
    raise _unknown(name)


def rule_names() -> tuple[str, ...]:
    """Every registered name, built-in and user's, sorted."""
    return tuple(sorted([*_BUILTIN, *_registered]))


def _unknown(name: str) -> AggregationError:
    return AggregationError(
        f"unknown aggregation rule {name!r}; known rules are {', '.join(rule_names())}, "
        "or give one as 'package.module:function'"
    )


def _load(path: str) -> AggregationRule:
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise AggregationError(f"aggregation rule path {path!r} must look like 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AggregationError(f"aggregation rule {path!r}: cannot import {module_name!r}: {exc}") from exc
    try:
        function: object = getattr(module, attribute)
    except AttributeError as exc:
        raise AggregationError(f"aggregation rule {path!r}: module {module_name!r} has no {attribute!r}") from exc
    if not callable(function):
        raise AggregationError(f"aggregation rule {path!r} is not callable")
    return function
