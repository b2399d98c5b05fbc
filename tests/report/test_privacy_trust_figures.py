"""The privacy and trust figures appear exactly for the runs that have the data."""

from __future__ import annotations

from pathlib import Path

from bflray.report.figures import plot_privacy, plot_run_figures, plot_trust
from bflray.report.rundata import RunData

PNG = b"\x89PNG\r\n\x1a\n"


def _run(tmp_path: Path, name: str, rows: list[dict[str, object]], config: dict[str, object]) -> RunData:
    return RunData(path=tmp_path / name, config_text="", config=config, summary={}, rounds=rows)


def test_privacy_and_trust_figures_are_drawn_from_the_round_records(tmp_path: Path) -> None:
    dp = _run(tmp_path, "dp", [{"round": r, "privacy_epsilon": 1.5 * r, "accuracy": 0.5} for r in (1, 2, 3)],
              {"privacy": {"epsilon": 8.0}})  # fmt: skip
    smpc = _run(tmp_path, "smpc", [{"round": r, "mean_reputation": 0.9, "suspended": r, "accuracy": 0.5}
                                   for r in (1, 2)], {"federation": {"hospitals": 20}})  # fmt: skip
    privacy, trust = plot_privacy([dp], tmp_path), plot_trust([smpc], tmp_path)
    assert privacy is not None and privacy.read_bytes().startswith(PNG)
    assert trust is not None and trust.read_bytes().startswith(PNG)
    assert plot_privacy([smpc], tmp_path / "x") is None and plot_trust([dp], tmp_path / "x") is None
    names = {p.name for p in plot_run_figures([dp], tmp_path / "dp_report")}
    assert "privacy.png" in names and "trust.png" not in names
