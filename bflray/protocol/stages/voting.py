"""FLock's stages (FLock paper, Sec. IV): proposers drawn on chain train, voters validate the
aggregate and vote, the majority settles the stakes (reward and slash).

Order in the flock pipeline: plan → train → attack → commit → aggregate → vote → finalize →
evaluate.

- plan (:class:`FlockPlanStage`): opens the round on chain with its draw seed and draws it;
  the staked proposers are the round's cohort, the staked voters its committee, and drawn
  hospitals that cannot stake are removed for good;
- attack (:mod:`bflray.protocol.stages.attack`): malicious proposers (η of the hospitals,
  chosen by the seed) replace their update with a poisoned one;
- vote: every voter scores the candidate aggregate and the previous global model on its
  validation split and accepts iff ``score(candidate) ≥ (1 − ε)·score(previous)``
  (:func:`vote_rule`; eq. (2)); under the ``dishonest_voting`` attack malicious voters vote the
  opposite. The votes go on chain
  (``voting.mode``), the round is settled, and a rejected candidate is dropped: the global
  model stays the previous one;
- finalize (:mod:`bflray.protocol.stages.finalize`): the coordinator records the root and the
  model hash; the chain validators check the round against the store and attest.

The round's draw, votes and token balances are kept on the state as ``state.flock``
(:class:`FlockRound`); :func:`flock_rows` turns them into the per-hospital rows of
``votes.parquet``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bflray.chain.binding import rpc_for
from bflray.chain.client import Chain
from bflray.chain.federation import Federation, deploy_federation
from bflray.chain.flock_reference import Status, draw_seed
from bflray.chain.merkle import keccak
from bflray.chain.meter import ChainMeter
from bflray.chain.params import Plan, ReputationParams, Stakes, fixed
from bflray.config import Config
from bflray.protocol.cohort import Cohort
from bflray.attacks.dishonest_voting import cast_votes
from bflray.attacks import active_attacks
from bflray.protocol.stages.attack import run_malicious_mask
from bflray.protocol.stages.basic import build_plan
from bflray.protocol.stages.chain_plan import federation_of
from bflray.protocol.state import RoundState, RunContext
from bflray.roles import encode_payload

ROLE_NONE, ROLE_PROPOSER, ROLE_VOTER = "", "proposer", "voter"


@dataclass
class FlockRound:
    """A FLock round's participants and outcome, by hospital id."""

    proposers: np.ndarray
    voters: np.ndarray
    removed: np.ndarray
    votes: dict[int, bool] = field(default_factory=dict)
    scores: dict[int, tuple[float, float]] = field(default_factory=dict)  # voter → (candidate, previous)
    accepted: bool | None = None
    tokens: np.ndarray | None = None  # every hospital's claimable balance after settling
    status: np.ndarray | None = None  # every hospital's registry status after settling


def vote_rule(candidate: float, previous: float, epsilon: float) -> bool:
    """FLock's eq. (2): accept iff ``candidate ≥ (1 − ε)·previous``; a voter with no score (NaN)
    has no evidence against the candidate and accepts."""
    if np.isnan(candidate) or np.isnan(previous):
        return True
    return bool(candidate >= (1.0 - epsilon) * previous)


def flock_round(state: RoundState) -> FlockRound:
    info = getattr(state, "flock", None)
    if not isinstance(info, FlockRound):
        raise RuntimeError(f"round {state.round}: a FLock stage needs the flock plan stage before it")
    return info


class FlockPlanStage:
    name = "plan"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        fed = federation_of(ctx)
        _keep(state, fed.open_round(state.round, draw_seed(ctx.config.experiment.seed, state.round)))
        draw = fed.draw(state.round)
        _keep(state, draw.outcome.receipts)
        proposers = np.sort(np.array(draw.proposers, dtype=np.int64))
        empty = np.empty(0, dtype=np.int64)
        drawn = np.sort(np.array([*draw.proposers, *draw.voters, *draw.removed], dtype=np.int64))
        state.cohort = Cohort(selected=drawn, dropped=empty, late=empty, used=proposers)
        state.plan = build_plan(ctx.config, state.round, state.global_params, proposers)
        state.flock = FlockRound(  # type: ignore[attr-defined]
            proposers=proposers,
            voters=np.sort(np.array(draw.voters, dtype=np.int64)),
            removed=np.sort(np.array(draw.removed, dtype=np.int64)),
        )
        state.record.update(
            selected=len(drawn), dropped=0, late=0, proposers=len(draw.proposers), voters=len(draw.voters),
            removed=len(draw.removed),
        )


class VoteStage:
    name = "vote"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        fed = federation_of(ctx)
        info = flock_round(state)
        cfg = ctx.config.voting
        previous = np.asarray(state.global_params, dtype=np.float32)
        candidate = previous if state.candidate is None else state.candidate
        malicious = run_malicious_mask(ctx.config)
        if len(info.voters):
            parts = ctx.backend.call("score_candidate", previous, candidate, info.voters)
            for part in parts:
                for h, c, p in zip(part["hospital_ids"], part["candidate"], part["previous"], strict=True):
                    info.scores[int(h)] = (float(c), float(p))
            voters = np.asarray(info.voters, dtype=np.int64)
            verdicts = np.array([vote_rule(*info.scores[int(h)], cfg.epsilon) for h in voters], dtype=bool)
            lying = malicious[voters] if "dishonest_voting" in active_attacks(ctx.config) else np.zeros(len(voters), bool)
            for h, vote in zip(voters, cast_votes(verdicts, lying), strict=True):
                info.votes[int(h)] = bool(vote)
            result = fed.vote(state.round, info.votes, cfg.mode)
            _keep(state, result.receipts)
        else:
            fed.close_voting(state.round)  # nobody can vote: settle after the window (a tie rejects)
        settled = fed.settle(state.round)
        _keep(state, settled.receipts)
        info.accepted = settled.accepted
        if not settled.accepted:
            state.candidate = previous
        tokens = np.array(fed.claimable(), dtype=np.int64)
        status = np.array([int(s) for s in fed.status()], dtype=np.int64)
        info.tokens, info.status = tokens, status
        record = state.record
        record.update(
            accepted=bool(settled.accepted), accepts=settled.accepts, rejects=settled.rejects,
            removed_total=int((status == int(Status.REMOVED)).sum()),
            candidate_score=_mean([info.scores[int(h)][0] for h in info.voters]),
            previous_score=_mean([info.scores[int(h)][1] for h in info.voters]),
        )
        record.update(token_summary(tokens, status, malicious, info.proposers, info.voters))
        updates = state.require_updates()
        state.hospital_columns.update(
            role=np.full(len(updates.hospital_ids), ROLE_PROPOSER, dtype=object),
            tokens=tokens[updates.hospital_ids],
        )


def token_summary(
    tokens: np.ndarray, status: np.ndarray, malicious: np.ndarray, proposers: np.ndarray, voters: np.ndarray
) -> dict[str, float]:
    """Average tokens (a removed hospital holds 0 in the system) and survival of honest and
    malicious hospitals, over all of them and over the round's proposers and voters."""
    alive = status != int(Status.REMOVED)
    held = np.where(alive, tokens, 0).astype(np.float64)
    out: dict[str, float] = {}
    for kind, mask in (("honest", ~malicious), ("malicious", malicious)):
        out[f"tokens_{kind}"] = _mean(held[mask])
        out[f"survival_{kind}"] = _mean(alive[mask].astype(np.float64))
        out[f"tokens_total_{kind}"] = float(tokens[mask].sum())
        for role, ids in (("proposers", proposers), ("voters", voters)):
            ids = np.asarray(ids, dtype=np.int64)
            out[f"tokens_{kind}_{role}"] = _mean(held[ids[mask[ids]]])
    return out


def flock_rows(state: RoundState, config: Config) -> dict[str, np.ndarray]:
    """The round's per-hospital rows of ``votes.parquet``: every hospital, its role this round,
    its vote (1 accept, −1 reject, 0 none), its scores, tokens, status and whether it is malicious."""
    info = flock_round(state)
    k = config.federation.hospitals
    role = np.full(k, ROLE_NONE, dtype=object)
    role[info.proposers] = ROLE_PROPOSER
    role[info.voters] = ROLE_VOTER
    role[info.removed] = "removed"
    vote = np.zeros(k, dtype=np.int64)
    score_candidate = np.full(k, np.nan)
    score_previous = np.full(k, np.nan)
    for h, v in info.votes.items():
        vote[h] = 1 if v else -1
    for h, (c, p) in info.scores.items():
        score_candidate[h], score_previous[h] = c, p
    return {
        "round": np.full(k, state.round, dtype=np.int64),
        "hospital": np.arange(k, dtype=np.int64),
        "role": role.astype(str),
        "vote": vote,
        "score_candidate": score_candidate,
        "score_previous": score_previous,
        "tokens": info.tokens if info.tokens is not None else np.zeros(k, dtype=np.int64),
        "status": info.status if info.status is not None else np.zeros(k, dtype=np.int64),
        "malicious": run_malicious_mask(config),
        "accepted": np.full(k, bool(info.accepted)),
    }


def _keep(state: RoundState, receipts: Iterable[Any]) -> None:
    """Count chain receipts in the round's gas and bytes (``TxReceipt`` is read-only, the
    state's ``Receipt`` protocol is structural)."""
    state.receipts.extend(receipts)


def _mean(values: object) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if len(arr) else float("nan")


def deploy_flock(chain: Chain, config: Config) -> Federation:
    """Deploy the FLock federation for ``config`` next to ``chain``'s ledger, with a
    :class:`~bflray.chain.meter.ChainMeter` attached (storage traced)."""
    cfg = config.voting
    plan = Plan(
        model_definition_hash=keccak(f"{config.model.name}:{config.model.hidden}:{config.data.dataset}".encode()),
        hyperparameters_hash=keccak(config.model_dump_json().encode()),
        epsilon=fixed(1), delta=fixed("1e-5"), rounds=config.experiment.rounds,
        cohort_size=cfg.proposers, committee_size=cfg.committee_size,
    )
    stakes = Stakes(
        proposer_stake=cfg.proposer_stake, voter_stake=cfg.voter_stake, proposer_reward=cfg.proposer_reward,
        voting_period=cfg.voting_period,
    )
    reputation = ReputationParams(fixed(0.5), fixed(cfg.epsilon), fixed(0.5), fixed(0.5), fixed(0.5), 3)
    meter = ChainMeter(rpc_for(chain.url))
    return deploy_federation(
        chain, hospitals=config.federation.hospitals, validators=cfg.validators, plan=plan, stakes=stakes,
        reputation_params=reputation, initial_tokens=cfg.initial_tokens, pool_tokens=cfg.pool_tokens, meter=meter,
    )
