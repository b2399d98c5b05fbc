"""Secure sums over k aggregation nodes equal the fixed-point plaintext sums bit for bit."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from bflray.smpc import (
    AggregationNode,
    CryptoRandom,
    EncodingOverflowError,
    FixedPointCodec,
    ReconstructionError,
    SecureAggregator,
    quantize_weights,
)
from bflray.smpc.secure_sum import UpdateBlock

CODEC = FixedPointCodec(scale_bits=24, bound=4.0)
N, D = 23, 301


def _updates(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=0.5, size=(N, D)).astype(np.float32)


def _blocks(x: np.ndarray, rows: int = 7, cols: int = 100) -> list[UpdateBlock]:
    return [(np.arange(i, min(i + rows, N)), x[i : i + rows, j : j + cols], j)
            for i in range(0, N, rows) for j in range(0, D, cols)]  # fmt: skip


def _nodes(k: int) -> list[AggregationNode]:
    return [AggregationNode(j, num_params=D) for j in range(k)]


@pytest.mark.parametrize("compress_masks", [True, False])
def test_additive_secure_sum_equals_fixed_point_plaintext_sum(compress_masks: bool) -> None:
    x = _updates()
    aggregator = SecureAggregator(CODEC, num_nodes=3, num_hospitals=N, compress_masks=compress_masks)
    result = aggregator.secure_sum(_nodes(3), 1, _blocks(x))
    np.testing.assert_array_equal(result.total, CODEC.fixed_point_sum(x))


def test_weighted_secure_sum_applies_public_integer_weights() -> None:
    x, counts = _updates(1), np.random.default_rng(2).integers(1, 500, size=N)
    aggregator = SecureAggregator(CODEC, num_nodes=3, num_hospitals=N)
    result = aggregator.secure_sum(_nodes(3), 1, _blocks(x), weights=counts)
    np.testing.assert_array_equal(result.total, CODEC.fixed_point_sum(x, counts))
    fedavg = result.total / result.total_weight
    np.testing.assert_allclose(fedavg, np.average(x, axis=0, weights=counts), atol=2**-22)


def test_reputation_weights_are_quantised_to_public_integers() -> None:
    assert quantize_weights([0.0, 0.5, 1.0], bits=4).tolist() == [0, 8, 16]


def test_shamir_sum_survives_k_minus_t_nodes_dropping_out() -> None:
    x = _updates(3)
    aggregator = SecureAggregator(CODEC, num_nodes=5, num_hospitals=N, threshold=3)
    result = aggregator.secure_sum(_nodes(5), 7, _blocks(x), dropped=[0, 3])
    np.testing.assert_array_equal(result.total, CODEC.fixed_point_sum(x))


def test_shamir_sum_with_too_many_dropouts_is_refused() -> None:
    aggregator = SecureAggregator(CODEC, num_nodes=5, num_hospitals=N, threshold=3)
    with pytest.raises(ReconstructionError, match="need 3 shares, got 2"):
        aggregator.secure_sum(_nodes(5), 7, _blocks(_updates()), dropped=[0, 1, 2])


def test_additive_sum_with_a_missing_node_is_refused() -> None:
    aggregator = SecureAggregator(CODEC, num_nodes=3, num_hospitals=N)
    with pytest.raises(ReconstructionError, match="all 3 nodes"):
        aggregator.secure_sum(_nodes(3), 1, _blocks(_updates()), dropped=[2])


def test_aggregate_does_not_depend_on_the_masks() -> None:
    x = _updates(4)
    first = SecureAggregator(CODEC, num_nodes=3, num_hospitals=N, random=CryptoRandom(bytes(16)))
    second = SecureAggregator(CODEC, num_nodes=3, num_hospitals=N)  # keys from the OS
    shares_a = first.share(np.arange(N), x, start=0)
    shares_b = second.share(np.arange(N), x, start=0)
    assert not np.array_equal(shares_a[-1].values, shares_b[-1].values)
    np.testing.assert_array_equal(first.secure_sum(_nodes(3), 1, _blocks(x)).total,
                                  second.secure_sum(_nodes(3), 1, _blocks(x)).total)  # fmt: skip


def test_overflowing_update_is_refused_before_any_share_is_sent() -> None:
    x = _updates()
    x[5, 17] = 4.5
    nodes = _nodes(3)
    with pytest.raises(EncodingOverflowError, match=r"hospital 5, index \(17,\): value 4.5"):
        SecureAggregator(CODEC, num_nodes=3, num_hospitals=N).secure_sum(nodes, 1, [(np.arange(N), x, 0)])
    with pytest.raises(Exception, match="received nothing"):
        nodes[0].partial_sum(1)


def test_total_weight_beyond_max_summands_is_refused() -> None:
    codec = FixedPointCodec(scale_bits=50, bound=100.0)
    weights = np.full(N, codec.max_summands // N + 1)
    with pytest.raises(EncodingOverflowError, match="max_summands"):
        SecureAggregator(codec, num_nodes=2, num_hospitals=N).secure_sum(_nodes(2), 1, [], weights=weights)


def test_nodes_see_only_shares_and_are_picklable() -> None:
    x = _updates(5)
    aggregator = SecureAggregator(CODEC, num_nodes=2, num_hospitals=N)
    nodes = [pickle.loads(pickle.dumps(node)) for node in _nodes(2)]
    blocks = aggregator.share(np.arange(N), x, start=0)
    assert blocks[0].seeds is not None and blocks[0].nbytes == N * 16
    for node, block in zip(nodes, blocks, strict=True):
        node.receive(1, pickle.loads(pickle.dumps(block)))
    partials = {node.index: node.partial_sum(1) for node in nodes}
    assert not np.array_equal(CODEC.decode(partials[1]), CODEC.fixed_point_sum(x))
    np.testing.assert_array_equal(CODEC.decode(aggregator.reconstruct(partials)), CODEC.fixed_point_sum(x))
