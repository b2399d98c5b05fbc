"""A run's robustness figures as the sweep reads them back: detection and false-alarm rates of
a selecting defence, the targeted attack's success, D_r against the same seed's clean cell,
and the sweep's robustness table."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from bflray.api import run
from bflray.config import load_config
from bflray.report.robustness import robustness_summary
from bflray.sweep import execute_here, run_sweep

BASE = ["runtime.backend=inprocess", "metrics.enabled=false", "data.dataset=digits", "experiment.rounds=3",
        "federation.hospitals=10"]


def test_multi_krum_names_the_sign_flippers_it_leaves_out(tmp_path: Path) -> None:
    config = load_config(None, [*BASE, 'attack.kind="sign_flip"', "attack.malicious_fraction=0.3", "attack.scale=1",
                                'aggregation.rule="multi_krum"', "aggregation.num_byzantine=3"])
    result = run(config, out_dir=tmp_path, progress=False)
    summary = robustness_summary(result.run_dir)
    assert summary["detection_rate"] == 1.0 and summary["false_alarm_rate"] == 0.0
    columns = pq.read_table(result.run_dir / "hospitals.parquet").to_pydict()
    assert sum(columns["selected"]) == 3 * 7  # n − f of the 10 each round
    assert {"precision", "recall", "f1", "auroc", "accuracy_worst_decile"} <= summary.keys()


def test_fedavg_detects_nobody(tmp_path: Path) -> None:
    config = load_config(None, [*BASE, 'attack.kind="sign_flip"', "attack.malicious_fraction=0.3"])
    summary = robustness_summary(run(config, out_dir=tmp_path, progress=False).run_dir)
    assert summary["detection_rate"] == 0.0


def test_a_robustness_sweep_reports_asr_and_the_degradation_against_the_clean_cell(tmp_path: Path) -> None:
    sweep_dir = run_sweep(
        None, grid={"attack.malicious_fraction": [0.0, 0.3]}, seeds=[0],
        overrides=[*BASE, 'attack.kind="backdoor"', "attack.poison_fraction=0.5"], out_dir=tmp_path,
        execute=execute_here,
    )
    rows = pq.read_table(sweep_dir / "sweep.parquet").to_pylist()
    clean, attacked = rows
    assert attacked["asr"] > clean["asr"] + 0.3  # the backdoor took under FedAvg
    table = (sweep_dir / "sweep.md").read_text()
    assert "## Robustness" in table and "| D_r | ASR |" in table
    line = next(x for x in table.splitlines() if x.startswith("| 0.3 | 1/1 | ") and "D_r" not in x and "±" in x
                and table.splitlines().index(x) > table.splitlines().index("## Robustness (mean ± std over seeds)"))
    degradation = clean["final_accuracy"] - attacked["final_accuracy"]
    assert f"{degradation:+.4f} ± +0.0000" in line
