"""The stages a round is built from, one concept per module; each is ``stage(state, ctx)``."""

from bflray.protocol.stages.base import Stage
from bflray.protocol.stages.evaluate import EvaluateStage
from bflray.protocol.stages.basic import (
    AggregateStage,
    CommitStage,
    FinalizeStage,
    PlanStage,
    TrainStage,
)

__all__ = ["AggregateStage", "CommitStage", "EvaluateStage", "FinalizeStage", "PlanStage", "Stage", "TrainStage"]
