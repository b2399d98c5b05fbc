"""Split a training pool over hospitals: disjoint, deterministic from the run's seed.

Every scheme takes the pool (sorted dataset indices, the test split already held out) and
returns one sorted index array per hospital; together they are exactly the pool. The random
ones draw from ``derive_rng(seed, stream, FEDERATION, Purpose.PARTITION)`` with a stream
number of their own, so no two schemes (nor the test split, stream 0) share a draw.

- iid: shuffle and deal near-equal parts.
- Dirichlet label skew (Hsu, Qi & Brown 2019, "Measuring the effects of non-identical data
  distribution for federated visual classification"): for each class c, proportions
  p_c ~ Dir(α·1_N) over the N hospitals, and class c's samples are cut in those proportions.
  Small α gives each hospital few classes; large α approaches iid.
- Quantity skew: sizes from proportions q ~ Dir(β·1_N) (β = ``quantity_alpha``), labels iid.
- Ranges (Calo & Lo, Proof of Reasoning, Tables V-IX: "0-25 %, 25-50 %, ..."): hospital i
  gets the i-th contiguous fraction of the pool in the dataset's own order. The paper's
  ranges are index ranges of the published training sets; its per-range accuracies are all
  alike, which label-sorted ranges (each holding a few classes) would not give, so the pool is
  not sorted by label. No randomness: the seed does not change it.
"""

from __future__ import annotations

import numpy as np

from bflray.errors import DataError
from bflray.seeding import FEDERATION, Purpose, derive_rng

# Stream numbers (the "round" slot of derive_rng) of the partition purpose.
_STREAM_IID = 1
_STREAM_DIRICHLET = 2
_STREAM_QUANTITY = 3


def partition_iid(pool: np.ndarray, *, num_hospitals: int, seed: int) -> list[np.ndarray]:
    """Shuffle ``pool`` and deal it into ``num_hospitals`` near-equal disjoint parts.

    Sizes differ by at most one sample. Raises :class:`DataError` when there are fewer
    samples than hospitals.
    """
    if num_hospitals > len(pool):
        raise DataError(
            f"federation.hospitals={num_hospitals} exceeds the {len(pool)} training samples; "
            "every hospital needs at least one"
        )
    # A second stream of the partition purpose (round 1) so the split does not reuse the
    # permutation that chose the test set.
    order = derive_rng(seed, _STREAM_IID, FEDERATION, Purpose.PARTITION).permutation(len(pool))
    return [np.sort(pool[part]) for part in np.array_split(order, num_hospitals)]


def partition_dirichlet(
    pool: np.ndarray,
    labels: np.ndarray,
    *,
    num_hospitals: int,
    seed: int,
    alpha: float,
    min_samples: int = 1,
) -> list[np.ndarray]:
    """Label-skewed parts: each class is cut over the hospitals in proportions ~ Dir(α).

    Parameters
    ----------
    pool:
        Dataset indices to split.
    labels:
        The whole dataset's labels (indexed by ``pool``): class ids (N,), or N × K multi-label
        rows, which are grouped by :func:`label_keys`.
    alpha:
        Dirichlet concentration α > 0; smaller is more skewed.
    min_samples:
        Every hospital ends with at least this many samples: a hospital the draw leaves short
        gets samples moved to it, chosen at random among the other hospitals' surplus.
    """
    if not alpha > 0:
        raise DataError(f"data.alpha={alpha} must be > 0")
    _check_enough(len(pool), num_hospitals, min_samples, f"partition='dirichlet' (alpha={alpha})")
    rng = derive_rng(seed, _STREAM_DIRICHLET, FEDERATION, Purpose.PARTITION)
    keys = label_keys(labels[pool])
    owner = np.empty(len(pool), dtype=np.int64)
    for key in np.unique(keys):
        members = rng.permutation(np.flatnonzero(keys == key))
        proportions = rng.dirichlet(np.full(num_hospitals, float(alpha)))
        cuts = np.floor(np.cumsum(proportions)[:-1] * len(members)).astype(np.int64)
        for hospital, part in enumerate(np.split(members, cuts)):
            owner[part] = hospital
    _top_up(owner, num_hospitals, min_samples, rng)
    return _parts(pool, owner, num_hospitals)


def partition_quantity(
    pool: np.ndarray,
    *,
    num_hospitals: int,
    seed: int,
    quantity_alpha: float,
    min_samples: int = 1,
) -> list[np.ndarray]:
    """Parts of skewed sizes, labels iid: sizes ``min_samples + (n − N·min_samples)·q``.

    ``q ~ Dir(β·1_N)`` with β = ``quantity_alpha`` > 0 (smaller is more skewed); the
    fractional samples go to the largest remainders. The shuffled pool is dealt in those sizes.
    """
    if not quantity_alpha > 0:
        raise DataError(f"data.quantity_alpha={quantity_alpha} must be > 0")
    n = len(pool)
    _check_enough(n, num_hospitals, min_samples, f"partition='quantity' (quantity_alpha={quantity_alpha})")
    rng = derive_rng(seed, _STREAM_QUANTITY, FEDERATION, Purpose.PARTITION)
    proportions = rng.dirichlet(np.full(num_hospitals, float(quantity_alpha)))
    sizes = min_samples + _apportion(n - num_hospitals * min_samples, proportions)
    order = rng.permutation(n)
    return [np.sort(pool[part]) for part in np.split(order, np.cumsum(sizes)[:-1])]


def partition_ranges(pool: np.ndarray, *, num_hospitals: int, min_samples: int = 1) -> list[np.ndarray]:
    """Hospital i gets ``pool[i·n/N : (i+1)·n/N]`` (near-equal contiguous ranges, pool order).

    With N = 4 these are the paper's 0-25 %, 25-50 %, 50-75 % and 75-100 % ranges.
    """
    _check_enough(len(pool), num_hospitals, min_samples, "partition='ranges'")
    return [np.asarray(part) for part in np.array_split(np.asarray(pool), num_hospitals)]


def label_keys(labels: np.ndarray) -> np.ndarray:
    """One class id per sample, for grouping by label.

    Single-label ids pass through. A multi-label row (N × K of 0/1) maps to its first positive
    label, or to K when it has none (ChestMNIST's "no finding").
    """
    labels = np.asarray(labels)
    if labels.ndim == 1:
        keys: np.ndarray = labels.astype(np.int64)
        return keys
    positive = labels > 0
    keys = np.where(positive.any(axis=1), positive.argmax(axis=1), labels.shape[1]).astype(np.int64)
    return keys


def _check_enough(n: int, num_hospitals: int, min_samples: int, scheme: str) -> None:
    if num_hospitals < 1:
        raise DataError(f"federation.hospitals={num_hospitals} must be at least 1")
    if n < num_hospitals * min_samples:
        raise DataError(
            f"{scheme} over federation.hospitals={num_hospitals}: {n} training samples cannot give "
            f"every hospital at least {min_samples}"
        )


def _top_up(owner: np.ndarray, num_hospitals: int, min_samples: int, rng: np.random.Generator) -> None:
    """Move randomly chosen surplus samples to hospitals holding fewer than ``min_samples``."""
    sizes = np.bincount(owner, minlength=num_hospitals)
    short = np.maximum(min_samples - sizes, 0)
    need = int(short.sum())
    if need == 0:
        return
    # Rank each sample within its hospital in a random order; ranks ≥ min_samples are surplus.
    order = rng.permutation(len(owner))
    grouped = order[np.argsort(owner[order], kind="stable")]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.arange(len(owner)) - np.repeat(starts, sizes)
    surplus = rng.permutation(grouped[rank >= min_samples])
    owner[surplus[:need]] = np.repeat(np.arange(num_hospitals), short)


def _apportion(total: int, proportions: np.ndarray) -> np.ndarray:
    """Integers summing to ``total`` in ``proportions``, by largest remainder (ties: lower index)."""
    exact = total * proportions
    sizes: np.ndarray = np.floor(exact).astype(np.int64)
    leftover = total - int(sizes.sum())
    sizes[np.argsort(-(exact - sizes), kind="stable")[:leftover]] += 1
    return sizes


def _parts(pool: np.ndarray, owner: np.ndarray, num_hospitals: int) -> list[np.ndarray]:
    order = np.argsort(owner, kind="stable")
    cuts = np.cumsum(np.bincount(owner, minlength=num_hospitals))[:-1]
    return [np.sort(pool[part]) for part in np.split(order, cuts)]
