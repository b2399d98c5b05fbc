"""Properties every registered rule shares: order of hospitals, numpy and torch, one call shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bflray.aggregation import get_rule, rule_info, rule_names

Case = Callable[[np.random.Generator, int, int], dict[str, Any]]

# Per rule: its keyword arguments for n updates of dimension d. Per-hospital arrays are (n,).
CASES: dict[str, Case] = {
    "fedavg": lambda rng, n, d: {},
    "median": lambda rng, n, d: {},
    "trimmed_mean": lambda rng, n, d: {"trim_fraction": 0.2},
    "krum": lambda rng, n, d: {"num_byzantine": 1},
    "multi_krum": lambda rng, n, d: {"num_byzantine": 1, "num_selected": 4},
    "bulyan": lambda rng, n, d: {"num_byzantine": 1},
    "geometric_median": lambda rng, n, d: {"tolerance": 1e-12, "max_iterations": 500},
    "centered_clipping": lambda rng, n, d: {"center": rng.normal(size=d), "radius": 1.0, "iterations": 3},
    "cosine_filter": lambda rng, n, d: {"threshold": 0.0},
    "norm_bounding": lambda rng, n, d: {"max_norm": 2.0},
    "reputation": lambda rng, n, d: {"reputation": rng.uniform(0.1, 1.0, size=n)},
    "stake": lambda rng, n, d: {"stake": rng.uniform(0.1, 1.0, size=n)},
    "filtered_trimmed_mean": lambda rng, n, d: {"reputation": rng.uniform(0.1, 1.0, size=n), "trim_fraction": 0.2},
}

# Variants of built-in rules worth the same checks.
VARIANTS: dict[str, tuple[str, Case]] = {
    "median(weighted)": ("median", lambda rng, n, d: {"weighted": True}),
    "trimmed_mean(weighted)": ("trimmed_mean", lambda rng, n, d: {"trim_fraction": 0.15, "weighted": True}),
    "cosine_filter(reference)": ("cosine_filter", lambda rng, n, d: {"reference": rng.normal(size=d) + 3.0, "threshold": -0.5}),
    "multi_krum(default m)": ("multi_krum", lambda rng, n, d: {"num_byzantine": 2}),
}

ALL_CASES: dict[str, tuple[str, Case]] = {name: (name, case) for name, case in CASES.items()} | VARIANTS


def _inputs(seed: int, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # A shared direction plus noise: the cosine filter keeps most updates, nothing is tied.
    updates = 3.0 * np.ones(d) + rng.normal(size=(n, d))
    return updates, rng.uniform(0.5, 2.0, size=n)


def test_every_registered_rule_has_a_case_here() -> None:
    assert set(CASES) == set(rule_names())


@pytest.mark.parametrize("case", sorted(ALL_CASES))
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(7, 12), d=st.integers(1, 5), data=st.data())
def test_rule_is_invariant_to_the_order_of_hospitals(case: str, seed: int, n: int, d: int, data: st.DataObject) -> None:
    # Prepare
    name, make_kwargs = ALL_CASES[case]
    rule = get_rule(name)
    updates, weights = _inputs(seed, n, d)
    kwargs = make_kwargs(np.random.default_rng(seed + 1), n, d)
    order = np.asarray(data.draw(st.permutations(range(n))))
    per_hospital = {key: value[order] for key, value in kwargs.items() if key in rule_info(name).per_hospital}

    # Execute
    original = rule(updates, weights, **kwargs)
    permuted = rule(updates[order], weights[order], **(kwargs | per_hospital))

    # Assert
    np.testing.assert_allclose(permuted, original, rtol=1e-9, atol=1e-8)


@pytest.mark.parametrize("case", sorted(ALL_CASES))
def test_torch_and_numpy_inputs_give_the_same_aggregate(case: str) -> None:
    # Prepare
    name, make_kwargs = ALL_CASES[case]
    updates, weights = _inputs(7, 9, 4)
    kwargs = make_kwargs(np.random.default_rng(8), 9, 4)
    torch_kwargs = {key: torch.from_numpy(value) if isinstance(value, np.ndarray) else value for key, value in kwargs.items()}

    # Execute
    from_numpy = get_rule(name)(updates, weights, **kwargs)
    from_torch = get_rule(name)(torch.from_numpy(updates), torch.from_numpy(weights), **torch_kwargs)

    # Assert
    assert isinstance(from_numpy, np.ndarray) and from_numpy.dtype == np.float64 and from_numpy.shape == (4,)
    assert isinstance(from_torch, torch.Tensor) and from_torch.dtype == torch.float64
    np.testing.assert_array_equal(from_torch.numpy(), from_numpy)


@pytest.mark.parametrize("name", sorted(CASES))
def test_torch_input_comes_back_in_its_own_dtype_and_device(name: str) -> None:
    updates, weights = _inputs(3, 9, 4)
    tensor = torch.from_numpy(updates).to(torch.float32)

    result = get_rule(name)(tensor, weights, **CASES[name](np.random.default_rng(4), 9, 4))

    assert result.dtype == torch.float32 and result.device == tensor.device and result.shape == (4,)


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_does_not_write_to_its_inputs(name: str) -> None:
    updates, weights = _inputs(5, 9, 4)
    kwargs = CASES[name](np.random.default_rng(6), 9, 4)
    before = (updates.copy(), weights.copy(), {k: np.copy(v) for k, v in kwargs.items()})

    get_rule(name)(updates, weights, **kwargs)

    np.testing.assert_array_equal(updates, before[0])
    np.testing.assert_array_equal(weights, before[1])
    for key, value in kwargs.items():
        np.testing.assert_array_equal(value, before[2][key])


@pytest.mark.parametrize("name", sorted(CASES))
def test_hospital_with_zero_weight_takes_no_part(name: str) -> None:
    # Prepare: a wild update with weight 0 appended to the others.
    updates, weights = _inputs(11, 9, 3)
    kwargs = CASES[name](np.random.default_rng(12), 9, 3)
    wild = np.vstack([updates, -1e6 * np.ones(3)])
    padded = {k: np.append(v, 1.0) if k in rule_info(name).per_hospital else v for k, v in kwargs.items()}

    # Execute
    without = get_rule(name)(updates, weights, **kwargs)
    with_zero = get_rule(name)(wild, np.append(weights, 0.0), **padded)

    # Assert
    np.testing.assert_allclose(with_zero, without, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_aggregate_does_not_share_memory_with_the_updates(name: str) -> None:
    updates, weights = _inputs(13, 9, 4)
    tensor = torch.from_numpy(updates.copy())
    kwargs = CASES[name](np.random.default_rng(14), 9, 4)

    from_numpy = get_rule(name)(updates, weights, **kwargs)
    from_torch = get_rule(name)(tensor, weights, **kwargs)

    assert not np.shares_memory(from_numpy, updates)
    assert not np.shares_memory(from_torch.numpy(), tensor.numpy())
