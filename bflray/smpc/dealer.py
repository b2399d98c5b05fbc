"""The dealer: a trusted third party that hands out Beaver triples before a round.

For the Gram matrix of N updates of D parameters it draws a uniform A (N × D) as the sum of k
mask streams, one seed per node, and shares C = A·Aᵀ mod p: k - 1 nodes get a seed, the last
gets C - Σ masks. Nodes receive k + (k - 1) seeds and one N × N matrix in all; A itself
never travels. The dealer must not collude with the nodes (semi-honest model, see
:mod:`bflray.smpc.gram`); it learns nothing about the updates.
"""

from __future__ import annotations

import numpy as np

from bflray.smpc import field as fp
from bflray.smpc.additive import last_share
from bflray.smpc.errors import SmpcError
from bflray.smpc.field import MERSENNE_61, U64
from bflray.smpc.messages import TripleShare
from bflray.smpc.node import triple_a_slice
from bflray.smpc.prg import CryptoRandom, expand_seed


class Dealer:
    """Produces square matrix Beaver triples (A, C = A·Aᵀ) shared among ``num_nodes`` nodes.

    Parameters
    ----------
    num_nodes:
        k, the number of aggregation nodes (2 to 7).
    chunk_params:
        Parameters per step when computing C, bounding the dealer's memory to
        k · rows · chunk_params elements.
    """

    def __init__(
        self,
        num_nodes: int,
        *,
        modulus: int = MERSENNE_61,
        random: CryptoRandom | None = None,
        chunk_params: int = 2048,
    ) -> None:
        if not 2 <= num_nodes <= 7 or chunk_params < 1:
            raise SmpcError(f"need 2 <= num_nodes <= 7 and chunk_params >= 1, got {num_nodes}, {chunk_params}")
        self.num_nodes = num_nodes
        self.modulus = fp.check_modulus(modulus)
        self.chunk_params = chunk_params
        self._random = random or CryptoRandom()

    def square_triple(self, *, rows: int, params: int) -> list[TripleShare]:
        """One triple share per node for an N = ``rows`` by D = ``params`` Gram matrix."""
        k, p = self.num_nodes, self.modulus
        seeds = [bytes(s) for s in self._random.seeds(2 * k - 1)]
        seeds_a, seeds_c = seeds[:k], seeds[k:]
        probes = [TripleShare(node=j, rows=rows, params=params, seed_a=seeds_a[j]) for j in range(k)]
        c = np.zeros((rows, rows), dtype=np.uint64)
        for start in range(0, params, self.chunk_params):
            stop = min(start + self.chunk_params, params)
            a = fp.reduce(sum((triple_a_slice(t, start, stop, p) for t in probes), np.zeros((rows, stop - start),
                                                                                            dtype=np.uint64)), p)
            c = fp.add(c, fp.gram(a, p), p)
        masks: list[U64] = [
            expand_seed(s, start=0, count=rows * rows, modulus=p).reshape(rows, rows) for s in seeds_c
        ]
        last = last_share(c, masks, p)
        shares = [
            TripleShare(node=j, rows=rows, params=params, seed_a=seeds_a[j], seed_c=seeds_c[j]) for j in range(k - 1)
        ]
        return [*shares, TripleShare(node=k - 1, rows=rows, params=params, seed_a=seeds_a[-1], c=last)]
