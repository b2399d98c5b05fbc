"""Experiment configuration: typed sections validated before anything starts."""

from bflray.config.load import apply_override, dump_config, load_config, read_toml, validate_config
from bflray.config.schema import (
    AggregationConfig,
    ChainConfig,
    Config,
    DataConfig,
    ExperimentConfig,
    FederationConfig,
    MAEConfig,
    MetricsConfig,
    ModelConfig,
    PoRConfig,
    RayConfig,
    RuntimeConfig,
    StoreConfig,
    TrainingConfig,
)

__all__ = [
    "AggregationConfig",
    "ChainConfig",
    "Config",
    "DataConfig",
    "ExperimentConfig",
    "FederationConfig",
    "MAEConfig",
    "MetricsConfig",
    "ModelConfig",
    "PoRConfig",
    "RayConfig",
    "RuntimeConfig",
    "StoreConfig",
    "TrainingConfig",
    "apply_override",
    "dump_config",
    "load_config",
    "read_toml",
    "validate_config",
]
