"""Aggregation rules: ``rule(updates, weights, ...) -> aggregate``, one module each."""

from bflray.aggregation.fedavg import AggregationError, fedavg

__all__ = ["AggregationError", "fedavg"]
