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

import logging
import time

import numpy as np
import torch

from bflray.evaluation import worst_decile
from bflray.models.por_stacked import PoRHeadStacked
from bflray.por import (
    EDITransaction,
    committee_strata,
    get_reduction,
    get_score,
    rank_scores,
    rank_weights,
    sample_committees,
    score_classifiers,
    screen_kappa,
    validate_transactions,
)
from bflray.por.kappa_screen import MIN_TOKENS_PER_FEATURE
from bflray.config.schema import PoRConfig
from bflray.protocol.state import RoundState, RunContext

log = logging.getLogger("bflray")


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
    """Validation (eq. 1), the κ screen (``por.kappa_screen``), scoring and ranking (eq. 2).

    The screen runs on the pooled κ of the valid transactions: the datapoints it flags leave
    the exam, and each transaction's count of them goes to the ``por_screened`` column with
    the reason in ``por_reason``. The screen judges datapoints, not classifiers: a screened
    transaction stays valid (``por_valid`` is eq. 1's verdict, which the chain validators
    re-check) and its classifier is ranked on the remaining exam.
    """

    name = "validate"

    def __init__(self) -> None:
        self._abstained = False  # warned once per run that the pool was too small to screen

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        cfg = ctx.config.por
        head = por_head(ctx)
        txs = state.transactions
        n = len(txs)
        result = validate_transactions(txs, head.logits, epsilon=cfg.epsilon, num_classes=head.spec.num_outputs)
        valid = np.flatnonzero(result.valid)
        reasons = [r or "" for r in result.reasons]
        scores = np.full(n, np.nan)
        ranks = np.zeros(n, dtype=np.int64)
        weights = np.zeros(n)
        screened = np.zeros(n, dtype=np.int64)
        datapoints = 0
        screen_seconds = 0.0
        if len(valid):
            pooled = np.concatenate([txs[i].kappa for i in valid])
            pooled_labels = np.concatenate([txs[i].labels for i in valid])
            keep = np.ones(len(pooled), dtype=bool)
            if cfg.kappa_screen != "none":
                started = time.perf_counter()
                keep, screened[valid], notes = self._screen(pooled, [len(txs[i].kappa) for i in valid], state.round, cfg)
                screen_seconds = time.perf_counter() - started
                for i, note in zip(valid, notes, strict=True):
                    reasons[i] = note or reasons[i]
            states = torch.from_numpy(np.stack([txs[i].weights for i in valid]))
            if not keep.all():
                pooled, pooled_labels = pooled[keep], pooled_labels[keep]
            kappa = torch.from_numpy(np.ascontiguousarray(pooled))
            labels = torch.from_numpy(np.ascontiguousarray(pooled_labels))
            datapoints = int(kappa.shape[0])
            committees = None
            if 0 < cfg.committee_size < datapoints:
                strata = None
                if cfg.committee_sampling == "stratified":
                    strata = committee_strata(pooled_labels, pooled, regions=cfg.committee_regions)
                committees = sample_committees(
                    seed=ctx.config.experiment.seed, round_=state.round, classifiers=len(valid),
                    datapoints=datapoints, size=cfg.committee_size, strata=strata,
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
            por_reason=np.array(reasons, dtype=object), por_screened=screened,
        )
        state.record.update(
            por_excluded=int(n - len(valid)), por_datapoints=datapoints, por_screened=int((screened > 0).sum()),
            por_screened_datapoints=int(screened.sum()), por_screen_seconds=screen_seconds,
        )


    def _screen(
        self, pooled: np.ndarray, sizes: list[int], round_: int, cfg: PoRConfig
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The κ screen on the pooled datapoints of transactions of ``sizes`` datapoints each:
        which datapoints stay, and per transaction how many left and why ("" when none did)."""
        screen = screen_kappa(pooled, threshold=cfg.kappa_screen_threshold)
        if screen.steps == 0 and not self._abstained:
            self._abstained = True
            log.warning(
                "round %d: the κ screen abstains: %d pooled datapoints of %d × %d tokens are too few to fit "
                "its scatter (it needs at least %g tokens per feature); out-of-domain κ goes unscreened",
                round_, *pooled.shape, MIN_TOKENS_PER_FEATURE,
            )
        bounds = np.cumsum([0, *sizes])
        counts = np.add.reduceat(screen.flagged.astype(np.int64), bounds[:-1]) if sizes else np.zeros(0, np.int64)
        notes = [
            f"κ screen: {count} of {hi - lo} datapoints left out of the exam, at up to "
            f"{screen.outlyingness[lo:hi].max():.3g} × the median distance > {cfg.kappa_screen_threshold:g}"
            if count else ""
            for count, lo, hi in zip(counts, bounds[:-1], bounds[1:], strict=True)
        ]
        return ~screen.flagged, counts, notes


class PoREvaluateStage:
    """The global head on the test split as every hospital encodes it (its own encoder): the
    mean over hospitals of accuracy, loss, macro precision, recall, F1 and AUROC, the worst
    decile of the accuracies, and the targeted attack's success rate when there is one."""

    name = "evaluate"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        parts = ctx.backend.call("evaluate_global", state.global_params)

        def pooled(name: str) -> np.ndarray:
            return np.concatenate([p[name] for p in parts])

        accuracy = pooled("accuracy")
        state.record.update(accuracy=_mean(accuracy), accuracy_worst_decile=worst_decile(accuracy))
        for name in ("loss", "precision", "recall", "f1", "auroc"):
            state.record[name] = _mean(pooled(name))
        if all("attack_success_rate" in p for p in parts):  # a targeted attack: mean over the hospitals' encoders
            state.record["attack_success_rate"] = _mean(pooled("attack_success_rate"))


def _mean(values: np.ndarray) -> float:
    """The mean of the finite values (a head with non-finite outputs has none); NaN when none is."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")
