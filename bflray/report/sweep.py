"""A sweep's table and figures: mean ± std over seeds per grid cell, round latency by stage and
storage per round against a numeric grid key (the scalability study's two plots).

Written next to ``sweep.parquet``: ``sweep.md`` (the papers' table layout, mean ± std over
seeds), ``latency_by_stage.png`` and ``storage.png`` when the grid has a numeric key.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from bflray.errors import StoreError
from bflray.report.figures import _colors, _figure
from bflray.rundir import write_text_atomic

__all__ = ["FIGURES", "TABLE", "render_sweep", "sweep_summary"]

TABLE = "sweep.md"
FIGURES = ("latency_by_stage.png", "storage.png")
_METRICS = (
    ("final_accuracy", "accuracy", "{:.4f}"),
    ("seconds_total", "s/round", "{:.3f}"),
    ("gas_used_per_round", "gas/round", "{:,.0f}"),
    ("onchain_bytes_per_round", "on-chain B/round", "{:,.0f}"),
    ("offchain_bytes_per_round", "off-chain B/round", "{:,.0f}"),
)
#: The robustness table, below the first: a column for each figure some run reported.
_ROBUSTNESS = (
    ("final_accuracy", "accuracy", "{:.4f}"),
    ("robustness_degradation", "D_r", "{:+.4f}"),
    ("asr", "ASR", "{:.4f}"),
    ("f1", "F1", "{:.4f}"),
    ("auroc", "AUROC", "{:.4f}"),
    ("accuracy_worst_decile", "worst-decile acc.", "{:.4f}"),
    ("detection_rate", "detection", "{:.3f}"),
    ("false_alarm_rate", "false alarm", "{:.3f}"),
    ("rejected_rounds", "rejected rounds", "{:.3f}"),
    ("tokens_honest", "tokens honest", "{:.1f}"),
    ("tokens_malicious", "tokens malicious", "{:.1f}"),
    ("survival_malicious", "survival malicious", "{:.3f}"),
)
#: The grid key whose 0 marks a cell's clean reference for D_r.
ETA = "attack.malicious_fraction"


def sweep_summary(sweep_dir: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The grid keys, and per grid cell (seeds pooled) the mean and std of every figure."""
    try:
        rows = pq.read_table(sweep_dir / "sweep.parquet").to_pylist()
        grid = json.loads((sweep_dir / "sweep.json").read_text())["grid"]
    except (OSError, KeyError, ValueError) as exc:
        raise StoreError(f"{sweep_dir} is not a readable sweep directory: {exc}") from exc
    keys = list(grid)
    _add_degradation(rows, keys)
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(k) for k in keys), []).append(row)
    summary = []
    for values, members in groups.items():
        ok = [m for m in members if not m.get("error")]
        entry: dict[str, Any] = {**dict(zip(keys, values, strict=True)), "seeds": len(members), "failed": len(members) - len(ok)}
        numeric = dict.fromkeys(k for m in ok for k, v in m.items() if isinstance(v, int | float) and not isinstance(v, bool))
        for name in [k for k in numeric if k not in keys and k not in ("cell", "seed")]:  # table order: stages in pipeline order
            data = [float(m[name]) for m in ok if m.get(name) is not None]
            entry[name] = (float(np.mean(data)), float(np.std(data))) if data else (math.nan, math.nan)
        summary.append(entry)
    return keys, summary


def _add_degradation(rows: list[dict[str, Any]], keys: list[str]) -> None:
    """``robustness_degradation`` D_r = A_clean − A_attacked on every row of a grid over η:
    A_clean is the same seed's row with η = 0 and the same non-attack grid values."""
    if ETA not in keys:
        return
    context = [k for k in keys if not k.startswith("attack.")]
    clean = {
        (tuple(r.get(k) for k in context), r.get("seed")): r.get("final_accuracy")
        for r in rows if r.get(ETA) == 0 and not r.get("error")
    }
    for row in rows:
        reference = clean.get((tuple(row.get(k) for k in context), row.get("seed")))
        attacked = row.get("final_accuracy")
        if reference is not None and attacked is not None and not row.get("error"):
            row["robustness_degradation"] = float(reference) - float(attacked)


def _table(keys: list[str], summary: list[dict[str, Any]], metrics: tuple[tuple[str, str, str], ...]) -> list[str]:
    header = [*keys, "seeds", *(label for _, label, _ in metrics)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for entry in summary:
        cells = [str(entry[k]) for k in keys] + [f"{entry['seeds'] - entry['failed']}/{entry['seeds']}"]
        for name, _, fmt in metrics:
            mean, std = entry.get(name, (math.nan, math.nan))
            cells.append("–" if math.isnan(mean) else f"{fmt.format(mean)} ± {fmt.format(std)}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_sweep(sweep_dir: str | Path) -> Path:
    """Write the table and figures of the sweep in ``sweep_dir``; returns the table's path.

    The first table is accuracy, latency and storage; a second, "Robustness", follows when
    runs reported robustness figures (ASR, D_r, detection, ...), one column per figure found."""
    path = Path(sweep_dir)
    keys, summary = sweep_summary(path)
    lines = _table(keys, summary, _METRICS)
    found = tuple(m for m in _ROBUSTNESS[1:] if any(not math.isnan(e.get(m[0], (math.nan,))[0]) for e in summary))
    if found:
        lines += ["", "## Robustness (mean ± std over seeds)", "", *_table(keys, summary, (_ROBUSTNESS[0], *found))]
    table = path / TABLE
    write_text_atomic(table, "\n".join(lines) + "\n")
    axis = next((k for k in keys if all(isinstance(e[k], int | float) for e in summary)), None)
    if axis is not None and summary:
        _plot_latency(summary, axis, path / FIGURES[0])
        _plot_storage(summary, axis, path / FIGURES[1])
    return table


def _plot_latency(summary: list[dict[str, Any]], axis: str, out: Path) -> None:
    """Mean seconds per round by stage against the grid key, stacked."""
    entries = sorted(summary, key=lambda e: e[axis])
    stages = [k for k in dict.fromkeys(k for e in entries for k in e) if k.startswith("seconds_") and k != "seconds_total"]
    xs = list(range(len(entries)))

    def draw(ax: Any) -> None:
        bottom = np.zeros(len(entries))
        for stage, color in zip(stages, _colors(), strict=False):
            values = np.array([e.get(stage, (0.0, 0.0))[0] for e in entries])
            values = np.nan_to_num(values)
            ax.bar(xs, values, bottom=bottom, label=stage.removeprefix("seconds_"), color=color)
            bottom += values
        ax.set_xticks(xs, [f"{e[axis]:,}" for e in entries])
        ax.set_xlabel(axis)
        ax.set_ylabel("mean seconds per round")

    _figure(out, f"Round latency by stage against {axis}", draw)


def _plot_storage(summary: list[dict[str, Any]], axis: str, out: Path) -> None:
    """On-chain and off-chain bytes per round against the grid key, log-log."""
    entries = sorted(summary, key=lambda e: e[axis])
    xs = [e[axis] for e in entries]

    def draw(ax: Any) -> None:
        for name, label in (("onchain_bytes_per_round", "on chain (Merkle commitments)"),
                            ("offchain_bytes_per_round", "off chain (payload store)")):
            ys = [e.get(name, (math.nan, 0.0))[0] for e in entries]
            ax.plot(xs, ys, marker="o", label=label)
        if axis == "federation.hospitals":  # the PoR paper's O(N·R): one 32-byte hash per hospital per round
            ax.plot(xs, [32 * x for x in xs], linestyle="--", color="grey", label="a hash per hospital on chain")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(axis)
        ax.set_ylabel("bytes per round")

    _figure(out, f"Storage growth per round against {axis}", draw)
