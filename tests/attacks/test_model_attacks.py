"""Who is malicious, and what the model attacks send."""

from __future__ import annotations

import numpy as np

from bflray.attacks import gaussian_noise, malicious_mask, sign_flip
from bflray.config import Config
from bflray.config.schema import AttackConfig, FederationConfig
from bflray.protocol.stages.attack import run_malicious_mask
from bflray.seeding import Purpose, derive_rng


def test_malicious_hospitals_are_a_seeded_eta_share() -> None:
    mask = malicious_mask(seed=0, num_hospitals=50, malicious_fraction=0.3)
    assert mask.sum() == 15
    assert np.array_equal(mask, malicious_mask(seed=0, num_hospitals=50, malicious_fraction=0.3))
    assert not np.array_equal(mask, malicious_mask(seed=1, num_hospitals=50, malicious_fraction=0.3))
    assert malicious_mask(seed=0, num_hospitals=50, malicious_fraction=0.0).sum() == 0


def test_the_run_mask_reads_the_attack_section() -> None:
    config = Config(federation=FederationConfig(hospitals=20), attack=AttackConfig(malicious_fraction=0.25))
    assert run_malicious_mask(config).sum() == 5


def test_sign_flip_pushes_the_update_the_other_way() -> None:
    deltas = np.array([[1.0, -2.0], [0.5, 0.0]], dtype=np.float32)
    out = sign_flip(deltas, rngs=[], scale=3.0, reference_std=1.0)
    assert np.array_equal(out, np.array([[-3.0, 6.0], [-1.5, 0.0]], dtype=np.float32))
    assert out.dtype == np.float32


def test_gaussian_noise_is_reproducible_per_hospital_and_scaled_by_the_model_std() -> None:
    deltas = np.zeros((2, 20_000), dtype=np.float32)

    def rngs() -> list[np.random.Generator]:
        return [derive_rng(0, 1, h, Purpose.MALICIOUS) for h in (4, 9)]

    out = gaussian_noise(deltas, rngs=rngs(), scale=10.0, reference_std=0.5)
    assert np.array_equal(out, gaussian_noise(deltas, rngs=rngs(), scale=10.0, reference_std=0.5))
    assert abs(float(out.std()) - 5.0) < 0.1
    assert not np.allclose(out[0], out[1])
