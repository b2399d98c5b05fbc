"""Homomorphic aggregation with CKKS: the encrypted-sum baseline secure aggregation is compared to.

The DP-BFL paper (Nagar) protects model parameters in transit with *additively homomorphic*
encryption: an aggregator adds ciphertexts and obtains the encryption of the sum without
seeing any single update. This module measures what that costs for a federation's updates,
using the CKKS scheme (Cheon, Kim, Kim & Song 2017, "Homomorphic Encryption for Arithmetic
of Approximate Numbers") as implemented by Microsoft SEAL behind the TenSEAL library
(Benaissa et al. 2021, https://github.com/OpenMined/TenSEAL).

The rule. CKKS packs ``poly_modulus_degree / 2`` real numbers into the slots of one
ciphertext, scaled by ``2**scale_bits`` and rounded, so each hospital's length-D update is
encrypted as ``ceil(D / slots)`` ciphertexts. Adding ciphertexts slot-wise adds the packed
vectors; decrypting the sums and dividing by the scale gives the plaintext sum up to a small
rounding and encryption noise (for the defaults, about ``N * 1e-8`` absolute per coordinate).

The simulated protocol, timed in three parts:

1. *encrypt* (hospitals): each row is encrypted under the federation's public key and
   serialised; the serialised bytes are the upload, summed into ``ciphertext_bytes``.
2. *sum* (aggregator): the aggregator, holding only a public context (no secret key),
   deserialises each upload and adds it into running ciphertext sums.
3. *decrypt* (key holder): the summed ciphertexts are serialised, loaded by the secret-key
   holder and decrypted.

A real deployment would split the secret key among hospitals (threshold CKKS); one key
holder stands in for that here. Only additions are performed, so the coefficient modulus is
one data prime plus the special prime SEAL reserves, the smallest chain that works, which
keeps ciphertexts small. The data prime has ``scale_bits + 20`` bits (at most 60): the 20
spare bits bound the sum's magnitude, checked before encrypting.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from bflray.errors import BflrayError, ConfigError, DataError

#: Largest total coefficient-modulus bits SEAL allows for 128-bit security, per degree.
_MAX_COEFF_BITS = {4096: 109, 8192: 218, 16384: 438, 32768: 881}

#: Bits of the data prime above the scale: headroom for the magnitude of the sum.
_INTEGER_BITS = 20
_MAX_PRIME_BITS = 60
_SCALE_BITS_RANGE = (20, 50)


class HomomorphicUnavailableError(BflrayError, ImportError):
    """TenSEAL, which provides CKKS, is not installed."""


@dataclass(frozen=True)
class HomomorphicCost:
    """What one homomorphic sum cost.

    Attributes
    ----------
    ciphertext_bytes:
        Total serialised ciphertext bytes uploaded by all hospitals (the communication cost).
    encrypt_seconds:
        Wall time of all hospitals' encryption and serialisation, summed.
    sum_seconds:
        Wall time of the aggregator's deserialisation and homomorphic additions.
    decrypt_seconds:
        Wall time of moving the summed ciphertexts to the key holder and decrypting them.
    """

    ciphertext_bytes: int
    encrypt_seconds: float
    sum_seconds: float
    decrypt_seconds: float


def ckks_sum(
    updates: np.ndarray, *, poly_modulus_degree: int = 8192, scale_bits: int = 40
) -> tuple[np.ndarray, HomomorphicCost]:
    """Sum the rows of ``updates`` under CKKS encryption.

    Parameters
    ----------
    updates:
        N x D updates, one row per hospital; finite floats.
    poly_modulus_degree:
        The CKKS ring degree, one of 4096, 8192, 16384, 32768; each ciphertext holds half
        as many values.
    scale_bits:
        log2 of the CKKS scale, 20 to 50: more bits, more precision and less headroom.

    Returns
    -------
    total, cost:
        The length-D float64 sum (approximate: within about ``N * 2**(14 - scale_bits)`` of
        the exact sum per coordinate) and what computing it cost.

    Raises
    ------
    ConfigError
        For an unsupported degree or scale, or a pair SEAL cannot secure.
    DataError
        For updates that are not a finite N x D float array, or whose sum could exceed the
        range the modulus leaves above the scale.
    HomomorphicUnavailableError
        When TenSEAL is not installed.
    """
    data_bits = _check_parameters(poly_modulus_degree, scale_bits)
    array = _check_updates(updates)
    # Worst case of any coordinate's sum; past 2**(data_bits - scale_bits - 1) CKKS wraps silently.
    headroom = 2.0 ** (data_bits - scale_bits - 1)
    largest = float(np.abs(array).sum(axis=0).max())
    if largest >= headroom:
        raise DataError(
            f"a coordinate's sum may reach {largest:.6g}, beyond the {headroom:g} that scale_bits={scale_bits} "
            f"leaves in a {data_bits}-bit prime; lower scale_bits or clip the updates"
        )
    tenseal = _import_tenseal()
    secret_context = _make_context(tenseal, poly_modulus_degree, data_bits, scale_bits)
    public_context = tenseal.context_from(
        secret_context.serialize(save_public_key=True, save_secret_key=False, save_galois_keys=False, save_relin_keys=False)
    )
    slots = poly_modulus_degree // 2
    starts = range(0, array.shape[1], slots)
    sums: list[Any] = []
    uploaded = 0
    encrypt_seconds = sum_seconds = 0.0
    for row in array:
        began = time.perf_counter()
        blobs = [tenseal.ckks_vector(public_context, row[start : start + slots].tolist()).serialize() for start in starts]
        encrypted = time.perf_counter()
        for index, blob in enumerate(blobs):
            ciphertext = tenseal.ckks_vector_from(public_context, blob)
            if index < len(sums):
                sums[index].add_(ciphertext)
            else:
                sums.append(ciphertext)
        summed = time.perf_counter()
        uploaded += sum(len(blob) for blob in blobs)
        encrypt_seconds += encrypted - began
        sum_seconds += summed - encrypted
    began = time.perf_counter()
    parts = [np.asarray(tenseal.ckks_vector_from(secret_context, part.serialize()).decrypt(), dtype=np.float64) for part in sums]
    total = np.concatenate(parts)
    decrypt_seconds = time.perf_counter() - began
    return total, HomomorphicCost(
        ciphertext_bytes=uploaded,
        encrypt_seconds=encrypt_seconds,
        sum_seconds=sum_seconds,
        decrypt_seconds=decrypt_seconds,
    )


def _check_parameters(poly_modulus_degree: int, scale_bits: int) -> int:
    if isinstance(poly_modulus_degree, bool) or poly_modulus_degree not in _MAX_COEFF_BITS:
        raise ConfigError(
            f"poly_modulus_degree must be a power of two in {sorted(_MAX_COEFF_BITS)}, "
            f"got poly_modulus_degree={poly_modulus_degree!r}"
        )
    low, high = _SCALE_BITS_RANGE
    if isinstance(scale_bits, bool) or not isinstance(scale_bits, int) or not low <= scale_bits <= high:
        raise ConfigError(f"scale_bits must be an int in [{low}, {high}], got scale_bits={scale_bits!r}")
    data_bits = min(_MAX_PRIME_BITS, scale_bits + _INTEGER_BITS)
    # One data prime and an equally large special prime.
    if 2 * data_bits > _MAX_COEFF_BITS[poly_modulus_degree]:
        largest = (_MAX_COEFF_BITS[poly_modulus_degree] // 2) - _INTEGER_BITS
        raise ConfigError(
            f"poly_modulus_degree={poly_modulus_degree} allows at most {_MAX_COEFF_BITS[poly_modulus_degree]} "
            f"modulus bits at 128-bit security, so scale_bits <= {largest}; got scale_bits={scale_bits}"
        )
    return data_bits


def _check_updates(updates: np.ndarray) -> NDArray[np.float64]:
    array = np.asarray(updates)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise DataError(f"updates must be a non-empty N x D array (one row per hospital), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise DataError(f"updates must be a floating-point array, got dtype {array.dtype}")
    if not np.all(np.isfinite(array)):
        raise DataError("updates must be finite; CKKS cannot encode NaN or infinity")
    return array.astype(np.float64, copy=False)


def _import_tenseal() -> ModuleType:
    try:
        import tenseal
    except ImportError as exc:
        raise HomomorphicUnavailableError(
            "CKKS aggregation needs TenSEAL: pip install tenseal (bflray.smpc.homomorphic)"
        ) from exc
    return cast(ModuleType, tenseal)


def _make_context(tenseal: ModuleType, poly_modulus_degree: int, data_bits: int, scale_bits: int) -> Any:
    try:
        context = tenseal.context(
            tenseal.SCHEME_TYPE.CKKS, poly_modulus_degree=poly_modulus_degree, coeff_mod_bit_sizes=[data_bits, data_bits]
        )
    except ValueError as exc:
        raise ConfigError(
            f"SEAL rejected CKKS parameters poly_modulus_degree={poly_modulus_degree}, "
            f"coeff_mod_bit_sizes={[data_bits, data_bits]}: {exc}"
        ) from exc
    context.global_scale = 2.0**scale_bits
    return context


__all__ = ["HomomorphicCost", "HomomorphicUnavailableError", "ckks_sum"]
