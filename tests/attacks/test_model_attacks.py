"""Who is malicious, and what the model attacks send."""

from __future__ import annotations

import numpy as np
import pytest

from bflray.aggregation import fedavg, multi_krum, pairwise_squared_distances
from bflray.attacks import MODEL_ATTACKS, alie, free_riding, gaussian_noise, ipm, malicious_mask, min_max, min_sum
from bflray.attacks import scaling, sign_flip
from bflray.config import Config
from bflray.config.schema import AttackConfig, FederationConfig
from bflray.protocol.stages.attack import run_malicious_mask
from bflray.seeding import Purpose, derive_rng

D = 40


def _round(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """16 honest deltas around a common direction, and 4 malicious hospitals' own deltas."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=D)
    direction /= np.linalg.norm(direction)
    return direction + 0.3 * rng.normal(size=(16, D)), direction + 0.3 * rng.normal(size=(4, D))


def _send(name: str, scale: float, honest: np.ndarray, own: np.ndarray) -> np.ndarray:
    rngs = [derive_rng(0, 1, h, Purpose.MALICIOUS) for h in range(len(own))]
    return MODEL_ATTACKS[name](own, honest=honest, rngs=rngs, scale=scale, reference_std=0.1, cohort_size=20)


def test_malicious_hospitals_are_a_seeded_eta_share() -> None:
    mask = malicious_mask(seed=0, num_hospitals=50, malicious_fraction=0.3)
    assert mask.sum() == 15
    assert np.array_equal(mask, malicious_mask(seed=0, num_hospitals=50, malicious_fraction=0.3))
    assert not np.array_equal(mask, malicious_mask(seed=1, num_hospitals=50, malicious_fraction=0.3))
    assert malicious_mask(seed=0, num_hospitals=50, malicious_fraction=0.0).sum() == 0


def test_the_run_mask_reads_the_attack_section() -> None:
    config = Config(federation=FederationConfig(hospitals=20), attack=AttackConfig(malicious_fraction=0.25))
    assert run_malicious_mask(config).sum() == 5


def test_sign_flip_and_scaling_multiply_the_own_delta() -> None:
    own = np.array([[1.0, -2.0], [0.5, 0.0]], dtype=np.float32)
    none = np.empty((0, 2))
    flipped = sign_flip(own, honest=none, rngs=[], scale=3.0, reference_std=1.0, cohort_size=20)
    assert np.array_equal(flipped, np.array([[-3.0, 6.0], [-1.5, 0.0]], dtype=np.float32)) and flipped.dtype == np.float32
    assert np.array_equal(scaling(own, honest=none, rngs=[], scale=2.0, reference_std=1.0, cohort_size=20), 2.0 * own)
    assert not free_riding(own, honest=none, rngs=[], scale=1.0, reference_std=1.0, cohort_size=20).any()


def test_gaussian_noise_is_reproducible_per_hospital_and_scaled_by_the_model_std() -> None:
    own = np.zeros((2, 20_000), dtype=np.float32)

    def rngs() -> list[np.random.Generator]:
        return [derive_rng(0, 1, h, Purpose.MALICIOUS) for h in (4, 9)]

    out = gaussian_noise(own, honest=own[:0], rngs=rngs(), scale=10.0, reference_std=0.5, cohort_size=20)
    assert np.array_equal(out, gaussian_noise(own, honest=own[:0], rngs=rngs(), scale=10.0, reference_std=0.5, cohort_size=20))
    assert abs(float(out.std()) - 5.0) < 0.1
    assert not np.allclose(out[0], out[1])


def test_alie_and_ipm_send_their_closed_forms_from_the_honest_statistics() -> None:
    honest, own = _round()
    mean, std = honest.mean(axis=0), honest.std(axis=0)
    sent = alie(own, honest=honest, rngs=[], scale=1.5, reference_std=0.1, cohort_size=20)
    np.testing.assert_allclose(sent, np.tile(mean - 1.5 * std, (4, 1)))
    np.testing.assert_allclose(ipm(own, honest=honest, rngs=[], scale=2.0, reference_std=0.1, cohort_size=20), np.tile(-2.0 * mean, (4, 1)))


@pytest.mark.parametrize(("attack", "kind"), [(min_max, "max"), (min_sum, "sum")])
def test_min_max_and_min_sum_go_as_far_as_their_bound_allows(attack: object, kind: str) -> None:
    honest, own = _round(1)
    sent = attack(own, honest=honest, rngs=[], scale=10.0, reference_std=0.1, cohort_size=20)  # type: ignore[operator]
    assert np.allclose(sent, sent[0])  # one crafted update, sent by every colluder
    pairwise = pairwise_squared_distances(honest)
    bound = pairwise.max() if kind == "max" else pairwise.sum(axis=1).max()

    def spread(update: np.ndarray) -> float:
        d = np.sum((honest - update) ** 2, axis=1)
        return float(d.max() if kind == "max" else d.sum())

    mean, std = honest.mean(axis=0), honest.std(axis=0)
    gamma = float(np.linalg.norm(sent[0] - mean) / np.linalg.norm(std))
    assert gamma > 0.5
    assert spread(sent[0]) <= bound < spread(mean - gamma * 1.01 * std)


@pytest.mark.parametrize(("name", "scale"), [("random", 20.0), ("sign_flip", 5.0), ("scaling", 10.0), ("ipm", 5.0)])
def test_an_attack_that_fedavg_suffers_is_removed_by_multi_krum(name: str, scale: float) -> None:
    honest, own = _round(2)
    weights, target = np.ones(20), honest.mean(axis=0)  # the best a defence can do: the honest mean
    unattacked = np.linalg.norm(fedavg(np.vstack([honest, own]), weights) - target)
    attacked = np.vstack([honest, _send(name, scale, honest, own)])
    hurt = np.linalg.norm(fedavg(attacked, weights) - target)
    defended = np.linalg.norm(multi_krum(attacked, weights, num_byzantine=4) - target)
    assert hurt > 2.5 * unattacked and defended < 0.25 * hurt
