"""The aggregation package's error: bad updates, weights or hyperparameters."""

from __future__ import annotations

from bflray.errors import BflrayError


class AggregationError(BflrayError, ValueError):
    """Updates, weights or a rule's hyperparameters cannot be aggregated as given."""
