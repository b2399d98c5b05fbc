"""Local SGD for a block of hospitals at once.

Each hospital starts from the global parameters and runs ``epochs`` passes of mini-batch SGD
over its own samples, in its own seeded order. All hospitals of a block step together:
their parameters are one stacked tensor, their batches one padded tensor, and a mask drops
the padding, so a hospital with fewer samples simply takes no step once it runs out. The
result equals training each hospital alone (up to float rounding).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bflray.models.mlp import MLPSpec


def train_block_sgd(
    spec: MLPSpec,
    global_params: np.ndarray,
    features: np.ndarray,
    labels: np.ndarray,
    hospital_samples: Sequence[np.ndarray],
    rngs: Sequence[np.random.Generator],
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    chunk_size: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """Train every hospital of a block from ``global_params``.

    Parameters
    ----------
    features, labels:
        The block's samples (M × F float32, M int64); ``hospital_samples[h]`` indexes them.
    rngs:
        One generator per hospital, used only to order its samples each epoch.
    chunk_size:
        Hospitals trained together at most; bounds memory, does not change results.

    Returns
    -------
    params, losses:
        ``H × D`` float32 trained parameters and each hospital's mean training loss.
    """
    if len(hospital_samples) != len(rngs):
        raise ValueError(f"got {len(hospital_samples)} sample sets but {len(rngs)} generators")
    orders = [_epoch_orders(idx, rng, epochs) for idx, rng in zip(hospital_samples, rngs, strict=True)]
    x_all = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    y_all = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))
    out_params = np.empty((len(orders), spec.size), dtype=np.float32)
    out_losses = np.empty(len(orders), dtype=np.float64)
    for start in range(0, len(orders), chunk_size):
        stop = min(start + chunk_size, len(orders))
        params, losses = _train_chunk(
            spec, global_params, x_all, y_all, orders[start:stop],
            batch_size=batch_size, learning_rate=learning_rate,
        )
        out_params[start:stop] = params
        out_losses[start:stop] = losses
    return out_params, out_losses


def _epoch_orders(samples: np.ndarray, rng: np.random.Generator, epochs: int) -> np.ndarray:
    """The hospital's sample order for every epoch, concatenated per epoch: E × n."""
    return np.stack([rng.permutation(samples) for _ in range(epochs)]) if len(samples) else np.empty((epochs, 0), np.int64)


def _train_chunk(
    spec: MLPSpec,
    global_params: np.ndarray,
    x_all: torch.Tensor,
    y_all: torch.Tensor,
    orders: Sequence[np.ndarray],
    *,
    batch_size: int,
    learning_rate: float,
) -> tuple[np.ndarray, np.ndarray]:
    h = len(orders)
    epochs = orders[0].shape[0]
    longest = max(o.shape[1] for o in orders)
    n_batches = -(-longest // batch_size)
    width = n_batches * batch_size
    # Padded index tensor H × E × width; -1 marks padding.
    index = np.full((h, epochs, width), -1, dtype=np.int64)
    for i, o in enumerate(orders):
        index[i, :, : o.shape[1]] = o
    index_t = torch.from_numpy(index)
    params = torch.from_numpy(np.tile(global_params.astype(np.float32), (h, 1))).requires_grad_(True)
    loss_sum = torch.zeros(h, dtype=torch.float64)
    batch_count = torch.zeros(h, dtype=torch.float64)
    for epoch in range(epochs):
        for b in range(n_batches):
            idx = index_t[:, epoch, b * batch_size : (b + 1) * batch_size]
            mask = idx >= 0
            counts = mask.sum(dim=1)
            if not bool(counts.any()):
                continue
            safe = idx.clamp(min=0)
            x = x_all[safe]
            y = y_all[safe]
            logits = spec.forward(params, x)
            per_sample = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none"
            ).reshape(h, -1)
            per_hospital = (per_sample * mask).sum(dim=1) / counts.clamp(min=1)
            (grad,) = torch.autograd.grad(per_hospital.sum(), params)
            with torch.no_grad():
                params -= learning_rate * grad
            active = counts > 0
            loss_sum += torch.where(active, per_hospital.detach().double(), 0.0)
            batch_count += active.double()
    losses = (loss_sum / batch_count.clamp(min=1)).numpy()
    return params.detach().numpy().copy(), losses
