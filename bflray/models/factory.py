"""Build the configured model for a dataset."""

from __future__ import annotations

from bflray.config import Config
from bflray.data import Dataset
from bflray.errors import ConfigError
from bflray.models.mae import MAESpec
from bflray.models.por_head import PoRHeadSpec
from bflray.models.por_stacked import PoRHeadStacked
from bflray.models.registry import build_model
from bflray.models.stacked import StackedModel


def build_model_spec(config: Config, dataset: Dataset) -> StackedModel:
    """The model the config names, sized for ``dataset`` (and, for PoR, for the encoder)."""
    if config.model.name == "por_head":
        mae = mae_spec(config, dataset)
        return PoRHeadStacked(
            PoRHeadSpec(
                width=mae.width, tokens=mae.visible_patches, num_outputs=dataset.num_classes,
                hidden=(config.model.hidden,), dropout=config.model.dropout, reduction=config.model.bottleneck_reduction,
            )
        )
    return build_model(
        config.model.name,
        num_features=dataset.num_features,
        num_classes=dataset.num_classes,
        hidden=config.model.hidden,
        dropout=config.model.dropout,
    )


def mae_spec(config: Config, dataset: Dataset) -> MAESpec:
    """The MAE the config describes, for ``dataset``'s images."""
    m = config.mae
    if dataset.image_size <= 0:
        raise ConfigError(f"data.dataset = {dataset.name!r} has no images; PoR's encoder needs an image dataset")
    if dataset.image_size % m.patch_size:
        raise ConfigError(
            f"mae.patch_size = {m.patch_size} must divide the image side {dataset.image_size} of {dataset.name!r}"
        )
    try:
        return MAESpec(
            image_size=dataset.image_size, channels=dataset.channels, patch_size=m.patch_size, width=m.width,
            depth=m.depth, heads=m.heads, decoder_width=m.decoder_width, decoder_depth=m.decoder_depth,
            decoder_heads=m.decoder_heads, mask_ratio=m.mask_ratio, masking=m.masking, normal_sigma=m.normal_sigma,
            loss=m.loss,
        )
    except ValueError as exc:
        raise ConfigError(f"[mae]: {exc}") from exc
