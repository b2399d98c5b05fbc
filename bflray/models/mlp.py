"""A small multilayer perceptron held as flat parameter vectors, stacked over hospitals.

The parameters of H hospitals are one ``H × D`` tensor; :meth:`MLPSpec.forward` evaluates all
H models at once with batched matrix products, which is what lets one shard train thousands
of hospitals together. It has no buffers and no dropout.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod, sqrt

import numpy as np
import torch


@dataclass(frozen=True)
class MLPSpec:
    """Shape of ``features → hidden (ReLU) → classes``."""

    num_features: int
    hidden: int
    num_classes: int

    @property
    def shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        f, h, c = self.num_features, self.hidden, self.num_classes
        return [("w1", (f, h)), ("b1", (h,)), ("w2", (h, c)), ("b2", (c,))]

    @property
    def num_params(self) -> int:
        """Number of parameters, D."""
        return sum(prod(shape) for _, shape in self.shapes)

    @property
    def size(self) -> int:
        return self.num_params

    @property
    def num_buffers(self) -> int:
        return 0

    @property
    def dropout_width(self) -> int:
        return 0

    def init(self, rng: np.random.Generator) -> np.ndarray:
        """Glorot-uniform weights and zero biases, as one float32 vector of length D."""
        parts = []
        for name, shape in self.shapes:
            if name.startswith("w"):
                bound = sqrt(6.0 / (shape[0] + shape[1]))
                parts.append(rng.uniform(-bound, bound, size=shape).ravel())
            else:
                parts.append(np.zeros(shape).ravel())
        return np.concatenate(parts).astype(np.float32)

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of an ``H × D`` tensor as named ``H × shape`` tensors."""
        out: dict[str, torch.Tensor] = {}
        start = 0
        for name, shape in self.shapes:
            n = prod(shape)
            out[name] = flat[:, start : start + n].reshape(flat.shape[0], *shape)
            start += n
        return out

    def forward(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Logits ``H × B × C`` of H models (``flat``: H × D) on their batches ``x``: H × B × F."""
        return self._forward(self.unflatten(flat), x)

    def _forward(self, p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(torch.bmm(x, p["w1"]) + p["b1"].unsqueeze(1))
        return torch.bmm(hidden, p["w2"]) + p["b2"].unsqueeze(1)

    def forward_train(
        self, p: dict[str, torch.Tensor], buffers: torch.Tensor, x: torch.Tensor, mask: torch.Tensor,
        keep: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self._forward(p, x), buffers

    def forward_eval(self, p: dict[str, torch.Tensor], buffers: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self._forward(p, x)
