"""Distances and cosines computed on shares with Beaver triples match the plaintext ones."""

from __future__ import annotations

import numpy as np
import pytest

from bflray.smpc import (
    AggregationNode,
    CryptoRandom,
    Dealer,
    EncodingOverflowError,
    FixedPointCodec,
    SecureAggregator,
    cosine_similarities,
    pairwise_sq_distances,
    secure_gram,
)

CODEC = FixedPointCodec(scale_bits=20, bound=2.0)
N, D = 9, 2500


def _run(
    x: np.ndarray, *, k: int = 3, key: bytes | None = None, chunk: int = 700, codec: FixedPointCodec = CODEC
) -> np.ndarray:
    random = CryptoRandom(key) if key is not None else None
    nodes = [AggregationNode(j, num_params=x.shape[1]) for j in range(k)]
    aggregator = SecureAggregator(codec, num_nodes=k, num_hospitals=x.shape[0], random=random)
    dealer = Dealer(k, random=random, chunk_params=1024)
    blocks = [(x[:, j : j + chunk], j) for j in range(0, x.shape[1], chunk)]
    return secure_gram(nodes, dealer, aggregator, 1, blocks, num_params=x.shape[1]).gram


def _updates() -> np.ndarray:
    x = np.random.default_rng(0).normal(scale=0.02, size=(N, D))
    x[3] = -x[1]  # an opposed update: cosine -1
    return x


def test_gram_on_shares_is_the_exact_fixed_point_gram() -> None:
    x = _updates()
    ints = CODEC.to_integers(x).astype(object)
    exact = (ints @ ints.T).astype(np.float64) / 2.0**40
    np.testing.assert_array_equal(_run(x), exact)


def test_distances_and_cosines_match_plaintext_within_fixed_point_error() -> None:
    x = _updates()
    gram = _run(x, k=2)
    np.testing.assert_allclose(pairwise_sq_distances(gram), pairwise_sq_distances(x @ x.T), atol=D * 2**-19)
    np.testing.assert_allclose(cosine_similarities(gram), cosine_similarities(x @ x.T), atol=1e-5)
    assert cosine_similarities(gram)[1, 3] == pytest.approx(-1.0, abs=1e-6)


def test_gram_does_not_depend_on_masks_or_triples() -> None:
    x = _updates()
    np.testing.assert_array_equal(_run(x, key=bytes(16)), _run(x))


def test_gram_that_could_wrap_is_refused_naming_the_hospital() -> None:
    x = _updates()
    x[4] = 0.1  # ‖X_4‖² = 2500 · (0.1 · 2^28)² > (p-1)/2 ≈ 2^60, though each |x| is within the bound
    with pytest.raises(EncodingOverflowError, match="hospital 4: squared norm"):
        _run(x, codec=FixedPointCodec(scale_bits=28, bound=2.0))
