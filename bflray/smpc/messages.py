"""What travels between hospitals, the dealer and the aggregation nodes: frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bflray.smpc.field import U64
from bflray.smpc.prg import SEED_BYTES


@dataclass(frozen=True)
class ShareBlock:
    """One node's shares of a block of hospitals × a contiguous slice of parameters.

    Exactly one of ``values`` (dense elements, shape (hospitals, stop - start)) and ``seeds``
    (shape (hospitals, 16): each hospital's share is the mask stream of its seed, sliced at
    [start, stop)) is set.
    """

    hospital_ids: NDArray[np.int64]
    start: int
    stop: int
    values: U64 | None = None
    seeds: NDArray[np.uint8] | None = None

    def __post_init__(self) -> None:
        if (self.values is None) == (self.seeds is None):
            raise ValueError("a ShareBlock carries either values or seeds")
        rows = len(self.hospital_ids)
        if self.values is not None and self.values.shape != (rows, self.stop - self.start):
            raise ValueError(f"values shape {self.values.shape} != ({rows}, {self.stop - self.start})")
        if self.seeds is not None and self.seeds.shape != (rows, SEED_BYTES):
            raise ValueError(f"seeds shape {self.seeds.shape} != ({rows}, {SEED_BYTES})")

    @property
    def nbytes(self) -> int:
        """Bytes on the wire for the shares (a seed is sent once per hospital, counted here)."""
        return int(self.values.nbytes if self.values is not None else self.seeds.nbytes)  # type: ignore[union-attr]


@dataclass(frozen=True)
class TripleShare:
    """One node's share of a square matrix Beaver triple (A, Aᵀ, C = A·Aᵀ) over Z_p.

    A is (rows, params); the node's share of A is the mask stream of ``seed_a`` laid out so
    that parameters [start, stop) are elements rows·start .. rows·stop - 1, row-major. The
    node's share of C (rows × rows) is the stream of ``seed_c`` or, for one node, ``c``.
    """

    node: int
    rows: int
    params: int
    seed_a: bytes
    seed_c: bytes | None = None
    c: U64 | None = None

    @property
    def nbytes(self) -> int:
        """Bytes the dealer sends this node."""
        return len(self.seed_a) + (len(self.seed_c) if self.seed_c is not None else 0) + (
            int(self.c.nbytes) if self.c is not None else 0
        )
