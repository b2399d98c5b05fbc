"""The run's secure aggregation: k aggregation nodes hosted by the backend (Ray actors on the
Ray backend), the dealer of Beaver triples, and the driver's side of the protocol.

The driver acts for the hospitals when it splits their deltas into shares (a simulation keeps
every hospital's update in the driver anyway); the nodes only ever receive shares, and reveal
only their partial sums and, for the filters, the N × N Gram matrix of the deltas. Additive
k-of-k sharing needs every node; Shamir t-of-k reconstructs from any t partial sums, so a
round survives k − t nodes failing (the Gram matrix, on additive shares, needs all k).
A hospital whose delta has a coordinate beyond ``aggregation.fixed_point_bound`` cannot be
encoded without wrapping: it is refused (excluded from the round), never wrapped.

``ckks`` sums the weighted deltas encrypted with CKKS (TenSEAL) instead: the comparison point
of the DP-BFL paper, not a threshold scheme.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import numpy as np

from bflray.config import Config
from bflray.errors import BackendError
from bflray.protocol.backend import Backend
from bflray.smpc import AggregationNode, Dealer, FixedPointCodec, SecureAggregator, quantize_weights, secure_gram
from bflray.smpc.errors import ReconstructionError

log = logging.getLogger("bflray")

#: Weight fractional bits: coefficients in [0, 1] become integers round(c · 2^16).
WEIGHT_BITS = 16
#: Elements per streamed block (hospitals × parameters): 4 Mi, 32 MiB of uint64.
BLOCK_ELEMENTS = 1 << 22


class SecureAggregation:
    """Aggregation nodes and the driver's protocol for one run (see the module docstring)."""

    def __init__(self, config: Config, backend: Backend, *, num_params: int) -> None:
        cfg = config.aggregation
        self.mode = cfg.secure
        self.num_params = num_params
        self.threshold = cfg.threshold if cfg.secure == "shamir" else None
        self.codec = FixedPointCodec(scale_bits=cfg.fixed_point_bits, bound=cfg.fixed_point_bound)
        self.bytes_to_nodes = 0
        self.bytes_from_nodes = 0
        #: Called with each block's index after it was sent (fault injection in tests).
        self.on_block: Callable[[int], None] | None = None
        #: Hospitals × parameters per streamed block: bounds the driver's and the nodes' memory.
        self.block_elements = BLOCK_ELEMENTS
        self.nodes: list[Any] = []
        if self.mode in ("additive", "shamir"):
            factories = [partial(AggregationNode, j, num_params=num_params) for j in range(cfg.nodes)]
            self.nodes = backend.host_roles(
                "aggregation_node", factories, no_wait=frozenset({"receive", "receive_triple", "gram_accumulate"})
            )
            self.dealer = Dealer(cfg.nodes)

    def quantize(self, coefficients: np.ndarray) -> np.ndarray:
        """Coefficients in [0, 1] as the nodes apply them: multiples of 2^-16."""
        return quantize_weights(coefficients, bits=WEIGHT_BITS).astype(np.float64) / 2.0**WEIGHT_BITS

    def encodable(self, deltas: np.ndarray) -> np.ndarray:
        """Which rows the fixed-point codec can encode without wrapping."""
        if self.mode == "ckks" or not len(deltas):
            return np.ones(len(deltas), dtype=bool)
        return np.asarray(np.isfinite(deltas).all(axis=1) & (np.abs(deltas).max(axis=1) <= self.codec.bound))

    def gram(self, round_: int, deltas: np.ndarray) -> np.ndarray:
        """The deltas' Gram matrix X·Xᵀ, computed by the nodes on additive shares."""
        n = len(deltas)
        aggregator = SecureAggregator(self.codec, num_nodes=len(self.nodes), num_hospitals=n)
        blocks = ((deltas[:, s:e], s) for s, e in _slices(self.num_params, n, self.block_elements))
        result = secure_gram(self.nodes, self.dealer, aggregator, round_, blocks, num_params=self.num_params)
        self.bytes_to_nodes += result.bytes_to_nodes
        self.bytes_from_nodes += result.bytes_from_nodes
        return result.gram

    def weighted_sum(self, round_: int, deltas: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
        """Σ c_i Δ_i, with ``coefficients`` already quantized (:meth:`quantize`)."""
        if self.mode == "ckks":
            from bflray.smpc.homomorphic import ckks_sum

            total, cost = ckks_sum(deltas * coefficients[:, None])
            self.bytes_to_nodes += cost.ciphertext_bytes
            return total
        n = len(deltas)
        weights = np.rint(coefficients * 2.0**WEIGHT_BITS).astype(np.int64)
        aggregator = SecureAggregator(
            self.codec, num_nodes=len(self.nodes), num_hospitals=n, threshold=self.threshold
        )
        self.codec.check_summands(int(weights.sum()))
        ids = np.arange(n, dtype=np.int64)
        for index, (start, stop) in enumerate(_slices(self.num_params, n, self.block_elements)):
            for node, block in zip(self.nodes, aggregator.share(ids, deltas[:, start:stop], start=start), strict=True):
                self.bytes_to_nodes += block.nbytes if block.values is not None or start == 0 else 0
                node.receive(round_, block, weights)
            if self.on_block is not None:
                self.on_block(index)
        partials = dict(self._partials(round_))
        needed = len(self.nodes) if self.threshold is None else self.threshold
        if len(partials) < needed:
            raise ReconstructionError(
                f"round {round_}: {len(partials)} of {len(self.nodes)} aggregation nodes answered, {needed} needed"
            )
        self.bytes_from_nodes += sum(int(v.nbytes) for v in partials.values())
        summed = self.codec.decode(aggregator.reconstruct(_first(partials, needed)))
        return np.asarray(summed, dtype=np.float64) / 2.0**WEIGHT_BITS

    def _partials(self, round_: int) -> Iterator[tuple[int, Any]]:
        for node in self.nodes:
            try:
                yield node.index, node.partial_sum(round_)
            except BackendError as exc:  # a node that died: Shamir does without it
                log.warning("round %d: aggregation node %d failed: %s", round_, node.index, exc)


def _first(partials: dict[int, Any], count: int) -> dict[int, Any]:
    return {j: partials[j] for j in sorted(partials)[:count]}


def _slices(num_params: int, rows: int, block_elements: int) -> Iterator[tuple[int, int]]:
    width = max(1, block_elements // max(rows, 1))
    for start in range(0, num_params, width):
        yield start, min(start + width, num_params)
