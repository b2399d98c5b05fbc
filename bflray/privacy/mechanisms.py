"""Client-level noise mechanisms: Gaussian (central or local) and Laplace (central).

Every mechanism assumes its input was clipped first (:mod:`bflray.privacy.clipping`) and
protects whole hospitals: neighbouring federations differ by adding or removing one
hospital's update (the add-or-remove relation dp_accounting calls ``ADD_OR_REMOVE_ONE``).

Central Gaussian (Gaussian mechanism on the sum; DP-FedAvg, McMahan et al. 2018)
    With rows clipped to L2 norm C, the sum of the cohort's rows has L2 sensitivity C. The
    aggregator adds ``z ~ N(0, (σ C)^2 I)`` once to that sum, where σ is the noise
    multiplier; dividing by a public cohort size afterwards is post-processing.
    Charge the accountant with ``noise_multiplier=σ``.

Local Gaussian (as in the SMPC paper, Reddy & Hannah)
    Each hospital adds its own ``N(0, (σ C)^2 I)`` to its clipped update before sharing it,
    so the release that hospital makes is a Gaussian mechanism with multiplier σ even to an
    observer who sees its update alone. Charge the accountant with ``noise_multiplier=σ``
    for that per-hospital guarantee. If only the sum of ``n`` honest hospitals' updates is
    ever seen (secure aggregation), the sum carries noise of std ``sqrt(n) σ C``; see
    :func:`effective_central_noise_multiplier`.

Laplace (the DP-BFL paper's mechanism, Dwork et al. 2006)
    Sensitivity assumption: rows are clipped in **L1** norm to C (:func:`clip_l1`), so the
    sum's L1 sensitivity is Δ₁ = C. (An L2 clip would only give Δ₁ ≤ sqrt(D) C, which is
    far too pessimistic for D in the hundreds of thousands.) Each coordinate of the sum gets
    independent ``Laplace(0, b)`` noise with ``b = laplace_scale * Δ₁``; ``laplace_scale``
    is b in units of the sensitivity, so one unsampled round with ``laplace_scale = 1/ε``
    is ε-DP (``b = Δ₁ / ε``). Charge the accountant with the same ``laplace_scale``.

Randomness: central noise draws from ``derive_rng(seed, round_, FEDERATION,
Purpose.PRIVACY_NOISE)``; a hospital's local noise from ``derive_rng(seed, round_, hospital,
Purpose.PRIVACY_NOISE)``, so each hospital's noise is the same however hospitals are packed
into actors. Local noise is generated one row at a time into one reused buffer, so noising
N = 10,000 x D = 100,000 in place allocates D floats, not N x D.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from bflray.errors import ConfigError, DataError
from bflray.privacy.clipping import check_clip_norm
from bflray.seeding import FEDERATION, Purpose, derive_rng


def central_gaussian_noise(
    dimension: int, *, noise_multiplier: float, clip_norm: float, seed: int, round_: int
) -> NDArray[np.float64]:
    """The central Gaussian noise vector ``N(0, (σ C)^2 I_D)`` for one round.

    Parameters
    ----------
    dimension:
        D, the number of model parameters.
    noise_multiplier:
        σ ≥ 0; the noise std is ``σ * clip_norm``.
    clip_norm:
        C, the L2 bound the rows were clipped to.
    seed, round_:
        The run seed and round; the draw is keyed by ``(seed, round_, FEDERATION, PRIVACY_NOISE)``.
    """
    std = _std(noise_multiplier, clip_norm, name="noise_multiplier")
    rng = derive_rng(seed, round_, FEDERATION, Purpose.PRIVACY_NOISE)
    noise = rng.standard_normal(_check_dimension(dimension), dtype=np.float64)
    noise *= std
    return noise


def add_central_gaussian_noise(
    clipped_sum: NDArray[np.floating], *, noise_multiplier: float, clip_norm: float, seed: int, round_: int
) -> NDArray[np.float64]:
    """Return ``clipped_sum + N(0, (σ C)^2 I)``: the Gaussian mechanism on the cohort's sum.

    ``clipped_sum`` is the length-D sum of the cohort's L2-clipped rows (not their mean).
    """
    total = _check_vector(clipped_sum, "clipped_sum")
    return total + central_gaussian_noise(
        total.shape[0], noise_multiplier=noise_multiplier, clip_norm=clip_norm, seed=seed, round_=round_
    )


def add_local_gaussian_noise(
    clipped_updates: NDArray[np.floating],
    *,
    hospitals: Sequence[int] | NDArray[np.integer],
    noise_multiplier: float,
    clip_norm: float,
    seed: int,
    round_: int,
    inplace: bool = False,
) -> NDArray[np.float64]:
    """Add each hospital's own ``N(0, (σ C)^2 I)`` noise to its clipped row.

    Parameters
    ----------
    clipped_updates:
        N x D rows clipped to L2 norm ``clip_norm``.
    hospitals:
        The N hospital ids, row by row; row i's noise is keyed by ``hospitals[i]``.
    noise_multiplier, clip_norm, seed, round_:
        As for :func:`central_gaussian_noise`.
    inplace:
        Add into ``clipped_updates`` (a writable float64 array) instead of a copy.
    """
    std = _std(noise_multiplier, clip_norm, name="noise_multiplier")
    array = _check_rows(clipped_updates, hospitals, inplace=inplace)
    # inplace was checked to be a float64 array by _check_rows.
    out: NDArray[np.float64] = clipped_updates if inplace else np.array(array, dtype=np.float64, copy=True)  # type: ignore[assignment]
    buffer = np.empty(out.shape[1], dtype=np.float64)
    for row, hospital in enumerate(np.asarray(hospitals).tolist()):
        rng = derive_rng(seed, round_, int(hospital), Purpose.PRIVACY_NOISE)
        rng.standard_normal(dtype=np.float64, out=buffer)
        buffer *= std
        out[row] += buffer
    return out


def effective_central_noise_multiplier(noise_multiplier: float, *, num_hospitals: int) -> float:
    """The multiplier the *sum* of ``num_hospitals`` locally noised updates carries: ``σ sqrt(n)``.

    Valid only when nobody sees an individual noised update (the updates are secret-shared
    or encrypted and only their sum is opened) and all ``num_hospitals`` add honest noise.
    """
    _std(noise_multiplier, 1.0, name="noise_multiplier")
    if isinstance(num_hospitals, bool) or not isinstance(num_hospitals, int) or num_hospitals < 1:
        raise ConfigError(f"num_hospitals must be an int >= 1, got num_hospitals={num_hospitals!r}")
    return float(noise_multiplier) * math.sqrt(num_hospitals)


def laplace_noise(
    dimension: int,
    *,
    laplace_scale: float,
    l1_clip_norm: float,
    seed: int,
    round_: int,
    hospital: int = FEDERATION,
) -> NDArray[np.float64]:
    """Independent ``Laplace(0, b)`` noise per coordinate, ``b = laplace_scale * l1_clip_norm``.

    Parameters
    ----------
    dimension:
        D, the number of model parameters.
    laplace_scale:
        b / Δ₁ ≥ 0; ``1/ε`` for ε-DP in a single unsampled round.
    l1_clip_norm:
        C, the L1 bound the rows were clipped to, which is the sum's L1 sensitivity Δ₁.
    seed, round_, hospital:
        Keys of the draw; ``hospital`` is ``FEDERATION`` for central noise.
    """
    scale = _std(laplace_scale, l1_clip_norm, name="laplace_scale")
    rng = derive_rng(seed, round_, hospital, Purpose.PRIVACY_NOISE)
    return rng.laplace(0.0, scale, size=_check_dimension(dimension))


def add_laplace_noise(
    clipped_sum: NDArray[np.floating],
    *,
    laplace_scale: float,
    l1_clip_norm: float,
    seed: int,
    round_: int,
) -> NDArray[np.float64]:
    """Return ``clipped_sum + Laplace(0, laplace_scale * l1_clip_norm)`` per coordinate.

    ``clipped_sum`` is the sum of the cohort's **L1**-clipped rows (:func:`clip_l1`).
    """
    total = _check_vector(clipped_sum, "clipped_sum")
    return total + laplace_noise(
        total.shape[0], laplace_scale=laplace_scale, l1_clip_norm=l1_clip_norm, seed=seed, round_=round_
    )


def laplace_scale_for_epsilon(epsilon: float) -> float:
    """The ``laplace_scale`` (b / Δ₁) that makes one unsampled round ε-DP: ``1/ε``."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not (math.isfinite(epsilon) and epsilon > 0):
        raise ConfigError(f"epsilon must be finite and > 0, got epsilon={epsilon!r}")
    return 1.0 / float(epsilon)


def _std(multiplier: float, clip_norm: float, *, name: str) -> float:
    if isinstance(multiplier, bool) or not isinstance(multiplier, int | float):
        raise ConfigError(f"{name} must be a real number, got {name}={multiplier!r}")
    if not (math.isfinite(multiplier) and multiplier >= 0):
        raise ConfigError(f"{name} must be finite and >= 0, got {name}={multiplier!r}")
    return float(multiplier) * check_clip_norm(clip_norm)


def _check_dimension(dimension: int) -> int:
    if isinstance(dimension, bool) or not isinstance(dimension, int | np.integer) or dimension < 1:
        raise DataError(f"dimension must be an int >= 1, got dimension={dimension!r}")
    return int(dimension)


def _check_vector(vector: NDArray[np.floating], name: str) -> NDArray[np.floating]:
    array = np.asarray(vector)
    if array.ndim != 1 or array.shape[0] < 1:
        raise DataError(f"{name} must be a non-empty 1-D vector, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise DataError(f"{name} must be floating-point, got dtype {array.dtype}")
    return array


def _check_rows(
    updates: NDArray[np.floating], hospitals: Sequence[int] | NDArray[np.integer], *, inplace: bool
) -> NDArray[np.floating]:
    array = np.asarray(updates)
    if array.ndim != 2 or array.shape[1] < 1:
        raise DataError(f"clipped_updates must be an N x D array with D >= 1, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise DataError(f"clipped_updates must be floating-point, got dtype {array.dtype}")
    ids = np.asarray(hospitals)
    if ids.shape != (array.shape[0],):
        raise DataError(f"hospitals must give one id per row: {array.shape[0]} rows, got hospitals of shape {ids.shape}")
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise DataError(f"hospital ids must be integers, got dtype {ids.dtype}")
    if ids.size and np.unique(ids).size != ids.size:
        raise DataError("hospital ids must be distinct: two rows keyed by one hospital would share their noise")
    if inplace and (array is not updates or array.dtype != np.float64 or not array.flags.writeable):
        raise DataError(
            f"inplace noising needs a writable float64 numpy array, got {type(updates).__name__} "
            f"of dtype {getattr(updates, 'dtype', None)}"
        )
    return array
