"""The attack stage: malicious hospitals (``attack.malicious_fraction`` of the federation,
chosen by the seed) replace their update with a poisoned one (``attack.kind``, see
:mod:`bflray.attacks`); they collude, seeing the round's honest updates.

Runs right after training, so everything downstream (commit, privacy, aggregation, voting)
sees what a malicious hospital would really send. Marks every reporting hospital's
``malicious`` column of ``hospitals.parquet``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bflray.attacks import MODEL_ATTACKS, malicious_mask
from bflray.config import Config
from bflray.protocol.state import RoundState, RunContext
from bflray.roles import encode_payload
from bflray.seeding import Purpose, derive_rng


def run_malicious_mask(config: Config) -> np.ndarray:
    """The run's malicious hospitals, over hospital ids."""
    return malicious_mask(
        seed=config.experiment.seed, num_hospitals=config.federation.hospitals,
        malicious_fraction=config.attack.malicious_fraction,
    )


class AttackStage:
    name = "attack"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        updates = state.require_updates()
        cfg = ctx.config.attack
        bad = run_malicious_mask(ctx.config)[updates.hospital_ids]
        state.hospital_columns["malicious"] = bad
        state.record["malicious"] = int(bad.sum())
        if not bad.any():
            return
        params = np.array(updates.params, dtype=np.float32)
        base = np.asarray(state.global_params, dtype=np.float32)
        rows = np.flatnonzero(bad)
        rngs = [
            derive_rng(ctx.config.experiment.seed, state.round, int(updates.hospital_ids[i]), Purpose.MALICIOUS)
            for i in rows
        ]
        attack = MODEL_ATTACKS[cfg.kind]
        honest = params[~bad] - base  # what colluding attackers see of the round's benign updates
        deltas = attack(params[rows] - base, honest=honest, rngs=rngs, scale=cfg.scale, reference_std=float(base.std()))
        params[rows] = base + deltas
        state.updates = replace(updates, params=params)
        state.payloads = [encode_payload(row) for row in params]
