"""Encoder-Decoder Interface (EDI) transactions (PoR paper, Sec. III-C, Fig. 4).

τ_i = (ω_i, [(κ, ŷ, y), …]): a hospital's downstream classifier weights ω_i and m tuples of
an encoded datapoint κ (the encodings of its visible patches), the classifier's output ŷ on
it, and its ground truth y. The encoder λ_i and the raw input never leave the hospital.

A transaction has one canonical byte encoding (a fixed header, then little-endian arrays in
a fixed order), so its keccak256 is what the chain commits and any validator can recompute.
The magic says the task: ``EDI1`` for class-id labels (m,), ``EDIM`` for multi-label 0/1
targets (m × C, e.g. ChestMNIST's findings).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from eth_hash.auto import keccak

from bflray.errors import BflrayError

_MAGIC = b"EDI1"
_MAGIC_MULTI_LABEL = b"EDIM"
_HEADER = struct.Struct("<4sQQIIIII")  # magic, round, hospital, D, m, K, W, C


class EDIError(BflrayError, ValueError):
    """An EDI transaction's bytes or arrays are malformed."""


@dataclass(frozen=True, eq=False)
class EDITransaction:
    """One hospital's EDI transaction for one round.

    Attributes
    ----------
    weights:
        ω: the classifier's state, float32 (D,).
    kappa:
        κ: m encoded datapoints, float32 (m × K × W).
    outputs:
        ŷ: the classifier's outputs on κ (probabilities: softmax, or per-label sigmoid for a
        multi-label task), float32 (m × C).
    labels:
        y: ground truth, int64: class ids (m,), or multi-label 0/1 targets (m × C).
    """

    round: int
    hospital: int
    weights: np.ndarray
    kappa: np.ndarray
    outputs: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        m = self.kappa.shape[0]
        labels_ok = self.labels.shape in ((m,), (m, *self.outputs.shape[1:]))
        if self.weights.ndim != 1 or self.kappa.ndim != 3 or self.outputs.ndim != 2 or not labels_ok:
            raise EDIError(
                f"hospital {self.hospital}: shapes weights {self.weights.shape}, kappa {self.kappa.shape}, "
                f"outputs {self.outputs.shape}, labels {self.labels.shape} do not form a transaction"
            )
        if self.outputs.shape[0] != m:
            raise EDIError(f"hospital {self.hospital}: {self.outputs.shape[0]} outputs for {m} datapoints")

    def encode(self) -> bytes:
        """The canonical bytes."""
        m, k, w = self.kappa.shape
        magic = _MAGIC_MULTI_LABEL if self.multi_label else _MAGIC
        header = _HEADER.pack(magic, self.round, self.hospital, self.weights.shape[0], m, k, w, self.outputs.shape[1])
        return b"".join(
            [
                header,
                np.ascontiguousarray(self.weights, dtype="<f4").tobytes(),
                np.ascontiguousarray(self.kappa, dtype="<f4").tobytes(),
                np.ascontiguousarray(self.outputs, dtype="<f4").tobytes(),
                np.ascontiguousarray(self.labels, dtype="<i8").tobytes(),
            ]
        )

    @property
    def multi_label(self) -> bool:
        """Whether the labels are per-label 0/1 targets (m × C) rather than class ids."""
        return self.labels.ndim == 2

    @property
    def hash(self) -> bytes:
        return keccak(self.encode())

    @classmethod
    def decode(cls, data: bytes) -> EDITransaction:
        """Parse canonical bytes; any inconsistency raises :class:`EDIError`."""
        if len(data) < _HEADER.size:
            raise EDIError(f"{len(data)} bytes are too short for an EDI header of {_HEADER.size}")
        magic, round_, hospital, d, m, k, w, c = _HEADER.unpack_from(data)
        if magic not in (_MAGIC, _MAGIC_MULTI_LABEL):
            raise EDIError(f"not an EDI transaction: magic {magic!r}")
        label_shape = (m, c) if magic == _MAGIC_MULTI_LABEL else (m,)
        sizes = [d * 4, m * k * w * 4, m * c * 4, int(np.prod(label_shape)) * 8]
        if len(data) != _HEADER.size + sum(sizes):
            raise EDIError(f"hospital {hospital}: {len(data)} bytes, expected {_HEADER.size + sum(sizes)}")
        offset = _HEADER.size
        arrays = []
        for size, dtype in zip(sizes, ("<f4", "<f4", "<f4", "<i8"), strict=True):
            arrays.append(np.frombuffer(data, dtype=dtype, count=size // np.dtype(dtype).itemsize, offset=offset))
            offset += size
        weights, kappa, outputs, labels = arrays
        return cls(
            round=round_, hospital=hospital, weights=weights.astype(np.float32), kappa=kappa.reshape(m, k, w).astype(np.float32),
            outputs=outputs.reshape(m, c).astype(np.float32), labels=labels.reshape(label_shape).astype(np.int64),
        )
