"""Pairwise matrices between updates: squared Euclidean distances and cosine similarities.

Both are what secure aggregation can compute on secret shares and reveal without revealing
the updates, so the selection rules (Krum, multi-Krum, Bulyan's selection, the cosine filter)
take them as input. Both come from the Gram matrix G = X Xᵀ:

    ‖x_i − x_j‖² = ‖x_i‖² + ‖x_j‖² − 2 G_ij,        cos(x_i, x_j) = G_ij / (‖x_i‖ ‖x_j‖),

computed in float64, one block of rows at a time over the upper triangle and mirrored, so the
result is exactly symmetric and no N × N × D array is ever built (N = D = 10,000 needs the
N × N result and a block of at most ``block_rows`` × N besides the float64 updates).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from bflray.aggregation._arrays import Float64Array, as_updates
from bflray.aggregation._checks import check_int

# A block of rows times all N columns stays around 32 MiB of float64.
_BLOCK_ELEMENTS = 1 << 22


def pairwise_squared_distances(updates: np.ndarray | torch.Tensor, *, block_rows: int | None = None) -> Float64Array:
    """The N × N matrix of ‖x_i − x_j‖², float64, symmetric, zero on the diagonal.

    The updates are centred on their mean first: distances do not change, but the norms in
    the Gram identity shrink, and with them the cancellation error for nearby updates.
    """
    x = as_updates(updates)
    x = x - x.mean(axis=0)
    sq = np.einsum("ij,ij->i", x, x)

    def to_distance(gram: Float64Array, rows: slice, cols: slice) -> Float64Array:
        block: Float64Array = sq[rows, None] + sq[None, cols] - 2.0 * gram
        np.maximum(block, 0.0, out=block)
        return block

    out = _blockwise_symmetric(x, to_distance, block_rows)
    np.fill_diagonal(out, 0.0)
    return out


def pairwise_cosine_similarities(updates: np.ndarray | torch.Tensor, *, block_rows: int | None = None) -> Float64Array:
    """The N × N matrix of cos(x_i, x_j), float64, symmetric, in [−1, 1].

    A zero update has no direction: its similarity to every update, itself included, is 0.
    Every other update has similarity 1 with itself.
    """
    x = as_updates(updates)
    units, nonzero = unit_rows(x)

    def to_cosine(gram: Float64Array, rows: slice, cols: slice) -> Float64Array:
        return np.clip(gram, -1.0, 1.0)

    out = _blockwise_symmetric(units, to_cosine, block_rows)
    np.fill_diagonal(out, nonzero.astype(np.float64))
    return out


def unit_rows(x: Float64Array) -> tuple[Float64Array, np.ndarray]:
    """Each row divided by its norm (zero rows stay zero), and the mask of non-zero rows."""
    norms = np.linalg.norm(x, axis=1)
    nonzero = norms > 0
    units = np.zeros_like(x)
    units[nonzero] = x[nonzero] / norms[nonzero, None]
    return units, nonzero


def _blockwise_symmetric(
    x: Float64Array,
    transform: Callable[[Float64Array, slice, slice], Float64Array],
    block_rows: int | None,
) -> Float64Array:
    """``transform`` applied to the Gram matrix X Xᵀ, built block by block, exactly symmetric."""
    n = x.shape[0]
    block = max(1, _BLOCK_ELEMENTS // n) if block_rows is None else check_int("block_rows", block_rows, minimum=1)
    out = np.empty((n, n), dtype=np.float64)
    for start in range(0, n, block):
        stop = min(n, start + block)
        rows, cols = slice(start, stop), slice(start, n)
        values = transform(x[rows] @ x[cols].T, rows, cols)
        size = stop - start
        # The diagonal block is averaged with its transpose: BLAS need not give G_ij == G_ji
        # bit for bit, and Krum's tie-breaking relies on an exactly symmetric matrix.
        diagonal = values[:, :size]
        values[:, :size] = (diagonal + diagonal.T) / 2.0
        out[rows, cols] = values
        out[cols, rows] = values.T
    return out
