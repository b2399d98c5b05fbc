"""A module's state as one flat float32 vector, and many such vectors evaluated at once.

The state is every floating parameter and floating buffer (BatchNorm running statistics
included), in ``state_dict`` order: what a hospital publishes as its classifier ω, what is
hashed and committed, and what aggregation averages. ``N × D`` stacks of such vectors are
evaluated together with ``torch.func.functional_call`` under ``vmap``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap


@dataclass(frozen=True)
class FlatLayout:
    """Names and shapes of a module's floating state, in order."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, module: nn.Module) -> FlatLayout:
        items = [(k, tuple(v.shape)) for k, v in module.state_dict().items() if v.is_floating_point()]
        return cls(tuple(k for k, _ in items), tuple(s for _, s in items))

    @property
    def size(self) -> int:
        return sum(prod(s) for s in self.shapes)

    def flatten(self, module: nn.Module) -> np.ndarray:
        """The module's state as a float32 vector of length D."""
        state = module.state_dict()
        return torch.cat([state[k].detach().reshape(-1).float() for k in self.names]).numpy().astype(np.float32)

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(N ×) D`` → named tensors of shape ``(N ×) shape`` (views, no copies)."""
        lead = flat.shape[:-1]
        out: dict[str, torch.Tensor] = {}
        start = 0
        for name, shape in zip(self.names, self.shapes, strict=True):
            n = prod(shape)
            out[name] = flat[..., start : start + n].reshape(*lead, *shape)
            start += n
        return out

    def load(self, module: nn.Module, flat: np.ndarray) -> nn.Module:
        """Copy a D-vector into ``module`` in place and return it."""
        tensors = self.unflatten(torch.from_numpy(np.ascontiguousarray(flat, dtype=np.float32)))
        module.load_state_dict(tensors, strict=False)
        return module


StackedForward = Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]


def evaluate_stacked(
    module: nn.Module,
    layout: FlatLayout,
    flat: torch.Tensor,
    inputs: torch.Tensor,
    *,
    shared_inputs: bool,
    max_elements: int = 1 << 23,
    forward: StackedForward | None = None,
) -> torch.Tensor:
    """Outputs of N models in eval mode.

    Parameters
    ----------
    flat:
        ``N × D`` stacked states.
    inputs:
        ``M × …`` inputs given to every model (``shared_inputs=True``) or ``N × M × …``, one
        batch per model.

    forward:
        A hand-batched ``forward(state, inputs)`` for this module (named ``N × …`` state,
        inputs ``M × …`` or ``N × M × …``); without it, ``vmap`` over ``functional_call``.
    max_elements:
        Input elements evaluated at once (models × inputs × input size); bounds memory,
        does not change results.

    Returns
    -------
    ``N × M × outputs``.
    """
    module.eval()

    def one(state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return functional_call(module, layout.unflatten(state), (x,))

    def batched(states: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if forward is not None:
            return forward(layout.unflatten(states), x)
        return vmap(one, in_dims=(0, None if shared_inputs else 0))(states, x)

    n = flat.shape[0]
    m = inputs.shape[0] if shared_inputs else inputs.shape[1]
    point = prod(inputs.shape[1:] if shared_inputs else inputs.shape[2:])
    m_chunk = max(1, min(m, max_elements // max(1, point)))
    n_chunk = max(1, max_elements // max(1, m_chunk * point))
    rows = []
    with torch.no_grad():
        for i in range(0, n, n_chunk):
            cols = []
            for j in range(0, m, m_chunk):
                x = inputs[j : j + m_chunk] if shared_inputs else inputs[i : i + n_chunk, j : j + m_chunk]
                cols.append(batched(flat[i : i + n_chunk], x))
            rows.append(torch.cat(cols, dim=1))
    return torch.cat(rows, dim=0)
