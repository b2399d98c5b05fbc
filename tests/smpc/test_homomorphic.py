from __future__ import annotations

import builtins
from typing import Any

import numpy as np
import pytest

from bflray.errors import ConfigError, DataError
from bflray.smpc.homomorphic import HomomorphicCost, HomomorphicUnavailableError, ckks_sum

pytest.importorskip("tenseal")


@pytest.fixture(scope="module")
def clipped_updates() -> np.ndarray:
    updates = np.random.default_rng(0).normal(size=(5, 3000))
    return updates / np.linalg.norm(updates, axis=1, keepdims=True)


def test_ckks_sum_is_within_the_stated_tolerance_of_the_plaintext_sum(clipped_updates: np.ndarray) -> None:
    total, _ = ckks_sum(clipped_updates)

    assert total.dtype == np.float64 and total.shape == (3000,)
    # Documented bound: about N * 2**(14 - scale_bits) per coordinate.
    np.testing.assert_allclose(total, clipped_updates.sum(axis=0), rtol=0, atol=5 * 2.0 ** (14 - 40))


def test_ckks_sum_reports_bytes_for_every_hospitals_ciphertexts(clipped_updates: np.ndarray) -> None:
    _, cost = ckks_sum(clipped_updates, poly_modulus_degree=4096, scale_bits=30)

    assert isinstance(cost, HomomorphicCost)
    # 3000 values need two 2048-slot ciphertexts per hospital; each is larger than its plaintext.
    assert cost.ciphertext_bytes > 5 * 2 * 2048 * 8
    assert min(cost.encrypt_seconds, cost.sum_seconds, cost.decrypt_seconds) >= 0.0


def test_a_larger_scale_is_more_precise(clipped_updates: np.ndarray) -> None:
    coarse, _ = ckks_sum(clipped_updates, scale_bits=25)
    fine, _ = ckks_sum(clipped_updates, scale_bits=45)

    exact = clipped_updates.sum(axis=0)
    assert np.abs(fine - exact).max() < np.abs(coarse - exact).max()


@pytest.mark.parametrize("degree", [1000, 2048, 65536, True])
def test_ckks_sum_rejects_an_unsupported_degree_naming_it(degree: int) -> None:
    with pytest.raises(ConfigError, match="poly_modulus_degree"):
        ckks_sum(np.ones((2, 3)), poly_modulus_degree=degree)


@pytest.mark.parametrize("scale_bits", [10, 60, 40.0])
def test_ckks_sum_rejects_a_scale_out_of_range(scale_bits: int) -> None:
    with pytest.raises(ConfigError, match="scale_bits"):
        ckks_sum(np.ones((2, 3)), scale_bits=scale_bits)


def test_ckks_sum_rejects_a_scale_the_degree_cannot_secure() -> None:
    with pytest.raises(ConfigError, match="scale_bits <= 34"):
        ckks_sum(np.ones((2, 3)), poly_modulus_degree=4096, scale_bits=40)


@pytest.mark.parametrize("updates", [np.ones(3), np.ones((0, 3)), np.ones((2, 2), dtype=np.int64), np.full((2, 2), np.nan)])
def test_ckks_sum_rejects_updates_that_are_not_a_finite_float_matrix(updates: np.ndarray) -> None:
    with pytest.raises(DataError):
        ckks_sum(updates)


def test_ckks_sum_refuses_a_sum_that_would_wrap() -> None:
    with pytest.raises(DataError, match="lower scale_bits"):
        ckks_sum(np.full((2, 3), 4e5), scale_bits=40)


def test_ckks_sum_explains_a_missing_tenseal(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_tenseal(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "tenseal":
            raise ImportError("No module named 'tenseal'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tenseal)
    with pytest.raises(HomomorphicUnavailableError, match="pip install tenseal"):
        ckks_sum(np.ones((2, 3)))
