"""``bflray sweep``: a grid × seeds of real runs into one table, with the papers' mean ± std
layout and the scalability figures; a failed cell is a row, not a lost sweep."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from bflray.errors import ConfigError
from bflray.report.sweep import render_sweep
from bflray.sweep import cells, execute_here, parse_grid, run_sweep

BASE = ["runtime.backend=inprocess", "metrics.enabled=false", "experiment.rounds=2"]


def test_grid_items_become_typed_values_and_the_cells_their_product_times_seeds() -> None:
    grid = parse_grid(["federation.hospitals=4,8", "aggregation.rule=fedavg,median"])
    assert grid == {"federation.hospitals": [4, 8], "aggregation.rule": ["fedavg", "median"]}
    planned = cells(grid, [0, 1])
    assert len(planned) == 8 and len({c.index for c in planned}) == 8
    assert planned[0].overrides() == ["federation.hospitals=4", 'aggregation.rule="fedavg"', "experiment.seed=0"]


@pytest.mark.parametrize(("item", "message"), [
    ("hospitals=4", r"--grid 'hospitals=4': expected section\.key=v1,v2"),
    ("federation.hospitals=", r"expected section\.key=v1,v2"),
    ("experiment.seed=1,2", r"give seeds with --seeds"),
])
def test_a_malformed_grid_item_is_refused(item: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_grid([item])


def test_a_bad_value_in_the_grid_fails_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sweep cell \{'federation.hospitals': 0\} seed 0: federation\.hospitals = 0"):
        run_sweep(None, grid={"federation.hospitals": [4, 0]}, seeds=[0], overrides=BASE, out_dir=tmp_path,
                  execute=execute_here)
    assert not list(tmp_path.iterdir())


def test_a_sweep_writes_one_row_per_run_the_seed_table_and_the_scaling_figures(tmp_path: Path) -> None:
    # Execute: 2 federation sizes × 2 seeds, plus a cell whose chain never answers
    sweep_dir = run_sweep(None, grid={"federation.hospitals": [4, 8]}, seeds=[0, 1], overrides=BASE,
                          out_dir=tmp_path, execute=execute_here)
    rows = pq.read_table(sweep_dir / "sweep.parquet").to_pylist()
    # Assert: four real runs, each with its own directory and figures
    assert [(r["federation.hospitals"], r["seed"]) for r in rows] == [(4, 0), (4, 1), (8, 0), (8, 1)]
    assert all(r["error"] is None and Path(r["run_dir"]).is_dir() for r in rows)
    assert all(0.0 <= r["final_accuracy"] <= 1.0 and r["seconds_train"] > 0 for r in rows)
    assert rows[2]["offchain_bytes_per_round"] == 2 * rows[0]["offchain_bytes_per_round"]  # 8 payloads vs 4
    assert rows[0]["final_accuracy"] != rows[1]["final_accuracy"]  # the seed is applied
    table = (sweep_dir / "sweep.md").read_text().splitlines()
    assert table[0].startswith("| federation.hospitals | seeds | accuracy | s/round")
    assert table[2].startswith("| 4 | 2/2 | ") and " ± " in table[2]
    for figure in ("latency_by_stage.png", "storage.png"):
        assert (sweep_dir / figure).read_bytes()[:4] == b"\x89PNG"


def test_a_failing_cell_is_a_row_with_its_error_and_the_others_complete(tmp_path: Path) -> None:
    sweep_dir = run_sweep(None, grid={"chain.url": ["", "http://127.0.0.1:9"]}, seeds=[0],
                          overrides=[*BASE, "chain.timeout_s=1"], out_dir=tmp_path, execute=execute_here)
    rows = pq.read_table(sweep_dir / "sweep.parquet").to_pylist()
    assert rows[0]["error"] is None and rows[0]["final_accuracy"] is not None
    assert "127.0.0.1:9" in rows[1]["error"] and rows[1]["final_accuracy"] is None
    assert "| http://127.0.0.1:9 | 0/1 | – |" in (sweep_dir / "sweep.md").read_text()
    render_sweep(sweep_dir)  # idempotent


@pytest.mark.parametrize(("args", "message"), [
    ([], "bflray sweep needs at least one --grid"),
    (["--grid", "federation.hospitals=4", "--seeds", "0,x"], "--seeds '0,x': expected integers"),
    (["--grid", "federation.hospitals=4", "--parallel", "0"], "--parallel 0: must be at least 1"),
])
def test_the_sweep_command_refuses_bad_arguments_in_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from bflray.cli import main

    assert main(["sweep", "configs/fedavg.toml", "--no-ray", "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not list(tmp_path.iterdir())
