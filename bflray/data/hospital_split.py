"""Each hospital's share of the pool, split into its own training and validation samples.

Voters rank other hospitals' models on their validation samples, so every hospital keeps
some apart from training. The partition scheme decides which samples a hospital holds
(:mod:`bflray.data.partition`); the validation draw is the hospital's own,
``derive_rng(seed, 4, hospital, Purpose.PARTITION)``, so it does not depend on how
hospitals are packed into actors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bflray.data.partition import partition_dirichlet, partition_iid, partition_quantity, partition_ranges
from bflray.errors import DataError
from bflray.seeding import Purpose, derive_rng

PARTITION_SCHEMES = ("iid", "dirichlet", "quantity", "ranges")
_STREAM_VALIDATION = 4


@dataclass(frozen=True)
class HospitalSplit:
    """One hospital's dataset indices: ``train`` and ``validation``, disjoint and sorted."""

    train: np.ndarray
    validation: np.ndarray

    @property
    def indices(self) -> np.ndarray:
        """All the hospital's samples, sorted."""
        return np.sort(np.concatenate([self.train, self.validation]))

    def __len__(self) -> int:
        return len(self.train) + len(self.validation)


def split_validation(indices: np.ndarray, *, validation_fraction: float, seed: int, hospital: int) -> HospitalSplit:
    """Hold out ``round(n · validation_fraction)`` of a hospital's samples for validation.

    With a fraction > 0 both parts get at least one sample, so the hospital needs two;
    with 0 the validation part is empty.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise DataError(f"data.validation_fraction={validation_fraction} must be in [0, 1)")
    indices = np.asarray(indices)
    n = len(indices)
    if validation_fraction == 0.0:
        return HospitalSplit(np.sort(indices), indices[:0].copy())
    if n < 2:
        raise DataError(
            f"hospital {hospital} holds {n} sample(s); data.validation_fraction={validation_fraction} "
            "needs at least 2 (one to train, one to validate)"
        )
    n_val = min(max(int(round(n * validation_fraction)), 1), n - 1)
    order = derive_rng(seed, _STREAM_VALIDATION, hospital, Purpose.PARTITION).permutation(n)
    return HospitalSplit(train=np.sort(indices[order[n_val:]]), validation=np.sort(indices[order[:n_val]]))


def partition_hospitals(
    labels: np.ndarray,
    pool: np.ndarray,
    *,
    scheme: str,
    num_hospitals: int,
    seed: int,
    alpha: float = 0.5,
    quantity_alpha: float = 1.0,
    validation_fraction: float = 0.1,
) -> list[HospitalSplit]:
    """Partition ``pool`` over ``num_hospitals`` by ``scheme``, then split each for validation.

    Parameters
    ----------
    labels:
        The whole dataset's labels (``Dataset.labels``; ``pool`` indexes them).
    pool:
        Sorted dataset indices of the training pool (the test split already held out, see
        :func:`bflray.data.split_train_test`).
    scheme:
        ``"iid"`` (its parts are exactly :func:`partition_iid`'s), ``"dirichlet"`` (label skew,
        ``alpha``), ``"quantity"`` (size skew, ``quantity_alpha``) or ``"ranges"`` (the paper's
        contiguous ranges).
    validation_fraction:
        Share of each hospital's samples held out for validation (see :func:`split_validation`).

    Returns
    -------
    list[HospitalSplit]
        Hospital ``h``'s split at position ``h``; together disjoint and exactly the pool, every
        hospital non-empty (two samples at least when ``validation_fraction > 0``).
    """
    pool = np.asarray(pool)
    min_samples = 2 if validation_fraction > 0 else 1
    if scheme == "iid":
        if len(pool) < num_hospitals * min_samples:
            raise DataError(
                f"partition='iid' over federation.hospitals={num_hospitals}: {len(pool)} training samples "
                f"cannot give every hospital at least {min_samples}"
            )
        parts = partition_iid(pool, num_hospitals=num_hospitals, seed=seed)
    elif scheme == "dirichlet":
        parts = partition_dirichlet(
            pool, labels, num_hospitals=num_hospitals, seed=seed, alpha=alpha, min_samples=min_samples
        )
    elif scheme == "quantity":
        parts = partition_quantity(
            pool, num_hospitals=num_hospitals, seed=seed, quantity_alpha=quantity_alpha, min_samples=min_samples
        )
    elif scheme == "ranges":
        parts = partition_ranges(pool, num_hospitals=num_hospitals, min_samples=min_samples)
    else:
        raise DataError(f"data.partition={scheme!r} is not one of {', '.join(PARTITION_SCHEMES)}")
    return [
        split_validation(part, validation_fraction=validation_fraction, seed=seed, hospital=h)
        for h, part in enumerate(parts)
    ]
