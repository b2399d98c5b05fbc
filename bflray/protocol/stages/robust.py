"""The robust aggregate stage: selection filters, then the rule, over update deltas, in the
clear or over secret shares.

The updates are taken as deltas ``Δ_i = w_i − w`` from the global model ``w``. Each filter in
``aggregation.filters`` keeps a subset using the pairwise squared-distance or cosine matrix
(computed in the clear, or by the aggregation nodes on shares, which reveal only the matrix);
then ``aggregation.rule`` combines the kept deltas. Under secure aggregation the rule must be a
weighted sum with public coefficients (fedavg, reputation, stake), computed on shares so only
the aggregate is revealed. Central DP noise (``privacy.placement = "central"``) is added to the
weighted *sum* with coefficients scaled to at most 1 (so one hospital changes it by at most the
clipping norm C), then divided by the coefficients' total.

Per hospital it records ``selected`` (kept by every filter), ``passed_<filter>`` (kept by that
filter and the ones before it; the reputation stage reads ``passed_cosine_filter``),
``aggregation_weight`` (its share of the aggregate; 0 when filtered out) and ``agreement`` (the
cosine similarity of its delta to the sum of the selected others', :func:`agreement_with_the_rest`),
which the reputation stage reads.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import numpy as np

from bflray.aggregation import AggregationError, get_rule, rule_info, select_cosine, select_krum, select_multi_krum
from bflray.config import Config
from bflray.protocol.stages.privacy import central_noise
from bflray.smpc.gram import cosine_similarities, pairwise_sq_distances
from bflray.protocol.state import RoundState, RunContext

log = logging.getLogger("bflray")

#: Rule inputs with one value per hospital (narrowed with the selection).
PER_HOSPITAL = frozenset({"reputation", "stake"})

class RobustAggregateStage:
    name = "aggregate"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        updates = state.require_updates()
        cfg = ctx.config.aggregation
        base = np.asarray(state.global_params, dtype=np.float64)
        n = len(updates.hospital_ids)
        state.hospital_columns["selected"] = np.zeros(n, dtype=bool)
        state.hospital_columns["aggregation_weight"] = np.zeros(n)
        state.hospital_columns["agreement"] = np.full(n, np.nan)
        if n == 0:
            state.candidate = base.astype(np.float32)
            return
        deltas = np.asarray(updates.params, dtype=np.float64) - base
        weights = state.weights if state.weights is not None else updates.num_samples.astype(np.float64)
        secure = ctx.secure
        kept = np.arange(n)
        if secure is not None:  # a delta the codec cannot encode is refused, never wrapped
            kept = kept[secure.encodable(deltas)]
            state.record["refused"] = int(n - len(kept))
        if cfg.filters or ctx.config.experiment.pipeline == "smpc":  # the smpc reputation reads the agreement
            x = deltas[kept]
            gram = secure.gram(state.round, x) if secure is not None and secure.nodes else x @ x.T
            cosines = np.clip(cosine_similarities(gram), -1.0, 1.0)
            local = np.arange(len(kept))
            for name in cfg.filters:
                local = _apply_filter(name, local, gram, cosines, state, ctx.config)
                passed = np.zeros(n, dtype=bool)
                passed[kept[local]] = True
                state.hospital_columns[f"passed_{name}"] = passed
            members = np.zeros(len(kept), dtype=bool)
            members[local] = True
            state.hospital_columns["agreement"][kept] = agreement_with_the_rest(gram, members)
            kept = kept[local]
        state.hospital_columns["selected"][kept] = True
        state.record["selected"] = int(len(kept))
        inputs = _rule_inputs(state, ctx, updates.hospital_ids)
        if rule_info(cfg.rule).secure_compatible == "weighted_sum":
            coefficients = _sum_coefficients(cfg.rule, weights, inputs)[kept]
            total = float(coefficients.sum())
            if total <= 0:
                state.candidate = base.astype(np.float32)
                return
            scaled = coefficients / coefficients.max()
            if secure is not None:
                scaled = secure.quantize(scaled)
                summed = secure.weighted_sum(state.round, deltas[kept], scaled)
            else:
                summed = scaled @ deltas[kept]
            if float(scaled.sum()) <= 0:
                state.candidate = base.astype(np.float32)
                return
            summed = summed + central_noise(ctx.config, state.round, len(base))
            aggregate = summed / float(scaled.sum())
            state.hospital_columns["aggregation_weight"][kept] = coefficients / total
        else:
            rule = get_rule(cfg.rule)
            per_hospital = {k: v[kept] for k, v in inputs.items() if k in PER_HOSPITAL}
            kwargs = _keywords(rule, ctx.config, {**inputs, **per_hospital})
            aggregate = np.asarray(rule(deltas[kept], weights[kept], **kwargs), dtype=np.float64)
            used = kept[_chosen_by_rule(cfg.rule, deltas[kept], ctx.config)] if cfg.rule in _SELECTING else kept
            state.hospital_columns["aggregation_weight"][used] = weights[used] / max(float(weights[used].sum()), 1e-300)
            if cfg.rule in _SELECTING:  # the rule's own selection, so that detection rates can be read off
                state.hospital_columns["selected"][:] = False
                state.hospital_columns["selected"][used] = True
        state.candidate = (base + aggregate).astype(np.float32)
        ctx.memory["previous_delta"] = aggregate


def agreement_with_the_rest(gram: np.ndarray, members: np.ndarray | None = None) -> np.ndarray:
    """cos(Δ_i, Σ_{j∈S, j≠i} Δ_j) for every i, from the Gram matrix G alone, S = ``members``
    (a boolean mask; default everyone): with m_i = [i ∈ S],
    ⟨Δ_i, Σ_{j∈S∖i} Δ_j⟩ = Σ_{j∈S} G_ij − m_i G_ii and
    ‖Σ_{j∈S∖i} Δ_j‖² = Σ_{j,k∈S} G_jk − 2 m_i Σ_{j∈S} G_ij + m_i G_ii.

    Against the sum of the others an honest delta stands out far more clearly than against
    any single other delta (averaging cancels the others' idiosyncratic parts), while a delta
    unrelated to the cohort's direction stays near 0. Taking S as the updates the filters kept
    keeps a few large colluding updates from pulling the reference their way.
    """
    n = len(gram)
    m = np.ones(n, dtype=bool) if members is None else np.asarray(members, dtype=bool)
    if n < 2:
        return np.ones(n)
    mf = m.astype(np.float64)
    row = gram @ mf
    diag = np.diag(gram)
    inner = row - mf * diag
    rest = np.clip(float(mf @ gram @ mf) - 2.0 * mf * row + mf * diag, 0.0, None)
    denom = np.sqrt(np.clip(diag, 0.0, None) * rest)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, np.clip(inner / denom, -1.0, 1.0), 0.0)


def _apply_filter(
    name: str, local: np.ndarray, gram: np.ndarray, cosines: np.ndarray, state: RoundState, config: Config
) -> np.ndarray:
    """``local`` narrowed by filter ``name``. A filter that nobody passes keeps nobody (the global
    model stays); one whose precondition fails on what is left (Krum's n > 2f + 2) is skipped,
    and the round's record says so."""
    if not len(local):
        return local
    sub = np.ix_(local, local)
    try:
        chosen: np.ndarray = local[_select(name, gram[sub], cosines[sub], config)]
        return chosen
    except AggregationError as exc:
        if name == "cosine_filter":
            log.warning("round %d: %s", state.round, exc)
            return local[:0]
        log.warning("round %d: filter %s skipped: %s", state.round, name, exc)
        state.record["skipped_filters"] = ",".join(filter(None, [state.record.get("skipped_filters", ""), name]))
        return local


#: Rules that aggregate a selection of the updates; the stage records whom they selected.
_SELECTING = ("krum", "multi_krum", "cosine_filter")


def _chosen_by_rule(rule: str, deltas: np.ndarray, config: Config) -> np.ndarray:
    """Positions in ``deltas`` that rule ``rule`` (krum, multi_krum, cosine_filter) aggregates:
    the same selection the rule makes, recomputed from the Gram matrix (one more N × N product)."""
    gram = deltas @ deltas.T
    return _select(rule, gram, np.clip(cosine_similarities(gram), -1.0, 1.0), config)


def _select(name: str, gram: np.ndarray, cosines: np.ndarray, config: Config) -> np.ndarray:
    cfg = config.aggregation
    if name == "cosine_filter":
        return select_cosine(cosines, threshold=cfg.cosine_threshold)
    distances = pairwise_sq_distances(gram)
    if name == "krum":
        return np.array([select_krum(distances, num_byzantine=cfg.num_byzantine)])
    return select_multi_krum(distances, num_byzantine=cfg.num_byzantine, num_selected=cfg.num_selected or None)


def _rule_inputs(state: RoundState, ctx: RunContext, ids: np.ndarray) -> dict[str, Any]:
    """Per-round inputs rules may need: on-chain reputation and stake, the previous aggregate."""
    inputs: dict[str, Any] = {"center": ctx.memory.get("previous_delta")}
    needs = set(rule_info(ctx.config.aggregation.rule).needs)
    fed = ctx.federation
    if "reputation" in needs:
        if fed is None:
            inputs["reputation"] = np.ones(len(ids))
        else:
            inputs["reputation"] = np.asarray(fed.reputations([int(h) for h in ids]), dtype=np.float64) / 1e18
    if "stake" in needs:
        if fed is None:
            inputs["stake"] = np.ones(len(ids))
        else:
            inputs["stake"] = np.asarray(fed.claimable([int(h) for h in ids]), dtype=np.float64)
    if inputs["center"] is None:
        inputs["center"] = np.zeros(len(state.global_params))
    return inputs


def _sum_coefficients(rule: str, weights: np.ndarray, inputs: dict[str, Any]) -> np.ndarray:
    """Public coefficients c_i of a weighted-sum rule: Σ c_i Δ_i / Σ c_i is its aggregate."""
    w = np.asarray(weights, dtype=np.float64)
    if rule == "reputation":
        return w * np.asarray(inputs["reputation"], dtype=np.float64)
    if rule == "stake":
        return w * np.asarray(inputs["stake"], dtype=np.float64)
    return w


def _keywords(rule: Any, config: Config, inputs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments ``rule`` accepts, from the config and the round's inputs."""
    cfg = config.aggregation
    available: dict[str, Any] = {
        "num_byzantine": cfg.num_byzantine,
        "num_selected": cfg.num_selected or None,
        "trim_fraction": cfg.trim_fraction,
        "threshold": cfg.cosine_threshold,
        "max_norm": cfg.norm_bound,
        "radius": cfg.clipping_radius,
        **inputs,
    }
    accepted = inspect.signature(rule).parameters
    return {k: v for k, v in available.items() if k in accepted and accepted[k].kind is inspect.Parameter.KEYWORD_ONLY}
