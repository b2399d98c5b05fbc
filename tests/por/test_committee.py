"""PoR committee mode: the eval-mode head on each classifier's own batch, committee scores,
stratified committees and their strata."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bflray.config import load_config
from bflray.models.por_head import PoRHead, PoRHeadSpec
from bflray.models.por_stacked import PoRHeadStacked
from bflray.por import EDITransaction, get_reduction, get_score, sample_committees, score_classifiers
from bflray.por.policies import rank_points
from bflray.por.ranking import committee_strata
from bflray.protocol.stages.por import ValidateRankStage
from bflray.protocol.stages.por_attack import head_predict
from bflray.protocol.state import RoundState


def _heads(spec: PoRHeadSpec, count: int, seed: int = 0) -> tuple[PoRHeadStacked, list[PoRHead], torch.Tensor]:
    """Heads with non-trivial running statistics and weights, BatchNorm scales of both signs."""
    torch.manual_seed(seed)
    model = PoRHeadStacked(spec)
    heads = [PoRHead(spec) for _ in range(count)]
    for head in heads:
        head.train()
        head(torch.randn(32, spec.tokens, spec.width) * 3 + 1)
        with torch.no_grad():
            for parameter in head.parameters():
                parameter.add_(0.5 * torch.randn_like(parameter))
        head.eval()
    return model, heads, torch.from_numpy(np.stack([model.flatten(h) for h in heads]))


def _weight(head: PoRHead, name: str) -> torch.Tensor:
    return dict(head.named_parameters())[name]


@pytest.mark.parametrize(
    "spec",
    [
        PoRHeadSpec(width=16, tokens=5, num_outputs=3, hidden=(12,), dropout=0.0),
        PoRHeadSpec(width=16, tokens=1, num_outputs=4, hidden=(), dropout=0.0, input_norm=False),
        PoRHeadSpec(width=32, tokens=6, num_outputs=5, hidden=(8, 5), dropout=0.2),
    ],
)
def test_stacked_logits_equal_the_module_on_each_heads_own_batch(spec: PoRHeadSpec) -> None:
    model, heads, states = _heads(spec, 3)
    with torch.no_grad():  # a zero scale leaves a channel constant, relu(c), before the bottleneck
        _weight(heads[1], "bottleneck.body.0.weight")[2] = 0.0
        scale = _weight(heads[2], "bottleneck.body.0.weight")
        scale[:3] = -scale[:3].abs()
    states = torch.from_numpy(np.stack([model.flatten(h) for h in heads]))
    own = torch.randn(3, 7, spec.tokens, spec.width) * 2

    logits = model.logits(states, own)

    for i, head in enumerate(heads):
        torch.testing.assert_close(logits[i], head(own[i]), atol=1e-5, rtol=1e-5)


def test_a_nan_weight_gives_nan_logits_as_in_the_module() -> None:
    spec = PoRHeadSpec(width=16, tokens=4, num_outputs=3, hidden=(8,), dropout=0.0)
    model, heads, _ = _heads(spec, 2)
    with torch.no_grad():
        _weight(heads[0], "bottleneck.body.0.weight")[0] = float("nan")
    states = torch.from_numpy(np.stack([model.flatten(h) for h in heads]))
    kappa = torch.randn(5, 4, 16)

    logits = model.logits(states, kappa)

    assert torch.isnan(heads[0](kappa)).all() and torch.isnan(logits[0]).all()
    assert torch.isfinite(logits[1]).all()


def test_committee_scores_are_the_exact_scores_at_each_committees_datapoints() -> None:
    spec = PoRHeadSpec(width=16, tokens=4, num_outputs=3, hidden=(8,), dropout=0.0)
    model, _, states = _heads(spec, 9)
    kappa, labels = torch.randn(40, 4, 16), torch.randint(0, 3, (40,))
    score = get_score("log_likelihood")
    exact = score_classifiers(states, kappa, labels, model.logits, score, chunk=2, datapoint_chunk=16)
    committees = sample_committees(seed=1, round_=2, classifiers=9, datapoints=40, size=11)

    for chunk, datapoint_chunk in [(1, 11), (2, 11), (6, 256)]:  # one head per block, two, all
        sampled = score_classifiers(
            states, kappa, labels, model.logits, score,
            committees=committees, chunk=chunk, datapoint_chunk=datapoint_chunk,
        )
        torch.testing.assert_close(sampled, torch.gather(exact, 1, torch.from_numpy(committees)), atol=1e-5, rtol=1e-5)


def test_committee_scores_take_multi_label_targets() -> None:
    spec = PoRHeadSpec(width=16, tokens=4, num_outputs=3, hidden=(8,), dropout=0.0)
    model, _, states = _heads(spec, 4)
    kappa, labels = torch.randn(30, 4, 16), torch.randint(0, 2, (30, 3))
    committees = sample_committees(seed=0, round_=1, classifiers=4, datapoints=30, size=7, strata=labels.numpy())

    sampled = score_classifiers(states, kappa, labels, model.logits, rank_points, committees=committees)
    exact = score_classifiers(states, kappa, labels, model.logits, rank_points)

    assert sampled.shape == (4, 7)
    torch.testing.assert_close(sampled, torch.gather(exact, 1, torch.from_numpy(committees)))


def test_uniform_committees_keep_their_seeded_draw() -> None:
    # Drawn before stratified committees existed: adding them must not move existing runs' committees.
    assert sample_committees(seed=3, round_=2, classifiers=7, datapoints=5, size=3).tolist() == [
        [1, 3, 4], [0, 1, 2], [1, 2, 3], [1, 3, 4], [0, 1, 2], [0, 2, 3], [0, 3, 4],
    ]
    assert sample_committees(seed=3, round_=2, classifiers=50, datapoints=300, size=20)[1].tolist() == [
        1, 18, 28, 34, 38, 46, 60, 69, 83, 91, 99, 145, 163, 171, 197, 199, 255, 263, 282, 288,
    ]


def test_stratified_committees_hold_every_stratum_in_proportion() -> None:
    rng = np.random.default_rng(0)
    strata = rng.choice(5, size=397, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    expected = 60 * np.bincount(strata) / len(strata)

    committees = sample_committees(seed=4, round_=1, classifiers=500, datapoints=397, size=60, strata=strata)

    assert committees.shape == (500, 60)
    assert (np.diff(committees, axis=1) > 0).all()  # sorted, no repeats
    counts = np.stack([np.bincount(strata[row], minlength=5) for row in committees])
    assert (counts >= np.floor(expected)).all() and (counts <= np.ceil(expected)).all()
    np.testing.assert_allclose(counts.mean(axis=0), expected, atol=0.06)  # the extra places go by remainder
    again = sample_committees(seed=4, round_=1, classifiers=500, datapoints=397, size=60, strata=strata)
    np.testing.assert_array_equal(committees, again)
    other_round = sample_committees(seed=4, round_=2, classifiers=500, datapoints=397, size=60, strata=strata)
    assert not np.array_equal(committees, other_round)


def test_stratified_committees_draw_every_datapoint_equally_often() -> None:
    strata = np.repeat([0, 1, 2], [7, 30, 63])  # s·M_h/M = 1.4, 6, 12.6: two strata need the extra place
    committees = sample_committees(seed=0, round_=1, classifiers=20_000, datapoints=100, size=20, strata=strata)

    drawn = np.bincount(committees.ravel(), minlength=100) / 20_000

    np.testing.assert_allclose(drawn, 0.2, atol=0.015)


def test_stratified_committees_with_every_datapoint_are_the_whole_pool() -> None:
    committees = sample_committees(seed=0, round_=1, classifiers=3, datapoints=6, size=6, strata=np.arange(6) % 2)
    assert committees.tolist() == [list(range(6))] * 3


def test_multi_label_targets_stratify_by_their_rows() -> None:
    rows = np.array([[0, 0], [1, 0], [1, 1]])
    labels = rows[np.repeat([0, 1, 2], [50, 30, 20])]

    committees = sample_committees(seed=0, round_=1, classifiers=200, datapoints=100, size=10, strata=labels)

    patterns = labels[:, 0] + labels[:, 1]  # 0, 1, 2: one per distinct row
    counts = np.stack([np.bincount(patterns[row], minlength=3) for row in committees])
    assert (counts == [5, 3, 2]).all()


def test_strata_must_cover_every_datapoint() -> None:
    with pytest.raises(ValueError, match="got 4 keys for 5 datapoints"):
        sample_committees(seed=0, round_=1, classifiers=2, datapoints=5, size=2, strata=np.zeros(4))


def test_committee_strata_split_each_label_into_regions_of_kappa_space() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 40)
    side = np.tile(np.repeat([-1.0, 1.0], 20), 2)  # two well-separated clusters within each label
    kappa = rng.normal(size=(80, 3, 4)) * 0.1 + side[:, None, None] * 5

    strata = committee_strata(labels, kappa, regions=2)

    assert len(np.unique(strata)) == 4
    for label in (0, 1):
        for half in (-1.0, 1.0):
            members = strata[(labels == label) & (side == half)]
            assert len(np.unique(members)) == 1  # a cluster is one region
    assert len(set(strata[labels == 0]) & set(strata[labels == 1])) == 0  # regions never span labels
    np.testing.assert_array_equal(strata, committee_strata(labels, kappa, regions=2))  # no random draw


def test_committee_strata_leave_small_label_groups_whole() -> None:
    labels = np.repeat([0, 1], [10, 40])  # 10 points: fewer than 8 per region for two regions
    kappa = np.random.default_rng(1).normal(size=(50, 2, 4))

    strata = committee_strata(labels, kappa, regions=4)

    assert len(np.unique(strata[labels == 0])) == 1
    assert len(np.unique(strata[labels == 1])) == 4
    assert len(np.unique(committee_strata(labels, kappa, regions=1))) == 2  # by label only
    with pytest.raises(ValueError, match="same datapoints"):
        committee_strata(labels[:-1], kappa, regions=2)


def _kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    upper = np.triu_indices(len(a), 1)
    return float((np.sign(a[:, None] - a[None, :]) * np.sign(b[:, None] - b[None, :]))[upper].mean())


def test_stratified_committees_rank_closer_to_the_exact_ranking_than_uniform_ones() -> None:
    # Each classifier is weak on its own class, as a classifier trained on noisy labels of some
    # classes is: a uniform committee's score then varies with how many of those it drew.
    rng = np.random.default_rng(0)
    classifiers, datapoints, classes, size = 300, 600, 6, 30
    labels = rng.integers(0, classes, size=datapoints)
    skill = rng.uniform(0.5, 1.0, size=classifiers)
    weak = rng.integers(0, classes, size=classifiers)
    p_right = np.where(labels[None, :] == weak[:, None], skill[:, None] - 0.45, skill[:, None])
    scores = (rng.random((classifiers, datapoints)) < p_right).astype(np.float64)
    exact = scores.sum(axis=1)

    taus: dict[str, list[float]] = {"uniform": [], "stratified": []}
    for seed in range(4):
        for name, strata in (("uniform", None), ("stratified", labels)):
            committees = sample_committees(
                seed=seed, round_=1, classifiers=classifiers, datapoints=datapoints, size=size, strata=strata
            )
            taus[name].append(_kendall_tau(np.take_along_axis(scores, committees, axis=1).sum(axis=1), exact))

    assert np.mean(taus["stratified"]) > np.mean(taus["uniform"]) + 0.02


@pytest.mark.parametrize("sampling", ["stratified", "uniform"])
def test_the_validate_stage_scores_on_the_committees_the_config_asks_for(sampling: str) -> None:
    # Prepare: 12 hospitals × 10 datapoints, committees of 16 of the 120
    spec = PoRHeadSpec(width=8, tokens=3, num_outputs=3, hidden=(6,), dropout=0.0)
    model, _, states = _heads(spec, 12)
    rng = np.random.default_rng(5)
    kappa = rng.normal(size=(12, 10, 3, 8)).astype(np.float32)
    labels = rng.integers(0, 3, size=(12, 10))
    outputs = head_predict(model)(states.numpy(), kappa)
    state = RoundState(round=2, global_params=states[0].numpy())
    state.transactions = [
        EDITransaction(round=2, hospital=h, weights=states[h].numpy(), kappa=kappa[h], outputs=outputs[h], labels=labels[h])
        for h in range(12)
    ]
    config = load_config(None, [
        "experiment.pipeline=por", "model.name=por_head", "por.kappa_screen=none", "por.committee_size=16",
        f"por.committee_sampling={sampling}", "por.committee_regions=2",
    ])
    # Execute
    ValidateRankStage()(state, SimpleNamespace(config=config, model=model))  # type: ignore[arg-type]
    # Assert: the scores are those of the committees drawn as configured
    pooled, pooled_labels = kappa.reshape(120, 3, 8), labels.reshape(120)
    strata = committee_strata(pooled_labels, pooled, regions=2) if sampling == "stratified" else None
    committees = sample_committees(seed=0, round_=2, classifiers=12, datapoints=120, size=16, strata=strata)
    expected = score_classifiers(states, torch.from_numpy(pooled), torch.from_numpy(pooled_labels), model.logits,
                                 get_score("rank_points"), committees=committees)
    np.testing.assert_allclose(state.hospital_columns["por_score"], get_reduction("sum")(expected).double().numpy())
    other = sample_committees(seed=0, round_=2, classifiers=12, datapoints=120, size=16,
                              strata=None if strata is not None else committee_strata(pooled_labels, pooled, regions=2))
    assert not np.array_equal(other, committees)  # the two samplings draw different committees
