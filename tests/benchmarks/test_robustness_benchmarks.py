"""The robustness benchmarks (``benchmarks/smpc_table2.py``, ``flock_table3.py``,
``asr_vs_fraction.py``, ``head_to_head.py``) end to end at tiny settings: real runs (anvil,
in-process backend) through the sweep machinery, one JSON line on stdout with the table and
the sweep directory. About 40 s in all on 2 cores."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` run from elsewhere than the repository root
    sys.path.insert(0, str(ROOT))

from benchmarks import asr_vs_fraction, flock_table3, head_to_head, smpc_table2  # noqa: E402

pytestmark = pytest.mark.integration


def _one_json_line(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    record: dict[str, Any] = json.loads(lines[0])
    sweep_dir = Path(record["sweep_dir"])
    assert (sweep_dir / "sweep.md").is_file() and (sweep_dir / "sweep.parquet").is_file()
    assert json.loads((sweep_dir / "benchmark.json").read_text())["result"] == record
    return record


def _is_stat(value: Any) -> bool:
    return isinstance(value, dict) and {"mean", "std", "n"} <= value.keys()


def test_fedavg_lets_the_backdoor_in_and_multi_krum_keeps_it_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Execute: 10 hospitals, 3 of them backdooring, 8 rounds, against η = 0
    asr_vs_fraction.main(["--defences", "fedavg,multi_krum", "--attacks", "backdoor", "--fractions", "0,0.3",
                          "--hospitals", "10", "--rounds", "8", "--seeds", "0", "--out", str(tmp_path)])  # fmt: skip
    record = _one_json_line(capsys)
    # Assert: a point per η for each defence, ASR and accuracy as mean ± std, and the figure
    points = record["table"]["fedavg"]["backdoor"]
    assert [p["eta"] for p in points] == [0.0, 0.3]
    assert all(_is_stat(p["asr"]) and _is_stat(p["accuracy"]) for p in points)
    fedavg, krum = record["asr"]["fedavg"]["backdoor"], record["asr"]["multi_krum"]["backdoor"]
    assert fedavg[1] > 0.5 > krum[1]  # measured 0.99 against 0.07
    assert fedavg[1] > fedavg[0]  # the baseline at η = 0 is the clean model's
    assert Path(record["figure"]).read_bytes()[:4] == b"\x89PNG"
    assert record["errors"] == []


def test_smpc_table2_puts_the_papers_figures_beside_ours(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    smpc_table2.main(["--methods", "fedavg,secure_aggregation", "--attacks", "backdoor,sign_flip", "--hospitals", "10",
                      "--rounds", "3", "--seeds", "0", "--out", str(tmp_path)])  # fmt: skip
    record = _one_json_line(capsys)
    rows = {row["name"]: row for row in record["table"]}
    assert list(rows) == ["fedavg", "secure_aggregation"]
    for row in rows.values():
        assert _is_stat(row["clean_accuracy"]) and row["clean_accuracy"]["n"] == 1
        assert set(row["asr"]) == {"backdoor", "sign_flip"} and all(_is_stat(v) for v in row["asr"].values())
        assert _is_stat(row["asr_at_eta_0"]["backdoor"])
        assert 0.0 <= row["asr"]["sign_flip"]["mean"] <= 1.0
    # secret sharing changes who sees the updates, not the mean: the same model up to fixed-point rounding
    assert rows["secure_aggregation"]["clean_accuracy"]["mean"] == pytest.approx(rows["fedavg"]["clean_accuracy"]["mean"], abs=0.02)
    paper = record["paper"]
    assert "Table 2" in paper["source"] and paper["rows"]["fedavg"]["asr"]["backdoor"] == 0.73


def test_flock_table3_has_the_papers_rows_per_eta(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flock_table3.main(["--fractions", "0.3", "--hospitals", "10", "--rounds", "3", "--seeds", "0", "--last-rounds", "2",
                       "--out", str(tmp_path)])  # fmt: skip
    record = _one_json_line(capsys)
    table = record["table"]
    assert set(table) == {"FedAVG w/ mal", "FedAVG w/ block (FLock)", "FedAVG w/o mal", "FLock w/o mal (eta = 0)"}
    block = table["FedAVG w/ block (FLock)"]["0.3"]
    assert _is_stat(block["accuracy_last_rounds"]) and _is_stat(block["final_accuracy"])
    assert _is_stat(block["rejected_rounds"])  # voting ran
    assert "rejected_rounds" not in table["FedAVG w/ mal"]["0.3"]  # plain FedAvg has no vote
    assert "Table III" in record["paper"]["source"] and record["paper"]["rows"]["FedAVG w/ mal"][2] == [0.801, 0.222]


def test_head_to_head_reports_accuracy_asr_time_and_chain_cost_per_preset(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    head_to_head.main(["--presets", "smpc,flock", "--attacks", "backdoor,sign_flip", "--hospitals", "10",
                       "--rounds", "2", "--seeds", "0", "--out", str(tmp_path)])  # fmt: skip
    record = _one_json_line(capsys)
    assert [row["preset"] for row in record["table"]] == ["smpc", "flock"]
    for row in record["table"]:
        for key in ("clean_accuracy", "seconds_per_round", "gas_per_round", "onchain_bytes_per_round"):
            assert _is_stat(row[key]), key
        assert row["gas_per_round"]["mean"] > 0 and row["onchain_bytes_per_round"]["mean"] > 0
        assert _is_stat(row["asr"]["backdoor"]) and _is_stat(row["asr"]["sign_flip"])
    assert record["errors"] == []
