"""Federated SVRG, Algorithm 1 of Nagar, "Privacy-Preserving Blockchain Based Federated
Learning with Differential Data Sharing" (after Konečný et al., Federated Optimization).

How this module reads the algorithm, per round t with global point ω^t:

1. A first exchange computes the full gradient at the global point,
   ``∇f(ω^t) = (1/n) Σ_k n_k g_k`` with ``g_k = (1/n_k) Σ_{i∈P_k} ∇f_i(ω^t)``, the
   n_k-weighted mean of the hospitals' full local gradients (:func:`full_gradient_sum` gives
   each block's ``Σ_k n_k g_k``; the round adds the blocks' sums and divides by n).
2. Each hospital k starts from ω_k = ω^t with step size h_k = h / n_k (h is
   ``training.learning_rate``) and walks a random permutation of its samples, taking
   ``ω_k ← ω_k − h_k (S_k [∇f_i(ω_k) − ∇f_i(ω^t)] + ∇f(ω^t))``. With batch size B the
   sample gradient ∇f_i is the mean over a batch of B samples (B = 1 is the algorithm as
   printed); E local epochs repeat the pass with fresh permutations.
3. The aggregate is ``ω^{t+1} = ω^t + A Σ_k (n_k/n)(ω_k − ω^t)``.

S_k and A are diagonal per-coordinate scalings derived from feature sparsity (s_k^j = φ^j/φ_k^j,
a^j = K/ω^j: how often coordinate j is nonzero globally vs on node k, and on how many nodes).
For dense parameters every coordinate is nonzero everywhere, so φ^j = φ_k^j and ω^j = K:
**S_k = A = I**. The update is then as above without S_k, and step 3 is exactly FedAvg with
weights n_k, which is what the round applies.

Dropout, when the model has it, uses the same mask for both gradients of a step; BatchNorm
uses the batch's statistics for both, and only the hospital's own walk updates its running
statistics.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import torch

from bflray.models.stacked import EpochBatches, HandWrittenBackward, StackedModel
from bflray.training.batches import gather_epoch, padded_width, sequential_orders
from bflray.training.block import split_parts
from bflray.training.loss import masked_losses


def full_gradient_sum(
    model: StackedModel,
    global_state: np.ndarray,
    features: torch.Tensor,
    labels: torch.Tensor,
    *,
    starts: np.ndarray,
    sizes: np.ndarray,
    batch_size: int,
    chunk_size: int,
) -> np.ndarray:
    """``Σ_k n_k g_k`` over the given hospitals: the sum of every sample's loss gradient at the
    global point (float64, length ``num_params``). Samples are taken in batches of
    ``batch_size`` in storage order, without dropout; for models without batch statistics
    this is exactly the sum of per-sample gradients."""
    p = model.num_params
    start = torch.tensor(np.asarray(global_state), dtype=torch.float32, device=features.device)
    total = torch.zeros(p, dtype=torch.float64, device=features.device)
    width = padded_width(sizes, batch_size)
    manual = isinstance(model, HandWrittenBackward)
    for lo in range(0, len(sizes), chunk_size):
        hi = min(lo + chunk_size, len(sizes))
        order = sequential_orders(starts=starts[lo:hi], sizes=sizes[lo:hi], width=width)
        batches = gather_epoch(features, labels, order, batch_size, convert=not manual)
        parts = split_parts(model, start[:p], hi - lo)
        buffers = start[p:].expand(hi - lo, model.num_buffers).clone()
        if manual:
            sums = _manual_sums(cast(HandWrittenBackward, model), parts, buffers, batches)
        else:
            sums = _autograd_sums(model, parts, buffers, batches)
        total += torch.cat([g.reshape(-1) for g in sums])
    return total.cpu().numpy()


def _manual_sums(
    model: HandWrittenBackward, parts: dict[str, torch.Tensor], buffers: torch.Tensor, batches: EpochBatches
) -> list[torch.Tensor]:
    """Per-part gradient sums (float64) over the chunk's hospitals, hand-written backward."""
    prepared, _ = model.prepare_epoch(batches, buffers, reduction="sum")
    grads = {k: torch.empty_like(v) for k, v in parts.items()}
    sums = [torch.zeros(v.shape[1:], dtype=torch.float64, device=v.device) for v in parts.values()]
    for j in range(batches.num_batches):
        if not bool(batches.mask[j].any()):
            continue
        model.train_step(parts, prepared, j, grads=grads, shared=True)  # everyone at the global point
        for acc, g in zip(sums, grads.values(), strict=True):
            acc += g.sum(dim=0, dtype=torch.float64)
    return sums


def _autograd_sums(
    model: StackedModel, parts: dict[str, torch.Tensor], buffers: torch.Tensor, batches: EpochBatches
) -> list[torch.Tensor]:
    """Per-part gradient sums (float64) over the chunk's hospitals, through autograd."""
    leaves = {k: v.requires_grad_(True) for k, v in parts.items()}
    sums = [torch.zeros(v.shape[1:], dtype=torch.float64, device=v.device) for v in parts.values()]
    for j in range(batches.num_batches):
        mask = batches.mask[j]
        if not bool(mask.any()):
            continue
        logits, _ = model.forward_train(leaves, buffers, batches.x[j], mask, None)
        per_hospital, counts = masked_losses(logits, batches.labels[j], mask)
        grads = torch.autograd.grad((per_hospital * counts).sum(), list(leaves.values()))
        for acc, g in zip(sums, grads, strict=True):
            acc += g.sum(dim=0, dtype=torch.float64)
    return sums
