"""Per-hospital batch orders and dropout masks, padded to one array per chunk of hospitals.

Every draw comes from ``derive_rng(seed, round, hospital, purpose)``, so a hospital's
batches and masks are the same whichever shard hosts it and whichever hospitals share its
chunk. The per-hospital loop here only creates generators and draws from them (about
12 µs a hospital, measured); the training itself is vectorised.
"""

from __future__ import annotations

import numpy as np

from bflray.seeding import Purpose, derive_rng

#: Dropout draws 16-bit uniforms; p is applied as a threshold on them (resolution 2⁻¹⁶).
_DROPOUT_LEVELS = 1 << 16


def padded_width(sizes: np.ndarray, batch_size: int) -> int:
    """Sample slots per epoch: the longest hospital's size rounded up to whole batches."""
    longest = int(sizes.max()) if len(sizes) else 0
    return max(1, -(-longest // batch_size)) * batch_size


def epoch_orders(
    *, seed: int, round_: int, hospital_ids: np.ndarray, starts: np.ndarray, sizes: np.ndarray, epochs: int, width: int
) -> np.ndarray:
    """Row indices ``H × epochs × width``: hospital h's samples ``starts[h] … starts[h]+sizes[h]-1``
    in a fresh seeded order each epoch, then ``-1`` padding. No sample appears twice in an epoch."""
    index = np.full((len(hospital_ids), epochs, width), -1, dtype=np.int64)
    for i, (h, start, n) in enumerate(zip(hospital_ids.tolist(), starts.tolist(), sizes.tolist(), strict=True)):
        rng = derive_rng(seed, round_, h, Purpose.SHUFFLE)
        for e in range(epochs):
            index[i, e, :n] = start + rng.permutation(n)
    return index


def sequential_orders(*, starts: np.ndarray, sizes: np.ndarray, width: int) -> np.ndarray:
    """Row indices ``H × width`` in storage order, ``-1`` padded (for full-gradient passes)."""
    slots = np.arange(width, dtype=np.int64)
    index = starts[:, None].astype(np.int64) + slots[None, :]
    return np.where(slots[None, :] < sizes[:, None], index, -1)


def dropout_keep(
    *, seed: int, round_: int, hospital_ids: np.ndarray, epochs: int, width: int, units: int, probability: float
) -> np.ndarray:
    """Boolean keep masks ``H × epochs × width × units``, one seeded stream per hospital."""
    threshold = int(round(probability * _DROPOUT_LEVELS))
    out = np.empty((len(hospital_ids), epochs, width, units), dtype=bool)
    count = epochs * width * units
    for i, h in enumerate(hospital_ids.tolist()):
        raw = derive_rng(seed, round_, h, Purpose.DROPOUT_MASK).bytes(2 * count)
        out[i] = (np.frombuffer(raw, dtype="<u2") >= threshold).reshape(epochs, width, units)
    return out
