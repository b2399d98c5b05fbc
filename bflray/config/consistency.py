"""Checks across sections: keys that are each valid alone but contradict each other.

Each check raises ``ValueError`` with one line that names every key involved by its dotted
path and value, and what would work; :func:`bflray.config.load.validate_config` turns it into
a :class:`~bflray.errors.ConfigError`. The aggregation and privacy combinations live beside
their sections, in :func:`bflray.config.robustness.check_aggregation`.
"""

from __future__ import annotations

from math import ceil
from typing import TYPE_CHECKING

from bflray.config.attacks import check_attack
from bflray.errors import ConfigError

if TYPE_CHECKING:
    from bflray.config.schema import Config

#: Datasets that need no MedMNIST file (``bflray.data.loading.OFFLINE_DATASETS``).
_OFFLINE_DATASETS = ("digits", "digits28", "synthetic")


def check_consistency(config: Config) -> None:
    """Refuse combinations of keys outside the aggregation and privacy sections that cannot work."""
    _check_pipeline_and_model(config)
    _check_federation(config)
    _check_data(config)
    _check_validators(config)
    _check_por_policy(config)
    check_attack(config)


def planned_cohort(config: Config) -> int:
    """Hospitals a round's cohort wants, as ``bflray.protocol.cohort.cohort_target`` draws it."""
    fed = config.federation
    return fed.cohort_size if fed.cohort_size > 0 else max(1, ceil(fed.cohort_fraction * fed.hospitals))


def _check_pipeline_and_model(config: Config) -> None:
    pipeline, model = config.experiment.pipeline, config.model
    por = pipeline == "por"
    if por != (model.name == "por_head"):
        need = "model.name = 'por_head'" if por else "experiment.pipeline = 'por' for model.name = 'por_head'"
        raise ValueError(f"experiment.pipeline = {pipeline!r} with model.name = {model.name!r}: needs {need}")
    if por and config.mae.width % model.bottleneck_reduction:
        raise ValueError(
            f"mae.width = {config.mae.width} must be a multiple of model.bottleneck_reduction = "
            f"{model.bottleneck_reduction} (the PoR head's bottleneck)"
        )
    if por and config.training.optimizer == "svrg":
        raise ValueError("training.optimizer = 'svrg' is not available for the PoR head; use sgd or adam")
    if model.name == "mlp" and model.dropout > 0:
        raise ValueError(
            f"model.dropout = {model.dropout} with model.name = 'mlp': the MLP has no dropout layer; "
            "use model.name = 'head' or model.dropout = 0"
        )


def _check_federation(config: Config) -> None:
    fed = config.federation
    if fed.cohort_size > fed.hospitals:
        raise ValueError(
            f"federation.cohort_size = {fed.cohort_size} exceeds federation.hospitals = {fed.hospitals}"
        )


def _check_data(config: Config) -> None:
    data = config.data
    if data.dataset == "synthetic" and config.experiment.pipeline == "por":
        raise ValueError(
            "data.dataset = 'synthetic' with experiment.pipeline = 'por': PoR encodes images with its MAE; "
            "use an image dataset (digits28 or a MedMNIST set)"
        )
    if data.source == "medmnist" and data.dataset in _OFFLINE_DATASETS:
        raise ValueError(
            f"data.source = 'medmnist' with data.dataset = {data.dataset!r}: a MedMNIST source needs a MedMNIST "
            "dataset (pathmnist, chestmnist, ...); use data.source = 'auto' or 'offline' for the digits"
        )


def _check_validators(config: Config) -> None:
    voting = config.voting
    if voting.byzantine_validators >= voting.validators:
        raise ValueError(
            f"voting.byzantine_validators = {voting.byzantine_validators} must be less than voting.validators = "
            f"{voting.validators}: with no honest validator nothing checks the round"
        )


def _check_por_policy(config: Config) -> None:
    from bflray.por.policies import get_reduction, get_score

    try:  # the registries' own messages name the key and the registered names
        get_score(config.por.score)
        get_reduction(config.por.reduction)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
