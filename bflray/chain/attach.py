"""Attach to a federation already deployed on a chain (a resumed run), sending no transaction.

:func:`attach_federation` builds the same :class:`~bflray.chain.federation.Federation` that
:func:`~bflray.chain.federation.deploy_federation` returned when the run started, from the
contracts' addresses: the keys are derived again from the chain's mnemonic, the plan and the
stakes are read from the chain, and the accounts already given ether are named by the caller
(the checkpoint keeps them), so none is funded twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from bflray.chain.binding import rpc_for
from bflray.chain.bulk import BulkSender
from bflray.chain.federation import AccountLayout, Federation
from bflray.chain.keys import derive_keys
from bflray.chain.ledger import FederationLedger
from bflray.chain.meter import ChainMeter
from bflray.chain.registry import Registry
from bflray.chain.reputation import Reputation
from bflray.chain.token import StakeToken
from bflray.chain.voting import StakeVoting
from bflray.errors import ChainError

if TYPE_CHECKING:
    from bflray.chain.client import Chain

__all__ = ["attach_federation", "funded_accounts", "ledger_address"]


def attach_federation(
    chain: Chain,
    addresses: Mapping[str, str],
    *,
    hospitals: int,
    validators: int,
    funded: Sequence[str] = (),
    task_id: int = 1,
    layout: AccountLayout | None = None,
    meter: ChainMeter | None = None,
) -> Federation:
    """The federation whose contracts are at ``addresses`` (by contract name), on ``chain``.

    Parameters
    ----------
    hospitals, validators:
        How many the run registered; checked against the registry.
    funded:
        Accounts already given ether (:func:`funded_accounts` of the federation when it was saved).
    meter:
        Attached to every binding, as at deployment.

    Raises
    ------
    ChainError
        If a contract is missing from ``addresses`` or the registry lists other numbers.
    """
    names = [c.contract_name for c in (Registry, StakeToken, StakeVoting, Reputation)]
    missing = [name for name in names if name not in addresses]
    if missing:
        raise ChainError(f"cannot attach to the federation: no address for {', '.join(missing)}")
    layout = layout or AccountLayout()
    signer = chain.signer
    registry = Registry(signer, addresses[Registry.contract_name])
    voting = StakeVoting(signer, addresses[StakeVoting.contract_name])
    listed, listed_validators = registry.hospital_count(), registry.validator_count()
    if (listed, listed_validators) != (hospitals, validators):
        raise ChainError(
            f"the registry at {registry.address} lists {listed} hospitals and {listed_validators} validators, "
            f"the run {hospitals} and {validators}"
        )
    mnemonic = chain.config.mnemonic
    hospital_keys = derive_keys(mnemonic, [layout.hospital(h) for h in range(hospitals)])
    validator_keys = derive_keys(mnemonic, [layout.validator(v) for v in range(validators)])
    (relayer,) = derive_keys(mnemonic, [layout.relayer])
    federation = Federation(
        chain=chain,
        ledger=chain.ledger,
        registry=registry,
        token=StakeToken(signer, addresses[StakeToken.contract_name]),
        voting=voting,
        reputation=Reputation(signer, addresses[Reputation.contract_name]),
        task_id=task_id,
        plan=chain.ledger.plan(task_id),
        stakes=voting.stakes(),
        hospitals=tuple(k.address for k in hospital_keys),
        validators=tuple(validator_keys),
        relayer=relayer,
        sender=BulkSender(
            rpc_for(chain.url), chain.web3.eth.chain_id, receipt_timeout_s=max(chain.config.timeout_s, 120.0)
        ),
        layout=layout,
    )
    federation.attach_meter(meter)
    names = [b.contract_name for b in federation.bindings]
    for binding in federation.bindings:
        binding.decode_errors_of(*(n for n in names if n != binding.contract_name))
    federation._funded.update(funded)  # noqa: SLF001 - the saved half of the federation's own bookkeeping
    return federation


def funded_accounts(federation: Federation) -> list[str]:
    """The accounts ``federation`` has given ether to, sorted (what :func:`attach_federation` takes back)."""
    return sorted(federation._funded)  # noqa: SLF001


def ledger_address(addresses: Mapping[str, str]) -> str:
    """The ledger's address among a run's contract addresses."""
    try:
        return addresses[FederationLedger.contract_name]
    except KeyError as exc:
        raise ChainError(f"the run's chain.json names no {FederationLedger.contract_name}") from exc

