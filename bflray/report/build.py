"""``bflray report``: a run's (or several runs') figures and HTML summary, written to a folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bflray.errors import StoreError
from bflray.report.figures import plot_run_figures
from bflray.report.html import render_html
from bflray.report.rundata import load_run
from bflray.rundir import write_text_atomic

__all__ = ["REPORT_FILE", "build_report"]

REPORT_FILE = "report.html"


def build_report(run_dirs: Sequence[str | Path], out_dir: str | Path | None = None) -> Path:
    """Write the PNG figures and ``report.html`` of ``run_dirs``; returns the HTML's path.

    One run: the figures of that run, into ``RUN_DIR/report/`` by default. Several runs:
    the figures overlay them, into ``compare/`` next to the first run by default.
    """
    if not run_dirs:
        raise StoreError("a report needs at least one run directory")
    runs = [load_run(p) for p in run_dirs]
    if out_dir is not None:
        out = Path(out_dir)
    elif len(runs) == 1:
        out = runs[0].path / "report"
    else:
        out = runs[0].path.parent / "compare"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the report folder {str(out)!r}: {exc}") from exc
    images = plot_run_figures(runs, out)
    title = f"bflray run {runs[0].name}" if len(runs) == 1 else "bflray: " + " vs ".join(r.name for r in runs)
    path = out / REPORT_FILE
    write_text_atomic(path, render_html(runs, images, title=title))
    return path
