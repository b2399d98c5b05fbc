"""The κ screen (``por.kappa_screen``): out-of-domain encoded datapoints leave PoR's exam,
real ones stay, whatever their class mix.

The encodings here are synthetic but shaped like an MAE encoder's: a few latent factors per
token, mixed into W features and passed through a LayerNorm with its own scale and shift,
as the encoder's last layer does. Hospitals differ by their latent means (their classes).
"""

from __future__ import annotations

import typing
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bflray.attacks.ood_kappa import ood_rng, out_of_domain_kappa
from bflray.config import load_config
from bflray.config.schema import PoRConfig
from bflray.errors import ConfigError
from bflray.models.por_head import PoRHeadSpec
from bflray.models.por_stacked import PoRHeadStacked
from bflray.por import KAPPA_SCREENS, EDITransaction, get_score, score_classifiers, screen_kappa
from bflray.por.kappa_screen import FIT_DATAPOINTS, MAX_STEPS, MIN_TOKENS_PER_FEATURE, RIDGE, _screen, _statistic
from bflray.protocol.stages.por import ValidateRankStage
from bflray.protocol.stages.por_attack import head_predict
from bflray.protocol.state import RoundState

TOKENS, WIDTH = 8, 16


class _Encoder:
    """A fixed random 'encoder': latent factors → W features → LayerNorm(γ, β)."""

    def __init__(self, seed: int, *, rank: int = 3) -> None:
        rng = np.random.default_rng(seed)
        self.rank = rank
        self.mixing = rng.normal(size=(rank, WIDTH))
        self.gamma = rng.uniform(0.5, 2.0, size=WIDTH)
        self.beta = rng.normal(scale=0.5, size=WIDTH)

    def encode(self, rng: np.random.Generator, datapoints: int, *, shift: float = 0.0) -> np.ndarray:
        latent = rng.normal(size=(datapoints, TOKENS, self.rank)) + shift
        hidden = latent @ self.mixing + 0.1 * rng.normal(size=(datapoints, TOKENS, WIDTH))
        normed = (hidden - hidden.mean(-1, keepdims=True)) / np.sqrt(hidden.var(-1, keepdims=True) + 1e-5)
        return np.asarray(normed * self.gamma + self.beta, dtype=np.float32)


def _hospitals(encoder: _Encoder, *, hospitals: int, per_hospital: int, spread: float, seed: int = 0) -> np.ndarray:
    """``hospitals × per_hospital`` datapoints, each hospital's latents shifted by its own amount."""
    rng = np.random.default_rng(seed)
    shifts = np.linspace(-spread, spread, hospitals)
    return np.stack([encoder.encode(rng, per_hospital, shift=s) for s in shifts])


def _with_junk(kappa: np.ndarray, bad: list[int]) -> np.ndarray:
    out = kappa.copy()
    for h in bad:
        out[h] = out_of_domain_kappa(kappa[h], rng=ood_rng(seed=0, round_=1, hospital=h))
    return out


# -- the rule -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [[1], [0, 5], [2, 4, 7]])
def test_out_of_domain_datapoints_are_flagged_and_real_ones_are_not(bad: list[int]) -> None:
    kappa = _with_junk(_hospitals(_Encoder(0), hospitals=8, per_hospital=2, spread=1.0), bad)
    screen = screen_kappa(kappa.reshape(-1, TOKENS, WIDTH), threshold=7.0)
    expected = np.zeros(8, dtype=bool)
    expected[bad] = True
    np.testing.assert_array_equal(screen.flagged.reshape(8, 2), np.repeat(expected[:, None], 2, axis=1))
    assert screen.outlyingness.reshape(8, 2)[expected].min() > 3 * screen.outlyingness.reshape(8, 2)[~expected].max()


def test_the_junk_matches_every_features_mean_and_spread_yet_is_flagged() -> None:
    # Why a per-feature check cannot work: the junk's marginals are the real ones.
    real = _hospitals(_Encoder(1), hospitals=8, per_hospital=4, spread=0.5)
    kappa = _with_junk(real, [3])
    fake, honest = kappa[3].reshape(-1, WIDTH), real[3].reshape(-1, WIDTH)
    spread = honest.std(axis=0)
    assert (np.abs(fake.mean(axis=0) - honest.mean(axis=0)) < spread).all()
    np.testing.assert_allclose(fake.std(axis=0), spread, rtol=0.5)
    flagged = screen_kappa(kappa.reshape(-1, TOKENS, WIDTH), threshold=7.0).flagged.reshape(8, 4)
    assert flagged[3].all() and not np.delete(flagged, 3, axis=0).any()


@pytest.mark.parametrize("spread", [0.0, 1.0, 2.0])
def test_honest_hospitals_of_different_classes_raise_no_false_alarm(spread: float) -> None:
    for seed in range(5):
        kappa = _hospitals(_Encoder(seed), hospitals=8, per_hospital=2, spread=spread, seed=seed)
        screen = screen_kappa(kappa.reshape(-1, TOKENS, WIDTH), threshold=7.0)
        assert not screen.flagged.any(), (seed, screen.outlyingness.max())


def test_the_screen_abstains_when_the_pool_is_too_small_to_fit_a_scatter() -> None:
    pool = _with_junk(_hospitals(_Encoder(2), hospitals=5, per_hospital=1, spread=0.0), [0])
    assert 5 * TOKENS < MIN_TOKENS_PER_FEATURE * WIDTH
    screen = screen_kappa(pool.reshape(-1, TOKENS, WIDTH), threshold=7.0)
    assert not screen.flagged.any() and (screen.outlyingness == 1).all() and screen.steps == 0


def test_flags_follow_the_datapoints_when_the_pool_is_reordered() -> None:
    pool = _with_junk(_hospitals(_Encoder(3), hospitals=8, per_hospital=2, spread=1.0), [1, 6])
    kappa = pool.reshape(-1, TOKENS, WIDTH)
    screen = screen_kappa(kappa, threshold=7.0)
    order = np.random.default_rng(0).permutation(len(kappa))
    shuffled = screen_kappa(kappa[order], threshold=7.0)
    np.testing.assert_array_equal(shuffled.flagged, screen.flagged[order])
    np.testing.assert_allclose(shuffled.outlyingness, screen.outlyingness[order], rtol=1e-9)


@pytest.mark.parametrize("deleted", [False, True])
def test_distances_are_those_of_an_explicit_fit_with_a_kept_datapoint_left_out_when_deleted(deleted: bool) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 5, 6)) @ rng.normal(size=(6, 6))
    kept, ridge = np.array([0, 2, 3, 5]), 0.05
    scale = np.trace(np.cov(x[kept].reshape(-1, 6).T, bias=True)) / 6  # the ridge is the whole fit's
    expected = []
    for j in range(7):
        fit = [i for i in kept if i != j] if deleted else list(kept)
        tokens = x[fit].reshape(-1, 6)
        mean = tokens.mean(axis=0)
        cov = np.cov(tokens.T, bias=True) + ridge * scale * np.eye(6)
        d2 = np.einsum("kw,wv,kv->k", x[j] - mean, np.linalg.inv(cov), x[j] - mean) / 6
        expected.append(np.median(d2))
    np.testing.assert_allclose(_statistic(x, kept, ridge, deleted=deleted), expected, rtol=1e-9)


def test_identical_tokens_are_not_flagged_and_one_different_datapoint_is() -> None:
    same = np.ones((6, TOKENS, WIDTH))
    assert not screen_kappa(same, threshold=7.0).flagged.any()
    same[2, :, 0] = 2.0
    np.testing.assert_array_equal(screen_kappa(same, threshold=7.0).flagged, [False, False, True, False, False, False])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 1.0}, "threshold must be > 1"),
        ({"threshold": 7.0, "ridge": 0.0}, "ridge must be > 0"),
        ({"threshold": 7.0, "max_steps": 0}, "max_steps ≥ 1"),
    ],
)
def test_bad_settings_are_refused_with_their_values(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        screen_kappa(np.zeros((6, TOKENS, WIDTH)), **kwargs)  # type: ignore[arg-type]


def test_kappa_of_the_wrong_shape_or_with_nan_is_refused() -> None:
    with pytest.raises(ValueError, match=r"M × K × W array with K, W ≥ 1, got shape \(6, 16\)"):
        screen_kappa(np.zeros((6, WIDTH)), threshold=7.0)
    bad = np.zeros((6, TOKENS, WIDTH))
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        screen_kappa(bad, threshold=7.0)


# -- configuration --------------------------------------------------------------------------


def test_the_config_offers_exactly_the_screens_the_module_implements() -> None:
    annotation = PoRConfig.model_fields["kappa_screen"].annotation
    assert typing.get_args(annotation) == KAPPA_SCREENS
    assert PoRConfig().kappa_screen == "mahalanobis" and PoRConfig().kappa_screen_threshold == 7.0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ('por.kappa_screen="robust"', "por.kappa_screen = 'robust': input should be 'none' or 'mahalanobis'"),
        ("por.kappa_screen_threshold=1", "por.kappa_screen_threshold = 1: input should be greater than 1"),
        ("por.kappa_screen_threshold=-3.5", "por.kappa_screen_threshold = -3.5: input should be greater than 1"),
    ],
)
def test_a_bad_screen_setting_is_a_config_error_naming_the_field_and_value(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["experiment.pipeline=por", "model.name=por_head", override])
    assert message in str(info.value)


# -- the validate stage ---------------------------------------------------------------------

HOSPITALS, TUPLES = 6, 3


def _round(
    screen: str, bad: list[int], *, hospitals: int = HOSPITALS, tuples: int = TUPLES,
    stage: ValidateRankStage | None = None,
) -> RoundState:
    """One validate stage over ``hospitals`` transactions of ``tuples`` datapoints each, the
    ``bad`` ones out-of-domain (outputs recomputed, so eq. 1 holds for all)."""
    head = PoRHeadStacked(PoRHeadSpec(width=WIDTH, tokens=TOKENS, num_outputs=3, hidden=(8,)))
    rng = np.random.default_rng(4)
    states = np.stack([head.init(rng) for _ in range(hospitals)])
    kappa = _with_junk(_hospitals(_Encoder(4), hospitals=hospitals, per_hospital=tuples, spread=1.0), bad)
    outputs = head_predict(head)(states, kappa)
    labels = rng.integers(0, 3, size=(hospitals, tuples))
    state = RoundState(round=1, global_params=states[0])
    state.transactions = [
        EDITransaction(round=1, hospital=h, weights=states[h], kappa=kappa[h], outputs=outputs[h], labels=labels[h])
        for h in range(hospitals)
    ]
    config = load_config(None, ["experiment.pipeline=por", "model.name=por_head", f'por.kappa_screen="{screen}"'])
    (stage or ValidateRankStage())(state, SimpleNamespace(config=config, model=head))  # type: ignore[arg-type]
    return state


def test_the_stage_leaves_screened_datapoints_out_of_the_exam_and_says_why() -> None:
    state = _round("mahalanobis", [1, 4])
    columns, record = state.hospital_columns, state.record
    np.testing.assert_array_equal(columns["por_screened"], [0, TUPLES, 0, 0, TUPLES, 0])
    assert all(columns["por_reason"][h].startswith(f"κ screen: {TUPLES} of {TUPLES} datapoints") for h in (1, 4))
    assert all(columns["por_reason"][h] == "" for h in (0, 2, 3, 5))
    assert (record["por_screened"], record["por_screened_datapoints"]) == (2, 2 * TUPLES)
    assert record["por_datapoints"] == (HOSPITALS - 2) * TUPLES and record["por_screen_seconds"] > 0
    # The screen judges datapoints, not classifiers: every transaction stays valid and ranked.
    assert columns["por_valid"].all() and record["por_excluded"] == 0
    assert sorted(columns["por_rank"]) == list(range(1, HOSPITALS + 1))
    assert state.weights is not None and bool((state.weights > 0).all())


def test_with_the_screen_off_every_valid_datapoint_is_examined() -> None:
    state = _round("none", [1, 4])
    assert not state.hospital_columns["por_screened"].any() and state.record["por_screened"] == 0
    assert state.record["por_datapoints"] == HOSPITALS * TUPLES and state.record["por_screen_seconds"] == 0


def test_the_screen_ranks_every_classifier_on_the_real_datapoints_alone() -> None:
    state = _round("mahalanobis", [1, 4])
    honest = [0, 2, 3, 5]
    txs = state.transactions
    head = PoRHeadStacked(PoRHeadSpec(width=WIDTH, tokens=TOKENS, num_outputs=3, hidden=(8,)))
    matrix = score_classifiers(
        torch.from_numpy(np.stack([tx.weights for tx in txs])),
        torch.from_numpy(np.concatenate([txs[h].kappa for h in honest])),
        torch.from_numpy(np.concatenate([txs[h].labels for h in honest])),
        head.logits, get_score("rank_points"),
    )
    np.testing.assert_allclose(state.hospital_columns["por_score"], matrix.sum(dim=1).double().numpy())


def test_a_pool_too_small_to_screen_is_examined_whole_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    stage = ValidateRankStage()
    for _ in range(2):
        state = _round("mahalanobis", [1], hospitals=4, tuples=1, stage=stage)  # 4 × 8 tokens < 3 × 16
        assert state.record["por_screened"] == 0 and state.record["por_datapoints"] == 4
    warnings = [r.getMessage() for r in caplog.records if "κ screen abstains" in r.getMessage()]
    assert len(warnings) == 1 and "4 pooled datapoints of 8 × 16 tokens" in warnings[0]


def test_a_large_pool_is_fitted_on_a_subset_and_flags_what_fitting_on_all_flags() -> None:
    # 300 hospitals × 8 datapoints (M = 2,400 > FIT_DATAPOINTS), 30 of them publishing junk
    bad = list(range(5, 300, 10))
    kappa = _with_junk(_hospitals(_Encoder(1), hospitals=300, per_hospital=8, spread=1.0), bad)
    pool = kappa.reshape(-1, TOKENS, WIDTH)
    assert len(pool) > FIT_DATAPOINTS
    junk = np.zeros((300, 8), dtype=bool)
    junk[bad] = True
    fast = screen_kappa(pool, threshold=7.0)
    exact = _screen(pool.astype(np.float64), threshold=7.0, ridge=RIDGE, max_steps=MAX_STEPS)
    np.testing.assert_array_equal(fast.flagged, junk.ravel())
    np.testing.assert_array_equal(exact.flagged, fast.flagged)
    np.testing.assert_allclose(fast.outlyingness[~junk.ravel()], exact.outlyingness[~junk.ravel()], rtol=0.05)
