"""Lazy training, a participation attack: a malicious hospital saves compute by training
``attack.lazy_epochs`` local epochs instead of the round's ``training.local_epochs`` (warm-up
included), yet reports its update and full sample count like everyone else (the lazy
clients of Lyu et al., 2020, "Towards Fair and Privacy-Preserving Federated Deep Models").
Its block trains it with fewer epochs (at least one: ``free_riding`` is the hospital that
trains none)."""

from __future__ import annotations

from bflray.attacks.registry import declare_attack

declare_attack("lazy", category="participation", summary="train attack.lazy_epochs local epochs, report as if full")


def lazy_epochs(honest_epochs: int, lazy: int) -> int:
    """Epochs a lazy hospital trains in a round whose honest hospitals train ``honest_epochs``."""
    return min(honest_epochs, lazy)
