"""Rules by name or by module path, user rules, and what each rule needs under secure aggregation."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import numpy as np
import pytest

from bflray.aggregation import AggregationError, RuleInfo, fedavg, get_rule, median, register_rule, rule_info, rule_names
from bflray.aggregation import registry


@pytest.fixture(autouse=True)
def empty_user_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry, "_registered", {})
    yield


def test_get_rule_finds_built_in_rules_by_name() -> None:
    assert get_rule("fedavg") is fedavg
    assert get_rule("median") is median


def test_unknown_rule_is_an_error_naming_it_and_the_known_rules() -> None:
    with pytest.raises(ValueError, match=r"unknown aggregation rule 'fedavgg'; known rules are .*fedavg.*multi_krum"):
        get_rule("fedavgg")
    with pytest.raises(AggregationError, match="unknown aggregation rule 'nope'"):
        rule_info("nope")


def test_get_rule_imports_a_module_function_path() -> None:
    assert get_rule("bflray.aggregation.median:median") is median


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_such_module_for_bflray:rule", "cannot import 'no_such_module_for_bflray'"),
        ("bflray.aggregation.median:no_such_rule", "has no 'no_such_rule'"),
        ("bflray.aggregation.median:np", "is not callable|has no"),
        (":median", "must look like 'package.module:function'"),
    ],
)
def test_bad_module_path_is_an_error_naming_it(path: str, message: str) -> None:
    with pytest.raises(AggregationError, match=message):
        get_rule(path)


def test_registered_user_rule_is_found_with_its_info() -> None:
    @register_rule("first_row", needs=("scale",))
    def first_row(updates: np.ndarray, weights: np.ndarray, *, scale: float) -> np.ndarray:
        result: np.ndarray = updates[0] * scale
        return result

    assert get_rule("first_row") is first_row
    assert "first_row" in rule_names()
    assert rule_info("first_row") == RuleInfo("first_row", "plaintext_only", needs=("scale",))
    np.testing.assert_array_equal(get_rule("first_row")(np.ones((2, 2)), np.ones(2), scale=3.0), [3.0, 3.0])


def test_user_rule_can_be_registered_by_module_path() -> None:
    rule = register_rule("my_median", "bflray.aggregation.median:median", secure_compatible="plaintext_only")

    assert rule is median and get_rule("my_median") is median


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("krum", {}, "'krum' is already registered"),
        ("Bad-Name", {}, "must be lower-case letters"),
        ("mine", {"secure_compatible": "homomorphic"}, "secure_compatible='homomorphic' must be one of"),
        ("mine", {"needs": ("a",), "per_hospital": ("b",)}, "per_hospital=.* must be among needs"),
    ],
)
def test_register_rule_rejects_bad_registrations(name: str, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(AggregationError, match=message):
        register_rule(name, fedavg, **kwargs)  # type: ignore[call-overload]


def test_module_path_rule_is_assumed_plaintext_only() -> None:
    assert rule_info("bflray.aggregation.fedavg:fedavg").secure_compatible == "plaintext_only"


@pytest.mark.parametrize(
    ("name", "secure"),
    [
        ("fedavg", "weighted_sum"),
        ("reputation", "weighted_sum"),
        ("stake", "weighted_sum"),
        ("krum", "distance_selection"),
        ("multi_krum", "distance_selection"),
        ("cosine_filter", "distance_selection"),
        ("median", "plaintext_only"),
        ("trimmed_mean", "plaintext_only"),
        ("bulyan", "plaintext_only"),
        ("geometric_median", "plaintext_only"),
        ("centered_clipping", "plaintext_only"),
        ("norm_bounding", "plaintext_only"),
        ("filtered_trimmed_mean", "plaintext_only"),
    ],
)
def test_each_built_in_rule_says_how_it_combines_with_secret_shares(name: str, secure: str) -> None:
    assert rule_info(name).secure_compatible == secure


def test_per_round_inputs_are_listed_for_the_rules_that_need_them() -> None:
    assert rule_info("reputation").needs == ("reputation",) == rule_info("reputation").per_hospital
    assert rule_info("stake").per_hospital == ("stake",)
    assert rule_info("filtered_trimmed_mean").per_hospital == ("reputation",)
    assert rule_info("centered_clipping").needs == ("center",) and rule_info("centered_clipping").per_hospital == ()


@pytest.mark.parametrize("name", rule_names())
def test_built_in_rule_has_the_shared_call_shape_and_its_needs_are_keyword_only(name: str) -> None:
    parameters = list(inspect.signature(get_rule(name)).parameters.values())

    assert [p.name for p in parameters[:2]] == ["updates", "weights"]
    keyword_only = {p.name for p in parameters[2:] if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert len(keyword_only) == len(parameters) - 2
    assert set(rule_info(name).needs) <= keyword_only
