"""``training.warmup_epochs``: round 1 trains longer before the first aggregation (the PoR
paper's 25 pre-federated epochs), later rounds ``local_epochs``."""

from __future__ import annotations

import numpy as np

from bflray.config import load_config
from bflray.protocol.round import build_plan


def test_round_one_trains_the_warm_up_epochs_and_later_rounds_the_local_ones() -> None:
    config = load_config(None, ["training.local_epochs=5", "training.warmup_epochs=25"])
    params, cohort = np.zeros(3, dtype=np.float32), np.arange(4)
    assert [build_plan(config, r, params, cohort).training.epochs for r in (1, 2, 7)] == [25, 5, 5]


def test_without_a_warm_up_every_round_trains_the_local_epochs() -> None:
    config = load_config(None, ["training.local_epochs=3"])
    assert build_plan(config, 1, np.zeros(3, dtype=np.float32), np.arange(4)).training.epochs == 3
