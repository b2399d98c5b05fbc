"""Every random draw derives from ``SeedSequence((seed, round, hospital, purpose))``.

Because each draw is keyed by who makes it and why, a run's results do not depend on the
backend, on how hospitals are packed into actors, or on the order actors answer.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from enum import IntEnum
from typing import Any

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


# numpy's SeedSequence hash (NEP 19, numpy/random/bit_generator.pyx), reproduced so that many
# hospitals' seed pools are hashed in one vectorised pass; tests check it word for word.
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_POOL_SIZE = 4
_MASK32 = 0xFFFFFFFF
# PCG64's 128-bit LCG multiplier (numpy/random/src/pcg64/pcg64.h, PCG_DEFAULT_MULTIPLIER_128)
_PCG_MULT = (2549297995355413924 << 64) + 4865540595714422341
_MASK128 = (1 << 128) - 1


def _int_words(value: int) -> list[int]:
    """A non-negative int as numpy coerces it into a seed: 32-bit words, least significant first."""
    if value < 0:
        raise ValueError(f"seed words must be non-negative, got {value}")
    words = [value & _MASK32]
    value >>= 32
    while value:
        words.append(value & _MASK32)
        value >>= 32
    return words


class _Hasher:
    """SeedSequence's ``hashmix``, whose multiplier changes at each call; values are uint32 arrays.
    The pool is mixed with constants A and its output words drawn with constants B."""

    def __init__(self, init: int = _INIT_A, mult: int = _MULT_A) -> None:
        self.const, self.mult = init, mult

    def __call__(self, value: np.ndarray) -> np.ndarray:
        value = value ^ np.uint32(self.const)
        self.const = (self.const * self.mult) & _MASK32
        mixed: np.ndarray = np.multiply(value, np.uint32(self.const))  # uint32, wrapping
        out: np.ndarray = mixed ^ (mixed >> np.uint32(16))
        return out


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    result: np.ndarray = np.multiply(x, np.uint32(_MIX_L)) - np.multiply(y, np.uint32(_MIX_R))  # uint32, wrapping
    out: np.ndarray = result ^ (result >> np.uint32(16))
    return out


def _pools(entropy: np.ndarray) -> np.ndarray:
    """SeedSequence pools (R × 4 uint32) of R entropy rows of equal length (R × W uint32)."""
    rows, width = entropy.shape
    hashmix = _Hasher()
    zero = np.zeros(rows, dtype=np.uint32)
    pool = [hashmix(entropy[:, i] if i < width else zero) for i in range(_POOL_SIZE)]
    for src in range(_POOL_SIZE):
        for dst in range(_POOL_SIZE):
            if src != dst:
                pool[dst] = _mix(pool[dst], hashmix(pool[src]))
    for src in range(_POOL_SIZE, width):
        for dst in range(_POOL_SIZE):
            pool[dst] = _mix(pool[dst], hashmix(entropy[:, src]))
    return np.stack(pool, axis=1)


def _pcg64_words(pools: np.ndarray) -> np.ndarray:
    """``generate_state(4, uint64)`` of each pool (R × 4 uint64)."""
    draw = _Hasher(_INIT_B, _MULT_B)
    out = np.stack([draw(pools[:, i % _POOL_SIZE]) for i in range(8)], axis=1)
    return out.astype("<u4").view("<u8").astype(np.uint64)


def _pcg64_state(words: list[int]) -> Any:  # numpy types the state as a private TypedDict
    """The state numpy's PCG64 starts in from ``generate_state(4, uint64)`` (``pcg64_set_seed``)."""
    seed, stream = (words[0] << 64) | words[1], (words[2] << 64) | words[3]
    inc = ((stream << 1) | 1) & _MASK128
    # from state 0: one step (0 · M + inc), add the seed, one more step
    state = (((inc + seed) & _MASK128) * _PCG_MULT + inc) & _MASK128
    return {"bit_generator": "PCG64", "state": {"state": state, "inc": inc}, "has_uint32": 0, "uinteger": 0}


class HospitalSeeds:
    """Where ``derive_rng(seed, round_, h, purpose)`` starts, for each of many hospitals.

    The seeds are hashed together (numpy's ``SeedSequence`` hash and PCG64 seeding, vectorised
    over the hospitals; a test checks the streams word for word), then :meth:`generators`
    re-seeds one generator per call for each hospital in turn: about 3 µs a hospital against
    10 µs for building its generator. ``seeds[lo:hi]`` is the seeds of hospitals ``lo … hi-1``.
    """

    def __init__(self, seed: int, round_: int, hospitals: np.ndarray, purpose: Purpose) -> None:
        self.seed, self.round, self.purpose = int(seed), int(round_), Purpose(purpose)
        self.hospitals = np.asarray(hospitals, dtype=np.int64).reshape(-1)
        self._words: list[list[int]] | None = None  # None: derive_rng's own way, hospital by hospital
        ids = self.hospitals
        if len(ids) and int(ids.min()) >= 0 and int(ids.max()) <= _MASK32:  # one seed word per id, as numpy
            prefix = np.array(_int_words(self.seed) + _int_words(self.round), dtype=np.uint32)
            entropy = np.empty((len(ids), len(prefix) + 2), dtype=np.uint32)
            entropy[:, : len(prefix)] = prefix
            entropy[:, len(prefix)] = ids
            entropy[:, len(prefix) + 1] = int(self.purpose)
            self._words = _pcg64_words(_pools(entropy)).tolist()

    def __len__(self) -> int:
        return len(self.hospitals)

    def __getitem__(self, rows: slice) -> HospitalSeeds:
        part = copy.copy(self)
        part.hospitals = self.hospitals[rows]
        part._words = None if self._words is None else self._words[rows]
        return part

    def generators(self) -> Iterator[np.random.Generator]:
        """For each hospital in turn, a generator in the state its ``derive_rng`` starts in.

        The same generator object is yielded every time, re-seeded for the next hospital:
        draw from it before advancing the iterator and keep no reference to it. Each call
        has its own generator, so threads may iterate at once."""
        if self._words is None:  # ids numpy would coerce into other words (negative ones raise there)
            for h in self.hospitals.tolist():
                yield derive_rng(self.seed, self.round, h, self.purpose)
            return
        bits = np.random.PCG64(0)
        generator = np.random.Generator(bits)
        for words in self._words:
            bits.state = _pcg64_state(words)
            yield generator
