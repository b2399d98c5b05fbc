"""The chain a run uses: a node (started or reached), a signer, and the deployed contracts.

``Chain.open(config)`` starts anvil when ``config.url`` is empty, else connects to the node
there; derives the deployer (account 0 of ``config.mnemonic``, signing locally); and deploys
the contracts from the artifacts shipped in the package; or, resuming a run, starts anvil
with a saved chain state and attaches to the ledger already deployed there. Leaving its
``with`` block, or :meth:`Chain.close`, stops an anvil it started, whether the block
succeeded or raised.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from web3 import Web3

from bflray.chain.anvil import AnvilNode, connect, start_anvil
from bflray.chain.ledger import FederationLedger
from bflray.chain.transactions import Signer, TxReceipt, derive_account
from bflray.config.schema import ChainConfig
from bflray.errors import ChainError

__all__ = ["Chain"]

_MIN_RECEIPT_TIMEOUT_S = 60.0


class Chain:
    """A connected chain with bflray's contracts deployed. Make one with :meth:`open`.

    Attributes
    ----------
    config:
        The chain section it was opened with.
    url:
        The node's JSON-RPC endpoint.
    web3:
        A ``Web3`` connected to it.
    node:
        The anvil this chain started, or ``None`` for an existing node.
    signer:
        Signs and sends as the deployer.
    ledger:
        The deployed ``FederationLedger``, owned by the deployer.
    deployments:
        The receipt of each contract's deployment, by contract name.
    """

    def __init__(
        self,
        config: ChainConfig,
        web3: Web3,
        signer: Signer,
        node: AnvilNode | None,
        url: str,
        *,
        ledger_address: str | None = None,
    ) -> None:
        self.config = config
        self.web3 = web3
        self.signer = signer
        self.node = node
        self.url = url
        self.deployments: dict[str, TxReceipt] = {}
        if ledger_address is None:
            self.ledger, receipt = FederationLedger.deploy(signer, signer.address)
            self.deployments[FederationLedger.contract_name] = receipt
        else:
            if not web3.eth.get_code(Web3.to_checksum_address(ledger_address)):
                raise ChainError(f"no contract at {ledger_address} on {url}: the run's FederationLedger is not there")
            self.ledger = FederationLedger(signer, ledger_address)

    @classmethod
    def open(
        cls,
        config: ChainConfig,
        log_path: Path | None = None,
        *,
        state: bytes | None = None,
        ledger_address: str | None = None,
    ) -> Chain:
        """Start or reach the node, derive the deployer and deploy the contracts (or attach to them).

        Parameters
        ----------
        config:
            The run's chain section.
        log_path:
            Where a started anvil's output goes; discarded if ``None`` (unused for ``config.url``).
        state:
            A saved chain (:meth:`AnvilNode.dump_state`) for the anvil to start from; not with ``config.url``.
        ledger_address:
            Attach to the ledger deployed there instead of deploying one.

        Returns
        -------
        Chain
            Use it as a context manager, or call :meth:`close`.

        Raises
        ------
        ChainUnavailableError
            If the node does not start or answer within ``config.timeout_s``.
        ChainError
            If anvil is missing, the mnemonic is invalid, or a deployment fails.
        """
        if state is not None and config.url:
            raise ChainError(f"a saved chain state loads only into an anvil bflray starts, not into {config.url}")
        node: AnvilNode | None = None
        try:
            if config.url:
                url = config.url
            else:
                node = start_anvil(config, log_path=log_path, state=state)
                url = node.url
            web3 = connect(url, config.timeout_s)
            signer = Signer(
                web3,
                derive_account(config.mnemonic, 0),
                receipt_timeout_s=max(config.timeout_s, _MIN_RECEIPT_TIMEOUT_S),
            )
            return cls(config, web3, signer, node, url, ledger_address=ledger_address)
        except BaseException:
            if node is not None:
                node.stop()
            raise

    @property
    def addresses(self) -> dict[str, str]:
        """The deployed contracts' checksum addresses, by contract name."""
        return {FederationLedger.contract_name: self.ledger.address}

    @property
    def deployer(self) -> str:
        """The deployer's (and ledger owner's) checksum address."""
        return self.signer.address

    def close(self) -> None:
        """Stop the anvil this chain started, if any. Idempotent."""
        if self.node is not None:
            self.node.stop()

    def __enter__(self) -> Chain:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Chain(url={self.url!r}, addresses={self.addresses!r})"
