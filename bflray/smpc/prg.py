"""The cryptographic generator behind every mask: AES-128 in counter mode.

Masks, Shamir coefficients and Beaver triples are the one exception to bflray's seeded
randomness (see ARCHITECTURE, "Determinism"): their keys come from the operating system
(:mod:`secrets`) and no result may depend on them. Tests pass a fixed key to
:class:`CryptoRandom` so that statistical checks pass deterministically.

A 16-byte seed is an AES-128 key; element i of its stream sits at byte 8·i (16·i for small
moduli) of the AES-CTR keystream whose initial counter block is 0, so any slice of a mask can
be regenerated without the rest: a share that is pure mask travels as its seed.

Uniformity mod p. For p = 2^61 - 1 an element is the low 61 bits of a 64-bit word, a value
in [0, p] where p stands for 0: 0 has probability 2^-60 and every other element 2^-61, a
statistical distance of about 2^-61 from uniform. For a prime p < 2^32 an element is a
128-bit word reduced mod p: statistical distance below p / 2^128 < 2^-96.
"""

from __future__ import annotations

import secrets

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from numpy.typing import NDArray

from bflray.smpc.field import MERSENNE_61, U64, reduce

#: Bytes in a seed: one AES-128 key.
SEED_BYTES = 16

_P = np.uint64(MERSENNE_61)
_ZEROS = bytearray(0)


def _keystream(key: bytes, first_block: int, nbytes: int) -> NDArray[np.uint8]:
    global _ZEROS
    if len(_ZEROS) < nbytes:
        _ZEROS = bytearray(max(nbytes, 2 * len(_ZEROS)))
    out = np.empty(nbytes + 16, dtype=np.uint8)
    encryptor = Cipher(algorithms.AES(key), modes.CTR(first_block.to_bytes(16, "big"))).encryptor()
    encryptor.update_into(memoryview(_ZEROS)[:nbytes], memoryview(out))  # type: ignore[arg-type]
    return out[:nbytes]


def expand_seed(seed: bytes, *, start: int, count: int, modulus: int = MERSENNE_61) -> U64:
    """Elements ``start .. start + count - 1`` of the field-element stream keyed by ``seed``."""
    if modulus == MERSENNE_61:
        skip = start % 2  # two 8-byte elements per 16-byte AES block
        raw = _keystream(seed, start // 2, 8 * (count + skip)).view(np.uint64)[skip:]
        raw &= _P
        return raw
    words = _keystream(seed, start, 16 * count).view(np.uint64).reshape(count, 2)
    m = np.uint64(modulus)
    hi = words[:, 0] % m
    two64 = np.uint64(pow(2, 64, modulus))
    return reduce(hi * two64 + words[:, 1] % m, modulus)


class CryptoRandom:
    """A source of seeds and uniform field elements from AES-CTR.

    Parameters
    ----------
    key:
        16 bytes. ``None`` (the default, and the only choice outside tests) draws a fresh key
        and every seed from the operating system's entropy.
    """

    def __init__(self, key: bytes | None = None) -> None:
        if key is not None and len(key) != SEED_BYTES:
            raise ValueError(f"key must be {SEED_BYTES} bytes, got {len(key)}")
        self._fixed = key is not None
        self._key = key if key is not None else secrets.token_bytes(SEED_BYTES)
        self._block = 0

    def _take(self, nbytes: int) -> NDArray[np.uint8]:
        blocks = -(-nbytes // 16)
        out = _keystream(self._key, self._block, 16 * blocks)[:nbytes]
        self._block += blocks
        return out

    def seeds(self, count: int) -> NDArray[np.uint8]:
        """``count`` fresh seeds, an array of shape (count, 16)."""
        if self._fixed:
            return self._take(SEED_BYTES * count).reshape(count, SEED_BYTES).copy()
        return np.frombuffer(secrets.token_bytes(SEED_BYTES * count), dtype=np.uint8).reshape(count, SEED_BYTES)

    def elements(self, shape: tuple[int, ...], modulus: int = MERSENNE_61) -> U64:
        """Uniform field elements of the given shape, from a fresh seed."""
        seed = bytes(self.seeds(1)[0])
        count = int(np.prod(shape))
        return expand_seed(seed, start=0, count=count, modulus=modulus).reshape(shape)

    def throughput_bytes_per_second(self, nbytes: int = 1 << 26) -> float:
        """Measured keystream bytes per second of this generator on this machine."""
        import time

        start = time.perf_counter()
        _keystream(self._key, 0, nbytes)
        return nbytes / (time.perf_counter() - start)
