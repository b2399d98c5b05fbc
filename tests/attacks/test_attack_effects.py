"""Every attack measurably hurts an undefended FedAvg run, and at least one defence of the
platform removes most of that harm.

Real runs (in-process hospitals, a real anvil, digits): for each attack, the same experiment
with η = 0 and with the attack, under FedAvg and under the defence. The harm is measured the
way the attack aims: accuracy lost (untargeted attacks), attack success rate gained
(targeted ones), test loss gained (ALIE, min-max and min-sum, which are built to slow
training while passing statistical checks). "Removes most" means the harm under the defence
is at most half the harm under FedAvg, each against its own clean run.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pyarrow.parquet as pq
import pytest

from bflray.api import run
from bflray.config import load_config

pytestmark = pytest.mark.usefixtures("_needs_anvil_for_attacks")

BASE = (
    "runtime.backend=inprocess", "metrics.enabled=false", "data.dataset=digits", "experiment.rounds=8",
    "training.local_epochs=2",
)
MKRUM3 = ("aggregation.rule=multi_krum", "aggregation.num_byzantine=3")
MEDIAN = ("aggregation.rule=median",)
COSINE = ("aggregation.rule=cosine_filter", "aggregation.cosine_threshold=0.1")
COSINE3 = ("aggregation.rule=cosine_filter", "aggregation.cosine_threshold=0.3")


@dataclass(frozen=True)
class Case:
    attack: tuple[str, ...]  # the attack's overrides, η included
    metric: str  # accuracy, asr or loss
    least_harm: float  # what the attack must at least do to FedAvg
    defence: tuple[str, ...]
    setting: tuple[str, ...] = ("federation.hospitals=10",)


def _kind(kind: str, eta: float = 0.3, *more: str) -> tuple[str, ...]:
    return (f"attack.kind={kind!r}".replace("'", '"'), f"attack.malicious_fraction={eta}", *more)


TWENTY = ("federation.hospitals=20",)
CASES = {
    "label_flip": Case(_kind("label_flip"), "accuracy", 0.03, MKRUM3),
    "targeted_label_flip": Case(_kind("targeted_label_flip"), "asr", 0.1, MKRUM3),
    "backdoor": Case(_kind("backdoor", 0.3, "attack.poison_fraction=0.5"), "asr", 0.5, MKRUM3),
    "model_replacement": Case(_kind("backdoor+model_replacement", 0.3, "attack.poison_fraction=0.5"), "asr", 0.5, MKRUM3),
    "random": Case(_kind("random"), "accuracy", 0.3, MEDIAN),
    "sign_flip": Case(_kind("sign_flip", 0.3, "attack.scale=1"), "accuracy", 0.05, MKRUM3),
    "scaling": Case(_kind("scaling"), "accuracy", 0.3, MEDIAN),
    "ipm": Case(_kind("ipm", 0.3, "attack.scale=4"), "accuracy", 0.3, MKRUM3),
    "alie": Case(_kind("alie", 0.2, "attack.scale=1.5"), "loss", 0.1, COSINE3, TWENTY),
    "min_max": Case(_kind("min_max", 0.2, "attack.scale=1"), "loss", 0.1, COSINE3, TWENTY),
    "min_sum": Case(_kind("min_sum", 0.2, "attack.scale=1"), "loss", 0.1, COSINE3, TWENTY),
    "free_riding": Case(_kind("free_riding"), "accuracy", 0.01, COSINE),
    "lazy": Case(_kind("lazy", 0.4), "accuracy", 0.015, COSINE3, (*TWENTY, "training.local_epochs=5")),
    "sybil": Case(_kind("label_flip+sybil"), "accuracy", 0.03, MKRUM3),
    "inflated_samples": Case(_kind("free_riding+inflated_samples"), "accuracy", 0.2, COSINE),
}


@pytest.fixture(scope="module")
def _needs_anvil_for_attacks() -> None:
    from bflray.chain._tools import find_tool
    from bflray.errors import ChainError

    try:
        find_tool("anvil")
    except ChainError as exc:
        pytest.skip(f"{exc} (install with `npm ci`)")


@functools.cache
def _final(overrides: tuple[str, ...]) -> dict[str, float]:
    import tempfile

    config = load_config(None, [*BASE, *overrides, f'experiment.out_dir="{tempfile.mkdtemp(prefix="attack-")}"'])
    result = run(config, progress=False)
    last = pq.read_table(result.run_dir / "rounds.parquet").to_pylist()[-1]
    return {"accuracy": last["accuracy"], "loss": last["loss"], "asr": last.get("attack_success_rate") or 0.0}


def _harm(case: Case, defence: tuple[str, ...]) -> float:
    """How much worse the attacked run is than the clean one (same settings, η = 0)."""
    clean = _final((*case.setting, *defence, *case.attack, "attack.malicious_fraction=0"))
    attacked = _final((*case.setting, *defence, *case.attack))
    if case.metric == "accuracy":
        return clean["accuracy"] - attacked["accuracy"]
    return attacked[case.metric] - clean[case.metric]


@pytest.mark.parametrize("name", list(CASES))
def test_the_attack_measurably_hurts_undefended_fedavg(name: str) -> None:
    case = CASES[name]
    harm = _harm(case, ())
    assert harm >= case.least_harm, f"{name}: FedAvg's {case.metric} moved by only {harm:+.4f}"


@pytest.mark.parametrize("name", list(CASES))
def test_a_defence_removes_most_of_the_harm(name: str) -> None:
    case = CASES[name]
    undefended, defended = _harm(case, ()), _harm(case, case.defence)
    assert defended <= 0.5 * undefended, (
        f"{name}: {case.metric} harm {defended:+.4f} under {case.defence} vs {undefended:+.4f} under FedAvg"
    )
