"""Prometheus metric definitions and the run's exporter."""

from bflray.metrics.exporter import RunMetrics

__all__ = ["RunMetrics"]
