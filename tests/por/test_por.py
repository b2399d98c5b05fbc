"""PoR: EDI transactions, validation (eq. 1), policies, ranking (eq. 2), aggregation by rank."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bflray.models.por_head import PoRHeadSpec
from bflray.models.por_stacked import PoRHeadStacked
from bflray.por import (
    EDIError,
    EDITransaction,
    get_reduction,
    get_score,
    rank_scores,
    rank_weights,
    sample_committees,
    score_classifiers,
    validate_transactions,
)
from bflray.por.policies import rank_points


def _tx(model: PoRHeadStacked, state: np.ndarray, kappa: np.ndarray, labels: np.ndarray, hospital: int = 0) -> EDITransaction:
    with torch.no_grad():
        out = torch.softmax(model.logits(torch.from_numpy(state)[None], torch.from_numpy(kappa)[None]), -1)[0]
    return EDITransaction(round=1, hospital=hospital, weights=state, kappa=kappa, outputs=out.numpy(), labels=labels)


@pytest.fixture
def model() -> PoRHeadStacked:
    return PoRHeadStacked(PoRHeadSpec(width=16, tokens=4, num_outputs=3, hidden=(8,)))


def test_edi_bytes_round_trip_and_hash_is_content_addressed(model: PoRHeadStacked) -> None:
    rng = np.random.default_rng(0)
    tx = _tx(model, model.init(rng), rng.normal(size=(2, 4, 16)).astype(np.float32), np.array([0, 2]))
    back = EDITransaction.decode(tx.encode())
    assert back.hash == tx.hash and back.hospital == 0 and back.round == 1
    np.testing.assert_array_equal(back.kappa, tx.kappa)
    tampered = bytearray(tx.encode())
    tampered[-9] ^= 1
    assert EDITransaction.decode(bytes(tampered)).hash != tx.hash
    with pytest.raises(EDIError, match="expected"):
        EDITransaction.decode(tx.encode()[:-1])


def test_a_tampered_output_fails_validation_and_names_its_error(model: PoRHeadStacked) -> None:
    rng = np.random.default_rng(1)
    honest = [_tx(model, model.init(rng), rng.normal(size=(1, 4, 16)).astype(np.float32), np.array([1]), h) for h in range(3)]
    forged_outputs = honest[1].outputs.copy()
    forged_outputs[0, [0, 1]] = forged_outputs[0, [1, 0]] + np.array([0.01, -0.01], dtype=np.float32)
    forged = EDITransaction(1, 1, honest[1].weights, honest[1].kappa, forged_outputs, honest[1].labels)
    result = validate_transactions([honest[0], forged, honest[2]], model.logits, epsilon=1e-4, num_classes=3)
    assert result.valid.tolist() == [True, False, True]
    assert result.reasons[1] is not None and "ε=0.0001" in result.reasons[1]
    assert result.max_error[0] < 1e-5


def test_malformed_transactions_are_excluded_with_a_reason(model: PoRHeadStacked) -> None:
    rng = np.random.default_rng(2)
    good = _tx(model, model.init(rng), rng.normal(size=(1, 4, 16)).astype(np.float32), np.array([0]))
    nan_weights = good.weights.copy()
    nan_weights[0] = np.nan
    bad_label = EDITransaction(1, 2, good.weights, good.kappa, good.outputs, np.array([7]))
    with_nan = EDITransaction(1, 3, nan_weights, good.kappa, good.outputs, good.labels)
    result = validate_transactions([good, bad_label, with_nan, good], model.logits, epsilon=1e-4, num_classes=3)
    assert result.valid.tolist() == [True, False, False, True]
    assert "labels outside" in str(result.reasons[1]) and "NaN" in str(result.reasons[2])


def test_rank_points_give_num_classes_minus_rank_plus_one() -> None:
    p = torch.tensor([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [0.5, 0.3, 0.2]])
    assert rank_points(p, torch.tensor([0, 1, 2])).tolist() == [3.0, 2.0, 1.0]


@pytest.mark.parametrize("name", ["rank_points", "accuracy", "log_likelihood", "brier"])
def test_every_score_prefers_the_correct_answer(name: str) -> None:
    score = get_score(name)
    sure = torch.tensor([[0.9, 0.05, 0.05]])
    wrong = torch.tensor([[0.05, 0.9, 0.05]])
    assert float(score(sure, torch.tensor([0]))) > float(score(wrong, torch.tensor([0])))


def test_unknown_policy_names_are_config_errors() -> None:
    with pytest.raises(ValueError, match="por.score = 'x' is not registered"):
        get_score("x")
    with pytest.raises(ValueError, match="por.reduction"):
        get_reduction("max")


NOISE = [0.0, 0.05, 0.1, 0.3, 0.6, 1.0]  # 1.0: labels shuffled


@pytest.fixture(scope="module")
def trained() -> tuple[PoRHeadStacked, torch.Tensor, torch.Tensor, torch.Tensor]:
    return _trained_heads(NOISE)


def _trained_heads(noise: list[float], seed: int = 0) -> tuple[PoRHeadStacked, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Heads trained on a separable 3-class problem, each with its own label noise."""
    from bflray.models.por_head import PoRHead

    torch.manual_seed(seed)
    spec = PoRHeadSpec(width=16, tokens=4, num_outputs=3, hidden=(16,), dropout=0.0)
    model = PoRHeadStacked(spec)
    centres = torch.randn(3, 4, 16) * 2
    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 3, (n,))
        return centres[y] + torch.randn(n, 4, 16), y
    states = []
    for q in noise:
        x, y = sample(120)
        flip = torch.rand(120) < q
        y = torch.where(flip, torch.randint(0, 3, (120,)), y) if q < 1 else y[torch.randperm(120)]
        head = PoRHead(spec)
        opt = torch.optim.Adam(head.parameters(), 3e-2)
        for _ in range(25):
            loss = torch.nn.functional.cross_entropy(head(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        states.append(torch.from_numpy(model.flatten(head.eval())))
    kappa, labels = sample(200)
    return model, torch.stack(states), kappa, labels


def test_a_hospital_trained_on_shuffled_labels_ranks_below_every_honest_one(trained) -> None:  # type: ignore[no-untyped-def]
    model, states, kappa, labels = trained
    scores = score_classifiers(states, kappa, labels, model.logits, get_score("rank_points"))
    ranking = rank_scores(scores, get_reduction("sum"))
    assert ranking.ranks[5] == 6
    assert ranking.ranks[0] < ranking.ranks[4]  # clean beats heavily noisy
    weights = rank_weights(ranking.ranks, ranking.scores, rule="top_k_mean", top_k=5)
    assert weights[5] == 0 and weights.sum() == pytest.approx(1.0)


def test_committee_mode_with_every_datapoint_reproduces_the_exact_ranking(trained) -> None:  # type: ignore[no-untyped-def]
    model, states, kappa, labels = trained
    exact = rank_scores(score_classifiers(states, kappa, labels, model.logits, get_score("accuracy")), get_reduction("mean"))
    committees = sample_committees(seed=0, round_=1, classifiers=6, datapoints=200, size=200)
    sampled = rank_scores(
        score_classifiers(states, kappa, labels, model.logits, get_score("accuracy"), committees=committees),
        get_reduction("mean"),
    )
    np.testing.assert_array_equal(sampled.ranks, exact.ranks)
    np.testing.assert_allclose(sampled.scores, exact.scores)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 50), st.integers(1, 300), st.integers(1, 300), st.integers(0, 5))
def test_committees_are_repeatable_subsets_without_repeats(n: int, m: int, s: int, round_: int) -> None:
    c = sample_committees(seed=7, round_=round_, classifiers=n, datapoints=m, size=s)
    assert c.shape == (n, min(s, m))
    assert ((c >= 0) & (c < m)).all()
    assert all(len(np.unique(row)) == len(row) for row in c)
    np.testing.assert_array_equal(c, sample_committees(seed=7, round_=round_, classifiers=n, datapoints=m, size=s))


@pytest.mark.parametrize("rule", ["top_k_mean", "rank_weighted", "softmax"])
def test_rank_weights_sum_to_one_and_favour_better_ranks(rule: str) -> None:
    scores = np.array([5.0, 9.0, 1.0, 7.0])
    ranks = np.array([3, 1, 4, 2])
    w = rank_weights(ranks, scores, rule=rule, top_k=2)
    assert w.sum() == pytest.approx(1.0)
    assert w[1] >= w[3] >= w[0] >= w[2] and w[1] > w[2]


def test_unknown_aggregation_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="top_k_mean, rank_weighted, softmax"):
        rank_weights(np.array([1]), np.array([1.0]), rule="median")
