"""Models registered by name: ``model.name`` in the config picks one."""

from __future__ import annotations

from collections.abc import Callable

from bflray.errors import ConfigError
from bflray.models.head import HeadSpec
from bflray.models.mlp import MLPSpec
from bflray.models.stacked import StackedModel

ModelBuilder = Callable[..., StackedModel]


def _mlp(*, num_features: int, num_classes: int, hidden: int, dropout: float) -> StackedModel:
    if dropout > 0:
        raise ConfigError(f"model.name='mlp' has no dropout layer; got model.dropout={dropout}")
    return MLPSpec(num_features=num_features, hidden=hidden, num_classes=num_classes)


def _head(*, num_features: int, num_classes: int, hidden: int, dropout: float) -> StackedModel:
    return HeadSpec(num_features=num_features, hidden=hidden, num_classes=num_classes, dropout=dropout)


_MODELS: dict[str, ModelBuilder] = {"mlp": _mlp, "head": _head}


def register_model(name: str, builder: ModelBuilder) -> None:
    """Make ``model.name = name`` build its model with ``builder(num_features=, num_classes=, hidden=, dropout=)``."""
    _MODELS[name] = builder


def build_model(name: str, *, num_features: int, num_classes: int, hidden: int, dropout: float = 0.0) -> StackedModel:
    """The model registered as ``name``, sized for the data."""
    builder = _MODELS.get(name)
    if builder is None:
        raise ConfigError(f"model.name={name!r} is not a registered model; registered: {', '.join(sorted(_MODELS))}")
    return builder(num_features=num_features, num_classes=num_classes, hidden=hidden, dropout=dropout)
