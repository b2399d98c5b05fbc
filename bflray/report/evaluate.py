"""``bflray evaluate``: score a finished run's final global model (``model.npz``) on a split.

The data view and the model are rebuilt from the run's ``config.toml`` the way the run built
them (:func:`~bflray.data.federated.prepare_federated_data`,
:func:`~bflray.models.factory.build_model_spec`), so the splits are the run's own: ``test``
is the held-out split the run tested on, ``val`` the union of the hospitals' validation samples, ``train``
the union of their training samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from bflray.errors import ConfigError, StoreError

__all__ = ["SPLITS", "evaluate_run"]

Split = Literal["test", "val", "train"]
SPLITS: tuple[Split, ...] = ("test", "val", "train")


def evaluate_run(run_dir: str | Path, split: Split = "test") -> dict[str, object]:
    """Accuracy and loss of the run's final model on ``split``, with the split's size."""
    from bflray.config import load_config
    from bflray.data.federated import prepare_federated_data
    from bflray.models import evaluate
    from bflray.models.factory import build_model_spec
    from bflray.protocol.setup import split_validation

    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    run = Path(run_dir)
    model_path = run / "model.npz"
    if not model_path.is_file():
        raise StoreError(f"{str(run)!r} has no final model (model.npz): did the run finish?")
    config = load_config(run / "config.toml")
    if config.experiment.pipeline == "por":
        raise ConfigError(
            "evaluate scores one global model on raw features; a por run's model is a head over each "
            "hospital's encoder (its rounds.parquet has the per-hospital accuracy)"
        )
    data = prepare_federated_data(config, download=False)
    spec = build_model_spec(config, data.dataset)
    with np.load(model_path) as archive:
        params = np.asarray(archive["params"])
    if params.shape != (spec.size,):
        raise StoreError(
            f"model.npz holds {params.shape} parameters, the config's model needs ({spec.size},): "
            "was the config edited after the run?"
        )
    if split == "test":
        _, index = split_validation(config, data.test)  # the part the run tested on
    else:
        parts = [s.validation if split == "val" else s.train for s in data.splits]
        index = np.sort(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
    if len(index) == 0:
        raise ConfigError(f"the run's {split} split is empty (see data.validation_fraction)")
    dataset = data.dataset
    accuracy, loss = evaluate(spec, params, dataset.features[index], dataset.labels[index])
    return {
        "run": run.name, "split": split, "samples": int(len(index)), "accuracy": float(accuracy), "loss": float(loss),
    }
