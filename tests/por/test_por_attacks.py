"""Attacks on Proof of Reasoning: forged outputs (refused by eq. 1), out-of-domain κ (valid,
aimed at the ranking of eq. 2) and update attacks through PoR's attack stage (valid, left to
the ranking).

The unit tests drive the pure functions and :class:`PoRAttackStage` on a small head; the
integration tests run the PoR pipeline in process (on a real anvil) with 6 hospitals, 2 of
them malicious, 2 rounds and a one-epoch MAE whose encoder the runs share through the
encoder cache.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from bflray.api import run
from bflray.attacks import attack_info
from bflray.attacks.forged_outputs import forge_outputs
from bflray.attacks.ood_kappa import ood_rng, ood_tuples, out_of_domain_kappa
from bflray.config import Config, load_config
from bflray.models.por_head import PoRHeadSpec
from bflray.models.por_stacked import PoRHeadStacked
from bflray.por import EDITransaction, validate_transactions
from bflray.protocol.round import build_stages
from bflray.protocol.stages.por_attack import PoRAttackStage, head_predict
from bflray.protocol.state import RoundState
from bflray.roles.messages import TrainResult
from bflray.seeding import Purpose, derive_rng

ROOT = Path(__file__).resolve().parents[2]
EPSILON = 1e-4
HOSPITALS = 4


# -- the pure functions -------------------------------------------------------------------


def test_both_attacks_are_registered_as_por_pipeline_attacks() -> None:
    for name in ("forged_outputs", "ood_kappa"):
        info = attack_info(name)
        assert (info.category, info.site, info.function) == ("por", "pipeline", None) and info.summary


def test_forged_outputs_are_the_one_hot_ground_truth() -> None:
    forged = forge_outputs(np.array([[2, 0], [1, 1]]), num_classes=3)
    assert forged.dtype == np.float32 and forged.shape == (2, 2, 3)
    np.testing.assert_array_equal(forged[0], [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(forged[1], [[0, 1, 0], [0, 1, 0]])


def test_forged_outputs_refuse_labels_outside_the_classes() -> None:
    with pytest.raises(ValueError, match=r"labels in \[0, 3\] fall outside \[0, 3\)"):
        forge_outputs(np.array([0, 3]), num_classes=3)


def test_out_of_domain_kappa_has_each_features_scale_but_none_of_its_values() -> None:
    rng = np.random.default_rng(0)
    means, stds = rng.normal(size=16) * 3, rng.uniform(0.1, 2.0, size=16)
    kappa = (means + stds * rng.normal(size=(40, 8, 16))).astype(np.float32)
    junk = out_of_domain_kappa(kappa, rng=ood_rng(seed=0, round_=1, hospital=3))
    assert junk.shape == kappa.shape and junk.dtype == np.float32
    real, fake = kappa.reshape(-1, 16), junk.reshape(-1, 16)  # 320 patches per feature
    assert (np.abs(fake.mean(axis=0) - real.mean(axis=0)) < 0.25 * real.std(axis=0)).all()
    np.testing.assert_allclose(fake.std(axis=0), real.std(axis=0), rtol=0.2)
    assert abs(np.corrcoef(junk.ravel() - means.mean(), kappa.ravel() - means.mean())[0, 1]) < 0.9
    assert np.abs(junk - kappa).mean() > 0.5 * stds.mean()


def test_out_of_domain_kappa_is_seeded_per_hospital_and_apart_from_the_model_attack_stream() -> None:
    kappa = np.random.default_rng(1).normal(size=(2, 4, 16)).astype(np.float32)
    first = out_of_domain_kappa(kappa, rng=ood_rng(seed=0, round_=1, hospital=3))
    np.testing.assert_array_equal(first, out_of_domain_kappa(kappa, rng=ood_rng(seed=0, round_=1, hospital=3)))
    assert not np.array_equal(first, out_of_domain_kappa(kappa, rng=ood_rng(seed=0, round_=1, hospital=4)))
    assert not np.array_equal(first, out_of_domain_kappa(kappa, rng=ood_rng(seed=0, round_=2, hospital=3)))
    model_attack = derive_rng(0, 1, 3, Purpose.MALICIOUS).standard_normal(4)
    assert not np.allclose(ood_rng(seed=0, round_=1, hospital=3).standard_normal(4), model_attack)


def test_out_of_domain_kappa_refuses_a_kappa_that_is_not_m_by_k_by_w() -> None:
    with pytest.raises(ValueError, match=r"m × K × W array, got shape \(4, 16\)"):
        out_of_domain_kappa(np.zeros((4, 16), dtype=np.float32), rng=np.random.default_rng(0))


@pytest.fixture
def head() -> PoRHeadStacked:
    return PoRHeadStacked(PoRHeadSpec(width=16, tokens=4, num_outputs=3, hidden=(8,)))


def _validate(head: PoRHeadStacked, params: np.ndarray, extras: dict[str, np.ndarray]) -> Any:
    txs = [
        EDITransaction(round=1, hospital=h, weights=params[h], kappa=extras["kappa"][h], outputs=extras["outputs"][h],
                       labels=extras["labels"][h])
        for h in range(len(params))
    ]
    return validate_transactions(txs, head.logits, epsilon=EPSILON, num_classes=head.spec.num_outputs)


def test_ood_tuples_pass_validation_and_are_labelled_by_the_own_classifier(head: PoRHeadStacked) -> None:
    rng = np.random.default_rng(2)
    states = np.stack([head.init(rng) for _ in range(3)])
    real = rng.normal(size=(3, 5, 4, 16)).astype(np.float32)
    rngs = [ood_rng(seed=0, round_=1, hospital=h) for h in range(3)]
    kappa, outputs, labels = ood_tuples(states, real, predict=head_predict(head), rngs=rngs)
    assert kappa.shape == real.shape and outputs.shape == (3, 5, 3) and labels.shape == (3, 5)
    assert not np.allclose(kappa, real)
    np.testing.assert_array_equal(labels, outputs.argmax(axis=-1))
    assert _validate(head, states, {"kappa": kappa, "outputs": outputs, "labels": labels}).valid.all()


def test_ood_tuples_refuse_states_and_kappa_of_different_hospitals(head: PoRHeadStacked) -> None:
    states = np.stack([head.init(np.random.default_rng(0))] * 2)
    with pytest.raises(ValueError, match="2 states, κ of shape"):
        ood_tuples(states, np.zeros((3, 5, 4, 16), np.float32), predict=head_predict(head), rngs=[])


# -- the stage ----------------------------------------------------------------------------


def _por_config(*extra: str) -> Config:
    return load_config(
        ROOT / "configs" / "por.toml",
        [f"federation.hospitals={HOSPITALS}", "runtime.backend=inprocess", "metrics.enabled=false", *extra],
    )


def _attack(head: PoRHeadStacked, kind: str, *extra: str) -> tuple[RoundState, TrainResult, np.ndarray]:
    """One round of ``HOSPITALS`` trained heads and their honest tuples, after the stage ran
    with half the hospitals malicious; returns the state, the honest updates and the base."""
    rng = np.random.default_rng(3)
    base = head.init(rng)
    params = np.repeat(base[None], HOSPITALS, axis=0)
    params[:, : head.num_params] += 0.05 * rng.normal(size=(HOSPITALS, head.num_params)).astype(np.float32)
    params[:, head.num_params :] += 0.1 * rng.uniform(size=(HOSPITALS, head.num_buffers)).astype(np.float32)
    kappa = rng.normal(size=(HOSPITALS, 5, 4, 16)).astype(np.float32)
    honest = TrainResult(
        hospital_ids=np.arange(HOSPITALS), params=params, num_samples=np.array([100, 80, 120, 90]),
        losses=np.zeros(HOSPITALS),
        extras={
            "kappa": kappa, "outputs": head_predict(head)(params, kappa), "labels": rng.integers(0, 3, (HOSPITALS, 5)),
        },
    )
    state = RoundState(round=1, global_params=base, updates=honest, weights=honest.num_samples.astype(np.float64))
    config = _por_config("attack.malicious_fraction=0.5", f"attack.kind={kind}", *extra)
    PoRAttackStage()(state, SimpleNamespace(config=config, model=head))  # type: ignore[arg-type]
    return state, honest, base


def test_the_stage_marks_the_malicious_hospitals(head: PoRHeadStacked) -> None:
    state, _, _ = _attack(head, "sign_flip")
    bad = state.hospital_columns["malicious"]
    assert bad.dtype == bool and bad.sum() == 2 and state.record["malicious"] == 2


def test_forged_transactions_fail_validation_and_honest_ones_pass(head: PoRHeadStacked) -> None:
    state, honest, _ = _attack(head, "forged_outputs")
    bad = state.hospital_columns["malicious"]
    updates = state.require_updates()
    result = _validate(head, updates.params, updates.extras)
    assert result.valid.tolist() == (~bad).tolist()
    assert all("ε=0.0001" in str(result.reasons[i]) for i in np.flatnonzero(bad))
    forged = forge_outputs(honest.extras["labels"][bad], num_classes=3)
    np.testing.assert_array_equal(updates.extras["outputs"][bad], forged)
    np.testing.assert_array_equal(updates.params, honest.params)


def test_a_sign_flip_poisons_the_learnable_weights_and_publishes_their_true_outputs(head: PoRHeadStacked) -> None:
    state, honest, base = _attack(head, "sign_flip", "attack.scale=10")
    bad = state.hospital_columns["malicious"]
    updates = state.require_updates()
    p = head.num_params
    expected = base[:p] - 10 * (honest.params[bad, :p] - base[:p])
    np.testing.assert_allclose(updates.params[bad, :p], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(updates.params[bad, p:], honest.params[bad, p:])  # running statistics as trained
    np.testing.assert_array_equal(updates.params[~bad], honest.params[~bad])
    np.testing.assert_array_equal(updates.extras["outputs"][~bad], honest.extras["outputs"][~bad])
    assert not np.allclose(updates.extras["outputs"][bad], honest.extras["outputs"][bad])
    assert _validate(head, updates.params, updates.extras).valid.all()


def test_sybil_identities_publish_one_classifier_with_valid_outputs_on_their_own_kappa(head: PoRHeadStacked) -> None:
    state, honest, _ = _attack(head, "sybil")
    rows = np.flatnonzero(state.hospital_columns["malicious"])
    updates = state.require_updates()
    np.testing.assert_array_equal(updates.params[rows[1]], honest.params[rows[0]])  # buffers included
    np.testing.assert_array_equal(updates.extras["kappa"], honest.extras["kappa"])
    assert _validate(head, updates.params, updates.extras).valid.all()


def test_ood_kappa_replaces_the_malicious_tuples_only(head: PoRHeadStacked) -> None:
    state, honest, _ = _attack(head, "ood_kappa")
    bad = state.hospital_columns["malicious"]
    extras = state.require_updates().extras
    assert not np.isclose(extras["kappa"][bad], honest.extras["kappa"][bad]).any()
    for name in ("kappa", "outputs", "labels"):
        np.testing.assert_array_equal(extras[name][~bad], honest.extras[name][~bad])
    assert _validate(head, state.require_updates().params, extras).valid.all()


def test_inflated_counts_are_recorded_but_por_does_not_weigh_them(head: PoRHeadStacked) -> None:
    state, honest, _ = _attack(head, "inflated_samples", "attack.sample_inflation=10")
    bad = state.hospital_columns["malicious"]
    counts = honest.num_samples * np.where(bad, 10, 1)
    np.testing.assert_array_equal(state.require_updates().num_samples, counts)
    np.testing.assert_array_equal(state.hospital_columns["num_samples"], counts)
    np.testing.assert_array_equal(state.weights, honest.num_samples)  # the train stage's, for validate to replace
    for name in ("kappa", "outputs", "labels"):
        np.testing.assert_array_equal(state.require_updates().extras[name], honest.extras[name])


def test_the_por_pipeline_runs_the_attack_stage_only_with_malicious_hospitals() -> None:
    names = [s.name for s in build_stages(_por_config("attack.malicious_fraction=0.25", "attack.kind=ood_kappa"))]
    assert names[:4] == ["plan", "train", "attack", "screen"]
    assert "attack" not in [s.name for s in build_stages(_por_config())]


# -- runs ---------------------------------------------------------------------------------

Run = tuple[list[dict[str, Any]], dict[str, np.ndarray]]

_BASE = (
    "experiment.rounds=2", "federation.hospitals=6", "runtime.backend=inprocess", "metrics.enabled=false",
    "data.source=offline", "mae.epochs=1", "mae.width=32", "mae.decoder_width=16", "training.local_epochs=1",
    "training.warmup_epochs=10", "por.tuples=16",
)
_MALICIOUS = "attack.malicious_fraction=0.34"  # 2 of the 6 hospitals


@pytest.fixture(scope="module")
def por_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Run]:
    """Runs a small PoR experiment (cached by its overrides); returns its rounds and its
    ``hospitals.parquet`` columns. One output folder, so the runs share one cached encoder."""
    out = tmp_path_factory.mktemp("por_attacks")
    done: dict[tuple[str, ...], Run] = {}

    def go(*extra: str) -> Run:
        if extra not in done:
            result = run(load_config(ROOT / "configs" / "por.toml", [*_BASE, *extra]), out_dir=out, progress=False)
            table = pq.read_table(result.run_dir / "hospitals.parquet")
            done[extra] = (result.rounds, {name: table.column(name).to_numpy() for name in table.column_names})
        return done[extra]

    return go


@pytest.mark.integration
def test_forged_outputs_are_excluded_by_validation_and_get_no_weight(por_run: Callable[..., Run]) -> None:
    rounds, rows = por_run(_MALICIOUS, "attack.kind=forged_outputs")
    bad = rows["malicious"]
    assert bad.sum() == 2 * len(rounds)
    assert not rows["por_valid"][bad].any() and (rows["aggregation_weight"][bad] == 0).all()
    assert all("ε=0.0001" in reason for reason in rows["por_reason"][bad])
    assert rows["por_valid"][~bad].all() and (rows["aggregation_weight"][~bad] > 0).all()
    assert [r["por_excluded"] for r in rounds] == [2, 2]
    assert [r["por_datapoints"] for r in rounds] == [4 * 16, 4 * 16]  # only the honest tuples are pooled


_UNSCREENED = 'por.kappa_screen="none"'  # no κ screen: every validated datapoint is in the exam


@pytest.mark.integration
def test_ood_kappa_passes_validation_and_lifts_the_attackers_in_the_ranking(por_run: Callable[..., Run]) -> None:
    clean_rounds, clean = por_run(_UNSCREENED)
    rounds, rows = por_run(_UNSCREENED, _MALICIOUS, "attack.kind=ood_kappa")
    bad = rows["malicious"]
    assert bad.sum() == 2 * len(rounds) and rows["por_valid"].all()
    # The junk replaces the attackers' real tuples one for one: the pool is as large, 2/6 of it junk.
    assert [r["por_datapoints"] for r in rounds] == [r["por_datapoints"] for r in clean_rounds] == [96, 96]
    # Round 1's classifiers are the clean run's (the attack touches only the tuples), so the
    # change of a score is the change of the exam: the attackers gain more than anybody else.
    first = rows["round"] == 1
    gain = rows["por_score"][first] - clean["por_score"][clean["round"] == 1]
    assert gain[bad[first]].min() > gain[~bad[first]].max()
    assert sorted(rows["por_rank"][first & bad]) == [1, 2]
    assert not (clean["por_rank"][(clean["round"] == 1) & bad] <= 2).all()  # they were not both on top before


def _attackers_lift(rows: dict[str, np.ndarray], clean: dict[str, np.ndarray], bad: np.ndarray) -> float:
    """How much more the attackers' round-1 scores rose over the clean run's than the honest
    classifiers' did (mean gain of ``bad`` minus mean gain of the rest). Round 1's classifiers and
    the honest datapoints are the same in both runs, so with the summed score their part of the
    exam cancels: what is left is what the attackers' datapoints (real, junk or none) give each."""
    first = rows["round"] == 1
    gain = rows["por_score"][first] - clean["por_score"][clean["round"] == 1]
    return float(gain[bad[first]].mean() - gain[~bad[first]].mean())


@pytest.mark.integration
def test_the_kappa_screen_leaves_the_junk_out_of_the_exam_and_says_why(por_run: Callable[..., Run]) -> None:
    rounds, rows = por_run(_MALICIOUS, "attack.kind=ood_kappa")  # the screen is on by default
    bad = rows["malicious"]
    assert bad.sum() == 2 * len(rounds) and rows["por_valid"].all()  # eq. (1) holds: the screen is no validation
    assert (rows["por_screened"][bad] == 16).all() and (rows["por_screened"][~bad] == 0).all()
    assert all(reason.startswith("κ screen: 16 of 16 datapoints left out") for reason in rows["por_reason"][bad])
    assert all(reason == "" for reason in rows["por_reason"][~bad])
    assert [(r["por_screened"], r["por_screened_datapoints"], r["por_datapoints"]) for r in rounds] == [(2, 32, 64)] * 2
    assert (rows["aggregation_weight"][bad] > 0).all()  # their classifiers are still ranked, on the real exam


@pytest.mark.integration
@pytest.mark.parametrize("partition", ["iid", "dirichlet", "ranges"])
def test_the_kappa_screen_raises_no_false_alarm_on_honest_hospitals(
    por_run: Callable[..., Run], partition: str
) -> None:
    rounds, rows = por_run() if partition == "iid" else por_run(f'data.partition="{partition}"')  # por.toml's is iid
    assert not rows["por_screened"].any() and [r["por_screened"] for r in rounds] == [0, 0]
    assert [r["por_datapoints"] for r in rounds] == [96, 96]


@pytest.mark.integration
def test_the_kappa_screen_removes_most_of_the_lift_ood_kappa_gives_the_attackers(por_run: Callable[..., Run]) -> None:
    # The harm the attack aims at, as the test above measures it: the attackers' score gain over
    # the honest classifiers' gain, each attacked run against its own clean run.
    _, attacked = por_run(_UNSCREENED, _MALICIOUS, "attack.kind=ood_kappa")
    _, defended = por_run(_MALICIOUS, "attack.kind=ood_kappa")
    bad = attacked["malicious"]
    np.testing.assert_array_equal(defended["malicious"], bad)
    undefended_lift = _attackers_lift(attacked, por_run(_UNSCREENED)[1], bad)
    defended_lift = _attackers_lift(defended, por_run()[1], bad)
    assert undefended_lift >= 30, f"ood_kappa lifted the attackers by only {undefended_lift:+.1f} rank points"
    assert defended_lift <= 0.5 * undefended_lift, f"lift {defended_lift:+.1f} screened vs {undefended_lift:+.1f}"
    rows = defended["round"] == 1
    assert sorted(defended["por_rank"][rows & bad]) != [1, 2]  # not both on top, as without the screen


_RANKED = ("por.aggregation=top_k_mean", "por.score=log_likelihood")  # the bottom half weighs nothing


@pytest.mark.integration
def test_a_sign_flipped_classifier_is_valid_but_ranked_last_and_left_out(por_run: Callable[..., Run]) -> None:
    clean_rounds, _ = por_run(*_RANKED)
    rounds, rows = por_run(*_RANKED, _MALICIOUS, "attack.kind=sign_flip", "attack.scale=10")
    bad = rows["malicious"]
    assert bad.sum() == 2 * len(rounds) and rows["por_valid"].all()  # consistent outputs pass eq. (1)
    for r in range(1, len(rounds) + 1):
        this = rows["round"] == r
        assert sorted(rows["por_rank"][this & bad]) == [5, 6]
        assert (rows["aggregation_weight"][this & bad] == 0).all()
    assert rounds[-1]["accuracy"] >= clean_rounds[-1]["accuracy"] - 0.05
    assert rounds[-1]["accuracy"] > 0.2  # 10 classes: chance is 0.1, where a flipped aggregate lands


@pytest.mark.integration
def test_under_rank_points_a_sign_flipped_classifier_is_ranked_last(por_run: Callable[..., Run]) -> None:
    rounds, rows = por_run("por.aggregation=top_k_mean", _MALICIOUS, "attack.kind=sign_flip", "attack.scale=10")
    first = rows["round"] == 1
    assert sorted(rows["por_rank"][first & rows["malicious"]]) == [5, 6]


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["targeted_label_flip", "backdoor"])
def test_a_por_run_measures_the_targeted_attacks_success_over_the_hospitals_encoders(
    por_run: Callable[..., Run], kind: str
) -> None:
    # A clean run measures the baseline, an attacked run the attack (data poisoned before encoding)
    clean, _ = por_run(f'attack.kind="{kind}"', "attack.malicious_fraction=0", "attack.target_class=1")
    attacked, rows = por_run(f'attack.kind="{kind}"', "attack.malicious_fraction=0.5", "attack.target_class=1",
                             "attack.poison_fraction=1.0")
    for rounds in (clean, attacked):
        assert all(0.0 <= float(r["attack_success_rate"]) <= 1.0 for r in rounds)
    assert rows["malicious"].sum() == 2 * 3  # 3 of 6 hospitals, two rounds
    assert float(attacked[-1]["attack_success_rate"]) != float(clean[-1]["attack_success_rate"])
