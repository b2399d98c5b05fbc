"""Build the configured model for a dataset."""

from __future__ import annotations

from bflray.config import Config
from bflray.data import Dataset
from bflray.models.mlp import MLPSpec


def build_model_spec(config: Config, dataset: Dataset) -> MLPSpec:
    """The model the config names, sized for ``dataset``."""
    return MLPSpec(num_features=dataset.num_features, hidden=config.model.hidden, num_classes=dataset.num_classes)
