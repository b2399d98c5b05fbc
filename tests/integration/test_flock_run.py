"""The FLock pipeline end to end on a real anvil, in process: draw, train, vote, settle, attest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from bflray.api import run
from bflray.config import Config, load_config

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


def _config(*extra: str) -> Config:
    return load_config(
        ROOT / "configs" / "flock.toml",
        [
            "experiment.rounds=4", "federation.hospitals=12", "runtime.backend=inprocess", "metrics.enabled=false",
            "voting.proposers=2", "voting.committee_size=9", "voting.validators=3", "voting.epsilon=0.5",
            "voting.initial_tokens=32", "training.local_epochs=2", "data.source=offline", *extra,
        ],
    )


@pytest.fixture(scope="module")
def flock_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return run(_config(), out_dir=tmp_path_factory.mktemp("flock"), progress=False)


def test_flock_run_records_votes_tokens_and_finality(flock_run) -> None:  # type: ignore[no-untyped-def]
    rounds = pq.read_table(flock_run.run_dir / "rounds.parquet").to_pylist()
    assert [r["round"] for r in rounds] == [1, 2, 3, 4]
    for r in rounds:
        assert isinstance(r["accepted"], bool) and r["accepts"] + r["rejects"] == r["voters"]
        assert r["proposers"] + r["voters"] + r["removed"] <= 12
        assert r["final"], "the validators' quorum attested the round"
        for key in ("tokens_honest", "tokens_malicious", "tokens_honest_voters", "survival_malicious"):
            assert key in r
    for prev, cur in zip(rounds, rounds[1:], strict=False):
        if not cur["accepted"]:
            assert cur["model_hash"] == prev["model_hash"], "a rejected candidate leaves the global model"
    votes = pq.read_table(flock_run.run_dir / "votes.parquet").to_pylist()
    assert len(votes) == 4 * 12
    assert {v["role"] for v in votes} <= {"", "proposer", "voter", "removed"}
    assert all(v["vote"] != 0 for v in votes if v["role"] == "voter")
    hospitals = pq.read_table(flock_run.run_dir / "hospitals.parquet").to_pylist()
    assert hospitals and all(h["role"] == "proposer" for h in hospitals)


def test_flock_run_writes_chain_costs_per_function(flock_run) -> None:  # type: ignore[no-untyped-def]
    rows = pq.read_table(flock_run.run_dir / "chain.parquet").to_pylist()
    functions = {(r["contract"], r["function"]) for r in rows if r["round"] >= 1}
    for pair in (("StakeVoting", "draw"), ("StakeVoting", "voteBatch"), ("StakeVoting", "settle"),
                 ("FederationLedger", "attest"), ("FederationLedger", "recordRound")):  # fmt: skip
        assert pair in functions, sorted(functions)
    assert {r["round"] for r in rows} >= {-1, 1, 2, 3, 4}
    assert all(r["gas"] > 0 and r["count"] > 0 and r["new_slots"] is not None for r in rows)


def test_malicious_voters_lose_tokens_to_honest_ones(flock_run) -> None:  # type: ignore[no-untyped-def]
    last = flock_run.rounds[-1]
    assert last["tokens_malicious"] < 32 < last["tokens_honest"]
    assert last["survival_honest"] == 1.0
    votes = pq.read_table(flock_run.run_dir / "votes.parquet").to_pylist()
    always_voted = {
        h for h in range(12) if all(v["role"] == "voter" for v in votes if v["hospital"] == h)
    }  # voted every round, never proposed: their tokens moved by their votes only
    final = [v for v in votes if v["round"] == 4 and v["hospital"] in always_voted]
    honest = [v["tokens"] for v in final if not v["malicious"]]
    malicious = [v["tokens"] for v in final if v["malicious"]]
    assert malicious and honest and max(malicious) < 32 < min(honest)


def test_flock_run_draws_valid_pngs(flock_run) -> None:  # type: ignore[no-untyped-def]
    for name in ("flock_tokens.png", "flock_survival.png"):
        data = (flock_run.run_dir / name).read_bytes()
        assert data[:8] == PNG and len(data) > 1000
    assert np.isfinite(flock_run.final_accuracy)
