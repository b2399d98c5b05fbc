"""Screening updates: a NaN, an infinity or a row of the wrong length is rejected, the hospital
flagged, and the round goes on with the rest (full updates at the driver, and the lean path
where a shard folds its hospitals into FedAvg's partial sums)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bflray.aggregation import fedavg
from bflray.config import Config, load_config
from bflray.errors import BackendError
from bflray.protocol.backend import InProcessBackend
from bflray.protocol.round import build_plan, build_stages, hospital_rows, merge_results
from bflray.protocol.stages.basic import AggregateStage, TrainStage
from bflray.protocol.stages.screen import (
    RejectedUpdates,
    ScreenStage,
    partial_rejections,
    rejected_updates,
    split_by_length,
)
from bflray.protocol.state import RoundState, RunContext
from bflray.roles import HospitalBlock, encode_payload
from bflray.roles.hospital_block import nonfinite_reasons
from bflray.roles.messages import RoundPlan, TrainResult
from bflray.store import write_columns_atomic

D = 12
ROOT = Path(__file__).resolve().parents[2]


def _updates(n: int = 5, seed: int = 0) -> TrainResult:
    rng = np.random.default_rng(seed)
    return TrainResult(
        hospital_ids=np.arange(10, 10 + n, dtype=np.int64),
        params=rng.normal(size=(n, D)).astype(np.float32),
        num_samples=np.arange(1, n + 1, dtype=np.int64),
        losses=rng.random(n),
        extras={"tag": np.arange(n) * 100},
    )


def _state(updates: TrainResult) -> RoundState:
    state = RoundState(round=3, global_params=np.zeros(D, dtype=np.float32))
    state.updates = updates
    state.weights = updates.num_samples.astype(np.float64)
    state.payloads = [encode_payload(row) for row in updates.params]
    state.hospital_columns["train_loss"] = updates.losses
    state.hospital_columns["num_samples"] = updates.num_samples
    state.hospital_columns["malicious"] = np.array([False, True, False, False, True])
    return state


def _context(backend: Any = None) -> RunContext:
    none: Any = None
    return RunContext(
        config=Config(), backend=backend if backend is not None else InProcessBackend(), ledger=none, store=none,
        metrics=none, model=none, test_set=none,
    )


# -- the check -------------------------------------------------------------------------


def test_nan_and_inf_rows_are_named_and_finite_rows_pass_even_at_the_float32_limit() -> None:
    params = np.full((5, D), np.finfo(np.float32).max, dtype=np.float32)  # a float32 sum would overflow
    params[1, 3] = np.nan
    params[2, 0] = np.inf
    params[3, 7] = -np.inf
    params[4, [2, 5]] = [np.inf, np.nan]
    assert nonfinite_reasons(params).tolist() == ["", "nan", "inf", "inf", "nan"]


def test_a_float64_row_whose_sum_overflows_but_holds_only_finite_values_passes() -> None:
    params = np.full((2, 4), 1e308)
    params[1, 0] = np.inf
    assert nonfinite_reasons(params).tolist() == ["", "inf"]


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=8), elements=st.floats(width=32)))
def test_the_check_agrees_with_numpys_isnan_and_isfinite(params: np.ndarray) -> None:
    expected = np.where(np.isnan(params).any(axis=1), "nan", np.where(np.isfinite(params).all(axis=1), "", "inf"))
    assert nonfinite_reasons(params).tolist() == expected.tolist()


# -- the screen stage ------------------------------------------------------------------


def test_screen_drops_bad_rows_from_everything_downstream_and_records_them() -> None:
    # Prepare: hospitals 11 (NaN) and 13 (+inf) of 10…14 are corrupt
    updates = _updates()
    params = updates.params.copy()
    params[1, 4], params[3, 0] = np.nan, np.inf
    state = _state(TrainResult(updates.hospital_ids, params, updates.num_samples, updates.losses, updates.extras))
    # Execute
    ScreenStage()(state, _context())
    # Assert: the clean rows alone reach the later stages…
    clean = [0, 2, 4]
    kept = state.require_updates()
    np.testing.assert_array_equal(kept.hospital_ids, [10, 12, 14])
    np.testing.assert_array_equal(kept.params, updates.params[clean])
    np.testing.assert_array_equal(kept.extras["tag"], [0, 200, 400])
    assert state.weights is not None and state.weights.tolist() == [1.0, 3.0, 5.0]
    assert state.payloads == [encode_payload(updates.params[i]) for i in clean]
    assert state.hospital_columns["malicious"].tolist() == [False, False, True]
    # …the round's record counts them…
    assert state.record["rejected"] == 2 and state.record["hospitals"] == 3
    assert state.record["train_loss"] == pytest.approx(np.average(updates.losses[clean], weights=[1, 3, 5]))
    # …and the rejected keep what was recorded of them
    rejected = rejected_updates(state)
    assert rejected.hospital_ids.tolist() == [11, 13] and rejected.reasons.tolist() == ["nan", "inf"]
    assert rejected.columns["malicious"].tolist() == [True, False]
    np.testing.assert_array_equal(rejected.columns["train_loss"], updates.losses[[1, 3]])


def test_the_aggregate_after_screening_is_fedavg_of_the_clean_rows() -> None:
    updates = _updates()
    params = updates.params.copy()
    params[2, :] = np.nan
    state = _state(TrainResult(updates.hospital_ids, params, updates.num_samples, updates.losses, updates.extras))

    ScreenStage()(state, _context())
    AggregateStage()(state, _context())

    clean = [0, 1, 3, 4]
    assert state.candidate is not None and np.isfinite(state.candidate).all()
    np.testing.assert_allclose(state.candidate, fedavg(updates.params[clean], updates.num_samples[clean]), rtol=1e-6)


def test_a_round_without_bad_rows_is_untouched_and_counts_zero() -> None:
    updates = _updates()
    state = _state(updates)
    ScreenStage()(state, _context())
    assert state.updates is updates and state.record["rejected"] == 0 and len(rejected_updates(state)) == 0


def test_a_round_whose_every_update_is_bad_keeps_the_global_model() -> None:
    updates = _updates()
    state = _state(TrainResult(updates.hospital_ids, np.full((5, D), np.nan, np.float32), updates.num_samples,
                               updates.losses, updates.extras))  # fmt: skip
    ScreenStage()(state, _context())
    AggregateStage()(state, _context())
    assert state.record["rejected"] == 5 and state.record["hospitals"] == 0 and state.record["train_loss"] is None
    np.testing.assert_array_equal(state.candidate, state.global_params)


# -- wrong length: the train stage -----------------------------------------------------


def _ragged(result: TrainResult, rows: dict[int, np.ndarray]) -> TrainResult:
    params = np.empty(len(result.hospital_ids), dtype=object)
    for i, row in enumerate(result.params):
        params[i] = rows.get(i, row)
    return TrainResult(result.hospital_ids, params, result.num_samples, result.losses, result.extras)


def test_rows_of_the_wrong_length_are_split_off_with_their_loss_and_sample_count() -> None:
    updates = _updates()
    ragged = _ragged(updates, {1: updates.params[1][:-1], 4: updates.params[4].reshape(3, 4)})

    clean, rejected = split_by_length(ragged, D)

    np.testing.assert_array_equal(clean.hospital_ids, [10, 12, 13])
    assert clean.params.dtype == np.float32 and clean.params.shape == (3, D)
    np.testing.assert_array_equal(clean.params, updates.params[[0, 2, 3]])
    np.testing.assert_array_equal(clean.extras["tag"], [0, 200, 300])
    assert rejected.hospital_ids.tolist() == [11, 14] and rejected.reasons.tolist() == ["shape", "shape"]
    assert rejected.columns["num_samples"].tolist() == [2, 5]


def test_a_block_sending_a_matrix_of_the_wrong_width_has_every_row_rejected() -> None:
    updates = _updates()
    clean, rejected = split_by_length(
        TrainResult(updates.hospital_ids, updates.params[:, :-2], updates.num_samples, updates.losses), D
    )
    assert len(clean.hospital_ids) == 0 and clean.params.shape == (0, D) and len(rejected) == 5


def test_a_block_answering_for_fewer_hospitals_than_it_names_is_a_backend_error() -> None:
    updates = _updates()
    broken = TrainResult(updates.hospital_ids, updates.params[:4], updates.num_samples, updates.losses)
    with pytest.raises(BackendError, match="answered for 5 hospitals with 4 updates"):
        split_by_length(broken, D)


class _Blocks:
    """Two blocks' answers to ``train``, one of them with a truncated row."""

    def __init__(self, answers: list[TrainResult]) -> None:
        self.answers = answers

    def call(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        assert method == "train"
        return list(self.answers)

    def take_faults(self) -> list[dict[str, Any]]:
        return []


def test_the_train_stage_rejects_a_truncated_row_and_the_rest_trains_on() -> None:
    # Prepare
    updates = _updates()
    first = TrainResult(updates.hospital_ids[:2], updates.params[:2], updates.num_samples[:2], updates.losses[:2])
    second = _ragged(
        TrainResult(updates.hospital_ids[2:], updates.params[2:], updates.num_samples[2:], updates.losses[2:]),
        {1: updates.params[3][: D // 2]},
    )
    state = RoundState(round=2, global_params=np.zeros(D, dtype=np.float32))
    state.plan = build_plan(Config(), 2, state.global_params, updates.hospital_ids)
    # Execute
    TrainStage()(state, _context(_Blocks([first, second])))
    # Assert
    np.testing.assert_array_equal(state.require_updates().hospital_ids, [10, 11, 12, 14])
    assert state.record["rejected"] == 1 and state.record["hospitals"] == 4 and len(state.payloads) == 4
    rows = hospital_rows(state)
    assert rows["hospital"].tolist() == [10, 11, 12, 13, 14]
    assert rows["rejected_reason"].tolist() == ["", "", "", "shape", ""]
    assert rows["num_samples"].tolist() == [1, 2, 3, 4, 5]


# -- hospitals.parquet -----------------------------------------------------------------


def test_hospital_rows_merge_the_rejected_back_by_id_with_blanks_for_later_columns(tmp_path: Path) -> None:
    # Prepare: a round with two rejected updates, then columns of later stages of every type
    updates = _updates()
    params = updates.params.copy()
    params[0, 0], params[3, 1] = np.nan, -np.inf
    state = _state(TrainResult(updates.hospital_ids, params, updates.num_samples, updates.losses, updates.extras))
    ScreenStage()(state, _context())
    AggregateStage()(state, _context())
    state.hospital_columns.update(
        role=np.array(["proposer"] * 3, dtype=object), tokens=np.array([7, 8, 9]), selected=np.ones(3, dtype=bool)
    )
    # Execute
    rows = hospital_rows(state)
    # Assert
    assert rows["hospital"].tolist() == [10, 11, 12, 13, 14]
    assert rows["rejected_reason"].tolist() == ["nan", "", "", "inf", ""]
    np.testing.assert_array_equal(rows["train_loss"], updates.losses)  # recorded before the screen
    assert rows["malicious"].tolist() == [False, True, False, False, True]
    weights = rows["aggregation_weight"]
    assert np.isnan(weights[[0, 3]]).all() and weights[[1, 2, 4]].sum() == pytest.approx(1.0)
    assert rows["tokens"].tolist() == [-1, 7, 8, -1, 9] and rows["tokens"].dtype == np.int64
    assert rows["role"].tolist() == ["", "proposer", "proposer", "", "proposer"]
    assert rows["selected"].tolist() == [False, True, True, False, True]
    # A round with and one without rejections read back as one table
    folder = tmp_path / "hospitals.parquet"
    folder.mkdir()
    write_columns_atomic(folder / "round-000001.parquet", rows)
    clean = _state(_updates(seed=1))
    ScreenStage()(clean, _context())
    AggregateStage()(clean, _context())
    clean.hospital_columns.update(
        role=np.array(["proposer"] * 5, dtype=object), tokens=np.arange(5), selected=np.ones(5, dtype=bool)
    )
    write_columns_atomic(folder / "round-000002.parquet", hospital_rows(clean))
    table = pq.read_table(folder).to_pylist()
    assert [r["rejected_reason"] for r in table] == ["nan", "", "", "inf", ""] + [""] * 5


def test_rejections_add_up_across_the_train_and_screen_stages() -> None:
    a = RejectedUpdates(np.array([4]), np.array(["shape"], dtype=object), {"num_samples": np.array([3])})
    b = RejectedUpdates(np.array([1, 2]), np.array(["nan", "inf"], dtype=object),
                        {"num_samples": np.array([5, 6]), "malicious": np.array([True, False])})  # fmt: skip
    total = a + RejectedUpdates() + b
    assert total.hospital_ids.tolist() == [4, 1, 2] and total.reasons.tolist() == ["shape", "nan", "inf"]
    assert total.columns["num_samples"].tolist() == [3, 5, 6]
    assert total.columns["malicious"].tolist() == [False, True, False]


# -- where the screen sits -------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "overrides", "before"),
    [
        ("fedavg", [], "commit"),
        ("fedavg", ["attack.malicious_fraction=0.25"], "commit"),
        ("fedavg", ["aggregation.rule=median"], "privacy"),
        ("smpc", [], "privacy"),
        ("dp_bfl", [], "privacy"),
        ("flock", [], "commit"),
        ("por", [], "edi"),
    ],
)
def test_every_pipeline_screens_after_training_and_any_attack_and_before_anything_uses_the_updates(
    preset: str, overrides: list[str], before: str
) -> None:
    names = [s.name for s in build_stages(load_config(ROOT / "configs" / f"{preset}.toml", overrides))]
    screen = names.index("screen")
    assert names.count("screen") == 1
    assert names[screen - 1] in ("train", "attack") and names[screen + 1] == before
    assert "attack" not in names[screen:]


# -- the lean path: partial sums in the shard ------------------------------------------


class _CorruptBlock(HospitalBlock):
    """A block whose hospital ``bad`` ends its local training with ``value`` in its state
    (the injected fault: a diverged or broken hospital)."""

    bad = 3
    value = float("nan")

    def _chunks(self, plan: RoundPlan, local: np.ndarray) -> Iterator[Any]:
        for at, chunk in super()._chunks(plan, local):
            ids = self.hospital_ids[local][at]
            for row in np.flatnonzero(ids == self.bad):
                chunk.parts[0][row, 0] = self.value
            yield at, chunk


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_shard_leaves_a_non_finite_hospital_out_of_its_partial_sums_and_names_it(value: float) -> None:
    # Prepare: chunks of 2, so the bad hospital is not in the first one
    config = load_config(None, ["federation.hospitals=6", "runtime.backend=inprocess", "training.local_chunk_size=2"])
    block = _CorruptBlock(config, 0, 6)
    block.value = value
    params = block.model.init(np.random.default_rng(0))
    plan = build_plan(config, 1, params, np.array([0, 2, 3, 4, 5]))
    full = merge_results([block.train(plan)])
    # Execute
    part = block.train_reduce(plan)
    # Assert
    clean = full.hospital_ids != 3
    assert part.rejected_ids.tolist() == [3] and part.rejected_reasons.tolist() == ["nan" if value != value else "inf"]
    assert part.hospital_ids.tolist() == [0, 2, 3, 4, 5]  # every member trained
    assert part.total_weight == float(full.num_samples[clean].sum())
    np.testing.assert_allclose(
        part.weighted_sum / part.total_weight, fedavg(full.params[clean], full.num_samples[clean]), atol=1e-6
    )
    rejected = partial_rejections([part, block.train_reduce(build_plan(config, 1, params, np.array([0, 1])))])
    assert rejected.hospital_ids.tolist() == [3]


def test_a_shard_with_only_clean_hospitals_rejects_nobody() -> None:
    config = load_config(None, ["federation.hospitals=4", "runtime.backend=inprocess"])
    block = HospitalBlock(config, 0, 4)
    part = block.train_reduce(build_plan(config, 1, block.model.init(np.random.default_rng(0)), np.arange(4)))
    assert len(part.rejected_ids) == 0 and part.total_weight == float(block.num_samples.sum())
