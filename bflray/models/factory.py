"""Build the configured model for a dataset."""

from __future__ import annotations

from bflray.config import Config
from bflray.data import Dataset
from bflray.models.registry import build_model
from bflray.models.stacked import StackedModel


def build_model_spec(config: Config, dataset: Dataset) -> StackedModel:
    """The model the config names, sized for ``dataset``."""
    return build_model(
        config.model.name,
        num_features=dataset.num_features,
        num_classes=dataset.num_classes,
        hidden=config.model.hidden,
        dropout=config.model.dropout,
    )
