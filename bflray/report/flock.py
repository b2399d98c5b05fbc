"""FLock's figures (FLock paper, Figs. 4, 6 and 10): average tokens of honest and malicious
proposers and voters over rounds, and their survival (share not removed), from ``rounds.parquet``.

Writes ``flock_tokens.png`` and ``flock_survival.png`` into the run directory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

TOKEN_SERIES = (
    ("tokens_honest_proposers", "honest proposers", "tab:blue", "-"),
    ("tokens_malicious_proposers", "malicious proposers", "tab:red", "-"),
    ("tokens_honest_voters", "honest voters", "tab:blue", "--"),
    ("tokens_malicious_voters", "malicious voters", "tab:red", "--"),
    ("tokens_honest", "all honest", "tab:blue", ":"),
    ("tokens_malicious", "all malicious", "tab:red", ":"),
)
SURVIVAL_SERIES = (
    ("survival_honest", "honest", "tab:blue", "-"),
    ("survival_malicious", "malicious", "tab:red", "-"),
)


def plot_flock(rows: Sequence[Mapping[str, Any]], out_dir: str | Path) -> list[Path]:
    """Draw the token and survival figures of a flock run's ``rounds`` rows into ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    rounds = [int(r["round"]) for r in rows]
    written = []
    for name, title, ylabel, series in (
        ("flock_tokens.png", "Average tokens", "tokens (removed hold 0)", TOKEN_SERIES),
        ("flock_survival.png", "Survival", "share not removed", SURVIVAL_SERIES),
    ):
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
        for key, label, color, style in series:
            values = [_number(r.get(key)) for r in rows]
            if all(math.isnan(v) for v in values):
                continue
            ax.plot(rounds, values, label=label, color=color, linestyle=style, marker="." if len(rounds) < 30 else None)
        if name == "flock_survival.png":
            ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("round")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        path = out / name
        fig.savefig(path, format="png")
        plt.close(fig)
        written.append(path)
    return written


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)
