"""Split a training pool over hospitals: disjoint, deterministic from the run's seed."""

from __future__ import annotations

import numpy as np

from bflray.errors import DataError
from bflray.seeding import FEDERATION, Purpose, derive_rng


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
    order = derive_rng(seed, 1, FEDERATION, Purpose.PARTITION).permutation(len(pool))
    return [np.sort(pool[part]) for part in np.array_split(order, num_hospitals)]
