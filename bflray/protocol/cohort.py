"""Per-round participant sampling, over-provisioning and mid-round dropouts.

Each round selects ``ceil(target · (1 + over_provision))`` hospitals uniformly without
replacement (at most all of them). Each selected hospital drops out mid-round with
probability ``dropout_probability`` and never reports; the others report in a simulated
order (exponential latencies), and the round uses the first ``target`` reports, discarding
the late ones, so a dropout never stalls the round: it only shrinks the cohort when too few
report. All draws are the federation's, seeded by ``(seed, round, FEDERATION, purpose)``,
so the cohort does not depend on the backend or the packing.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import numpy as np

from bflray.errors import ConfigError
from bflray.seeding import FEDERATION, Purpose, derive_rng


@dataclass(frozen=True)
class Cohort:
    """A round's participants, each array sorted by hospital id."""

    selected: np.ndarray
    dropped: np.ndarray
    late: np.ndarray
    used: np.ndarray


def cohort_target(*, num_hospitals: int, cohort_size: int, cohort_fraction: float) -> int:
    """Hospitals a round wants: ``cohort_size`` when set, else ``ceil(cohort_fraction · N)``."""
    if cohort_size > num_hospitals:
        raise ConfigError(f"federation.cohort_size={cohort_size} exceeds federation.hospitals={num_hospitals}")
    return cohort_size if cohort_size > 0 else max(1, ceil(cohort_fraction * num_hospitals))


def draw_cohort(
    *, seed: int, round_: int, num_hospitals: int, target: int, over_provision: float, dropout_probability: float,
    eligible: np.ndarray | None = None,
) -> Cohort:
    """The round's selection, dropouts, late reports and used cohort.

    ``eligible`` (sorted hospital ids) restricts the selection, e.g. to the hospitals the
    registry lists as active; by default every hospital is eligible.
    """
    pool = np.arange(num_hospitals, dtype=np.int64) if eligible is None else np.asarray(eligible, dtype=np.int64)
    count = min(len(pool), ceil(target * (1.0 + over_provision)))
    if count == len(pool):
        selected = pool
    else:
        picks = derive_rng(seed, round_, FEDERATION, Purpose.COHORT).choice(len(pool), size=count, replace=False)
        selected = np.sort(pool[picks]).astype(np.int64)
    if dropout_probability > 0:
        drops = derive_rng(seed, round_, FEDERATION, Purpose.DROPOUT).random(count) < dropout_probability
    else:
        drops = np.zeros(count, dtype=bool)
    reporters = selected[~drops]
    if len(reporters) > target:
        latency = derive_rng(seed, round_, FEDERATION, Purpose.LATENCY).exponential(size=count)[~drops]
        order = np.argsort(latency, kind="stable")
        used, late = np.sort(reporters[order[:target]]), np.sort(reporters[order[target:]])
    else:
        used, late = reporters, np.empty(0, dtype=np.int64)
    return Cohort(selected=selected, dropped=selected[drops], late=late, used=used)
