"""Proof of Reasoning's stages (PoR paper, Sec. III-C): EDI transactions, validation and
ranking, and evaluation under each hospital's own encoder.

Order in the PoR pipeline: plan → train → edi → commit → validate → aggregate → finalize →
evaluate. ``edi`` turns each hospital's trained head and tuples into its transaction, whose
canonical bytes are the payload ``commit`` stores and commits; ``validate`` checks eq. (1),
scores the valid classifiers on the pooled datapoints of the valid transactions (exactly,
or on committees of ``por.committee_size``), ranks them by the policy π = (S, R) and sets
the aggregation weights by rank; excluded classifiers get weight 0.
"""

from __future__ import annotations

import numpy as np
import torch

from bflray.evaluation import worst_decile
from bflray.models.por_stacked import PoRHeadStacked
from bflray.por import (
    EDITransaction,
    get_reduction,
    get_score,
    rank_scores,
    rank_weights,
    sample_committees,
    score_classifiers,
    validate_transactions,
)
from bflray.protocol.state import RoundState, RunContext


def por_head(ctx: RunContext) -> PoRHeadStacked:
    """The run's PoR head (the stages need ``model.name = 'por_head'``)."""
    if not isinstance(ctx.model, PoRHeadStacked):
        raise TypeError(f"the PoR stages need the por_head model, got {type(ctx.model).__name__}")
    return ctx.model


class EDIStage:
    name = "edi"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        u = state.require_updates()
        state.transactions = [
            EDITransaction(
                round=state.round, hospital=int(h), weights=u.params[i], kappa=u.extras["kappa"][i],
                outputs=u.extras["outputs"][i], labels=u.extras["labels"][i],
            )
            for i, h in enumerate(u.hospital_ids)
        ]
        state.payloads = [tx.encode() for tx in state.transactions]


class ValidateRankStage:
    name = "validate"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        cfg = ctx.config.por
        head = por_head(ctx)
        txs = state.transactions
        n = len(txs)
        result = validate_transactions(txs, head.logits, epsilon=cfg.epsilon, num_classes=head.spec.num_outputs)
        valid = np.flatnonzero(result.valid)
        scores = np.full(n, np.nan)
        ranks = np.zeros(n, dtype=np.int64)
        weights = np.zeros(n)
        datapoints = 0
        if len(valid):
            states = torch.from_numpy(np.stack([txs[i].weights for i in valid]))
            kappa = torch.from_numpy(np.concatenate([txs[i].kappa for i in valid]))
            labels = torch.from_numpy(np.concatenate([txs[i].labels for i in valid]))
            datapoints = int(kappa.shape[0])
            committees = None
            if 0 < cfg.committee_size < datapoints:
                committees = sample_committees(
                    seed=ctx.config.experiment.seed, round_=state.round, classifiers=len(valid),
                    datapoints=datapoints, size=cfg.committee_size,
                )
            matrix = score_classifiers(states, kappa, labels, head.logits, get_score(cfg.score), committees=committees)
            ranking = rank_scores(matrix, get_reduction(cfg.reduction))
            scores[valid], ranks[valid] = ranking.scores, ranking.ranks
            weights[valid] = rank_weights(
                ranking.ranks, ranking.scores, rule=cfg.aggregation, top_k=cfg.top_k, temperature=cfg.temperature
            )
        state.weights = weights
        state.hospital_columns.update(
            por_valid=result.valid, por_error=result.max_error, por_score=scores, por_rank=ranks,
            por_reason=np.array([r or "" for r in result.reasons], dtype=object),
        )
        state.record.update(por_excluded=int(n - len(valid)), por_datapoints=datapoints)


class PoREvaluateStage:
    name = "evaluate"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        parts = ctx.backend.call("evaluate_global", state.global_params)
        accuracy = np.concatenate([p["accuracy"] for p in parts])
        loss = np.concatenate([p["loss"] for p in parts])
        state.record.update(
            accuracy=float(accuracy.mean()), loss=float(loss.mean()),
            accuracy_worst_decile=worst_decile(accuracy),
        )
        if all("attack_success_rate" in p for p in parts):  # a targeted attack: mean over the hospitals' encoders
            state.record["attack_success_rate"] = float(np.concatenate([p["attack_success_rate"] for p in parts]).mean())
