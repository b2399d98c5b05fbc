"""Masked per-hospital losses over stacked batches."""

from __future__ import annotations

import torch

from bflray.models.outputs import per_sample_loss


def masked_losses(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each hospital's mean loss over its real samples, and their counts (both length H).

    ``logits``: H × B × C; ``labels``: H × B class ids (cross-entropy), or H × B × C 0/1 targets
    of a multi-label task (binary cross-entropy averaged over the labels); ``mask``: H × B bool
    (False marks padding). A hospital without real samples gets loss 0 (and so no gradient).
    """
    per_sample = per_sample_loss(logits, labels)
    counts = mask.sum(dim=1).to(logits.dtype)
    return (per_sample * mask).sum(dim=1) / counts.clamp(min=1), counts
