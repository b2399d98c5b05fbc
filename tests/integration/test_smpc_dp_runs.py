"""The smpc and dp_bfl pipelines end to end on a real anvil, in process: secret-shared robust
aggregation with on-chain reputation; the on-chain budget stopping a DP run cleanly, with
contribution rewards paid from the pool."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from bflray.api import run
from bflray.config import load_config
from bflray.privacy import compute_epsilon, make_charge

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
COMMON = ["runtime.backend=inprocess", "metrics.enabled=false", "data.source=offline"]


def test_smpc_run_filters_on_shares_and_lowers_the_malicious_reputation(tmp_path: Path) -> None:
    config = load_config(
        ROOT / "configs" / "smpc.toml",
        [*COMMON, "experiment.rounds=3", "federation.hospitals=12", "attack.malicious_fraction=0.25",
         "aggregation.num_byzantine=3", "training.local_epochs=2", "voting.validators=3"],
    )
    result = run(config, out_dir=tmp_path, progress=False)
    rounds = pq.read_table(result.run_dir / "rounds.parquet").to_pylist()
    assert [r["round"] for r in rounds] == [1, 2, 3] and all(r["final"] for r in rounds)
    rows = pq.read_table(result.run_dir / "hospitals.parquet").to_pandas()
    bad, good = rows[rows.malicious], rows[~rows.malicious]
    assert bad.selected.mean() < 0.2 < good.selected.mean()
    last = rows[rows["round"] == 3]
    assert last[last.malicious].reputation.mean() < 0.8 < last[~last.malicious].reputation.mean()
    assert bad.performance.mean() < good.performance.mean()
    chain = {(r["contract"], r["function"]) for r in pq.read_table(result.run_dir / "chain.parquet").to_pylist()}
    assert ("Reputation", "update") in chain, sorted(chain)
    kept = {p.name for p in (result.run_dir / "store" / "payloads").glob("*")}
    assert kept == {str(r["model_hash"]).removeprefix("0x") for r in rounds}, "only the published models, no update"


def test_dp_bfl_run_stops_cleanly_at_the_on_chain_budget_and_pays_contributions(tmp_path: Path) -> None:
    sigma, q, budget = 1.2, 0.5, 5.0
    config = load_config(
        ROOT / "configs" / "dp_bfl.toml",
        [*COMMON, "experiment.rounds=8", "federation.hospitals=16", f"federation.cohort_fraction={q}",
         f"privacy.noise_multiplier={sigma}", f"privacy.epsilon={budget}", "rewards.per_round=10",
         "rewards.pool_tokens=100", "voting.validators=3"],
    )
    spent = [compute_epsilon((make_charge(mechanism="gaussian", noise_multiplier=sigma, sampling_rate=q,
                                          rounds=k),), delta=1e-5) for k in range(1, 9)]  # fmt: skip
    fits = sum(e <= budget for e in spent)
    assert 1 <= fits < 8, spent

    result = run(config, out_dir=tmp_path, progress=False)

    rounds = pq.read_table(result.run_dir / "rounds.parquet").to_pylist()
    assert len(rounds) == fits
    np.testing.assert_allclose([r["privacy_epsilon"] for r in rounds], spent[:fits], rtol=1e-6)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["stopped"]["round"] == fits + 1 and summary["rounds"] == fits
    privacy = json.loads((result.run_dir / "privacy.json").read_text())
    assert privacy["budget"] == {"epsilon": budget, "delta": 1e-5} and privacy["spent"]["epsilon"] <= budget
    assert (result.run_dir / "model.npz").exists()
    paid = [r["rewards_paid"] for r in rounds]
    assert all(p in (0, 10) for p in paid) and sum(paid) > 0
    assert rounds[-1]["reward_pool"] == 100 - sum(paid)
    rows = pq.read_table(result.run_dir / "hospitals.parquet").to_pandas()
    assert rows.reward.sum() == sum(paid) and (rows.reward[rows.contribution == 0] == 0).all()
