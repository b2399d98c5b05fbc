"""A small multilayer perceptron held as flat parameter vectors, stacked over hospitals.

The parameters of H hospitals are one ``H × D`` tensor; :meth:`MLPSpec.forward` evaluates all
H models at once with batched matrix products, which is what lets one shard train thousands
of hospitals together.
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
    def size(self) -> int:
        """Number of parameters, D."""
        return sum(prod(shape) for _, shape in self.shapes)

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
        p = self.unflatten(flat)
        hidden = torch.relu(torch.bmm(x, p["w1"]) + p["b1"].unsqueeze(1))
        return torch.bmm(hidden, p["w2"]) + p["b2"].unsqueeze(1)


def evaluate(spec: MLPSpec, params: np.ndarray, features: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of one model (``params``: D) on a labelled set."""
    with torch.no_grad():
        flat = torch.from_numpy(np.ascontiguousarray(params, dtype=np.float32)).unsqueeze(0)
        x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)).unsqueeze(0)
        y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        logits = spec.forward(flat, x)[0]
        loss = torch.nn.functional.cross_entropy(logits, y).item()
        accuracy = (logits.argmax(dim=1) == y).double().mean().item()
    return float(accuracy), float(loss)
