"""Local training of a block of hospitals as one stacked computation.

Every hospital starts from the global state and runs ``epochs`` passes of mini-batch
training over its own samples, in its own seeded order (:mod:`bflray.training.batches`).
The hospitals of a chunk step together: their parameters are one ``C × P`` tensor, their
batches one padded ``C × B × F`` tensor evaluated with batched matrix products, and a mask
drops the padding, so a hospital with fewer samples takes no step once it runs out (and
its optimiser state and BatchNorm statistics stay as they are). The result equals training
each hospital alone, up to float rounding; chunks bound memory and do not change results.

Chunks of about 128 hospitals keep a chunk's weights in the CPU's cache across its batches,
which is what makes batched products of these small matrices run near the machine's peak.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from bflray.models.stacked import StackedModel
from bflray.training.batches import dropout_keep, epoch_orders, padded_width
from bflray.training.loss import masked_losses
from bflray.training.optimizers import AdamState, LocalTraining, adam_step, sgd_step


@dataclass(frozen=True)
class ChunkResult:
    """Hospitals ``lo … hi-1`` (positions in the block's request) after local training."""

    lo: int
    hi: int
    states: np.ndarray
    losses: np.ndarray


def iter_train_chunks(
    model: StackedModel,
    global_state: np.ndarray,
    features: torch.Tensor,
    labels: torch.Tensor,
    *,
    hospital_ids: np.ndarray,
    starts: np.ndarray,
    sizes: np.ndarray,
    settings: LocalTraining,
    seed: int,
    round_: int,
    dropout: float = 0.0,
    full_gradient: np.ndarray | None = None,
) -> Iterator[ChunkResult]:
    """Train the hospitals chunk by chunk, yielding each chunk's trained states.

    Parameters
    ----------
    features, labels:
        The block's samples (M × F, float32 or float16; M int64), shared, never copied whole.
    hospital_ids, starts, sizes:
        Hospital h owns rows ``starts[i] … starts[i] + sizes[i] - 1``; its id seeds its draws.
    full_gradient:
        ``∇f(ω^t)`` (length ``num_params``), required by the ``svrg`` optimiser.
    """
    if settings.optimizer == "svrg" and full_gradient is None:
        raise ValueError("optimizer 'svrg' needs the round's full gradient; got None")
    start = torch.from_numpy(np.array(global_state, dtype=np.float32))  # a copy: Ray hands arrays over read-only
    full = None if full_gradient is None else torch.from_numpy(np.array(full_gradient, dtype=np.float32))
    width = padded_width(sizes, settings.batch_size)
    for lo in range(0, len(hospital_ids), settings.chunk_size):
        hi = min(lo + settings.chunk_size, len(hospital_ids))
        ids = hospital_ids[lo:hi]
        index = epoch_orders(
            seed=seed, round_=round_, hospital_ids=ids, starts=starts[lo:hi], sizes=sizes[lo:hi],
            epochs=settings.epochs, width=width,
        )
        keep = None
        if dropout > 0 and model.dropout_width:
            keep = dropout_keep(
                seed=seed, round_=round_, hospital_ids=ids, epochs=settings.epochs, width=width,
                units=model.dropout_width, probability=dropout,
            )
        states, losses = _train_chunk(
            model, start, features, labels, torch.from_numpy(index), keep, settings, dropout, full,
            torch.from_numpy(sizes[lo:hi].astype(np.float32)),
        )
        yield ChunkResult(lo, hi, states, losses)


def train_block(
    model: StackedModel,
    global_state: np.ndarray,
    features: torch.Tensor,
    labels: torch.Tensor,
    **kwargs: object,
) -> tuple[np.ndarray, np.ndarray]:
    """All hospitals' trained states (H × size, float32) and mean training losses (H,);
    keyword arguments as :func:`iter_train_chunks`."""
    ids = np.asarray(kwargs["hospital_ids"])
    states = np.empty((len(ids), model.size), dtype=np.float32)
    losses = np.empty(len(ids), dtype=np.float64)
    for chunk in iter_train_chunks(model, global_state, features, labels, **kwargs):  # type: ignore[arg-type]
        states[chunk.lo : chunk.hi] = chunk.states
        losses[chunk.lo : chunk.hi] = chunk.losses
    return states, losses


def _train_chunk(
    model: StackedModel,
    start: torch.Tensor,
    features: torch.Tensor,
    labels: torch.Tensor,
    index: torch.Tensor,
    keep_all: np.ndarray | None,
    settings: LocalTraining,
    dropout: float,
    full: torch.Tensor | None,
    sizes: torch.Tensor,
) -> tuple[np.ndarray, np.ndarray]:
    c, epochs, width = index.shape
    p, batch = model.num_params, settings.batch_size
    params = start[:p].expand(c, p).clone()
    # Gradients are taken per named part (leaf views of ``params``): a gradient through
    # slices of one flat leaf would cost a zero-filled C × P tensor per part and step.
    parts = [v.requires_grad_(True) for v in model.unflatten(params).values()]
    buffers = start[p:].expand(c, model.num_buffers).clone()
    anchor = None
    if settings.optimizer == "svrg":
        anchor = [v.requires_grad_(True) for v in model.unflatten(start[:p].expand(c, p).clone()).values()]
    adam = AdamState(params) if settings.optimizer == "adam" else None
    svrg_step = (settings.learning_rate / sizes.clamp(min=1)).unsqueeze(1)
    loss_sum = torch.zeros(c, dtype=torch.float64)
    batches = torch.zeros(c, dtype=torch.float64)
    scale = 1.0 / (1.0 - dropout) if dropout > 0 else 1.0
    for epoch in range(epochs):
        for b in range(0, width, batch):
            idx = index[:, epoch, b : b + batch]
            mask = idx >= 0
            active = mask.any(dim=1)
            if not bool(active.any()):
                continue
            safe = idx.clamp(min=0)
            x, y = features[safe].float(), labels[safe]
            keep = None
            if keep_all is not None:
                keep = torch.from_numpy(keep_all[:, epoch, b : b + batch]).float().mul_(scale)
            logits, new_buffers = model.forward_train(_named(model, parts), buffers, x, mask, keep)
            per_hospital, _ = masked_losses(logits, y, mask)
            grads = torch.autograd.grad(per_hospital.sum(), parts)
            buffers = new_buffers
            with torch.no_grad():
                if adam is not None:
                    adam_step(params, _flat(grads), adam, active.unsqueeze(1), settings)
                elif anchor is not None and full is not None:
                    with torch.enable_grad():  # the same batch's gradient at the global point
                        anchor_logits, _ = model.forward_train(_named(model, anchor), buffers, x, mask, keep)
                        anchor_loss, _ = masked_losses(anchor_logits, y, mask)
                        anchor_grads = torch.autograd.grad(anchor_loss.sum(), anchor)
                    direction = _flat(grads) - _flat(anchor_grads) + full
                    params.sub_(torch.where(active.unsqueeze(1), svrg_step * direction, 0.0))
                else:
                    for part, grad in zip(parts, grads, strict=True):
                        sgd_step(part, grad, learning_rate=settings.learning_rate)
            loss_sum += torch.where(active, per_hospital.detach().double(), 0.0)
            batches += active.double()
    states = torch.cat([params, buffers], dim=1).numpy()
    return states, (loss_sum / batches.clamp(min=1)).numpy()


def _named(model: StackedModel, parts: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's part names over the leaf views, in layout order."""
    names = model.unflatten(parts[0].new_empty((1, model.num_params))).keys()
    return dict(zip(names, parts, strict=True))


def _flat(grads: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Per-part gradients as one C × P tensor in the flat layout."""
    return torch.cat([g.reshape(g.shape[0], -1) for g in grads], dim=1)
