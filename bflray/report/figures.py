"""A run's figures (or several runs' overlaid): model quality and attack success over rounds,
latency by stage, storage growth, gas by contract function, FLock's tokens and survival, the
privacy budget spent (DP runs) and the federation's trust (reputation and suspensions, SMPC runs).

Every function takes the runs (one or more :class:`~bflray.report.rundata.RunData`) and a
folder, writes one PNG there and returns its path, or ``None`` when no run has the data.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bflray.report.flock import SURVIVAL_SERIES, plot_flock
from bflray.report.rundata import RunData

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "plot_gas", "plot_latency", "plot_privacy", "plot_quality", "plot_run_figures", "plot_storage", "plot_tokens",
    "plot_trust",
]

STYLES = ("-", "--", ":", "-.")


def plot_run_figures(runs: Sequence[RunData], out_dir: str | Path) -> list[Path]:
    """Every figure the runs have data for, in report order."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path | None] = [plot_quality(runs, out), plot_latency(runs, out), plot_storage(runs, out),
                                plot_gas(runs, out), plot_privacy(runs, out), plot_trust(runs, out)]
    if len(runs) == 1 and runs[0].has("tokens_honest"):
        paths += plot_flock(runs[0].rounds, out)
    else:
        paths.append(plot_tokens(runs, out))
    return [p for p in paths if p is not None]


def plot_quality(runs: Sequence[RunData], out_dir: Path) -> Path | None:
    """Test accuracy (solid) and attack success rate (dashed) over rounds."""
    if not any(r.has("accuracy") or r.has("attack_success_rate") for r in runs):
        return None

    def draw(ax: Axes) -> None:
        for run, color in zip(runs, _colors(), strict=False):
            tag = f"{run.name}: " if len(runs) > 1 else ""
            for key, label, style in (("accuracy", "accuracy", "-"), ("attack_success_rate", "attack success", "--")):
                if run.has(key):
                    ax.plot(run.round_numbers, run.column(key), color=color, linestyle=style, label=tag + label,
                            marker=_marker(run))
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("round")
        ax.set_ylabel("ratio")

    return _figure(out_dir / "quality.png", "Accuracy and attack success rate", draw)


def plot_privacy(runs: Sequence[RunData], out_dir: Path) -> Path | None:
    """The ε spent by each round (solid) against the run's budget (dotted, when it has one)."""
    if not any(r.has("privacy_epsilon") for r in runs):
        return None

    def draw(ax: Axes) -> None:
        for run, color in zip(runs, _colors(), strict=False):
            if not run.has("privacy_epsilon"):
                continue
            tag = f"{run.name}: " if len(runs) > 1 else ""
            ax.plot(run.round_numbers, run.column("privacy_epsilon"), color=color, label=tag + "ε spent",
                    marker=_marker(run))  # fmt: skip
            budget = float(run.config.get("privacy", {}).get("epsilon", 0.0) or 0.0)
            if budget > 0:
                ax.axhline(budget, color=color, linestyle=":", label=tag + "budget ε")
        ax.set_ylim(bottom=0.0)
        ax.set_xlabel("round")
        ax.set_ylabel("ε (at the run's δ)")

    return _figure(out_dir / "privacy.png", "Privacy budget spent", draw)


def plot_trust(runs: Sequence[RunData], out_dir: Path) -> Path | None:
    """Mean on-chain reputation of the round's participants (solid) and the share of the
    federation suspended (dashed), over rounds."""
    if not any(r.has("mean_reputation") for r in runs):
        return None

    def draw(ax: Axes) -> None:
        for run, color in zip(runs, _colors(), strict=False):
            if not run.has("mean_reputation"):
                continue
            tag = f"{run.name}: " if len(runs) > 1 else ""
            ax.plot(run.round_numbers, run.column("mean_reputation"), color=color, label=tag + "mean reputation",
                    marker=_marker(run))  # fmt: skip
            if run.has("suspended") and run.hospitals:
                share = [v / run.hospitals for v in run.column("suspended")]
                ax.plot(run.round_numbers, share, color=color, linestyle="--", label=tag + "suspended share")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("round")
        ax.set_ylabel("ratio")

    return _figure(out_dir / "trust.png", "Reputation and suspensions", draw)


def plot_latency(runs: Sequence[RunData], out_dir: Path) -> Path | None:
    """One run: seconds per stage, stacked, per round. Several: mean seconds per stage, side by side."""
    if not any(r.stages for r in runs):
        return None

    def draw(ax: Axes) -> None:
        if len(runs) == 1:
            run = runs[0]
            bottom = [0.0] * len(run.rounds)
            for stage, color in zip(run.stages, _colors(), strict=False):
                values = [0.0 if math.isnan(v) else v for v in run.column(f"seconds_{stage}")]
                ax.bar(run.round_numbers, values, bottom=bottom, label=stage, color=color)
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
            ax.set_xlabel("round")
            ax.set_ylabel("seconds")
            return
        stages = list(dict.fromkeys(s for r in runs for s in r.stages))
        width = 0.8 / len(runs)
        for i, (run, color) in enumerate(zip(runs, _colors(), strict=False)):
            means = [_mean(run.column(f"seconds_{s}")) for s in stages]
            ax.bar([j + i * width for j in range(len(stages))], means, width=width, label=run.name, color=color)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(stages))], stages, rotation=30, ha="right")
        ax.set_ylabel("mean seconds per round")

    return _figure(out_dir / "latency.png", "Round latency by stage", draw)


def plot_storage(runs: Sequence[RunData], out_dir: Path) -> Path | None:
    """Cumulative on-chain bytes (calldata, logs, state) and off-chain payload bytes over rounds."""
    if not any(r.has("calldata_bytes") or r.has("offchain_bytes") for r in runs):
        return None

    def draw(ax: Axes) -> None:
        for run, color in zip(runs, _colors(), strict=False):
            tag = f"{run.name}: " if len(runs) > 1 else ""
            rounds = run.round_numbers
            state = run.state_bytes_by_round()
            series = [("calldata_bytes", "on-chain calldata", "-"), ("log_bytes", "on-chain logs", "--"),
                      ("offchain_bytes", "off-chain payloads", ":")]
            for (key, label, style) in series:
                if run.has(key):
                    ax.plot(rounds, _cumulative(run.column(key)), color=color, linestyle=style, label=tag + label,
                            marker=_marker(run))
            if state:
                values = [state.get(r, 0.0) for r in rounds]
                ax.plot(rounds, _cumulative(values), color=color, linestyle="-.", label=tag + "on-chain state",
                        marker=_marker(run))
        ax.set_yscale("symlog", linthresh=1024)
        ax.set_xlabel("round")
        ax.set_ylabel("bytes so far")

    return _figure(out_dir / "storage.png", "Storage growth", draw)


def plot_gas(runs: Sequence[RunData], out_dir: Path) -> Path | None:
    """Gas per round by contract function (setup transactions left out)."""
    if not any(r.chain for r in runs):
        return None

    def draw(ax: Axes) -> None:
        functions = sorted({(row["contract"], row["function"]) for r in runs for row in r.chain if row["round"] >= 0})
        width = 0.8 / len(runs)
        for i, (run, color) in enumerate(zip(runs, _colors(), strict=False)):
            rounds = max(1, len(run.rounds))
            per_round = [sum(row["gas"] for row in run.chain if (row["contract"], row["function"]) == f
                             and row["round"] >= 0) / rounds for f in functions]
            ax.barh([j + i * width for j in range(len(functions))], per_round, height=width, color=color,
                    label=run.name if len(runs) > 1 else None)
        ax.set_yticks([j + 0.4 - width / 2 for j in range(len(functions))], [f"{c}.{f}" for c, f in functions])
        ax.set_xlabel("gas per round")

    return _figure(out_dir / "gas.png", "Gas by contract function", draw, legend=len(runs) > 1, size=(7.2, 4.0))


def plot_tokens(runs: Sequence[RunData], out_dir: Path) -> Path | None:
    """FLock runs overlaid: average tokens (left) and survival (right) of honest and malicious hospitals."""
    flock = [r for r in runs if r.has("tokens_honest")]
    if not flock:
        return None
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 4.0), dpi=100)
    for run, color in zip(flock, _colors(), strict=False):
        for ax, keys in ((left, ("tokens_honest", "tokens_malicious")),
                         (right, tuple(key for key, *_ in SURVIVAL_SERIES))):
            for key, style in zip(keys, STYLES, strict=False):
                ax.plot(run.round_numbers, run.column(key), color=color, linestyle=style,
                        label=f"{run.name}: {key.split('_', 1)[1]}")
    left.set_title("Average tokens")
    right.set_title("Survival")
    right.set_ylim(-0.05, 1.05)
    for ax in (left, right):
        ax.set_xlabel("round")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small")
    fig.tight_layout()
    path = out_dir / "tokens.png"
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def _figure(
    path: Path, title: str, draw: Callable[[Axes], None], *, legend: bool = True, size: tuple[float, float] = (6.4, 4.0)
) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=size, dpi=100)
    draw(ax)
    if ax.get_xlabel() == "round":
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _colors() -> itertools.cycle[Any]:
    return itertools.cycle([f"C{i}" for i in range(10)])


def _marker(run: RunData) -> str | None:
    return "." if len(run.rounds) < 30 else None


def _cumulative(values: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(0.0 if math.isnan(v) else v for v in values))


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else 0.0
