"""The boundary every rule shares: numpy or torch in, float64 numpy inside, the caller's kind out.

The maths of each rule is written once, on float64 numpy arrays. A rule reads its inputs with
:func:`as_updates`, :func:`as_per_hospital` and :func:`as_vector` and hands its result back
with :func:`restore`: numpy in gives numpy float64 out, a torch tensor in gives a tensor on the
same device with the same floating dtype (float64 for an integer tensor).

Inputs are never written to: a float64 input may be used without a copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
import torch

from bflray.aggregation.errors import AggregationError

Float64Array: TypeAlias = npt.NDArray[np.float64]
IndexArray: TypeAlias = npt.NDArray[np.intp]
ArrayInput: TypeAlias = np.ndarray | torch.Tensor | Sequence[float]

Updates = TypeVar("Updates", np.ndarray, torch.Tensor)
"""The updates' kind (numpy array or torch tensor); a rule returns the same kind."""


def as_float64(name: str, values: ArrayInput) -> Float64Array:
    """``values`` as a float64 numpy array (no copy when it already is one)."""
    if isinstance(values, torch.Tensor):
        array: Float64Array = values.detach().to(device="cpu", dtype=torch.float64).numpy()
        return array
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AggregationError(f"{name} cannot be read as numbers: {exc}") from exc


def as_updates(updates: np.ndarray | torch.Tensor) -> Float64Array:
    """The updates as a finite float64 matrix, one row per hospital."""
    x = as_float64("updates", updates)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise AggregationError(f"updates must be a non-empty 2-D array (hospitals × parameters), got shape {x.shape}")
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        rows = np.flatnonzero(~finite)
        raise AggregationError(f"updates at rows {rows[:10].tolist()} contain NaN or infinite values")
    return x


def as_per_hospital(name: str, values: ArrayInput, n: int) -> Float64Array:
    """One finite, non-negative number per hospital, shape ``(n,)``."""
    array = as_float64(name, values)
    if array.shape != (n,):
        raise AggregationError(f"{name} must have shape ({n},), one value per update, got {array.shape}")
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise AggregationError(f"{name} must be finite and non-negative, got {name}[{first}]={array[first]}")
    return array


def as_vector(name: str, values: ArrayInput, dim: int) -> Float64Array:
    """A finite float64 vector of length ``dim`` (a reference or centre in parameter space)."""
    array = as_float64(name, values)
    if array.shape != (dim,):
        raise AggregationError(f"{name} must have shape ({dim},) like one update, got {array.shape}")
    if not np.isfinite(array).all():
        raise AggregationError(f"{name} contains NaN or infinite values")
    return array


def as_square(name: str, matrix: ArrayInput) -> Float64Array:
    """A finite square float64 matrix, e.g. the N × N pairwise matrix revealed by secure aggregation."""
    array = as_float64(name, matrix)
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] == 0:
        raise AggregationError(f"{name} must be a non-empty square matrix, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise AggregationError(f"{name} contains NaN or infinite values")
    return array


def keep_weighted(x: Float64Array, weights: Float64Array, *, name: str = "weights") -> tuple[Float64Array, Float64Array]:
    """The rows with positive weight, and their weights; raises if no weight is left.

    A hospital with weight 0 takes no part in any rule, so a stage can exclude an update by
    zeroing its weight without changing ``n`` for Krum's or Bulyan's bounds behind its back.
    """
    total = float(weights.sum())
    if not total > 0:
        raise AggregationError(f"{name} sum to {total}; at least one update needs positive weight")
    keep = weights > 0
    if keep.all():
        return x, weights
    return x[keep], weights[keep]


def restore(result: Float64Array, like: Updates) -> Updates:
    """``result`` in the kind of ``like``: float64 numpy, or a tensor on ``like``'s device and dtype."""
    if isinstance(like, torch.Tensor):
        dtype = like.dtype if like.dtype.is_floating_point else torch.float64
        return torch.from_numpy(np.ascontiguousarray(result)).to(device=like.device, dtype=dtype)
    return result
