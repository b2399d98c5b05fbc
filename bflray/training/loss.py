"""Masked cross-entropy over stacked batches."""

from __future__ import annotations

import torch


def masked_losses(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each hospital's mean cross-entropy over its real samples, and their counts (both length H).

    ``logits``: H × B × C, ``labels``: H × B, ``mask``: H × B bool (False marks padding).
    A hospital without real samples gets loss 0 (and so no gradient).
    """
    per_sample = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="none"
    ).reshape(mask.shape)
    counts = mask.sum(dim=1).to(logits.dtype)
    return (per_sample * mask).sum(dim=1) / counts.clamp(min=1), counts
