"""Reading run directories back: figures, the HTML report, and scoring the final model."""

from bflray.report.build import REPORT_FILE, build_report
from bflray.report.evaluate import SPLITS, evaluate_run
from bflray.report.flock import plot_flock
from bflray.report.rundata import SCHEMA_VERSION, RunData, load_run

__all__ = [
    "REPORT_FILE", "SCHEMA_VERSION", "SPLITS", "RunData", "build_report", "evaluate_run", "load_run", "plot_flock",
]
