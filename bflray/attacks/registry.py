"""Attacks by name: what each is, where in the round it acts, and a user's own.

``attack.kind`` names one attack or several joined by ``+`` (``"backdoor+model_replacement"``:
train on triggered data, then boost the update). Each attack has

- a **category**, the threat taxonomy the reports group by: ``data`` (poisoned training data),
  ``model`` (poisoned updates), ``participation`` (free riding, lazy training, Sybil
  identities), ``chain`` (dishonest voting, colluding validators), ``por`` (Proof of
  Reasoning's transactions and claims);
- a **site**, where the pipeline applies it: ``data`` attacks rewrite a malicious hospital's
  training samples once, when its block loads them (call shape :class:`DataAttack`);
  ``update`` attacks replace its trained update in the attack stage (call shape
  :class:`~bflray.attacks.base.ModelAttack`); ``pipeline`` attacks are behaviours a stage
  carries out by name (lazy training, Sybil copies, inflated counts, dishonest votes, forged
  transactions).

A user adds an attack with :func:`register_attack` in their own module and names it
``"package.module:function"`` in ``attack.kind`` (the module is imported then); a function
without the decorator is taken as an ``update`` attack of the model call shape.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar, get_args

import numpy as np

Category = Literal["data", "model", "participation", "chain", "por"]
Site = Literal["data", "update", "pipeline"]
F = TypeVar("F", bound=Callable[..., Any])

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class AttackError(ValueError):
    """An attack name that is not registered, or attacks that cannot be combined."""


class DataAttack(Protocol):
    """``attack(features, labels, *, rng, settings, num_classes, image_shape) -> (features, labels)``.

    ``features`` (n × D float, in [0, 1]) and ``labels`` (n ints, or n × K 0/1 for a
    multi-label task) are one malicious hospital's training samples; ``settings`` is the
    config's ``attack`` section; ``image_shape`` is (channels, side, side), or ``None`` when
    the features are not images. Returns the samples it trains on instead (same shapes).
    """

    def __call__(
        self, features: np.ndarray, labels: np.ndarray, *, rng: np.random.Generator, settings: Any, num_classes: int,
        image_shape: tuple[int, int, int] | None,
    ) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class AttackInfo:
    """One registered attack."""

    name: str
    category: Category
    site: Site
    function: Callable[..., Any] | None
    summary: str


_REGISTRY: dict[str, AttackInfo] = {}


def register_attack(name: str, *, category: Category, site: Site = "update", summary: str = "") -> Callable[[F], F]:
    """Decorator: register ``function`` as the attack ``name``."""

    def wrap(function: F) -> F:
        info = _info(name, category, site, function, summary or _first_line(function))
        _REGISTRY[name] = info
        function.attack_info = info  # type: ignore[attr-defined]  # found again via "module:function"
        return function

    return wrap


def declare_attack(name: str, *, category: Category, summary: str) -> None:
    """Register a ``pipeline`` attack: a behaviour a stage carries out when ``name`` is in ``attack.kind``."""
    _REGISTRY[name] = _info(name, category, "pipeline", None, summary)


def attack_names() -> list[str]:
    return sorted(_REGISTRY)


def attack_info(name: str) -> AttackInfo:
    """The attack registered as ``name``, or the function at ``"package.module:function"``."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" not in name:
        raise AttackError(f"unknown attack {name!r}; registered: {', '.join(attack_names())}, or 'module:function'")
    module_name, _, attribute = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AttackError(f"attack {name!r}: cannot import {module_name!r}: {exc}") from exc
    function = getattr(module, attribute, None)
    if not callable(function):
        raise AttackError(f"attack {name!r}: {module_name!r} has no function {attribute!r}")
    info = getattr(function, "attack_info", None)
    if isinstance(info, AttackInfo):
        return info
    return AttackInfo(name, "model", "update", function, _first_line(function))


def parse_kind(kind: str) -> tuple[AttackInfo, ...]:
    """The attacks of ``attack.kind`` (``+``-joined): at most one ``data`` and one ``update``
    attack, none twice."""
    names = [part.strip() for part in kind.split("+")]
    if any(not n for n in names):
        raise AttackError(f"{kind!r}: an empty name between '+'")
    if len(set(names)) != len(names):
        raise AttackError(f"{kind!r} names an attack twice")
    infos = tuple(attack_info(n) for n in names)
    for site in ("data", "update"):
        same = [i.name for i in infos if i.site == site]
        if len(same) > 1:
            raise AttackError(
                f"{kind!r} combines {' and '.join(same)}, which both replace the hospital's "
                f"{'training data' if site == 'data' else 'update'}; keep one"
            )
    return infos


def _info(name: str, category: Category, site: Site, function: Callable[..., Any] | None, summary: str) -> AttackInfo:
    if not _NAME.match(name):
        raise AttackError(f"attack name {name!r}: use lower-case letters, digits and _")
    if category not in get_args(Category):
        raise AttackError(f"attack {name!r}: category {category!r} is not one of {get_args(Category)}")
    if site not in get_args(Site):
        raise AttackError(f"attack {name!r}: site {site!r} is not one of {get_args(Site)}")
    return AttackInfo(name, category, site, function, summary)


def _first_line(function: Callable[..., Any]) -> str:
    return (function.__doc__ or "").strip().splitlines()[0] if function.__doc__ else ""
