"""A faulty hospital on a real anvil: its update arrives with a NaN, an infinity or the wrong
length every round; it is rejected and flagged, and the run goes on with the others to about
the accuracy of a run without it."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from bflray.api import RunResult, run
from bflray.config import Config, load_config
from bflray.protocol import InProcessBackend
from bflray.roles.messages import RoundPlan, TrainResult
from bflray.store import BlobStore

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
FAULTY = 2
#: What the faulty hospital sends, by round: a NaN, an infinity, a truncated vector.
FAULTS = {1: "nan", 2: "inf", 3: "shape"}


class _FaultyHospitalBackend(InProcessBackend):
    """In-process blocks, but hospital ``FAULTY``'s trained update is broken on its way out
    (the injected fault), as a faulty or malicious hospital's would be."""

    def call(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        answers = super().call(method, *args, **kwargs)
        if method != "train":
            return answers
        plan: RoundPlan = args[0]
        return [_break(a, FAULTS[(plan.round - 1) % 3 + 1]) if a is not None else None for a in answers]


def _break(result: TrainResult, fault: str) -> TrainResult:
    rows = np.flatnonzero(result.hospital_ids == FAULTY)
    if not len(rows):
        return result
    if fault == "shape":
        params = np.empty(len(result.hospital_ids), dtype=object)
        for i, row in enumerate(result.params):
            params[i] = row[:-1] if i == rows[0] else row
        return replace(result, params=params)
    params = np.array(result.params, copy=True)
    params[rows[0], :: 7] = np.nan if fault == "nan" else np.inf
    return replace(result, params=params)


def _run(tmp_path: Path, config: Config, *, faulty: bool) -> RunResult:
    backend = _FaultyHospitalBackend() if faulty else None
    return run(config, out_dir=tmp_path / ("faulty" if faulty else "clean"), backend=backend, progress=False)


def _hospitals(result: RunResult) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(result.run_dir / "hospitals.parquet").to_pylist()
    return rows


def test_a_hospital_sending_broken_updates_is_rejected_every_round_and_fedavg_goes_on(tmp_path: Path) -> None:
    # Prepare
    config = load_config(
        None,
        ["experiment.rounds=3", "federation.hospitals=6", "runtime.backend=inprocess", "metrics.enabled=false"],
    )
    clean = _run(tmp_path, config, faulty=False)
    # Execute
    faulty = _run(tmp_path, config, faulty=True)
    # Assert: every round ran on the five others, to finite numbers…
    assert [r["round"] for r in faulty.rounds] == [1, 2, 3]
    assert [(r["rejected"], r["hospitals"]) for r in faulty.rounds] == [(1, 5)] * 3
    assert [r["rejected"] for r in clean.rounds] == [0, 0, 0]
    assert all(math.isfinite(r["accuracy"]) and math.isfinite(r["train_loss"]) for r in faulty.rounds)
    assert np.isfinite(faulty.final_params).all()
    assert abs(faulty.final_accuracy - clean.final_accuracy) < 0.05
    # …the faulty hospital is flagged in hospitals.parquet each round, with why…
    rows = _hospitals(faulty)
    flagged = [(r["round"], r["hospital"], r["rejected_reason"]) for r in rows if r["rejected_reason"]]
    assert flagged == [(1, FAULTY, "nan"), (2, FAULTY, "inf"), (3, FAULTY, "shape")]
    assert all(math.isnan(r["aggregation_weight"]) for r in rows if r["rejected_reason"])
    used = [r["aggregation_weight"] for r in rows if r["round"] == 1 and not r["rejected_reason"]]
    assert sum(used) == pytest.approx(1.0)
    assert len(rows) == 3 * 6  # every hospital that reported has its row
    # …and nothing of it was committed
    assert all(len(_manifest_ids(faulty, r)) == 5 and FAULTY not in _manifest_ids(faulty, r) for r in (1, 2, 3))


def _manifest_ids(result: RunResult, round_: int) -> tuple[int, ...]:
    return tuple(BlobStore(result.run_dir / "store").get_manifest(round_).hospital_ids)


def test_the_smpc_pipeline_screens_a_broken_update_before_clipping_and_the_validators_attest(tmp_path: Path) -> None:
    # Prepare: the chain pipeline with validators, robust aggregation and reputation
    config = load_config(
        ROOT / "configs" / "smpc_plaintext.toml",
        ["runtime.backend=inprocess", "metrics.enabled=false", "data.source=offline", "experiment.rounds=2",
         "federation.hospitals=8", "training.local_epochs=1", "voting.validators=4"],
    )  # fmt: skip
    # Execute
    result = _run(tmp_path, config, faulty=True)
    # Assert
    rounds = result.rounds
    assert [r["rejected"] for r in rounds] == [1, 1]
    assert all(r["final"] and r["attested"] == 4 for r in rounds)  # the record the validators check is consistent
    assert all(math.isfinite(r["accuracy"]) for r in rounds) and np.isfinite(result.final_params).all()
    flagged = [(r["round"], r["hospital"], r["rejected_reason"]) for r in _hospitals(result) if r["rejected_reason"]]
    assert flagged == [(1, FAULTY, "nan"), (2, FAULTY, "inf")]
