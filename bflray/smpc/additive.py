"""Additive n-of-n secret sharing over Z_p (Reddy & Hannah, §2.2).

A secret x is split into k shares: k - 1 uniform masks m_1 .. m_{k-1} and
s_k = x - Σ_j m_j (mod p), so that Σ_j s_j = x (mod p). Any k - 1 shares are uniform and
independent of x; all k are needed to reconstruct. A mask expanded from a 16-byte seed
(:func:`bflray.smpc.prg.expand_seed`) can be sent as the seed itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from bflray.smpc.errors import ReconstructionError, SmpcError
from bflray.smpc.field import MERSENNE_61, U64, add, reduce, reduce_inplace
from bflray.smpc.prg import CryptoRandom, expand_seed


def expand_rows(seeds: NDArray[np.uint8], *, start: int, stop: int, modulus: int = MERSENNE_61) -> U64:
    """The masks of many seeds, one row each, sliced at stream elements [start, stop)."""
    out = np.empty((len(seeds), stop - start), dtype=np.uint64)
    for row, seed in enumerate(seeds):
        out[row] = expand_seed(bytes(seed), start=start, count=stop - start, modulus=modulus)
    return out


def sum_expanded(seeds: NDArray[np.uint8], *, start: int, stop: int, modulus: int = MERSENNE_61) -> U64:
    """Σ over seeds of their masks at [start, stop) mod p, one row in memory at a time."""
    total = np.zeros(stop - start, dtype=np.uint64)
    for row, seed in enumerate(seeds, start=1):
        total += expand_seed(bytes(seed), start=start, count=stop - start, modulus=modulus)
        if row % 7 == 0 or modulus != MERSENNE_61:  # a canonical total plus 7 masks < 2^64
            reduce_inplace(total, modulus)
    return reduce_inplace(total, modulus)


def last_share_seeded(
    rows: Iterable[NDArray[np.int64]],
    seeds: Sequence[NDArray[np.uint8]],
    *,
    num_rows: int,
    start: int,
    count: int,
    modulus: int = MERSENNE_61,
) -> U64:
    """X - Σ_j expand(seeds_j) (mod p) for signed fixed-point rows |X| < 2^60, one row at a time.

    X + k·p - Σ_j m_j lies in (0, 2^64) for k ≤ 7 masks m_j ≤ p, so two's-complement X needs
    no sign fix: uint64 wrap-around lands on the true value.
    """
    if len(seeds) > 6:
        raise SmpcError(f"at most 7 additive shares fit one uint64 pass, got {len(seeds) + 1}")
    out = np.empty((num_rows, count), dtype=np.uint64)
    offset = np.uint64(len(seeds) + 1) * np.uint64(modulus)
    for row, ints in enumerate(rows):
        target = out[row]
        np.add(ints.view(np.uint64), offset, out=target)
        for s in seeds:
            target -= expand_seed(bytes(s[row]), start=start, count=count, modulus=modulus)
        reduce_inplace(target, modulus)
    return out


def last_share(elements: U64, masks: Sequence[U64], modulus: int = MERSENNE_61) -> U64:
    """x - Σ masks (mod p), for canonical x and masks in [0, 2^61)."""
    if len(masks) > 6:
        raise SmpcError(f"at most 7 additive shares fit one uint64 pass, got {len(masks) + 1}")
    cap = np.uint64(MERSENNE_61 if modulus == MERSENNE_61 else modulus)
    out = elements + np.uint64(len(masks)) * cap  # masks ≤ cap each, so no term goes negative
    for mask in masks:
        out -= mask
    return reduce(out, modulus)


def share_additive(
    elements: U64, num_shares: int, *, random: CryptoRandom | None = None, modulus: int = MERSENNE_61
) -> list[U64]:
    """Split field elements into ``num_shares`` dense additive shares."""
    if not 1 <= num_shares <= 7:
        raise SmpcError(f"num_shares must be in [1, 7], got {num_shares}")
    rng = random or CryptoRandom()
    masks = [rng.elements(elements.shape, modulus) for _ in range(num_shares - 1)]
    return [*masks, last_share(elements, masks, modulus)]


def reconstruct_additive(shares: Sequence[U64], modulus: int = MERSENNE_61) -> U64:
    """Σ shares (mod p): needs every share."""
    if not shares:
        raise ReconstructionError("no shares to reconstruct from")
    out = reduce(shares[0], modulus)
    for share in shares[1:]:
        out = add(out, share, modulus)
    return out
