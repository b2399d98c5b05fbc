"""Per-hospital batch orders and dropout masks, padded to one array per chunk of hospitals.

Every draw comes from ``derive_rng(seed, round, hospital, purpose)``, so a hospital's
batches and masks are the same whichever shard hosts it and whichever hospitals share its
chunk. The per-hospital loops here only re-seed one generator and draw from it
(:class:`~bflray.seeding.HospitalSeeds`, which hashes a call's seeds together: about 3 µs
a hospital and stream, against 10 µs for building its generator); everything
else is vectorised over the chunk.
"""

from __future__ import annotations

import numpy as np
import torch

from bflray.models.stacked import EpochBatches, scratch
from bflray.seeding import HospitalSeeds, Purpose

#: Dropout draws 16-bit uniforms (the four 16-bit lanes of each raw 64-bit draw of the
#: hospital's PCG64 stream); p is applied as a threshold on them (resolution 2⁻¹⁶).
_DROPOUT_LEVELS = 1 << 16


def padded_width(sizes: np.ndarray, batch_size: int) -> int:
    """Sample slots per epoch: the longest hospital's size rounded up to whole batches."""
    longest = int(sizes.max()) if len(sizes) else 0
    return max(1, -(-longest // batch_size)) * batch_size


def epoch_orders(*, seeds: HospitalSeeds, starts: np.ndarray, sizes: np.ndarray, epochs: int, width: int) -> np.ndarray:
    """Row indices ``H × epochs × width``: hospital h's samples ``starts[h] … starts[h]+sizes[h]-1``
    in a fresh seeded order each epoch, then ``-1`` padding. No sample appears twice in an epoch.

    ``seeds``: the H hospitals' :attr:`~bflray.seeding.Purpose.SHUFFLE` seeds of the round."""
    _check_purpose(seeds, Purpose.SHUFFLE)
    index = np.full((len(seeds), epochs, width), -1, dtype=np.int64)
    for i, (rng, start, n) in enumerate(zip(seeds.generators(), starts.tolist(), sizes.tolist(), strict=True)):
        for e in range(epochs):
            index[i, e, :n] = start + rng.permutation(n)
    return index


def sequential_orders(*, starts: np.ndarray, sizes: np.ndarray, width: int) -> np.ndarray:
    """Row indices ``H × width`` in storage order, ``-1`` padded (for full-gradient passes)."""
    slots = np.arange(width, dtype=np.int64)
    index = starts[:, None].astype(np.int64) + slots[None, :]
    return np.where(slots[None, :] < sizes[:, None], index, -1)


def gather_epoch(
    features: torch.Tensor, labels: torch.Tensor, order: np.ndarray, batch_size: int,
    workspace: dict[str, torch.Tensor] | None = None, *, convert: bool = True,
) -> EpochBatches:
    """One epoch's samples of C hospitals (``order``: C × width row indices, ``-1`` padding),
    copied once into batch-major order (nb × C × B × F), so each step then reads one
    contiguous slab instead of gathering.

    With ``convert`` the copy is float32, the only conversion from the stored dtype; without
    it the samples keep the stored dtype, for a model that converts them batch by batch
    (:meth:`~bflray.models.stacked.HandWrittenBackward.prepare_epoch`), which saves a pass over
    the epoch's samples."""
    c, width = order.shape
    nb = width // batch_size
    index = torch.from_numpy(np.ascontiguousarray(order)).view(c, nb, batch_size).transpose(0, 1).reshape(-1)
    index = index.to(features.device)
    mask = index >= 0
    rows = index.clamp(min=0)
    f = features.shape[1]
    if features.dtype == torch.float32 or not convert:
        x = scratch(workspace, "gather_x", (nb, c, batch_size, f), features.dtype, features.device)
        torch.index_select(features, 0, rows, out=x.view(-1, f))
    else:
        x = scratch(workspace, "gather_x", (nb, c, batch_size, f), torch.float32, features.device)
        stored = scratch(workspace, "gather_stored", (len(rows), f), features.dtype, features.device)
        x.view(-1, f).copy_(torch.index_select(features, 0, rows, out=stored))
    labels = labels.index_select(0, rows).view(nb, c, batch_size, *labels.shape[1:])
    return EpochBatches(x=x, labels=labels, mask=mask.view(nb, c, batch_size))


def dropout_keep(
    *, seeds: HospitalSeeds, epochs: int, width: int, units: int, probability: float, batch_size: int,
    workspace: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """0/1 keep masks (float32), one seeded stream per hospital (``seeds``: the H hospitals'
    :attr:`~bflray.seeding.Purpose.DROPOUT_MASK` seeds of the round), laid out batch-major
    like :func:`gather_epoch`: ``epochs × nb × H × B × units``. A hospital's stream covers its
    ``epochs × width × units`` draws in that order, whatever the layout."""
    _check_purpose(seeds, Purpose.DROPOUT_MASK)
    hospitals = len(seeds)
    threshold = int(round(probability * _DROPOUT_LEVELS))
    nb = width // batch_size
    out = scratch(workspace, "dropout_keep", (epochs, nb, hospitals, batch_size, units), torch.float32)
    view = out.numpy()
    count = epochs * width * units
    words = -(-count // 4)  # four 16-bit draws per raw 64-bit word (random_raw is 2× faster than bytes)
    raw = np.empty((hospitals, words), dtype=np.uint64)
    for i, rng in enumerate(seeds.generators()):
        raw[i] = rng.bit_generator.random_raw(words)
    draws = raw.view("<u2")[:, :count].reshape(hospitals, epochs, nb, batch_size, units)
    np.greater_equal(draws.transpose(1, 2, 0, 3, 4), threshold, out=view, casting="unsafe")
    return out


def _check_purpose(seeds: HospitalSeeds, purpose: Purpose) -> None:
    if seeds.purpose != purpose:
        raise ValueError(f"seeds.purpose = {seeds.purpose.name}: these draws need {purpose.name} seeds")
