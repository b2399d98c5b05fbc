"""The chain attacks in real runs (anvil, the deployed contracts): dishonest voting hurts a
FLock federation and the stakes it loses drive the dishonest voters out; colluding validators
below the ledger's quorum cannot finalize their forged record, at the quorum they do."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from bflray.api import run
from bflray.chain._tools import find_tool
from bflray.config import load_config
from bflray.errors import ChainError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _needs_anvil() -> None:
    try:
        find_tool("anvil")
    except ChainError as exc:
        pytest.skip(f"{exc} (install with `npm ci`)")


def _rounds(tmp_path: Path, config: str, *overrides: str) -> list[dict[str, object]]:
    cfg = load_config(ROOT / "configs" / config, ["runtime.backend=inprocess", "metrics.enabled=false", *overrides])
    result = run(cfg, out_dir=tmp_path, progress=False)
    return pq.read_table(result.run_dir / "rounds.parquet").to_pylist()


FLOCK = (
    "experiment.rounds=12", "federation.hospitals=20", "voting.proposers=5", "voting.committee_size=10",
    "attack.malicious_fraction=0.4", "attack.scale=1",
)


def test_dishonest_voting_lets_poisoned_aggregates_through_and_costs_the_liars_their_stake(tmp_path: Path) -> None:
    honest_votes = _rounds(tmp_path, "flock.toml", *FLOCK, 'attack.kind="sign_flip"')
    lying = _rounds(tmp_path, "flock.toml", *FLOCK, 'attack.kind="sign_flip+dishonest_voting"')
    # Hurt: poisoned aggregates pass, and the model is worse than when every voter is honest
    assert float(lying[-1]["accuracy"]) < float(honest_votes[-1]["accuracy"]) - 0.1  # type: ignore[arg-type]
    # Defence: the majority slashes the liars: they end with fewer tokens and are removed sooner
    last = lying[-1]
    assert float(last["tokens_malicious"]) < float(last["tokens_honest"])  # type: ignore[arg-type]
    assert float(last["survival_malicious"]) < float(last["survival_honest"])  # type: ignore[arg-type]


VALIDATORS = ("experiment.rounds=2", "federation.hospitals=8", "voting.validators=4", 'attack.kind="colluding_validators"')


def test_colluding_validators_below_the_quorum_cannot_finalize_their_forged_record(tmp_path: Path) -> None:
    rounds = _rounds(tmp_path, "smpc_plaintext.toml", *VALIDATORS, "attack.malicious_fraction=0.25")  # 1 of 4
    assert all(r["final"] and r["final_as_recorded"] for r in rounds)


def test_colluding_validators_at_the_quorum_finalize_a_forged_record(tmp_path: Path) -> None:
    rounds = _rounds(tmp_path, "smpc_plaintext.toml", *VALIDATORS, "attack.malicious_fraction=0.75")  # 3 of 4
    assert all(r["final"] and not r["final_as_recorded"] for r in rounds)
