"""Models the hospitals train, each evaluable for many hospitals at once."""

from bflray.models.head import HeadSpec
from bflray.models.mlp import MLPSpec
from bflray.models.registry import build_model, register_model
from bflray.models.stacked import StackedModel, evaluate

__all__ = ["HeadSpec", "MLPSpec", "StackedModel", "build_model", "evaluate", "register_model"]
