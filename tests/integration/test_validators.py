"""Chain validators on a real anvil: a Byzantine minority cannot finalize a wrong hash, and a
payload swapped in the store after its commitment makes every honest validator refuse."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from bflray.api import run
from bflray.config import load_config
from bflray.protocol.stages.basic import CommitStage
from bflray.protocol.state import RoundState, RunContext

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, *extra: str) -> list[dict[str, object]]:
    config = load_config(
        ROOT / "configs" / "smpc_plaintext.toml",
        ["runtime.backend=inprocess", "metrics.enabled=false", "data.source=offline", "experiment.rounds=2",
         "federation.hospitals=8", "training.local_epochs=1", "voting.validators=4", *extra],
    )  # fmt: skip
    result = run(config, out_dir=tmp_path, progress=False)
    return pq.read_table(result.run_dir / "rounds.parquet").to_pylist()


def test_a_byzantine_minority_attests_but_the_honest_pair_is_final(tmp_path: Path) -> None:
    rounds = _run(tmp_path, "voting.byzantine_validators=1")  # quorum ⌈8/3⌉ = 3 honest
    assert all(r["final"] and r["attested"] == 4 for r in rounds)


def test_a_byzantine_half_keeps_every_round_from_being_final(tmp_path: Path) -> None:
    rounds = _run(tmp_path, "voting.byzantine_validators=2")  # 2 + 2 attest different pairs, quorum 3
    assert not any(r["final"] for r in rounds)


def test_a_payload_swapped_after_its_commitment_is_refused_by_every_validator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = CommitStage.__call__

    def commit_then_swap(self: CommitStage, state: RoundState, ctx: RunContext) -> None:
        commit(self, state, ctx)
        ctx.store.path_of(state.payload_hashes[0]).write_bytes(b"a different update")  # the injected fault

    monkeypatch.setattr(CommitStage, "__call__", commit_then_swap)
    rounds = _run(tmp_path)
    for r in rounds:
        assert not r["final"] and r["attested"] == 0 and r["refused"] == 4
        assert "does not match its hash" in str(r["refusal"])
