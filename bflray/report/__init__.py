"""Figures drawn from a run's tables."""

from bflray.report.flock import plot_flock

__all__ = ["plot_flock"]
