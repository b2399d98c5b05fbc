"""Local optimisers over stacked parameters: one row per hospital, each row its own optimiser.

* SGD: ``w ← w − η g``.
* Adam (Kingma & Ba, 2015), exactly as ``torch.optim.Adam`` without weight decay:
  ``m ← β₁m + (1−β₁)g``, ``v ← β₂v + (1−β₂)g²``, ``w ← w − (η / (1−β₁ᵗ)) m / (√v / √(1−β₂ᵗ) + ε)``,
  with a per-hospital step count t. Its state starts at zero every round (each round starts
  from the global model).
* Federated SVRG: see :mod:`bflray.training.svrg`.

A hospital whose batch holds no real sample (it ran out of data) takes no step and its
state does not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from bflray.errors import ConfigError

Optimizer = Literal["sgd", "adam", "svrg"]


@dataclass(frozen=True)
class LocalTraining:
    """How each hospital trains locally in a round."""

    optimizer: Optimizer
    epochs: int
    batch_size: int
    learning_rate: float
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    chunk_size: int = 32

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adam", "svrg"):
            raise ConfigError(f"training.optimizer={self.optimizer!r} is not one of sgd, adam, svrg")
        if self.epochs < 1 or self.batch_size < 1 or self.chunk_size < 1:
            raise ConfigError(
                f"epochs={self.epochs}, batch_size={self.batch_size}, chunk_size={self.chunk_size} must all be >= 1"
            )


class AdamState:
    """First and second moments and step counts of C hospitals."""

    def __init__(self, like: torch.Tensor) -> None:
        self.m = torch.zeros_like(like)
        self.v = torch.zeros_like(like)
        self.t = torch.zeros(like.shape[0], 1, dtype=like.dtype, device=like.device)


def sgd_step(params: torch.Tensor, grad: torch.Tensor, *, learning_rate: float) -> None:
    """In place; an inactive hospital's gradient is zero, so it does not move."""
    params.sub_(grad, alpha=learning_rate)


def adam_step(
    params: torch.Tensor, grad: torch.Tensor, state: AdamState, active: torch.Tensor, settings: LocalTraining
) -> None:
    """In place, for the rows where ``active`` (C × 1 bool) holds."""
    b1, b2 = settings.adam_beta1, settings.adam_beta2
    state.t += active.to(state.t.dtype)
    m = torch.where(active, b1 * state.m + (1 - b1) * grad, state.m)
    v = torch.where(active, b2 * state.v + (1 - b2) * grad * grad, state.v)
    state.m, state.v = m, v
    t = state.t.clamp(min=1)
    bias1 = 1 - b1**t
    bias2_sqrt = (1 - b2**t).sqrt()
    step = torch.where(active, m / (v.sqrt() / bias2_sqrt + settings.adam_eps), torch.zeros((), dtype=m.dtype, device=m.device))
    params.sub_(step * (settings.learning_rate / bias1))
