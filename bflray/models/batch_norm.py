"""A received head's BatchNorm statistics, re-estimated on a hospital's own features.

A PoR hospital with its own encoder (``mae.mode = "per_hospital"``) sees the global head through
features no other hospital produces. The global head's running statistics are the weighted mean
of every hospital's, each measured under a different encoder, so they fit none of them: on the
offline digits the global head scored 12–25 % per hospital with the averaged statistics and
61–68 % with each hospital's own (``benchmarks/por_accuracy.py``). Re-estimating them is one
forward pass over the hospital's training features, needs no label and changes no weight.
"""

from __future__ import annotations

import numpy as np
import torch

from bflray.models.por_stacked import PoRHeadStacked


def reestimate_batch_norm(model: PoRHeadStacked, state: np.ndarray, kappa: torch.Tensor) -> np.ndarray:
    """``state`` (one head, length ``model.size``) with every BatchNorm layer's running mean and
    variance replaced by those of its inputs on ``kappa`` (``n × K × W``, n ≥ 2), as one full
    batch passes through the head in training mode with dropout off."""
    if kappa.dim() != 3 or kappa.shape[0] < 2:
        raise ValueError(f"re-estimating BatchNorm statistics needs n ≥ 2 encoded datapoints (n × K × W), got {tuple(kappa.shape)}")
    head = model.load(np.asarray(state, dtype=np.float32)).eval()
    for module in head.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # a cumulative average: exactly the batch's statistics after one pass
            module.train()
    with torch.no_grad():
        head(kappa.float())
    return model.flatten(head.eval())
