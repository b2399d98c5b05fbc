"""Pairwise distances and cosine similarities of secret-shared updates (robust selection).

Multi-Krum and cosine filtering need only the N × N Gram matrix G = X·Xᵀ of the encoded
updates X (N × D): squared distances are ‖x_i‖² + ‖x_j‖² - 2⟨x_i, x_j⟩ and cosines
⟨x_i, x_j⟩ / (‖x_i‖ ‖x_j‖). The nodes compute G on additive shares with one square matrix
Beaver triple (A, C = A·Aᵀ) from the :class:`~bflray.smpc.dealer.Dealer`: per chunk of
parameters each node sends E_j = X_j - A_j, the driver opens E = Σ_j E_j (uniform, since A
is), and node j adds E·A_jᵀ + A_j·Eᵀ (node 0 also E·Eᵀ) to its share; with C_j this is a
share of X·Xᵀ. Only G is revealed.

Security model: semi-honest (honest-but-curious) nodes and dealer; privacy holds unless all
k nodes collude, or the dealer colludes with any node (it knows A). No integrity against
malicious nodes (no MACs).

Fixed point: G carries scale 2^(2s). By Cauchy-Schwarz |G_ij| ≤ max_i ‖X_i‖², so before the
opening each hospital's ‖X_i‖² (integers) is checked against (p - 1) / 2, and the Gram
matrix is refused rather than wrapped. The error against the float Gram matrix is the
fixed-point rounding of the inputs, at most about D · 2^-s · max|x| per entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bflray.smpc import field as fp
from bflray.smpc.dealer import Dealer
from bflray.smpc.errors import EncodingOverflowError, SmpcError
from bflray.smpc.node import AggregationNode
from bflray.smpc.secure_sum import SecureAggregator


@dataclass(frozen=True)
class GramResult:
    """The revealed Gram matrix (float64, in the updates' units squared) and its cost."""

    gram: NDArray[np.float64]
    bytes_to_nodes: int
    bytes_from_nodes: int
    bytes_opened: int


def secure_gram(
    nodes: Sequence[AggregationNode],
    dealer: Dealer,
    aggregator: SecureAggregator,
    round_: int,
    blocks: Iterable[tuple[ArrayLike, int]],
    *,
    num_params: int,
) -> GramResult:
    """X·Xᵀ of all N updates, streamed as (updates[:, start:stop], start) chunks of parameters.

    ``aggregator`` plays the hospitals' additive sharing (it must not use a threshold).
    """
    if aggregator.threshold is not None:
        raise SmpcError("the Gram matrix on shares needs additive sharing (threshold=None)")
    codec, p, n = aggregator.codec, aggregator.codec.modulus, aggregator.num_hospitals
    ids = np.arange(n, dtype=np.int64)
    sent = 0
    for triple in dealer.square_triple(rows=n, params=num_params):
        nodes[triple.node].receive_triple(round_, triple)
        sent += triple.nbytes
    aggregator.new_round()
    sq_norms = np.zeros(n, dtype=np.float64)
    opened_bytes = received = 0
    for updates, start in blocks:
        ints = codec.to_integers(updates, hospital_ids=ids)
        sq_norms += np.einsum("ij,ij->i", ints.astype(np.float64), ints.astype(np.float64))
        elements = codec.encode(updates, hospital_ids=ids)
        shares = aggregator.share_elements(ids, elements, start=start)
        masked = [node.gram_mask(round_, block) for node, block in zip(nodes, shares, strict=True)]
        opened = masked[0]
        for m in masked[1:]:
            opened = fp.add(opened, m, p)
        stop = start + elements.shape[1]
        for node in nodes:
            node.gram_accumulate(round_, opened, start=start, stop=stop)
        sent += sum(b.nbytes for b in shares if b.values is not None or start == 0)
        received += sum(int(m.nbytes) for m in masked)
        opened_bytes += int(opened.nbytes) * len(nodes)
    worst = int(np.argmax(sq_norms)) if n else 0
    if n and sq_norms[worst] * (1 + 1e-9) > codec.half:
        raise EncodingOverflowError(
            f"hospital {worst}: squared norm {sq_norms[worst]:.4g} at scale 2^{2 * codec.scale_bits} exceeds "
            f"(p-1)/2={codec.half}; the Gram matrix would wrap, refusing to open it"
        )
    partials = [node.gram_partial(round_) for node in nodes]
    received += sum(int(z.nbytes) for z in partials)
    total = partials[0]
    for z in partials[1:]:
        total = fp.add(total, z, p)
    gram = codec.decode(total, scale_bits=2 * codec.scale_bits)
    return GramResult(gram, sent + opened_bytes, received, opened_bytes)


def pairwise_sq_distances(gram: NDArray[np.float64]) -> NDArray[np.float64]:
    """‖x_i - x_j‖² = G_ii + G_jj - 2 G_ij, clipped at 0 against rounding."""
    diag = np.diag(gram)
    return np.maximum(diag[:, None] + diag[None, :] - 2 * gram, 0.0)


def cosine_similarities(gram: NDArray[np.float64]) -> NDArray[np.float64]:
    """G_ij / sqrt(G_ii G_jj); 0 where an update is zero."""
    norms = np.sqrt(np.maximum(np.diag(gram), 0.0))
    denom = norms[:, None] * norms[None, :]
    out: NDArray[np.float64] = np.divide(gram, denom, out=np.zeros_like(gram), where=denom > 0)
    return out
