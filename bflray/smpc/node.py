"""An aggregation node: holds one share of every update and computes on shares only.

A plain, picklable class (a Ray actor hosts it elsewhere) with coarse-grained methods: one
call per block of hospitals × parameters. It never sees an update, only its share; what it
returns is either uniform (a masked opening X_j - A_j) or a share of an aggregate.

Weighted sums use public integer weights W_i applied by the node: Σ_i W_i s_ij is a share
of Σ_i W_i x_i because sharing is linear. The node, not the hospital, applies the weight, so
a hospital cannot inflate its own reputation or sample-count weight.

Gram matrix on shares (semi-honest, see :mod:`bflray.smpc.gram`): with a square Beaver
triple (A, C = A·Aᵀ) from the dealer and the opened E = X - A,

    X·Xᵀ = C + E·Aᵀ + A·Eᵀ + E·Eᵀ,

which node j computes on its shares as C_j + M_j + M_jᵀ (+ E·Eᵀ on node 0), M_j = E·A_jᵀ.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from bflray.smpc import field as fp
from bflray.smpc.additive import expand_rows, sum_expanded
from bflray.smpc.errors import SmpcError
from bflray.smpc.field import MERSENNE_61, U64
from bflray.smpc.messages import ShareBlock, TripleShare
from bflray.smpc.prg import expand_seed


def block_elements(block: ShareBlock, modulus: int = MERSENNE_61) -> U64:
    """A block's shares as dense elements, expanding seeds where the shares are pure masks."""
    if block.values is not None:
        return block.values
    if block.seeds is None:
        raise SmpcError("a ShareBlock carries either values or seeds")
    return expand_rows(block.seeds, start=block.start, stop=block.stop, modulus=modulus)


def triple_a_slice(triple: TripleShare, start: int, stop: int, modulus: int = MERSENNE_61) -> U64:
    """A node's share of A for parameters [start, stop): column-major stream, (rows, stop - start)."""
    flat = expand_seed(triple.seed_a, start=triple.rows * start, count=triple.rows * (stop - start), modulus=modulus)
    return flat.reshape(stop - start, triple.rows).T


def triple_c(triple: TripleShare, modulus: int = MERSENNE_61) -> U64:
    """A node's share of C = A·Aᵀ."""
    if triple.c is not None:
        return triple.c
    if triple.seed_c is None:
        raise SmpcError(f"triple share of node {triple.node} carries no share of C")
    return expand_seed(triple.seed_c, start=0, count=triple.rows**2, modulus=modulus).reshape(triple.rows, triple.rows)


@dataclass
class _GramState:
    triple: TripleShare
    z: U64
    pending: dict[tuple[int, int], U64] = field(default_factory=dict)


class AggregationNode:
    """One of the k aggregation nodes of the SMPC design.

    Parameters
    ----------
    index:
        The node's position j in 0 .. k-1; its Shamir evaluation point is j + 1.
    num_params:
        Length of an update.
    modulus:
        The field's prime.
    """

    def __init__(self, index: int, *, num_params: int, modulus: int = MERSENNE_61) -> None:
        if index < 0 or num_params < 1:
            raise SmpcError(f"need index >= 0 and num_params >= 1, got index={index}, num_params={num_params}")
        self.index = index
        self.num_params = num_params
        self.modulus = fp.check_modulus(modulus)
        self._sums: dict[int, U64] = {}
        self._grams: dict[int, _GramState] = {}

    # secure sum ------------------------------------------------------------------------
    def receive(self, round_: int, block: ShareBlock, weights: ArrayLike | None = None) -> None:
        """Add Σ_i W_i · share_i of a block to this round's partial sum (W_i = 1 without weights)."""
        if not 0 <= block.start < block.stop <= self.num_params:
            raise SmpcError(f"parameter slice [{block.start}, {block.stop}) outside [0, {self.num_params})")
        if weights is None:
            if block.seeds is not None:
                part = sum_expanded(block.seeds, start=block.start, stop=block.stop, modulus=self.modulus)
            else:
                part = fp.sum_rows(block_elements(block, self.modulus), self.modulus)
        else:
            w = np.asarray(weights)
            if w.shape != (len(block.hospital_ids),) or not np.issubdtype(w.dtype, np.integer) or (w < 0).any():
                raise SmpcError(f"weights must be {len(block.hospital_ids)} non-negative integers, got {w!r}")
            width = block.stop - block.start
            if self.modulus != MERSENNE_61 or int(w.max(initial=0)) >= 1 << 31:
                part = fp.matmul(w.astype(np.uint64)[None, :], block_elements(block, self.modulus), self.modulus)[0]
            elif block.seeds is not None:
                rows = (expand_seed(bytes(s), start=block.start, count=width) for s in block.seeds)
                part = fp.weighted_sum_rows(rows, w, count=width)
            else:
                part = fp.weighted_sum_rows(block_elements(block, self.modulus), w, count=width)
        acc = self._sums.setdefault(round_, np.zeros(self.num_params, dtype=np.uint64))
        acc[block.start : block.stop] = fp.add(acc[block.start : block.stop], part, self.modulus)

    def partial_sum(self, round_: int) -> U64:
        """This node's share of the round's (weighted) sum; forgets the round."""
        if round_ not in self._sums:
            raise SmpcError(f"node {self.index} received nothing for round {round_}")
        return self._sums.pop(round_)

    # Gram matrix on shares -------------------------------------------------------------
    def receive_triple(self, round_: int, triple: TripleShare) -> None:
        """Keep the dealer's triple share for this round's Gram matrix."""
        if triple.node != self.index:
            raise SmpcError(f"node {self.index} got the triple share of node {triple.node}")
        self._grams[round_] = _GramState(triple, np.zeros((triple.rows, triple.rows), dtype=np.uint64))

    def gram_mask(self, round_: int, block: ShareBlock) -> U64:
        """E_j = X_j - A_j for the block's parameters: uniform, safe to send for opening."""
        state = self._gram_state(round_)
        if len(block.hospital_ids) != state.triple.rows:
            raise SmpcError(f"a Gram block needs all {state.triple.rows} updates, got {len(block.hospital_ids)}")
        a = triple_a_slice(state.triple, block.start, block.stop, self.modulus)
        state.pending[(block.start, block.stop)] = a
        return fp.sub(block_elements(block, self.modulus), a, self.modulus)

    def gram_accumulate(self, round_: int, opened: U64, *, start: int, stop: int) -> None:
        """Add this node's share of X·Xᵀ over parameters [start, stop), given the opened E = X - A."""
        state = self._gram_state(round_)
        a = state.pending.pop((start, stop), None)
        if a is None:
            a = triple_a_slice(state.triple, start, stop, self.modulus)
        m = fp.matmul(opened, np.ascontiguousarray(a.T), self.modulus)
        z = fp.add(state.z, fp.add(m, np.ascontiguousarray(m.T), self.modulus), self.modulus)
        if self.index == 0:
            z = fp.add(z, fp.gram(opened, self.modulus), self.modulus)
        state.z = z

    def gram_partial(self, round_: int) -> U64:
        """This node's share of the Gram matrix X·Xᵀ; forgets the round."""
        state = self._grams.pop(round_, None)
        if state is None:
            raise SmpcError(f"node {self.index} has no Gram matrix for round {round_}")
        return fp.add(state.z, triple_c(state.triple, self.modulus), self.modulus)

    def _gram_state(self, round_: int) -> _GramState:
        if round_ not in self._grams:
            raise SmpcError(f"node {self.index} has no triple for round {round_}")
        return self._grams[round_]
