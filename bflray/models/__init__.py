"""Models the hospitals train."""

from bflray.models.mlp import MLPSpec, evaluate

__all__ = ["MLPSpec", "evaluate"]
