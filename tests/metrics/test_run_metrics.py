"""RunMetrics maps a finished round's record, chain transactions and storage rows to metrics;
the service-discovery target announces a run while it lasts."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bflray.metrics import RUN_TARGET_FILE, RunMetrics, publish_target, target_groups

# A round of the flock pipeline as rounds.parquet stores it, plus the keys other issues add.
FLOCK_RECORD: dict[str, object] = {
    "round": 3, "selected": 50, "dropped": 0, "late": 0, "proposers": 5, "voters": 45, "removed": 1,
    "hospitals": 5, "train_loss": 1.5, "offchain_bytes": 48_000, "accuracy": 0.75, "loss": 0.9,
    "accepted": True, "accepts": 30, "rejects": 15, "removed_total": 4,
    "tokens_honest": 70.0, "tokens_malicious": 40.0, "survival_honest": 1.0, "survival_malicious": 0.8,
    "tokens_total_honest": 2450.0, "tokens_total_malicious": 600.0,
    "tokens_honest_proposers": 72.0, "tokens_honest_voters": 66.0, "tokens_malicious_proposers": float("nan"),
    "tokens_malicious_voters": 30.0, "attack_success_rate": 0.125, "privacy_epsilon": 2.5,
    "seconds_plan": 0.01, "seconds_total": 1.2, "gas_used": 900_000, "calldata_bytes": 4_000, "log_bytes": 2_000,
    "onchain_bytes": 6_000, "transactions": 6, "payload_root": "0xab", "model_hash": "0xcd",
}


def sample(m: RunMetrics, name: str, **labels: str) -> float | None:
    value = m.registry.get_sample_value(name, labels)
    return value


def observed_flock_round() -> RunMetrics:
    m = RunMetrics()
    m.observe_run(hospitals=50, actors={"hospital_block": 2})
    m.observe_round(FLOCK_RECORD)
    return m


def test_observe_round_sets_quality_storage_hospital_and_token_metrics() -> None:
    m = observed_flock_round()

    assert sample(m, "bflray_rounds_total") == 1
    assert sample(m, "bflray_round") == 3
    assert sample(m, "bflray_round_duration_seconds_count") == 1
    assert sample(m, "bflray_accuracy_ratio") == 0.75
    assert sample(m, "bflray_attack_success_ratio") == 0.125
    assert sample(m, "bflray_privacy_epsilon") == 2.5
    assert sample(m, "bflray_onchain_storage_bytes", kind="calldata") == 4_000
    assert sample(m, "bflray_onchain_round_bytes", kind="logs") == 2_000
    assert sample(m, "bflray_offchain_storage_bytes") == 48_000
    assert sample(m, "bflray_gas_used_total") == 900_000
    assert sample(m, "bflray_hospitals_removed") == 4
    assert sample(m, "bflray_hospitals_active") == 46
    assert sample(m, "bflray_round_hospitals", role="voter") == 45
    assert sample(m, "bflray_actors", kind="hospital_block") == 2
    assert sample(m, "bflray_tokens_average", role="voter", honesty="honest") == 66.0
    assert sample(m, "bflray_tokens_average", role="all", honesty="malicious") == 40.0
    assert sample(m, "bflray_tokens_average", role="proposer", honesty="malicious") is None  # NaN: no such proposer
    assert sample(m, "bflray_tokens_held", honesty="honest") == 2450.0
    assert sample(m, "bflray_survival_ratio", honesty="malicious") == 0.8
    assert sample(m, "bflray_round_outcomes_total", outcome="accepted") == 1
    assert sample(m, "bflray_votes_total", vote="reject") == 15


def test_storage_totals_accumulate_while_round_increments_are_the_latest_round() -> None:
    m = RunMetrics()
    for r in (1, 2):
        m.observe_round({"round": r, "calldata_bytes": 100 * r, "log_bytes": 10, "offchain_bytes": 1000})

    assert sample(m, "bflray_onchain_storage_bytes", kind="calldata") == 300
    assert sample(m, "bflray_onchain_round_bytes", kind="calldata") == 200
    assert sample(m, "bflray_offchain_storage_bytes") == 2000
    assert sample(m, "bflray_offchain_round_bytes") == 1000
    assert sample(m, "bflray_onchain_bytes_total") == 320


def test_a_round_without_optional_keys_leaves_their_metrics_unset() -> None:
    m = RunMetrics()
    m.observe_round({"round": np.int64(1), "accuracy": np.float64(0.5), "seconds_total": 0.1})

    assert sample(m, "bflray_accuracy_ratio") == 0.5
    assert sample(m, "bflray_round") == 1
    assert sample(m, "bflray_attack_success_ratio") == 0  # a gauge without a value reads 0, never raises
    assert sample(m, "bflray_tokens_held", honesty="honest") is None


def test_transactions_are_counted_by_contract_function_with_latency_and_gas() -> None:
    m = RunMetrics()
    for gas in (50_000, 70_000):
        m.observe_transaction(SimpleNamespace(  # type: ignore[arg-type]
            contract="StakeVoting", function="voteBatch", receipt=SimpleNamespace(gas_used=gas), seconds=0.02))

    labels = {"contract": "StakeVoting", "function": "voteBatch"}
    assert sample(m, "bflray_chain_transactions_total", **labels) == 2
    assert sample(m, "bflray_chain_gas_used_total", **labels) == 120_000
    assert sample(m, "bflray_chain_transaction_duration_seconds_count", **labels) == 2


def test_state_bytes_are_net_new_slots_times_32_and_setup_counts_only_in_the_total() -> None:
    m = RunMetrics()
    m.observe_chain_rows([{"new_slots": 10, "freed_slots": 0}])  # setup
    m.observe_chain_rows([{"new_slots": 3, "freed_slots": 1}, {"new_slots": 1, "freed_slots": 0}], round_=1)
    m.observe_chain_rows([{"new_slots": None, "freed_slots": None}], round_=2)  # untraced

    assert sample(m, "bflray_onchain_storage_bytes", kind="state") == (10 + 2 + 1) * 32
    assert sample(m, "bflray_onchain_round_bytes", kind="state") == 0


def test_no_metric_has_a_per_hospital_label() -> None:
    m = observed_flock_round()
    allowed = {"stage", "contract", "function", "kind", "role", "honesty", "outcome", "vote", "le"}

    labels = {name for family in m.registry.collect() for s in family.samples for name in s.labels}

    assert labels <= allowed
    assert all(family.name.startswith("bflray_") for family in m.registry.collect())


def test_target_file_names_the_endpoint_and_is_withdrawn_when_the_run_ends(tmp_path: Path) -> None:
    run_dir, shared = tmp_path / "run-1", tmp_path / "targets"
    run_dir.mkdir()
    labels = {"run": "run-1", "pipeline": "fedavg", "hospitals": "4"}

    with publish_target(run_dir, shared, host="127.0.0.1", port=9100, labels=labels) as paths:
        live = [json.loads(p.read_text()) for p in paths]
    after = json.loads((run_dir / RUN_TARGET_FILE).read_text())

    assert live == [[{"targets": ["127.0.0.1:9100"], "labels": labels}]] * 2
    assert not (shared / "run-1.json").exists()
    assert after == [{"targets": [], "labels": {**labels, "finished": "true"}}]


@pytest.mark.parametrize(("host", "address"), [("127.0.0.1", "127.0.0.1:80"), ("::1", "[::1]:80")])
def test_ipv6_hosts_are_bracketed_in_targets(host: str, address: str) -> None:
    assert target_groups(host, 80, {})[0]["targets"] == [address]


def test_the_chain_meter_hook_feeds_every_metered_transaction_to_the_metrics() -> None:
    from bflray.chain.bulk import BulkResult
    from bflray.chain.meter import ChainMeter
    from bflray.chain.transactions import TxReceipt

    m, meter = RunMetrics(), ChainMeter(None)
    meter.on_record = m.observe_transaction
    receipts = [TxReceipt(tx_hash=f"0x{i:064x}", gas_used=1000, calldata_bytes=4, log_bytes=0, block_number=1)
                for i in range(3)]

    meter.record("FederationLedger", "recordRound", receipts[0], 0.5)
    meter.record_burst("StakeVoting", "vote", BulkResult(receipts=receipts[1:], raw=[], seconds=0.2, blocks=1))

    assert sample(m, "bflray_chain_transactions_total", contract="StakeVoting", function="vote") == 2
    assert sample(m, "bflray_chain_gas_used_total", contract="FederationLedger", function="recordRound") == 1000
    assert sample(m, "bflray_chain_transaction_duration_seconds_sum", contract="StakeVoting", function="vote") == 0.2
