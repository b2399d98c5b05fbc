"""One self-contained HTML summary of one or more runs: figures embedded as ``data:`` URIs,
a summary table, each run's resolved config. No script, stylesheet or image is fetched."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bflray.report.rundata import RunData

__all__ = ["render_html"]

# (label, how to get it from a run)
SUMMARY_ROWS: tuple[tuple[str, str], ...] = (
    ("pipeline", "pipeline"),
    ("hospitals (N)", "hospitals"),
    ("rounds", "rounds"),
    ("final accuracy", "final_accuracy"),
    ("final loss", "final_loss"),
    ("final attack success rate", "final_attack_success_rate"),
    ("privacy ε spent", "privacy_epsilon"),
    ("gas used", "gas_used"),
    ("on-chain bytes (calldata + logs)", "onchain_bytes"),
    ("on-chain state bytes (net new slots × 32)", "state_bytes"),
    ("off-chain bytes", "offchain_bytes"),
    ("mean round seconds", "mean_round_seconds"),
    ("run seconds", "seconds"),
    ("removed hospitals", "removed_total"),
    ("final model hash", "final_model_hash"),
)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 0.5em; }
img { max-width: 100%; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 0.85em; }
"""


def summary_values(run: RunData) -> dict[str, Any]:
    """The summary table's values for ``run``, from ``summary.json`` and its tables."""
    last = run.rounds[-1] if run.rounds else {}
    state = run.state_bytes_by_round()
    seconds = [v for v in run.column("seconds_total") if not math.isnan(v)]
    return {
        "pipeline": run.pipeline,
        "hospitals": run.hospitals,
        "rounds": len(run.rounds),
        "final_accuracy": last.get("accuracy"),
        "final_loss": last.get("loss"),
        "final_attack_success_rate": last.get("attack_success_rate"),
        "privacy_epsilon": last.get("privacy_epsilon"),
        "gas_used": sum(int(r.get("gas_used") or 0) for r in run.rounds),
        "onchain_bytes": sum(int(r.get("onchain_bytes") or 0) for r in run.rounds),
        "state_bytes": sum(state.values()) if state else None,
        "offchain_bytes": sum(int(r.get("offchain_bytes") or 0) for r in run.rounds),
        "mean_round_seconds": sum(seconds) / len(seconds) if seconds else None,
        "seconds": run.summary.get("seconds"),
        "removed_total": last.get("removed_total"),
        "final_model_hash": last.get("model_hash"),
    }


def render_html(runs: Sequence[RunData], images: Sequence[Path], *, title: str) -> str:
    """The report page: a summary table (a column per run), the figures, the configs."""
    values = [summary_values(r) for r in runs]
    head = "".join(f"<th>{_esc(r.name)}</th>" for r in runs)
    body_rows = []
    for label, key in SUMMARY_ROWS:
        cells = [v.get(key) for v in values]
        if all(c is None for c in cells):
            continue
        tds = "".join(f'<td class="num">{_esc(_format(c))}</td>' for c in cells)
        body_rows.append(f"<tr><th>{_esc(label)}</th>{tds}</tr>")
    figures = "\n".join(
        f'<figure><img alt="{_esc(p.stem)}" src="data:image/png;base64,{_b64(p)}">'
        f"<figcaption>{_esc(p.stem.replace('_', ' '))}</figcaption></figure>"
        for p in images
    )
    configs = "\n".join(
        f"<details><summary>{_esc(r.name)}: config.toml</summary><pre>{_esc(r.config_text)}</pre></details>"
        for r in runs
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{_esc(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{_esc(title)}</h1>
<h2>Summary</h2>
<table>
<thead><tr><th></th>{head}</tr></thead>
<tbody>
{chr(10).join(body_rows)}
</tbody>
</table>
<h2>Figures</h2>
{figures}
<h2>Configuration</h2>
{configs}
</body>
</html>
"""


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _format(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        return f"{value:,.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
