"""``data.dataset = "synthetic"``: every block generates its own hospitals' samples, so the
driver never holds the federation's data, and the packing changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from bflray.config import load_config
from bflray.data.federated import prepare_federated_data
from bflray.errors import ConfigError
from bflray.roles import make_hospital_block

BASE = ["data.dataset=synthetic", "federation.hospitals=6", "data.samples_per_hospital=10",
        "data.synthetic_features=5", "data.synthetic_classes=3", "data.synthetic_test_samples=25"]


def test_the_driver_holds_only_the_held_out_samples_and_describes_the_federation() -> None:
    data = prepare_federated_data(load_config(None, BASE))
    assert data.dataset.features.shape == (25, 5) and set(np.unique(data.dataset.labels)) <= {0, 1, 2}
    assert data.describe()["hospital_train_samples"] == {"min": 10, "max": 10, "total": 60}


def test_a_hospital_generates_the_same_samples_in_any_block_and_the_test_set_is_other_samples() -> None:
    config = load_config(None, BASE)
    whole, part = make_hospital_block(config, 0, 6), make_hospital_block(config, 3, 5)
    np.testing.assert_array_equal(part.features.numpy(), whole.features[30:50].numpy())
    assert list(whole.num_samples) == [10] * 6
    test = prepare_federated_data(config).dataset.features
    assert not np.isin(test[:, 0], whole.features[:, 0].numpy()).any()


def test_synthetic_data_cannot_feed_proof_of_reasoning() -> None:
    with pytest.raises(ConfigError, match=r"data\.dataset = 'synthetic' with experiment\.pipeline = 'por'"):
        load_config(None, [*BASE, "experiment.pipeline=por", "model.name=por_head"])
