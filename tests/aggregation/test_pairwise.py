"""Pairwise squared distances and cosine similarities from the Gram matrix, block by block."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bflray.aggregation import pairwise_cosine_similarities, pairwise_squared_distances


def _updates(seed: int = 0, n: int = 13, d: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)) + 5.0


def test_squared_distances_match_the_direct_formula() -> None:
    x = _updates()

    direct = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=-1)

    np.testing.assert_allclose(pairwise_squared_distances(x), direct, rtol=1e-10, atol=1e-10)


def test_cosine_similarities_match_the_direct_formula() -> None:
    x = _updates(1) - 5.0
    norms = np.linalg.norm(x, axis=1)

    direct = (x @ x.T) / np.outer(norms, norms)

    np.testing.assert_allclose(pairwise_cosine_similarities(x), direct, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("block_rows", [1, 2, 5, 13, 100])
def test_block_size_does_not_change_the_matrices(block_rows: int) -> None:
    x = _updates(2)

    np.testing.assert_allclose(pairwise_squared_distances(x, block_rows=block_rows), pairwise_squared_distances(x), rtol=1e-12)
    np.testing.assert_allclose(pairwise_cosine_similarities(x, block_rows=block_rows), pairwise_cosine_similarities(x), rtol=1e-12)


@pytest.mark.parametrize("block_rows", [1, 3, None])
def test_matrices_are_exactly_symmetric_with_exact_diagonals(block_rows: int | None) -> None:
    x = _updates(3, n=20, d=50)

    distances = pairwise_squared_distances(x, block_rows=block_rows)
    similarities = pairwise_cosine_similarities(x, block_rows=block_rows)

    np.testing.assert_array_equal(distances, distances.T)
    np.testing.assert_array_equal(similarities, similarities.T)
    np.testing.assert_array_equal(np.diag(distances), 0.0)
    np.testing.assert_array_equal(np.diag(similarities), 1.0)
    assert distances.min() >= 0.0 and np.abs(similarities).max() <= 1.0


def test_pairwise_matrices_accept_torch_and_return_float64_numpy() -> None:
    x = _updates(4)

    from_torch = pairwise_squared_distances(torch.from_numpy(x).to(torch.float32))

    assert isinstance(from_torch, np.ndarray) and from_torch.dtype == np.float64
    np.testing.assert_allclose(from_torch, pairwise_squared_distances(x.astype(np.float32)))
