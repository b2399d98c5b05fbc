"""Client-level differential privacy in the round (the SMPC paper's norm bounding and noise;
the DP-BFL paper's privacy budget).

- budget (:class:`BudgetStage`, first): charges the round's noisy release to the run's
  accountant with the cohort's sampling rate q = cohort / eligible hospitals, and records the
  spent ε; a round that would take ε past ``privacy.epsilon`` raises
  :class:`~bflray.privacy.BudgetExhausted` before anything ran, and the run stops cleanly;
- privacy (:class:`PrivacyStage`, after the attack stage): each hospital's delta from the global
  model is clipped to ``privacy.clip_norm`` (L2; L1 for Laplace, whose sensitivity is an L1
  bound), and with ``placement = "local"`` each hospital adds its own noise, keyed by its id;
- central noise (:func:`central_noise`) is added by the aggregate stage to the weighted sum.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bflray.chain.flock_reference import Status
from bflray.config import Config
from bflray.privacy import (
    PrivacyAccountant,
    PrivacyBudget,
    add_local_gaussian_noise,
    central_gaussian_noise,
    clip_l1,
    clip_l2,
    laplace_noise,
)
from bflray.protocol.stages.basic import round_target
from bflray.protocol.state import RoundState, RunContext
from bflray.roles import encode_payload


def noise_charge(config: Config) -> dict[str, object]:
    """The accountant's keyword arguments for one round of the configured mechanism."""
    cfg = config.privacy
    if cfg.mechanism == "gaussian":
        return {"mechanism": "gaussian", "noise_multiplier": cfg.noise_multiplier}
    return {"mechanism": "laplace", "laplace_scale": 1.0 / cfg.laplace_epsilon}


def make_accountant(config: Config) -> tuple[PrivacyAccountant, PrivacyBudget | None] | None:
    """The run's accountant and budget, or ``None`` when no noise is configured."""
    cfg = config.privacy
    if cfg.mechanism == "none":
        return None
    budget = PrivacyBudget(cfg.epsilon, cfg.delta) if cfg.epsilon > 0 else None
    return PrivacyAccountant(), budget


class BudgetStage:
    name = "budget"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        if ctx.accountant is None:
            return
        accountant, budget = ctx.accountant
        rate = sampling_rate(ctx, state)
        kwargs = noise_charge(ctx.config)
        if budget is not None:
            accountant.charge_within(budget, round_=state.round, sampling_rate=rate, **kwargs)
        else:
            accountant.charge(sampling_rate=rate, **kwargs)
        delta = ctx.config.privacy.delta
        state.record.update(privacy_epsilon=accountant.spent(delta), privacy_delta=delta, sampling_rate=rate)


def sampling_rate(ctx: RunContext, state: RoundState) -> float:
    """q: the round's cohort over the hospitals it is drawn from (the active ones, with a chain)."""
    eligible = ctx.config.federation.hospitals
    if ctx.federation is not None:
        eligible = int(np.count_nonzero(state.registry_statuses(ctx.federation) == Status.ACTIVE))
    return min(1.0, round_target(ctx.config) / max(eligible, 1))


class PrivacyStage:
    name = "privacy"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        cfg = ctx.config.privacy
        updates = state.require_updates()
        local = cfg.mechanism != "none" and cfg.placement == "local"
        if (cfg.clip_norm <= 0 and not local) or len(updates.hospital_ids) == 0:
            return
        base = np.asarray(state.global_params, dtype=np.float64)
        deltas = np.asarray(updates.params, dtype=np.float64) - base
        if cfg.clip_norm > 0:
            clip = clip_l1 if cfg.mechanism == "laplace" else clip_l2
            result = clip(deltas, clip_norm=cfg.clip_norm, inplace=True)
            state.record["clipped_fraction"] = result.fraction_clipped
            state.hospital_columns["update_norm"] = result.norms
        seed = ctx.config.experiment.seed
        if local and cfg.mechanism == "gaussian":
            add_local_gaussian_noise(
                deltas, hospitals=updates.hospital_ids, noise_multiplier=cfg.noise_multiplier, clip_norm=cfg.clip_norm,
                seed=seed, round_=state.round, inplace=True,
            )
        elif local:
            for row, hospital in enumerate(updates.hospital_ids):
                deltas[row] += laplace_noise(
                    deltas.shape[1], laplace_scale=1.0 / cfg.laplace_epsilon, l1_clip_norm=cfg.clip_norm, seed=seed,
                    round_=state.round, hospital=int(hospital),
                )
        params = (base + deltas).astype(np.float32)
        state.updates = replace(updates, params=params)
        state.payloads = [encode_payload(row) for row in params]


def central_noise(config: Config, round_: int, dimension: int) -> np.ndarray:
    """The central mechanism's noise for the round's clipped weighted sum (zeros when none)."""
    cfg = config.privacy
    if cfg.mechanism == "none" or cfg.placement == "local":
        return np.zeros(dimension)
    seed = config.experiment.seed
    if cfg.mechanism == "gaussian":
        return central_gaussian_noise(
            dimension, noise_multiplier=cfg.noise_multiplier, clip_norm=cfg.clip_norm, seed=seed, round_=round_
        )
    return laplace_noise(
        dimension, laplace_scale=1.0 / cfg.laplace_epsilon, l1_clip_norm=cfg.clip_norm, seed=seed, round_=round_
    )
