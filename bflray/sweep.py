"""``bflray sweep``: one experiment over a grid of settings and seeds, into one table.

A grid is ``section.key=v1,v2,…`` items; the cells are their Cartesian product times the
seeds. Every cell is one ordinary run (its own run directory under the sweep directory), and
one row of ``sweep.parquet``: the grid values, the seed, the run's final figures, its
seconds per round by stage and its storage per round (on chain, off chain, store on disk).
A cell that fails is a row with its error, so one bad cell loses nothing else.

Where cells run is the caller's choice (``execute``): in this process one after another,
or as Ray tasks (``actors.sweep``), so this module never imports Ray.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from bflray.config import Config, load_config
from bflray.config.load import parse_literal
from bflray.errors import ConfigError
from bflray.report.robustness import robustness_summary
from bflray.report.sweep import render_sweep
from bflray.rundir import bytes_under, write_json
from bflray.store import write_table_atomic

SWEEP_TABLE = "sweep.parquet"


@dataclass(frozen=True)
class Cell:
    """One run of the sweep: its grid values (dotted key → value) and seed."""

    index: int
    values: dict[str, Any]
    seed: int

    def overrides(self) -> list[str]:
        return [f"{k}={_literal(v)}" for k, v in self.values.items()] + [f"experiment.seed={self.seed}"]


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["federation.hospitals=100,1000"]`` → ``{"federation.hospitals": [100, 1000]}``."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or "." not in key or not values.strip():
            raise ConfigError(f"--grid {item!r}: expected section.key=v1,v2,…")
        if key in grid:
            raise ConfigError(f"--grid {item!r}: {key} is already in the grid")
        if key == "experiment.seed":
            raise ConfigError(f"--grid {item!r}: give seeds with --seeds")
        grid[key] = [parse_literal(v.strip()) for v in values.split(",")]
    return grid


def cells(grid: dict[str, list[Any]], seeds: Sequence[int]) -> list[Cell]:
    keys = list(grid)
    combos = itertools.product(*(grid[k] for k in keys)) if keys else [()]
    return [Cell(i, dict(zip(keys, combo, strict=True)), seed)
            for i, (combo, seed) in enumerate(itertools.product(list(combos), seeds))]


def check_cells(config_path: str | None, overrides: Sequence[str], planned: Iterable[Cell]) -> list[Config]:
    """Every cell's config, validated before anything runs (a bad value fails the sweep at once)."""
    configs = []
    for cell in planned:
        try:
            configs.append(load_config(config_path, [*overrides, *cell.overrides()]))
        except ConfigError as exc:
            raise ConfigError(f"sweep cell {cell.values} seed {cell.seed}: {exc}") from None
    return configs


def run_cell(config: Config, cell: Cell, out_dir: str) -> dict[str, Any]:
    """Run one cell and summarise it as a row of the sweep table (errors become a row too)."""
    from bflray.api import run

    started = time.perf_counter()
    row: dict[str, Any] = {"cell": cell.index, **{k: v for k, v in cell.values.items()}, "seed": cell.seed}
    try:
        result = run(config, out_dir=Path(out_dir), progress=False)
    except Exception as exc:  # one failed cell must not lose the others
        return {**row, "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:500],
                "seconds": time.perf_counter() - started}
    return {**row, **summarise_run(result.run_dir), "error": None, "seconds": time.perf_counter() - started}


def summarise_run(run_dir: Path) -> dict[str, Any]:
    """A run's final figures, mean seconds per round by stage, storage per round, and its
    robustness figures (:func:`~bflray.report.robustness.robustness_summary`)."""
    rounds = pq.read_table(run_dir / "rounds.parquet").to_pylist()
    summary = json.loads((run_dir / "summary.json").read_text())
    stages = list(dict.fromkeys(k for r in rounds for k in r if k.startswith("seconds_")))  # pipeline order
    later = rounds[1:] or rounds  # round 1 carries warm-up costs
    out: dict[str, Any] = {
        "run_dir": str(run_dir), "rounds": len(rounds), "final_accuracy": summary["final_accuracy"],
        "final_loss": summary["final_loss"], "gas_used_per_round": float(np.mean([r["gas_used"] for r in later])),
        "onchain_bytes_per_round": float(np.mean([r["onchain_bytes"] for r in later])),
        "offchain_bytes_per_round": float(np.mean([r.get("offchain_bytes") or 0 for r in later])),
        "store_bytes": bytes_under(run_dir / "store"),
    }
    for stage in stages:
        values = [r[stage] for r in later if r.get(stage) is not None]
        out[stage] = float(np.mean(values)) if values else None
    return {**out, **robustness_summary(run_dir)}


def run_sweep(
    config_path: str | None, *, grid: dict[str, list[Any]], seeds: Sequence[int], overrides: Sequence[str] = (),
    out_dir: str | Path = "runs", execute: Callable[[list[tuple[Config, Cell]], str], Iterable[dict[str, Any]]],
    name: str = "sweep",
) -> Path:
    """Run every cell through ``execute`` and write ``sweep.parquet`` as rows arrive; returns
    the sweep directory. ``execute(jobs, runs_dir)`` yields one row per job, in any order."""
    planned = cells(grid, seeds)
    configs = check_cells(config_path, overrides, planned)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    sweep_dir = Path(out_dir) / f"{name}-{stamp}"
    (sweep_dir / "runs").mkdir(parents=True)
    write_json(sweep_dir / "sweep.json", {
        "config": config_path, "overrides": list(overrides), "grid": grid, "seeds": list(seeds),
        "cells": len(planned),
    })
    rows: list[dict[str, Any]] = []
    for row in execute(list(zip(configs, planned, strict=True)), str(sweep_dir / "runs")):
        rows.append(row)
        keys = list(dict.fromkeys(k for r in rows for k in r))  # a failed cell's row lacks the figures
        table = [{k: r.get(k) for k in keys} for r in sorted(rows, key=lambda r: r["cell"])]
        write_table_atomic(sweep_dir / SWEEP_TABLE, table)
    if rows:
        render_sweep(sweep_dir)
    return sweep_dir


def execute_here(jobs: list[tuple[Config, Cell]], runs_dir: str) -> Iterable[dict[str, Any]]:
    """Cells one after another in this process."""
    for config, cell in jobs:
        yield run_cell(config, cell, runs_dir)


def _literal(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
