"""Aggregation nodes as real Ray actors: a round survives a node killed mid-round with Shamir
t = 2 of k = 3, and additive sharing says clearly that it cannot."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from bflray.config import Config
from bflray.config.schema import AggregationConfig, RuntimeConfig
from bflray.protocol.secure import WEIGHT_BITS, SecureAggregation
from bflray.smpc.errors import ReconstructionError

pytestmark = [pytest.mark.integration, pytest.mark.ray]
N, D, BITS = 6, 90, 20


@pytest.fixture()
def backend(ray_cluster: None) -> Iterator[object]:
    from actors.backend import RayBackend

    hosts = RayBackend(Config(runtime=RuntimeConfig(backend="ray")))
    try:
        yield hosts
    finally:
        hosts.close()


def _aggregation(backend: object, secure: str) -> SecureAggregation:
    config = Config(aggregation=AggregationConfig(secure=secure, nodes=3, threshold=2, fixed_point_bits=BITS,
                                                  fixed_point_bound=2.0))  # fmt: skip
    nodes = SecureAggregation(config, backend, num_params=D)  # type: ignore[arg-type]
    nodes.block_elements = N * 30  # three blocks of 30 parameters
    return nodes


def _kill_node_2_after_the_first_block(nodes: SecureAggregation) -> None:
    def kill(index: int) -> None:
        if index == 0:
            nodes.nodes[2].kill()

    nodes.on_block = kill


def test_shamir_2_of_3_survives_a_node_killed_mid_round_bit_for_bit(backend: object) -> None:
    rng = np.random.default_rng(3)
    deltas = rng.uniform(-1.0, 1.0, size=(N, D))
    coefficients = np.array([1.0, 0.5, 0.25, 1.0, 0.75, 0.125])
    nodes = _aggregation(backend, "shamir")
    _kill_node_2_after_the_first_block(nodes)

    total = nodes.weighted_sum(1, deltas, coefficients)

    weights = np.rint(coefficients * 2.0**WEIGHT_BITS).astype(np.int64)
    fixed = np.rint(deltas * 2.0**BITS).astype(np.int64)
    expected = (weights @ fixed).astype(np.float64) / 2.0**BITS / 2.0**WEIGHT_BITS
    np.testing.assert_array_equal(total, expected)
    np.testing.assert_allclose(total, coefficients @ deltas, atol=1e-5)


def test_additive_sharing_with_a_node_killed_mid_round_fails_naming_the_nodes(backend: object) -> None:
    nodes = _aggregation(backend, "additive")
    _kill_node_2_after_the_first_block(nodes)
    with pytest.raises(ReconstructionError, match="2 of 3 aggregation nodes answered, 3 needed"):
        nodes.weighted_sum(1, np.zeros((N, D)), np.ones(N))
