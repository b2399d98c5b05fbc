"""Prometheus metric definitions, the run's exporter and its service-discovery target."""

from bflray.metrics.discovery import RUN_TARGET_FILE, publish_target, target_groups
from bflray.metrics.exporter import RunMetrics

__all__ = ["RUN_TARGET_FILE", "RunMetrics", "publish_target", "target_groups"]
