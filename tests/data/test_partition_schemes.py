"""Partitioning the training pool over hospitals: iid, Dirichlet, quantity skew, ranges."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bflray.data import (
    HospitalSplit,
    label_keys,
    load_dataset,
    partition_hospitals,
    partition_iid,
    partition_ranges,
    split_train_test,
    split_validation,
)
from bflray.errors import DataError

SCHEMES = ("iid", "dirichlet", "quantity", "ranges")


def _labels(n: int, classes: int = 10, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, classes, size=n)


def _assert_partition_of(splits: list[HospitalSplit], pool: np.ndarray) -> None:
    joined = np.concatenate([np.concatenate([s.train, s.validation]) for s in splits])
    assert len(joined) == len(np.unique(joined)) == len(pool)
    assert np.array_equal(np.sort(joined), np.sort(pool))
    for s in splits:
        assert len(s.train) > 0
        assert not np.intersect1d(s.train, s.validation).size


def _mean_label_entropy(splits: list[HospitalSplit], labels: np.ndarray, classes: int) -> float:
    entropies = []
    for s in splits:
        p = np.bincount(labels[s.indices], minlength=classes) / len(s)
        p = p[p > 0]
        entropies.append(float(-(p * np.log(p)).sum()))
    return float(np.mean(entropies))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(8, 400),
    hospitals=st.integers(1, 12),
    scheme=st.sampled_from(SCHEMES),
    alpha=st.floats(0.01, 100.0),
    validation_fraction=st.sampled_from([0.0, 0.1, 0.3]),
    seed=st.integers(0, 2**32),
)
def test_every_scheme_is_a_disjoint_complete_non_empty_repeatable_partition(
    n: int, hospitals: int, scheme: str, alpha: float, validation_fraction: float, seed: int
) -> None:
    labels = _labels(n + 5, seed=seed % 97)
    pool = np.arange(5, n + 5)  # the first samples play the held-out test split
    min_samples = 2 if validation_fraction > 0 else 1
    if n < hospitals * min_samples:
        with pytest.raises(DataError, match=f"federation.hospitals={hospitals}"):
            partition_hospitals(labels, pool, scheme=scheme, num_hospitals=hospitals, seed=seed, alpha=alpha,
                                quantity_alpha=alpha, validation_fraction=validation_fraction)
        return
    kwargs = dict(scheme=scheme, num_hospitals=hospitals, seed=seed, alpha=alpha, quantity_alpha=alpha,
                  validation_fraction=validation_fraction)

    splits = partition_hospitals(labels, pool, **kwargs)  # type: ignore[arg-type]
    again = partition_hospitals(labels, pool, **kwargs)  # type: ignore[arg-type]

    assert len(splits) == hospitals
    _assert_partition_of(splits, pool)
    assert all(len(s) >= min_samples for s in splits)
    assert all(np.array_equal(a.train, b.train) and np.array_equal(a.validation, b.validation)
               for a, b in zip(splits, again, strict=True))
    if validation_fraction > 0:
        assert all(len(s.validation) >= 1 for s in splits)
    else:
        assert all(len(s.validation) == 0 for s in splits)


@pytest.mark.parametrize("scheme", ["iid", "dirichlet", "quantity"])
def test_random_schemes_depend_on_the_seed(scheme: str) -> None:
    labels, pool = _labels(600), np.arange(600)
    a = partition_hospitals(labels, pool, scheme=scheme, num_hospitals=6, seed=1)
    b = partition_hospitals(labels, pool, scheme=scheme, num_hospitals=6, seed=2)
    assert not all(np.array_equal(x.indices, y.indices) for x, y in zip(a, b, strict=True))


def test_iid_hospital_shares_are_exactly_partition_iids_parts() -> None:
    ds = load_dataset("digits")
    pool, _test = split_train_test(ds, test_fraction=0.2, seed=5)

    splits = partition_hospitals(ds.labels, pool, scheme="iid", num_hospitals=13, seed=5, validation_fraction=0.2)

    parts = partition_iid(pool, num_hospitals=13, seed=5)
    assert all(np.array_equal(s.indices, p) for s, p in zip(splits, parts, strict=True))


def test_small_alpha_is_more_label_skewed_than_large_alpha() -> None:
    labels, pool = _labels(3000), np.arange(3000)

    skewed = partition_hospitals(labels, pool, scheme="dirichlet", num_hospitals=10, seed=0, alpha=0.05)
    even = partition_hospitals(labels, pool, scheme="dirichlet", num_hospitals=10, seed=0, alpha=100.0)

    assert _mean_label_entropy(skewed, labels, 10) < 0.6 * _mean_label_entropy(even, labels, 10)
    assert _mean_label_entropy(even, labels, 10) > 0.95 * np.log(10)


def test_small_quantity_alpha_gives_more_unequal_sizes() -> None:
    labels, pool = _labels(3000), np.arange(3000)

    def spread(quantity_alpha: float) -> float:
        sizes = [len(s) for s in partition_hospitals(
            labels, pool, scheme="quantity", num_hospitals=10, seed=0, quantity_alpha=quantity_alpha)]
        return float(np.std(sizes) / np.mean(sizes))

    assert spread(0.1) > 3 * spread(100.0)
    assert spread(100.0) < 0.2


def test_dirichlet_with_tiny_alpha_still_gives_every_hospital_two_samples() -> None:
    labels, pool = _labels(500), np.arange(500)

    splits = partition_hospitals(labels, pool, scheme="dirichlet", num_hospitals=60, seed=3, alpha=0.01)

    _assert_partition_of(splits, pool)
    assert min(len(s) for s in splits) >= 2


def test_ranges_are_contiguous_blocks_in_pool_order() -> None:
    pool = np.arange(0, 200, 2)  # every other sample; the rest is the test split

    parts = partition_ranges(pool, num_hospitals=4)

    assert [p.tolist() for p in parts] == [pool[i * 25:(i + 1) * 25].tolist() for i in range(4)]


def test_ranges_ignore_the_seed_and_split_validation_inside_each_block() -> None:
    labels, pool = _labels(103), np.arange(103)

    a = partition_hospitals(labels, pool, scheme="ranges", num_hospitals=4, seed=0, validation_fraction=0.2)
    b = partition_hospitals(labels, pool, scheme="ranges", num_hospitals=4, seed=9, validation_fraction=0.2)

    assert [s.indices.tolist() for s in a] == [s.indices.tolist() for s in b]
    for s in a:
        assert s.indices.tolist() == list(range(s.indices[0], s.indices[-1] + 1))
        assert len(s.validation) == round(len(s) * 0.2)


def test_dirichlet_groups_multi_label_rows_by_their_first_positive_label() -> None:
    rows = np.array([[0, 1, 1], [0, 0, 0], [1, 0, 0], [0, 0, 1]])
    assert label_keys(rows).tolist() == [1, 3, 0, 2]

    labels = (np.random.default_rng(0).random((200, 14)) < 0.1).astype(np.int64)
    splits = partition_hospitals(labels, np.arange(200), scheme="dirichlet", num_hospitals=5, seed=0, alpha=0.3)
    _assert_partition_of(splits, np.arange(200))


def test_too_few_samples_is_a_data_error_naming_hospitals_and_alpha() -> None:
    with pytest.raises(DataError, match=r"partition='dirichlet' \(alpha=0.5\) over federation.hospitals=8: "
                                        r"10 training samples cannot give every hospital at least 2"):
        partition_hospitals(_labels(10), np.arange(10), scheme="dirichlet", num_hospitals=8, seed=0)


def test_unknown_scheme_is_a_data_error() -> None:
    with pytest.raises(DataError, match="data.partition='shards' is not one of"):
        partition_hospitals(_labels(10), np.arange(10), scheme="shards", num_hospitals=2, seed=0)


def test_validation_needs_two_samples_and_keeps_one_for_training() -> None:
    with pytest.raises(DataError, match="hospital 7 holds 1 sample"):
        split_validation(np.array([4]), validation_fraction=0.5, seed=0, hospital=7)
    split = split_validation(np.array([4, 9]), validation_fraction=0.9, seed=0, hospital=7)
    assert (len(split.train), len(split.validation)) == (1, 1)


def test_validation_draw_belongs_to_the_hospital_not_its_position() -> None:
    share = np.arange(50)
    a = split_validation(share, validation_fraction=0.2, seed=1, hospital=3)
    b = split_validation(share, validation_fraction=0.2, seed=1, hospital=4)
    assert np.array_equal(a.validation, split_validation(share, validation_fraction=0.2, seed=1, hospital=3).validation)
    assert not np.array_equal(a.validation, b.validation)
