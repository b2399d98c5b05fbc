"""The on-chain plan stage of the smpc and dp_bfl pipelines (DP-BFL paper: the FL plan lives
on chain; the coordinator selects the round's devices from those eligible).

Reads the task's plan from the ledger (cohort size per round), reads which hospitals the
registry lists as active (suspended and removed ones are not eligible), opens the round on
the ledger with the round's draw seed, and draws the cohort among the eligible hospitals with
the run's seeded generator, so anyone can re-derive it from the seed and the chain.
"""

from __future__ import annotations

import numpy as np

from bflray.chain.federation import Federation
from bflray.chain.flock_reference import Status, draw_seed
from bflray.protocol.stages.basic import build_plan, plan_cohort
from bflray.protocol.state import RoundState, RunContext


def federation_of(ctx: RunContext) -> Federation:
    if not isinstance(ctx.federation, Federation):
        raise RuntimeError(f"the {ctx.config.experiment.pipeline} pipeline needs a deployed federation")
    return ctx.federation


class ChainPlanStage:
    name = "plan"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        fed = federation_of(ctx)
        status = state.registry_statuses(fed)
        eligible = np.flatnonzero(status == Status.ACTIVE).astype(np.int64)
        plan = fed.ledger.plan(fed.task_id)
        state.receipts.append(fed.open_ledger_round(state.round, draw_seed(ctx.config.experiment.seed, state.round)))
        target = min(int(plan.cohort_size), len(eligible))
        state.cohort = plan_cohort(ctx.config, state.round, eligible=eligible, target=target)
        state.plan = build_plan(ctx.config, state.round, state.global_params, state.cohort.used)
        state.record.update(
            selected=len(state.cohort.selected), dropped=len(state.cohort.dropped), late=len(state.cohort.late),
            eligible=len(eligible), suspended=int(np.count_nonzero(status == Status.SUSPENDED)),
        )
