"""What a pipeline needs besides the hospitals, set up once per run: the federation's
contracts, the secure aggregation nodes, the privacy accountant and budget, and the
coordinator's validation split."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bflray.attacks import active_attacks
from bflray.attacks.colluding_validators import colluding_count
from bflray.chain.binding import rpc_for
from bflray.chain.client import Chain
from bflray.chain.federation import Federation, deploy_federation
from bflray.chain.merkle import keccak
from bflray.chain.meter import ChainMeter
from bflray.chain.params import ONE, Plan, ReputationParams, Stakes, fixed
from bflray.config import Config
from bflray.privacy import PrivacyAccountant, PrivacyBudget
from bflray.protocol.backend import Backend
from bflray.protocol.secure import SecureAggregation
from bflray.protocol.stages.basic import round_target
from bflray.protocol.stages.privacy import make_accountant
from bflray.protocol.stages.voting import deploy_flock
from bflray.roles.validator import ChainValidator, PoRCheck
from bflray.seeding import FEDERATION, Purpose, derive_rng

#: Pipelines whose rounds need the federation's contracts (registry with validators, staking,
#: reputation); fedavg uses the ledger alone.
CHAIN_PIPELINES = ("flock", "smpc", "dp_bfl", "por")


def deploy_for_pipeline(chain: Chain, config: Config) -> Federation | None:
    """Deploy the federation the pipeline needs, with a storage-tracing meter; ``None`` for
    pipelines that use the ledger alone."""
    pipeline = config.experiment.pipeline
    if pipeline == "flock":
        return deploy_flock(chain, config)
    if pipeline not in CHAIN_PIPELINES:
        return None
    privacy, rep = config.privacy, config.reputation
    plan = Plan(
        model_definition_hash=keccak(f"{config.model.name}:{config.model.hidden}:{config.data.dataset}".encode()),
        hyperparameters_hash=keccak(config.model_dump_json().encode()),
        epsilon=fixed(privacy.epsilon), delta=fixed(privacy.delta), rounds=config.experiment.rounds,
        cohort_size=round_target(config), committee_size=1,
    )
    reputation = ReputationParams(
        fixed(rep.alpha), fixed(rep.tolerance), fixed(rep.reputation_cut), fixed(rep.weight_cut), fixed(rep.initial),
        rep.max_strikes,
    )
    pool = config.rewards.pool_tokens if pipeline == "dp_bfl" else 0
    return deploy_federation(
        chain, hospitals=config.federation.hospitals, validators=config.voting.validators, plan=plan,
        stakes=Stakes(proposer_stake=1, voter_stake=1, proposer_reward=0, voting_period=1), reputation_params=reputation,
        initial_tokens=0, pool_tokens=pool, meter=ChainMeter(rpc_for(chain.url)),
    )


def privacy_accountant(
    config: Config, federation: Federation | None
) -> tuple[PrivacyAccountant, PrivacyBudget | None] | None:
    """The run's accountant, with the budget of the on-chain FL plan when there is one."""
    made = make_accountant(config)
    if made is None or federation is None:
        return made
    plan = federation.ledger.plan(federation.task_id)
    budget = PrivacyBudget(plan.epsilon / ONE, plan.delta / ONE) if plan.epsilon > 0 else None
    return made[0], budget


def secure_aggregation(config: Config, backend: Backend, num_params: int) -> SecureAggregation | None:
    """The aggregation nodes, when ``aggregation.secure`` asks for them."""
    if config.aggregation.secure == "none":
        return None
    return SecureAggregation(config, backend, num_params=num_params)


def split_validation(config: Config, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The held-out indices split into the coordinator's validation part and the test part
    (dp_bfl; other pipelines keep the whole split for testing)."""
    if config.experiment.pipeline != "dp_bfl":
        return np.empty(0, dtype=test.dtype), test
    order = derive_rng(config.experiment.seed, 0, FEDERATION, Purpose.VALIDATION).permutation(len(test))
    cut = int(round(config.rewards.validation_fraction * len(test)))
    return np.sort(test[order[:cut]]), np.sort(test[order[cut:]])


def privacy_state(accountant: tuple[PrivacyAccountant, PrivacyBudget | None], config: Config) -> dict[str, object]:
    """``privacy.json``: the accountant's ledger (to resume from), the budget and the ε spent."""
    ledger, budget = accountant
    delta = config.privacy.delta
    return {
        "accountant": ledger.to_dict(),
        "budget": None if budget is None else {"epsilon": budget.epsilon, "delta": budget.delta},
        "spent": {"epsilon": ledger.spent(delta), "delta": delta},
    }


def chain_validators(config: Config, backend: Backend, store_root: Path, model: Any) -> list[Any]:
    """The run's chain validators (``voting.validators`` of them, the first
    ``voting.byzantine_validators`` Byzantine, or η of them under the ``colluding_validators``
    attack), hosted by the backend; none without a federation."""
    if config.experiment.pipeline not in CHAIN_PIPELINES:
        return []
    por = None
    if config.experiment.pipeline == "por":
        por = PoRCheck(model.logits, config.por.epsilon, model.spec.num_outputs)
    byzantine = config.voting.byzantine_validators
    if "colluding_validators" in active_attacks(config):
        byzantine = colluding_count(validators=config.voting.validators,
                                    malicious_fraction=config.attack.malicious_fraction, byzantine_validators=byzantine)
    factories = [
        partial(ChainValidator, v, store_root, seed=config.experiment.seed, sample=config.voting.validator_sample,
                por=por, byzantine=v < byzantine)
        for v in range(config.voting.validators)
    ]  # fmt: skip
    return backend.host_roles("chain_validator", factories)
