"""The attack stage: malicious hospitals (``attack.malicious_fraction`` of the federation,
chosen by the seed) send what ``attack.kind`` makes them send (see :mod:`bflray.attacks`).

Runs right after training, so everything downstream (commit, privacy, aggregation, voting)
sees what a malicious hospital would really send:

1. an ``update`` attack replaces each malicious update; colluding attackers
   (``attack.collude``) see the round's honest updates, others only their own;
2. ``sybil``: every malicious identity sends the first one's update;
3. ``inflated_samples``: malicious hospitals claim ``attack.sample_inflation`` × their count,
   which FedAvg weights by.

Data attacks and lazy training act earlier, in the hospitals' blocks. Marks every reporting
hospital's ``malicious`` column of ``hospitals.parquet``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bflray.attacks import active_attacks, parse_kind, run_malicious_mask
from bflray.attacks.inflated_samples import inflate_counts
from bflray.attacks.sybil import sybil_copies
from bflray.config import Config
from bflray.protocol.state import RoundState, RunContext
from bflray.roles import encode_payload
from bflray.seeding import Purpose, derive_rng

__all__ = ["AttackStage", "mark_malicious", "poison_params", "run_malicious_mask"]


def poison_params(
    params: np.ndarray, base: np.ndarray, bad: np.ndarray, hospital_ids: np.ndarray, *, config: Config, round_: int
) -> np.ndarray:
    """The round's updates (rows of ``params``) as the malicious rows ``bad`` send them: the
    ``update`` attack of ``attack.kind``, then Sybil copies. Returns a new float32 array."""
    cfg = config.attack
    out = np.array(params, dtype=np.float32)
    rows = np.flatnonzero(bad)
    if not len(rows):
        return out
    base = np.asarray(base, dtype=np.float32)
    infos = parse_kind(cfg.kind)
    update = next((i for i in infos if i.site == "update"), None)
    if update is not None and update.function is not None:
        rngs = [derive_rng(config.experiment.seed, round_, int(hospital_ids[i]), Purpose.MALICIOUS) for i in rows]
        own = out[rows] - base
        known = out[~bad] - base if cfg.collude else own  # colluders see the benign updates
        deltas = update.function(
            own, honest=known, rngs=rngs, scale=cfg.scale, reference_std=float(base.std()), cohort_size=len(out)
        )
        out[rows] = base + np.asarray(deltas, dtype=np.float32)
    if any(i.name == "sybil" for i in infos):
        out = sybil_copies(out, rows)
    return out


def mark_malicious(state: RoundState, config: Config) -> np.ndarray:
    """The round's reporting hospitals that are malicious (aligned with ``updates``), recorded
    in the ``malicious`` column and the round's ``malicious`` count."""
    bad: np.ndarray = run_malicious_mask(config)[state.require_updates().hospital_ids]
    state.hospital_columns["malicious"] = bad
    state.record["malicious"] = int(bad.sum())
    return bad


class AttackStage:
    name = "attack"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        updates = state.require_updates()
        config = ctx.config
        bad = mark_malicious(state, config)
        if not bad.any():
            return
        params = poison_params(
            updates.params, state.global_params, bad, updates.hospital_ids, config=config, round_=state.round
        )
        counts = updates.num_samples
        if "inflated_samples" in active_attacks(config):
            counts = inflate_counts(counts, bad, config.attack.sample_inflation)
            state.weights = counts.astype(np.float64)
            state.hospital_columns["num_samples"] = counts
        state.updates = replace(updates, params=params, num_samples=counts)
        state.payloads = [encode_payload(row) for row in params]
