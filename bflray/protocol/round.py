"""One federated round as a pipeline of timed stages over the roles, through a backend.

Which stages run is the config's choice (:func:`build_stages`); the four published designs
are presets of this one pipeline. Each stage is timed into the round's record
(``seconds_<stage>``) and the ``bflray_stage_duration_seconds`` histogram.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from bflray.config import Config
from bflray.protocol.stages.basic import build_plan, global_gradient, local_training, merge_results, plan_cohort
from bflray.protocol.stages import (
    AggregateStage,
    CommitStage,
    EvaluateStage,
    FinalizeStage,
    PlanStage,
    Stage,
    TrainStage,
)
from bflray.protocol.stages.por import EDIStage, PoREvaluateStage, ValidateRankStage
from bflray.protocol.stages.por_attack import PoRAttackStage
from bflray.protocol.stages.attack import AttackStage
from bflray.protocol.stages.chain_plan import ChainPlanStage
from bflray.protocol.stages.contribution import ContributionStage
from bflray.protocol.stages.finalize import AttestedFinalizeStage
from bflray.protocol.stages.privacy import BudgetStage, PrivacyStage
from bflray.protocol.stages.reputation import ReputationStage
from bflray.protocol.stages.robust import RobustAggregateStage
from bflray.protocol.stages.screen import ScreenStage, hospital_table
from bflray.protocol.stages.voting import FlockPlanStage, VoteStage
from bflray.protocol.state import RoundState, RunContext


__all__ = [
    "RoundPipeline", "build_plan", "build_stages", "global_gradient", "hospital_rows", "local_training",
    "merge_results", "plan_cohort",
]


def build_stages(config: Config) -> list[Stage]:
    """The stages of the configured pipeline, in order.

    Every pipeline screens the updates (:class:`ScreenStage`) after training and any attack,
    before anything commits, clips or aggregates them."""
    if config.experiment.pipeline == "por":
        attack: list[Stage] = [PoRAttackStage()] if config.attack.malicious_fraction > 0 else []
        return [
            PlanStage(), TrainStage(), *attack, ScreenStage(), EDIStage(), CommitStage(), ValidateRankStage(),
            AggregateStage(), AttestedFinalizeStage(), PoREvaluateStage(),
        ]
    if config.experiment.pipeline == "flock":
        return [
            FlockPlanStage(), TrainStage(), AttackStage(), ScreenStage(), CommitStage(), AggregateStage(), VoteStage(),
            AttestedFinalizeStage(), EvaluateStage(),
        ]
    if config.experiment.pipeline in ("smpc", "dp_bfl"):
        last: Stage = ReputationStage() if config.experiment.pipeline == "smpc" else ContributionStage()
        return [
            BudgetStage(), ChainPlanStage(), TrainStage(), AttackStage(), ScreenStage(), PrivacyStage(), CommitStage(),
            RobustAggregateStage(), last, AttestedFinalizeStage(), EvaluateStage(),
        ]
    stages: list[Stage] = [PlanStage(), TrainStage()]
    if config.attack.malicious_fraction > 0:
        stages.append(AttackStage())
    stages.append(ScreenStage())  # after any attack, so that what an attack injects is screened too
    if plain_fedavg(config):
        return [*stages, CommitStage(), AggregateStage(), FinalizeStage(), EvaluateStage()]
    return [
        BudgetStage(), *stages, PrivacyStage(), CommitStage(), RobustAggregateStage(), FinalizeStage(), EvaluateStage(),
    ]


def plain_fedavg(config: Config) -> bool:
    """Whether the round is plain FedAvg in the clear, without privacy: the lean stages do."""
    agg, privacy = config.aggregation, config.privacy
    return (
        agg.rule == "fedavg" and not agg.filters and agg.secure == "none"
        and privacy.mechanism == "none" and privacy.clip_norm == 0
    )


class RoundPipeline:
    """Runs rounds through ``stages``; holds nothing between rounds but its tools."""

    def __init__(self, ctx: RunContext, stages: Sequence[Stage] | None = None) -> None:
        self.ctx = ctx
        self.stages = list(stages) if stages is not None else build_stages(ctx.config)

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def run_round(self, round_: int, global_params: np.ndarray) -> tuple[RoundState, dict[str, Any]]:
        """Run round ``round_`` from ``global_params``; returns the round's final state and its
        row of ``rounds.parquet``."""
        state = RoundState(round=round_, global_params=global_params)
        seconds: dict[str, float] = {}
        for stage in self.stages:
            start = time.perf_counter()
            stage(state, self.ctx)
            seconds[stage.name] = time.perf_counter() - start
            self.ctx.metrics.stage_seconds.labels(stage=stage.name).observe(seconds[stage.name])
        record = self._record(state, seconds)
        self.ctx.metrics.observe_round(record)
        return state, record

    def _record(self, state: RoundState, seconds: dict[str, float]) -> dict[str, Any]:
        receipts = state.receipts
        gas = sum(r.gas_used for r in receipts)
        calldata = sum(r.calldata_bytes for r in receipts)
        logs = sum(r.log_bytes for r in receipts)
        return {
            "round": state.round,
            **state.record,
            **{f"seconds_{name}": s for name, s in seconds.items()},
            "seconds_total": sum(seconds.values()),
            "gas_used": gas,
            "calldata_bytes": calldata,
            "log_bytes": logs,
            "onchain_bytes": calldata + logs,
            "transactions": len(receipts),
            "payload_root": "0x" + state.payload_root.hex(),
            "model_hash": "0x" + state.model_hash.hex(),
        }


def hospital_rows(state: RoundState) -> dict[str, np.ndarray]:
    """The round's per-hospital columns for ``hospitals.parquet`` (round and hospital first):
    every hospital that reported, a rejected one flagged by ``rejected_reason``."""
    return hospital_table(state)
