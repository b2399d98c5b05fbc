"""Vectorised arithmetic in the prime field Z_p on ``numpy.uint64`` arrays.

The default modulus is the Mersenne prime p = 2^61 - 1: since 2^61 ≡ 1 (mod p), a 64-bit
value x reduces as (x & p) + (x >> 61) with no division, and every element fits 61 bits, so
a sum of up to eight elements cannot overflow uint64. Primes below 2^32 are also supported
(products of two elements then fit uint64 directly); other moduli are refused.

Inputs are elements in [0, 2^61) (p itself stands for 0); outputs are canonical, in [0, p).

Multiplication mod 2^61 - 1 splits each factor into 32-bit limbs, a = a_h·2^32 + a_l with
a_h < 2^29, so that every partial product fits 64 bits:

    a·b = a_h·b_h·2^64 + (a_h·b_l + a_l·b_h)·2^32 + a_l·b_l,   2^64 ≡ 8 and 2^61 ≡ 1 (mod p).

Matrix products (:func:`matmul`) are exact: operands are cut into 21-bit limbs held in
float64, each limb product over an inner dimension of at most 2^(53-42) = 2048 terms is an
integer below 2^53, hence exact in BLAS, and the limb products are recombined mod p.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from bflray.smpc.errors import SmpcError

U64 = NDArray[np.uint64]

#: The default modulus, the Mersenne prime 2^61 - 1.
MERSENNE_61 = (1 << 61) - 1

_P = np.uint64(MERSENNE_61)
_M32 = np.uint64(0xFFFFFFFF)
_M29 = np.uint64((1 << 29) - 1)
_LIMB_BITS = 21
_LIMB_MASK = np.uint64((1 << _LIMB_BITS) - 1)
#: Largest inner dimension for which a product of two 21-bit limbs summed stays below 2^53.
_EXACT_INNER = 1 << (53 - 2 * _LIMB_BITS)


def is_prime(n: int) -> bool:
    """Deterministic Miller-Rabin, exact for every n < 3.3·10^24."""
    if n < 2:
        return False
    small = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)
    for q in small:
        if n % q == 0:
            return n == q
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for a in small:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def check_modulus(modulus: int) -> int:
    """Return ``modulus`` if the field arithmetic supports it, else raise :class:`SmpcError`."""
    if modulus != MERSENNE_61 and not (2 < modulus < 1 << 32 and is_prime(modulus)):
        raise SmpcError(f"modulus must be 2^61-1 or a prime below 2^32, got {modulus}")
    return modulus


def reduce(x: U64, modulus: int = MERSENNE_61) -> U64:
    """Any uint64 values → canonical elements in [0, p)."""
    if modulus == MERSENNE_61:
        x = (x & _P) + (x >> np.uint64(61))  # < 2^61 + 8
        canonical: U64 = np.minimum(x, x - _P)  # x - p wraps above x when x < p
        return canonical
    out: U64 = x % np.uint64(modulus)
    return out


def add(a: U64, b: U64, modulus: int = MERSENNE_61) -> U64:
    """(a + b) mod p."""
    return reduce(a + b, modulus)


def sub(a: U64, b: U64, modulus: int = MERSENNE_61) -> U64:
    """(a - b) mod p; b may be any element in [0, 2^61)."""
    if modulus == MERSENNE_61:
        return reduce(a + (_P - (b & _P)), modulus)
    m = np.uint64(modulus)
    return reduce(a + (m - b % m), modulus)


def neg(a: U64, modulus: int = MERSENNE_61) -> U64:
    """(-a) mod p."""
    return sub(np.zeros_like(a), a, modulus)


def mul(a: U64 | np.uint64, b: U64 | np.uint64, modulus: int = MERSENNE_61) -> U64:
    """(a · b) mod p, elementwise with broadcasting."""
    a, b = np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64)
    if modulus != MERSENNE_61:
        return (a * b) % np.uint64(modulus)  # both < 2^32
    a_lo, a_hi = a & _M32, a >> np.uint64(32)
    b_lo, b_hi = b & _M32, b >> np.uint64(32)
    lo = a_lo * b_lo
    mid = a_hi * b_lo + a_lo * b_hi  # < 2^62
    out = (a_hi * b_hi) << np.uint64(3)  # 2^64 ≡ 8
    out += mid >> np.uint64(29)  # mid·2^32 = (mid >> 29)·2^61 + (mid & M29)·2^32
    out += (mid & _M29) << np.uint64(32)
    out += lo >> np.uint64(61)
    out += lo & _P
    return reduce(out, modulus)


def mul_pow2(a: U64, bits: int, modulus: int = MERSENNE_61) -> U64:
    """(a · 2^bits) mod p for canonical a; a rotation when p = 2^61 - 1."""
    if modulus != MERSENNE_61:
        return mul(a, np.uint64(pow(2, bits, modulus)), modulus)
    k = bits % 61
    if k == 0:
        return a.copy()
    return ((a << np.uint64(k)) & _P) | (a >> np.uint64(61 - k))


def reduce_inplace(x: U64, modulus: int = MERSENNE_61) -> U64:
    """As :func:`reduce`, overwriting ``x`` (one scratch array) to spare memory traffic."""
    if modulus != MERSENNE_61:
        np.remainder(x, np.uint64(modulus), out=x)
        return x
    high = x >> np.uint64(61)
    x &= _P
    x += high
    np.subtract(x, _P, out=high)
    np.minimum(x, high, out=x)
    return x


def sum_rows(x: U64, modulus: int = MERSENNE_61) -> U64:
    """Σ over axis 0 mod p, for rows of values below 2^61 (canonical elements or raw masks).

    Seven such values, plus a canonical running total, stay below 2^64: rows are added seven
    at a time and the total folded back after each group.
    """
    if modulus != MERSENNE_61:  # p < 2^32: 2^32 rows fit
        return reduce(np.add.reduce(x, axis=0, dtype=np.uint64), modulus)
    total = np.zeros(x.shape[1:], dtype=np.uint64)
    for start in range(0, x.shape[0], 7):
        total += np.add.reduce(x[start : start + 7], axis=0, dtype=np.uint64)
        reduce_inplace(total, modulus)
    return total


def weighted_sum_rows(
    rows: Iterable[U64], weights: NDArray[np.integer], *, count: int, modulus: int = MERSENNE_61
) -> U64:
    """Σ_i w_i · row_i mod p for rows of elements below 2^61 and public integer weights 0 ≤ w_i < 2^31.

    One row at a time (it stays in cache): each row is split as row = h·2^32 + l and
    Σ w·l, Σ w·h are accumulated in uint64, folded whenever another product could overflow.
    """
    w = np.asarray(weights)
    if w.size and (int(w.min()) < 0 or int(w.max()) >= 1 << 31):
        raise SmpcError(f"weights must lie in [0, 2^31), got {int(w.min())}..{int(w.max())}")
    bits = int(w.max()).bit_length() if w.size else 0
    every = 1 << max(0, 62 - 32 - bits)  # a canonical total plus `every` products < 2^(32 + bits) stays < 2^64
    lo = np.zeros(count, dtype=np.uint64)
    hi = np.zeros(count, dtype=np.uint64)
    scratch = np.empty(count, dtype=np.uint64)
    for i, (row, weight) in enumerate(zip(rows, w.astype(np.uint64), strict=True), start=1):
        np.bitwise_and(row, _M32, out=scratch)
        scratch *= weight
        lo += scratch
        np.right_shift(row, np.uint64(32), out=scratch)
        scratch *= weight
        hi += scratch
        if i % every == 0:
            reduce_inplace(lo, modulus)
            reduce_inplace(hi, modulus)
    return add(mul_pow2(reduce(hi, modulus), 32, modulus), reduce(lo, modulus), modulus)


def _limbs(x: U64, count: int) -> list[NDArray[np.float64]]:
    return [((x >> np.uint64(_LIMB_BITS * i)) & _LIMB_MASK).astype(np.float64) for i in range(count)]


def _limb_count(x: U64) -> int:
    top = int(x.max()) if x.size else 0
    return max(1, -(-top.bit_length() // _LIMB_BITS))


def matmul(a: U64, b: U64, modulus: int = MERSENNE_61) -> U64:
    """Exact (a @ b) mod p for 2-D element arrays, through float64 BLAS on 21-bit limbs.

    Each operand is cut into as many limbs as its largest value needs (one for small public
    weights, three for uniform elements); the inner dimension is processed 2048 at a time
    so that every limb product is an integer below 2^53.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise SmpcError(f"matmul needs (m, n) @ (n, q), got {a.shape} @ {b.shape}")
    la, lb = _limb_count(a), _limb_count(b)
    shifts = la + lb - 1
    acc = np.zeros((shifts, a.shape[0], b.shape[1]), dtype=np.uint64)
    pending = 0
    for start in range(0, a.shape[1], _EXACT_INNER):
        stop = min(start + _EXACT_INNER, a.shape[1])
        a_limbs, b_limbs = _limbs(a[:, start:stop], la), _limbs(b[start:stop], lb)
        for i, a_limb in enumerate(a_limbs):
            for j, b_limb in enumerate(b_limbs):
                acc[i + j] += (a_limb @ b_limb).astype(np.uint64)
        pending += 1
        if pending == 128:  # up to 3 terms below 2^53 per chunk: 128 chunks stay below 2^63
            acc = reduce(acc, modulus)
            pending = 0
    out = np.zeros((a.shape[0], b.shape[1]), dtype=np.uint64)
    for s in range(shifts):
        out = add(out, mul_pow2(reduce(acc[s], modulus), _LIMB_BITS * s, modulus), modulus)
    return out


def gram(a: U64, modulus: int = MERSENNE_61) -> U64:
    """Exact (a @ aᵀ) mod p, using symmetry: limb pairs (i, j) and (j, i) share one product."""
    la = _limb_count(a)
    acc = np.zeros((2 * la - 1, a.shape[0], a.shape[0]), dtype=np.uint64)
    pending = 0
    for start in range(0, a.shape[1], _EXACT_INNER):
        limbs = _limbs(a[:, start : start + _EXACT_INNER], la)
        for i in range(la):
            acc[2 * i] += (limbs[i] @ limbs[i].T).astype(np.uint64)
            for j in range(i + 1, la):
                product = (limbs[i] @ limbs[j].T).astype(np.uint64)
                acc[i + j] += product
                acc[i + j] += product.T
        pending += 1
        if pending == 128:  # up to 6 terms below 2^53 per chunk: 128 chunks stay below 2^63
            acc = reduce(acc, modulus)
            pending = 0
    out = np.zeros((a.shape[0], a.shape[0]), dtype=np.uint64)
    for s in range(2 * la - 1):
        out = add(out, mul_pow2(reduce(acc[s], modulus), _LIMB_BITS * s, modulus), modulus)
    return out


def centered(x: U64, modulus: int = MERSENNE_61) -> NDArray[np.int64]:
    """Canonical elements → signed integers in (-p/2, p/2]: the inverse of ``v mod p``."""
    signed = x.astype(np.int64)
    return np.where(x > np.uint64(modulus // 2), signed - np.int64(modulus), signed)
