"""Fixed-point encoding of float updates into the prime field Z_p.

A value x becomes the integer X = round(x · 2^s) (round half to even, as ``numpy.rint``),
stored as X mod p: a negative X is p - |X|. Decoding lifts an element v to the signed
integer in (-p/2, p/2] and divides by 2^s in float64. Because the same integer reaches the
same float, decode(Σ_i encode(x_i) mod p) equals the fixed-point plaintext sum
(Σ_i round(x_i · 2^s)) / 2^s bit for bit, as long as the integer sum never leaves
(-p/2, p/2]; the codec guarantees that:

* encoding refuses any |x| > ``bound`` (and NaN or infinities), naming the hospital, the
  index and the value, instead of wrapping;
* :attr:`FixedPointCodec.max_summands` is the largest total weight W = Σ w_i of a weighted
  sum of bounded values that cannot wrap: W · round(bound · 2^s) ≤ (p - 1) / 2;
  :meth:`FixedPointCodec.check_summands` refuses more.

A product of two encoded values carries scale 2^(2s); :meth:`FixedPointCodec.decode`
takes the scale to undo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bflray.smpc.errors import EncodingOverflowError, SmpcError
from bflray.smpc.field import MERSENNE_61, U64, centered, check_modulus


@dataclass(frozen=True)
class FixedPointCodec:
    """Maps float updates to field elements and back.

    Parameters
    ----------
    scale_bits:
        s, the number of fractional bits.
    bound:
        The largest |x| that may be encoded (after clipping, a per-coordinate bound).
    modulus:
        The prime p; 2^61 - 1 by default.
    """

    scale_bits: int = 24
    bound: float = 16.0
    modulus: int = MERSENNE_61

    def __post_init__(self) -> None:
        check_modulus(self.modulus)
        if not 0 <= self.scale_bits <= 52:
            raise SmpcError(f"scale_bits must be in [0, 52], got {self.scale_bits}")
        if not (self.bound > 0 and np.isfinite(self.bound)):
            raise SmpcError(f"bound must be positive and finite, got {self.bound}")
        if self.max_integer > self.half:
            raise SmpcError(
                f"bound={self.bound} at scale 2^{self.scale_bits} encodes to {self.max_integer}, "
                f"above (p-1)/2={self.half}"
            )

    @property
    def half(self) -> int:
        """(p - 1) / 2, the largest magnitude a signed integer may reach."""
        return (self.modulus - 1) // 2

    @property
    def max_integer(self) -> int:
        """round(bound · 2^s), the largest encoded magnitude."""
        return int(np.rint(self.bound * 2.0**self.scale_bits))

    @property
    def max_summands(self) -> int:
        """The largest total weight of a sum of bounded values that cannot wrap."""
        return self.half // max(1, self.max_integer)

    def check_summands(self, total_weight: int) -> None:
        """Refuse a sum whose total integer weight could wrap around p."""
        if total_weight > self.max_summands:
            raise EncodingOverflowError(
                f"a sum of total weight {total_weight} of values bounded by {self.bound} at scale "
                f"2^{self.scale_bits} could wrap: max_summands={self.max_summands}"
            )

    def check(self, values: ArrayLike, *, hospital_ids: ArrayLike | None = None) -> None:
        """Refuse any |x| > bound, NaN or infinity, naming the hospital (row), index and value."""
        x = np.asarray(values)
        if x.size and not (float(x.max()) <= self.bound and float(x.min()) >= -self.bound):
            self._refuse(x, hospital_ids)

    def to_integers(
        self, values: ArrayLike, *, hospital_ids: ArrayLike | None = None, checked: bool = False
    ) -> NDArray[np.int64]:
        """round(x · 2^s) as int64, refusing any |x| > bound (skipped when ``checked``)."""
        x = np.asarray(values)
        if not checked:
            self.check(x, hospital_ids=hospital_ids)
        scaled = np.multiply(x, 2.0**self.scale_bits, dtype=np.float64)  # exact: a power of two
        np.rint(scaled, out=scaled)
        ints: NDArray[np.int64] = scaled.astype(np.int64)
        return ints

    def encode(self, values: ArrayLike, *, hospital_ids: ArrayLike | None = None) -> U64:
        """Float values → field elements; rows of a 2-D block belong to ``hospital_ids``."""
        ints = self.to_integers(values, hospital_ids=hospital_ids)
        out = ints.view(np.uint64)
        # two's complement of -|X| is 2^64 - |X|; adding p (selected by the sign mask) wraps it to p - |X|
        sign = (ints >> np.int64(63)).view(np.uint64)
        sign &= np.uint64(self.modulus)
        out += sign
        return out

    def decode(self, elements: U64, *, scale_bits: int | None = None) -> NDArray[np.float64]:
        """Field elements → float64, undoing scale 2^scale_bits (default s; 2s for products)."""
        bits = self.scale_bits if scale_bits is None else scale_bits
        return centered(np.asarray(elements, dtype=np.uint64), self.modulus).astype(np.float64) / 2.0**bits

    def fixed_point_sum(self, values: ArrayLike, weights: ArrayLike | None = None) -> NDArray[np.float64]:
        """The plaintext reference: (Σ_i w_i · round(x_i · 2^s)) / 2^s over axis 0, exactly."""
        ints = self.to_integers(values)
        w = np.ones(ints.shape[0], dtype=np.int64) if weights is None else np.asarray(weights, dtype=np.int64)
        self.check_summands(int(w.sum()))
        total: NDArray[np.int64] = np.einsum("i,i...->...", w, ints)
        return total.astype(np.float64) / 2.0**self.scale_bits

    def _refuse(self, x: NDArray[np.generic], hospital_ids: ArrayLike | None) -> None:
        bad = np.flatnonzero(~(np.abs(x) <= self.bound))[0]
        index = np.unravel_index(bad, x.shape)
        value = x[index]
        if x.ndim >= 2:
            row = int(index[0])
            hospital = int(np.asarray(hospital_ids)[row]) if hospital_ids is not None else row
            where = f"hospital {hospital}, index {tuple(int(i) for i in index[1:])}"
        else:
            where = f"index {int(index[0])}"
        raise EncodingOverflowError(
            f"{where}: value {value} exceeds the encoding bound {self.bound} "
            f"(scale 2^{self.scale_bits}, p={self.modulus}); refusing instead of wrapping"
        )
