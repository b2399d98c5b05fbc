"""A finished run's robustness figures, read back from its tables: what the sweep's table and
the papers' robustness tables report beside accuracy.

- the final round's precision, recall, F1, AUROC, attack success rate (``asr``; the rounds
  table's ``attack_success_rate``), and the
  spread of the global model's accuracy over the hospitals (mean, worst decile);
- the defence's detection rate and false-alarm rate over every round: a hospital counts as
  flagged in a round when the defence gave its update no weight (filtered, refused, ranked
  out, invalid) or the screen rejected it; malicious hospitals are those the attack stage
  marked (none when η = 0, when every flag is a false alarm);
- where voting is on, the share of rounds whose aggregate was rejected, and the final tokens
  and survival of honest and malicious hospitals.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from bflray.evaluation import detection_rates

FINAL = (
    "precision", "recall", "f1", "auroc", "attack_success_rate", "accuracy_hospital_mean", "accuracy_worst_decile",
    "tokens_honest", "tokens_malicious", "survival_honest", "survival_malicious",
)

_SHORT = {"attack_success_rate": "asr"}  # the sweep table's column


def robustness_summary(run_dir: Path) -> dict[str, Any]:
    """The run's robustness figures (absent ones are left out, NaN where nothing was counted)."""
    rounds = pq.read_table(run_dir / "rounds.parquet").to_pylist()
    last = rounds[-1] if rounds else {}
    out: dict[str, Any] = {_SHORT.get(k, k): _float(last[k]) for k in FINAL if k in last}
    if rounds and "accepted" in rounds[0]:
        out["rejected_rounds"] = float(np.mean([not r["accepted"] for r in rounds]))
    hospitals_path = run_dir / "hospitals.parquet"
    if hospitals_path.exists():  # a folder of one file per round
        out.update(_detection(pq.read_table(hospitals_path).to_pydict()))
    return out


def _detection(columns: dict[str, list[Any]]) -> dict[str, float]:
    weights = columns.get("aggregation_weight")
    if weights is None:
        return {}
    flagged = np.array([w is None or not math.isfinite(w) or w == 0 for w in weights], dtype=bool)
    rejected = columns.get("rejected_reason")
    if rejected is not None:
        flagged |= np.array([bool(r) for r in rejected], dtype=bool)
    malicious = np.array(columns.get("malicious") or [False] * len(flagged), dtype=bool)
    detection, false_alarm = detection_rates(flagged, malicious)
    return {"detection_rate": detection, "false_alarm_rate": false_alarm}


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)
