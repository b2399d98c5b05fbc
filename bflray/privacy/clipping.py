"""Per-hospital norm clipping: bound each hospital's contribution before noise is added.

Clipping is what gives the aggregate a finite sensitivity. With every row (one hospital's
update delta) scaled to norm at most C,

    x_i  <-  x_i * min(1, C / ||x_i||),

adding or removing one hospital changes the sum of rows by at most C in that norm, so noise
calibrated to C protects every hospital (client-level DP, McMahan et al. 2018, "Learning
Differentially Private Recurrent Language Models"). The SMPC paper (Reddy & Hannah) bounds
updates the same way with C = 1.0 before secret sharing. :func:`clip_l2` serves the Gaussian
mechanism; :func:`clip_l1` serves the Laplace mechanism, whose sensitivity is an L1 bound.

Rows are processed in chunks so that clipping an N x D array allocates at most the output
(none when ``inplace=True``) plus a few megabytes, even at N = 10,000 and D = 100,000.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bflray.errors import ConfigError, DataError

#: Elements per chunk of rows (about 8 MB of float64) for the temporaries of a norm.
_CHUNK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class ClipResult:
    """The clipped updates and what clipping did to them.

    Attributes
    ----------
    clipped:
        The N x D float64 updates, every row's norm at most ``clip_norm`` (up to float
        rounding, a relative 1e-15 or so).
    norms:
        The N norms before clipping.
    fraction_clipped:
        The fraction of rows whose norm exceeded ``clip_norm`` and were scaled down.
    """

    clipped: NDArray[np.float64]
    norms: NDArray[np.float64]
    fraction_clipped: float


def clip_l2(updates: NDArray[np.floating], *, clip_norm: float, inplace: bool = False) -> ClipResult:
    """Scale each row of ``updates`` so its L2 norm is at most ``clip_norm``.

    Parameters
    ----------
    updates:
        N x D update deltas, one row per hospital.
    clip_norm:
        C > 0, the bound on each row's L2 norm; the SMPC paper uses 1.0.
    inplace:
        Overwrite ``updates`` (which must then be a writable float64 array) instead of
        allocating the output.
    """
    return _clip(updates, clip_norm=clip_norm, inplace=inplace, order=2)


def clip_l1(updates: NDArray[np.floating], *, clip_norm: float, inplace: bool = False) -> ClipResult:
    """Scale each row of ``updates`` so its L1 norm is at most ``clip_norm``.

    The Laplace mechanism is calibrated to the L1 sensitivity of the sum; L1 clipping makes
    that sensitivity exactly ``clip_norm`` rather than the ``sqrt(D) * C`` an L2 clip implies.
    Parameters as for :func:`clip_l2`.
    """
    return _clip(updates, clip_norm=clip_norm, inplace=inplace, order=1)


def check_clip_norm(clip_norm: float) -> float:
    """Return ``clip_norm`` as a float, or raise :class:`ConfigError` unless it is finite and > 0."""
    if isinstance(clip_norm, bool) or not isinstance(clip_norm, int | float):
        raise ConfigError(f"clip_norm must be a real number, got clip_norm={clip_norm!r}")
    if not (math.isfinite(clip_norm) and clip_norm > 0):
        raise ConfigError(f"clip_norm must be finite and > 0, got clip_norm={clip_norm!r}")
    return float(clip_norm)


def row_norms(updates: NDArray[np.floating], *, order: int = 2) -> NDArray[np.float64]:
    """The L1 (``order=1``) or L2 (``order=2``) norm of every row, computed chunk by chunk."""
    array = _check_updates(updates)
    n, d = array.shape
    norms = np.empty(n, dtype=np.float64)
    step = max(1, _CHUNK_ELEMENTS // max(d, 1))
    for start in range(0, n, step):
        block = array[start : start + step]
        if order == 2:
            # einsum reduces without materialising block * block.
            norms[start : start + step] = np.sqrt(np.einsum("ij,ij->i", block, block, dtype=np.float64))
        else:
            norms[start : start + step] = np.abs(block, dtype=np.float64).sum(axis=1)
    return norms


def _clip(updates: NDArray[np.floating], *, clip_norm: float, inplace: bool, order: int) -> ClipResult:
    bound = check_clip_norm(clip_norm)
    array = _check_updates(updates)
    if inplace and (array is not updates or array.dtype != np.float64 or not array.flags.writeable):
        raise DataError(
            f"inplace clipping needs a writable float64 numpy array, got {type(updates).__name__} "
            f"of dtype {getattr(updates, 'dtype', None)}"
        )
    norms = row_norms(array, order=order)
    if not np.all(np.isfinite(norms)):
        bad = int(np.flatnonzero(~np.isfinite(norms))[0])
        raise DataError(f"update row {bad} has a non-finite entry (its norm is {norms[bad]})")
    over = norms > bound
    # Rows within the bound keep factor exactly 1.0, so small updates are left bit-for-bit.
    factors = np.ones_like(norms)
    np.divide(bound, norms, out=factors, where=over)
    out: NDArray[np.float64] = updates if inplace else np.empty(array.shape, dtype=np.float64)  # type: ignore[assignment]
    n, d = array.shape
    step = max(1, _CHUNK_ELEMENTS // max(d, 1))
    for start in range(0, n, step):
        np.multiply(array[start : start + step], factors[start : start + step, None], out=out[start : start + step])
    fraction = float(np.count_nonzero(over)) / n if n else 0.0
    return ClipResult(clipped=out, norms=norms, fraction_clipped=fraction)


def _check_updates(updates: NDArray[np.floating]) -> NDArray[np.floating]:
    array = np.asarray(updates)
    if array.ndim != 2:
        raise DataError(f"updates must be an N x D array (one row per hospital), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise DataError(f"updates must be a floating-point array, got dtype {array.dtype}")
    return array
