"""Shamir t-of-k threshold sharing over Z_p, vectorised over every element at once.

A secret x is the constant term of a random polynomial f(z) = x + a_1 z + ... + a_{t-1}
z^{t-1} with uniform coefficients; share j is f(j) for j = 1 .. k. Any t - 1 shares are
uniform and independent of x; any t recover x = f(0) = Σ_j λ_j f(j) with the Lagrange
coefficients λ_j = Π_{m ≠ j} z_m / (z_m - z_j) (mod p). Shares are linear, so partial sums of
shares are shares of the sum, and an aggregate survives up to k - t nodes dropping out.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bflray.smpc.errors import ReconstructionError, SmpcError
from bflray.smpc.field import MERSENNE_61, U64, add, mul, reduce
from bflray.smpc.prg import CryptoRandom


def share_shamir(
    elements: U64,
    *,
    threshold: int,
    num_shares: int,
    random: CryptoRandom | None = None,
    modulus: int = MERSENNE_61,
) -> U64:
    """Shares f(1) .. f(k) of every element, an array of shape (num_shares, *elements.shape)."""
    if not 1 <= threshold <= num_shares or num_shares >= modulus:
        raise SmpcError(f"need 1 <= threshold <= num_shares < p, got threshold={threshold}, num_shares={num_shares}")
    rng = random or CryptoRandom()
    coefficients = [rng.elements(elements.shape, modulus) for _ in range(threshold - 1)]
    out = np.empty((num_shares, *elements.shape), dtype=np.uint64)
    for j in range(num_shares):
        point = np.uint64(j + 1)
        value = np.zeros_like(elements)
        for coefficient in reversed(coefficients):  # Horner
            value = add(mul(value, point, modulus), coefficient, modulus)
        out[j] = add(mul(value, point, modulus), elements, modulus)
    return out


def lagrange_at_zero(points: list[int], modulus: int = MERSENNE_61) -> list[int]:
    """λ_j such that f(0) = Σ_j λ_j f(z_j) for every polynomial of degree < len(points)."""
    if len(set(points)) != len(points) or any(not 0 < z < modulus for z in points):
        raise ReconstructionError(f"evaluation points must be distinct and in (0, p), got {points}")
    out = []
    for j, zj in enumerate(points):
        num, den = 1, 1
        for m, zm in enumerate(points):
            if m != j:
                num = num * zm % modulus
                den = den * (zm - zj) % modulus
        out.append(num * pow(den, modulus - 2, modulus) % modulus)
    return out


def reconstruct_shamir(shares: Mapping[int, U64], *, threshold: int, modulus: int = MERSENNE_61) -> U64:
    """The secret from shares keyed by evaluation point (node index + 1); needs ≥ threshold of them."""
    if len(shares) < threshold:
        raise ReconstructionError(f"need {threshold} shares, got {len(shares)} (points {sorted(shares)})")
    points = sorted(shares)[:threshold]
    out = np.zeros_like(shares[points[0]])
    for z, coefficient in zip(points, lagrange_at_zero(points, modulus), strict=True):
        out = add(out, mul(reduce(shares[z], modulus), np.uint64(coefficient), modulus), modulus)
    return out
