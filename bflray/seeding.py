"""Every random draw derives from ``SeedSequence((seed, round, hospital, purpose))``.

Because each draw is keyed by who makes it and why, a run's results do not depend on the
backend, on how hospitals are packed into actors, or on the order actors answer.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

#: Hospital id used for draws that belong to the federation as a whole (the global model,
#: the partition, the cohort).
FEDERATION = 2**32 - 1


class Purpose(IntEnum):
    """Why a draw is made; part of its seed so two purposes never share a stream."""

    PARTITION = 1
    INIT = 2
    SHUFFLE = 3
    COHORT = 4
    DROPOUT = 5  # a hospital dropping out of a round
    DROPOUT_MASK = 6  # the dropout layer's masks during local training
    LATENCY = 7  # simulated report order of a round's selected hospitals
    SYNTHETIC = 8  # generated benchmark features
    COMMITTEE = 9  # PoR committee samples of datapoints per classifier
    MAE = 10  # MAE initialisation, masking and batch order during pre-training
    MASK = 11  # masks kept at inference when encoding a hospital's data
    EDI = 12  # which datapoints a hospital publishes in its EDI transaction
    MALICIOUS = 13  # which hospitals are malicious (FLock), and their poisoned updates
    PRIVACY_NOISE = 14  # differential-privacy noise (central: hospital FEDERATION; local: per hospital)
    VALIDATION = 15  # the coordinator's validation part of the held-out split (dp_bfl)
    POISON = 16  # which of a malicious hospital's samples a data attack poisons, and how


def derive_seed_sequence(seed: int, round_: int, hospital: int, purpose: Purpose) -> np.random.SeedSequence:
    """The seed sequence for one (run, round, hospital, purpose) draw."""
    return np.random.SeedSequence((int(seed), int(round_), int(hospital), int(purpose)))


def derive_rng(seed: int, round_: int, hospital: int, purpose: Purpose) -> np.random.Generator:
    """A NumPy generator for one (run, round, hospital, purpose) draw."""
    return np.random.Generator(np.random.PCG64(derive_seed_sequence(seed, round_, hospital, purpose)))
