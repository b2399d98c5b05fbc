"""Driver side of secure aggregation: hospitals' sharing, streaming to nodes, reconstruction.

The round's aggregate Σ_i W_i x_i (W_i public non-negative integers: 1 for a plain sum,
sample counts for FedAvg, quantised reputation for reputation weighting) is computed as

1. each hospital encodes its update (:class:`~bflray.smpc.codec.FixedPointCodec`) and splits
   it into k shares: additive k-of-k (k - 1 masks sent as 16-byte seeds, the last share
   dense) or Shamir t-of-k (dense);
2. node j receives its share of every block of hospitals × parameters and adds the weighted
   shares to its partial sum (:meth:`~bflray.smpc.node.AggregationNode.receive`);
3. the driver collects the partial sums (all k for additive, any t for Shamir) and
   reconstructs, then decodes.

Blocks are streamed, so memory is bounded by one block whatever N and D. The total weight
is checked against :attr:`~bflray.smpc.codec.FixedPointCodec.max_summands` before anything
is shared. Security: semi-honest nodes, no collusion of all k (additive) or of t (Shamir).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bflray.smpc.additive import last_share, last_share_seeded, reconstruct_additive
from bflray.smpc.codec import FixedPointCodec
from bflray.smpc.errors import ReconstructionError, SmpcError
from bflray.smpc.messages import ShareBlock
from bflray.smpc.node import AggregationNode
from bflray.smpc.prg import SEED_BYTES, CryptoRandom
from bflray.smpc.shamir import reconstruct_shamir, share_shamir
from bflray.smpc.field import U64, centered

#: (hospital ids, their updates for parameters [start, start + width), start)
UpdateBlock = tuple[NDArray[np.int64], NDArray[np.floating], int]


@dataclass(frozen=True)
class SumResult:
    """A reconstructed aggregate and what it cost on the wire."""

    total: NDArray[np.float64]
    total_weight: int
    bytes_to_nodes: int
    bytes_from_nodes: int


class SecureAggregator:
    """Shares updates for k nodes and reconstructs their partial sums.

    Parameters
    ----------
    codec:
        Fixed-point encoding (scale, bound, prime).
    num_nodes:
        k.
    threshold:
        ``None`` for additive k-of-k sharing; t for Shamir t-of-k.
    num_hospitals:
        N; hospital ids are 0 .. N-1.
    compress_masks:
        Send pure-mask additive shares as seeds (nodes expand them).
    """

    def __init__(
        self,
        codec: FixedPointCodec,
        *,
        num_nodes: int,
        num_hospitals: int,
        threshold: int | None = None,
        compress_masks: bool = True,
        random: CryptoRandom | None = None,
    ) -> None:
        if not 1 <= num_nodes <= 7:
            raise SmpcError(f"num_nodes must be in [1, 7], got {num_nodes}")
        if threshold is not None and not 1 <= threshold <= num_nodes:
            raise SmpcError(f"threshold must be in [1, {num_nodes}], got {threshold}")
        self.codec = codec
        self.num_nodes = num_nodes
        self.threshold = threshold
        self.num_hospitals = num_hospitals
        self.compress_masks = compress_masks and threshold is None
        self._random = random or CryptoRandom()
        self._seeds: NDArray[np.uint8] | None = None

    def new_round(self) -> None:
        """Forget the hospitals' mask seeds: every round draws fresh masks."""
        self._seeds = None

    def share(self, hospital_ids: ArrayLike, updates: ArrayLike, *, start: int) -> list[ShareBlock]:
        """Hospital side: one :class:`ShareBlock` per node for a block of updates."""
        ids = np.asarray(hospital_ids, dtype=np.int64)
        x = np.asarray(updates)
        if not self.compress_masks:
            return self.share_elements(ids, self.codec.encode(x, hospital_ids=ids), start=start)
        self.codec.check(x, hospital_ids=ids)
        seeds = self._hospital_seeds(ids)
        rows = (self.codec.to_integers(row, checked=True) for row in x)  # row by row: stays in cache
        last = last_share_seeded(rows, seeds, num_rows=len(ids), start=start, count=x.shape[1],
                                 modulus=self.codec.modulus)  # fmt: skip
        stop = start + x.shape[1]
        return [*(ShareBlock(ids, start, stop, seeds=s) for s in seeds), ShareBlock(ids, start, stop, values=last)]

    def share_elements(self, ids: NDArray[np.int64], elements: U64, *, start: int) -> list[ShareBlock]:
        """As :meth:`share`, for updates already encoded."""
        stop = start + elements.shape[1]
        k, p = self.num_nodes, self.codec.modulus
        if self.threshold is not None:
            dense = share_shamir(elements, threshold=self.threshold, num_shares=k, random=self._random, modulus=p)
            return [ShareBlock(ids, start, stop, values=dense[j]) for j in range(k)]
        if not self.compress_masks:
            masks = [self._random.elements(elements.shape, p) for _ in range(k - 1)]
            blocks = [ShareBlock(ids, start, stop, values=m) for m in masks]
            return [*blocks, ShareBlock(ids, start, stop, values=last_share(elements, masks, p))]
        seeds = self._hospital_seeds(ids)
        last = last_share_seeded((centered(row, p) for row in elements), seeds, num_rows=len(ids), start=start,
                                 count=stop - start, modulus=p)  # fmt: skip
        return [*(ShareBlock(ids, start, stop, seeds=s) for s in seeds), ShareBlock(ids, start, stop, values=last)]

    def _hospital_seeds(self, ids: NDArray[np.int64]) -> list[NDArray[np.uint8]]:
        """Each hospital's k - 1 mask seeds for this round: one stream per (hospital, node) over all parameters."""
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_hospitals):
            raise SmpcError(f"hospital ids must lie in [0, {self.num_hospitals}), got {ids.min()}..{ids.max()}")
        k, n = self.num_nodes, self.num_hospitals
        if self._seeds is None:
            self._seeds = self._random.seeds((k - 1) * n).reshape(k - 1, n, SEED_BYTES)
        return [self._seeds[j, ids] for j in range(k - 1)]

    def reconstruct(self, partials: Mapping[int, U64]) -> U64:
        """The aggregate's field elements from partial sums keyed by node index."""
        if self.threshold is None:
            if sorted(partials) != list(range(self.num_nodes)):
                raise ReconstructionError(f"additive sharing needs all {self.num_nodes} nodes, got {sorted(partials)}")
            return reconstruct_additive([partials[j] for j in range(self.num_nodes)], self.codec.modulus)
        return reconstruct_shamir({j + 1: v for j, v in partials.items()}, threshold=self.threshold,
                                  modulus=self.codec.modulus)  # fmt: skip

    def secure_sum(
        self,
        nodes: Sequence[AggregationNode],
        round_: int,
        blocks: Iterable[UpdateBlock],
        *,
        weights: ArrayLike | None = None,
        dropped: Iterable[int] = (),
    ) -> SumResult:
        """Σ_i W_i x_i over the streamed blocks, in fixed point (exactly the plaintext fixed-point sum).

        ``weights`` are the public integer weights indexed by hospital id (default all 1);
        ``dropped`` lists nodes that fail before reporting their partial sums.
        """
        w = None if weights is None else np.asarray(weights)
        if w is not None and (w.shape != (self.num_hospitals,) or not np.issubdtype(w.dtype, np.integer)):
            raise SmpcError(f"weights must be {self.num_hospitals} integers, got shape {w.shape}, dtype {w.dtype}")
        total_weight = self.num_hospitals if w is None else int(w.sum())
        self.codec.check_summands(total_weight)
        self.new_round()
        sent = 0
        for ids, updates, start in blocks:
            ids = np.asarray(ids, dtype=np.int64)
            for node, block in zip(nodes, self.share(ids, updates, start=start), strict=True):
                sent += block.nbytes if block.values is not None or start == 0 else 0
                node.receive(round_, block, None if w is None else w[ids])
        gone = set(dropped)
        partials = {node.index: node.partial_sum(round_) for node in nodes if node.index not in gone}
        received = sum(int(v.nbytes) for v in partials.values())
        return SumResult(self.codec.decode(self.reconstruct(partials)), total_weight, sent, received)


def quantize_weights(weights: ArrayLike, *, bits: int = 16) -> NDArray[np.int64]:
    """Public real weights in [0, 1] (reputation) → the integers round(w · 2^bits) nodes apply."""
    w = np.asarray(weights, dtype=np.float64)
    if (w < 0).any() or (w > 1).any() or not np.isfinite(w).all():
        raise SmpcError("weights to quantise must lie in [0, 1]")
    return np.rint(w * 2.0**bits).astype(np.int64)
