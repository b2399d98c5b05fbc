"""Attacks by name: the registry, a user's own attack from their module, the data attacks on
a block's samples, lazy training, Sybil copies, inflated counts and collusion."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bflray.attacks import apply_trigger, attack_info, backdoor, label_flip, parse_kind, targeted_label_flip
from bflray.attacks import registry
from bflray.attacks.registry import AttackError
from bflray.config import load_config
from bflray.config.schema import AttackConfig
from bflray.errors import ConfigError
from bflray.protocol.stages.attack import poison_params
from bflray.protocol.stages.basic import build_plan
from bflray.roles.hospital_block import HospitalBlock
from bflray.attacks.selection import run_malicious_mask

USER_MODULE = """
import numpy as np
from bflray.attacks import register_attack

@register_attack("halve", category="model")
def halve(malicious, *, honest, rngs, scale, reference_std, cohort_size):
    '''Half of the own delta.'''
    return malicious / 2

def undecorated(malicious, *, honest, rngs, scale, reference_std, cohort_size):
    return np.zeros_like(malicious)

@register_attack("blank", category="data", site="data")
def blank(features, labels, *, rng, settings, num_classes, image_shape):
    return np.zeros_like(features), labels
"""


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "my_attacks.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # the user's names leave with the test
    yield "my_attacks"
    sys.modules.pop("my_attacks", None)


def test_every_built_in_attack_is_registered_with_its_category() -> None:
    categories = {name: attack_info(name).category for name in (
        "label_flip", "targeted_label_flip", "backdoor", "sign_flip", "random", "scaling", "model_replacement", "alie",
        "ipm", "min_max", "min_sum", "free_riding", "lazy", "sybil", "dishonest_voting", "colluding_validators",
        "inflated_samples",
    )}
    assert categories["backdoor"] == "data" and categories["alie"] == "model" and categories["sybil"] == "participation"
    assert categories["dishonest_voting"] == "chain" and categories["inflated_samples"] == "por"
    assert [i.name for i in parse_kind("backdoor + model_replacement")] == ["backdoor", "model_replacement"]


def test_a_user_attack_from_their_module_is_named_module_colon_function(user_module: str) -> None:
    info = attack_info(f"{user_module}:halve")
    assert info.name == "halve" and info.site == "update" and info.summary == "Half of the own delta."
    plain = attack_info(f"{user_module}:undecorated")
    assert plain.site == "update" and plain.category == "model"
    assert attack_info(f"{user_module}:blank").site == "data"
    config = load_config(None, [f'attack.kind="{user_module}:halve"', "attack.malicious_fraction=0.5",
                                "federation.hospitals=4"])
    base = np.zeros(3, dtype=np.float32)
    params = np.array([[2.0, 2, 2], [4, 4, 4], [6, 6, 6], [8, 8, 8]], dtype=np.float32)
    bad = run_malicious_mask(config)
    out = poison_params(params, base, bad, np.arange(4), config=config, round_=1)
    assert np.array_equal(out[bad], params[bad] / 2) and np.array_equal(out[~bad], params[~bad])


@pytest.mark.parametrize(("kind", "message"), [
    ("no_such_module_x:f", "cannot import 'no_such_module_x'"),
    ("bflray.attacks:nothing_here", "has no function 'nothing_here'"),
    ("label_flip+label_flip", "names an attack twice"),
    ("backdoor+", "an empty name"),
])
def test_a_bad_attack_name_is_refused_naming_it(kind: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [f'attack.kind="{kind}"'])
    with pytest.raises(AttackError):
        parse_kind(kind)


def _settings(**values: object) -> AttackConfig:
    return AttackConfig(**values)  # type: ignore[arg-type]


def test_random_label_flip_changes_every_poisoned_label_to_another_class() -> None:
    labels = np.arange(100) % 10
    _, flipped = label_flip(np.zeros((100, 4)), labels, rng=np.random.default_rng(0), settings=_settings(),
                            num_classes=10, image_shape=None)
    assert (flipped != labels).all() and flipped.min() >= 0 and flipped.max() <= 9
    _, half = label_flip(np.zeros((100, 4)), labels, rng=np.random.default_rng(0),
                         settings=_settings(poison_fraction=0.5), num_classes=10, image_shape=None)
    assert (half != labels).sum() == 50


def test_targeted_label_flip_relabels_only_the_source_class() -> None:
    labels = np.arange(100) % 10
    _, out = targeted_label_flip(np.zeros((100, 4)), labels, rng=np.random.default_rng(0),
                                 settings=_settings(source_class=3, target_class=8), num_classes=10, image_shape=None)
    assert (out[labels == 3] == 8).all() and np.array_equal(out[labels != 3], labels[labels != 3])


def test_the_backdoor_stamps_a_corner_trigger_and_relabels_to_the_target() -> None:
    features = np.zeros((10, 64), dtype=np.float32)  # 8×8 grey images
    x, y = backdoor(features, np.zeros(10, dtype=np.int64), rng=np.random.default_rng(0),
                    settings=_settings(target_class=7, trigger_size=2, poison_fraction=0.5), num_classes=10,
                    image_shape=(1, 8, 8))
    poisoned = y == 7
    assert poisoned.sum() == 5
    images = x.reshape(10, 8, 8)
    assert (images[poisoned][:, 6:, 6:] == 1).all() and images[poisoned].sum() == 5 * 4
    assert not x[~poisoned].any()
    assert np.array_equal(apply_trigger(features[:1], (1, 8, 8), size=2), x[poisoned][:1])


def _block(*overrides: str) -> HospitalBlock:
    config = load_config(None, ["federation.hospitals=6", "runtime.backend=inprocess", "data.dataset=digits", *overrides])
    return HospitalBlock(config, 0, 6)


def test_a_data_attack_rewrites_only_the_malicious_hospitals_training_rows() -> None:
    clean = _block()
    poisoned = _block('attack.kind="label_flip"', "attack.malicious_fraction=0.5")
    bad = run_malicious_mask(poisoned.config)
    labels, clean_labels = poisoned.labels.numpy(), clean.labels.numpy()
    for i in range(6):
        train = slice(int(clean.starts[i]), int(clean.starts[i] + clean.num_samples[i]))
        valid = slice(int(clean.validation_starts[i]), int(clean.validation_starts[i] + clean.validation_sizes[i]))
        assert (labels[train] != clean_labels[train]).all() == bool(bad[i])
        assert (labels[train] == clean_labels[train]).all() == (not bad[i])
        assert np.array_equal(labels[valid], clean_labels[valid])  # validation stays clean


def test_a_lazy_hospital_trains_exactly_as_an_honest_one_would_with_fewer_epochs() -> None:
    lazy = _block('attack.kind="lazy"', "attack.malicious_fraction=0.5", "training.local_epochs=3",
                  "attack.lazy_epochs=1")
    one_epoch = _block("training.local_epochs=1")
    three = _block("training.local_epochs=3")
    params = lazy.model.init(np.random.default_rng(0))
    cohort = np.arange(6)
    got = lazy.train(build_plan(lazy.config, 2, params, cohort)).params
    short = one_epoch.train(build_plan(one_epoch.config, 2, params, cohort)).params
    full = three.train(build_plan(three.config, 2, params, cohort)).params
    bad = lazy.lazy
    assert bad.sum() == 3
    assert np.allclose(got[bad], short[bad], atol=1e-6) and np.allclose(got[~bad], full[~bad], atol=1e-6)


def test_sybil_identities_send_one_update_and_inflated_counts_multiply_the_claim() -> None:
    config = load_config(None, ['attack.kind="sign_flip+sybil"', "attack.malicious_fraction=0.5",
                                "federation.hospitals=6", "attack.scale=1"])
    bad = run_malicious_mask(config)
    rng = np.random.default_rng(0)
    params, base = rng.normal(size=(6, 5)).astype(np.float32), np.zeros(5, dtype=np.float32)
    out = poison_params(params, base, bad, np.arange(6), config=config, round_=1)
    first = np.flatnonzero(bad)[0]
    assert np.array_equal(out[bad], np.broadcast_to(-params[first], (3, 5)))
    assert np.array_equal(out[~bad], params[~bad])
    from bflray.attacks.inflated_samples import inflate_counts

    assert inflate_counts(np.array([10, 20]), np.array([True, False]), 10.0).tolist() == [100, 20]


def test_without_collusion_alie_sees_only_the_malicious_hospitals_own_updates() -> None:
    rng = np.random.default_rng(1)
    params, base = rng.normal(size=(8, 5)).astype(np.float32), np.zeros(5, dtype=np.float32)
    overrides = ['attack.kind="alie"', "attack.malicious_fraction=0.5", "federation.hospitals=8", "attack.scale=1"]
    colluding = load_config(None, overrides)
    alone = load_config(None, [*overrides, "attack.collude=false"])
    bad = run_malicious_mask(colluding)
    seen = poison_params(params, base, bad, np.arange(8), config=colluding, round_=1)
    own = poison_params(params, base, bad, np.arange(8), config=alone, round_=1)
    honest, mine = params[~bad].astype(np.float64), params[bad].astype(np.float64)
    assert np.allclose(seen[bad][0], honest.mean(0) - honest.std(0), atol=1e-5)
    assert np.allclose(own[bad][0], mine.mean(0) - mine.std(0), atol=1e-5)
