"""Typed binding of ``contracts/StakeToken.sol``: the ERC20 hospitals stake (FLock's tokens).

Reverts come back as :class:`~bflray.errors.ContractRevertError`, e.g.
``OwnableUnauthorizedAccount(account=0x...)`` for a mint by another account, or OpenZeppelin's
``ERC20InsufficientBalance(sender=0x..., balance=3, needed=8)``.
"""

from __future__ import annotations

from bflray.chain.binding import ContractBinding
from bflray.chain.transactions import TxReceipt

__all__ = ["StakeToken"]


class StakeToken(ContractBinding):
    """The stake token. Only its owner (the deployer) mints. Amounts are in its smallest unit."""

    contract_name = "StakeToken"

    def mint(self, to: str, amount: int) -> TxReceipt:
        """Mint ``amount`` to ``to`` (owner only)."""
        return self._transact("mint", to, amount)

    def approve(self, spender: str, amount: int) -> TxReceipt:
        """Let ``spender`` take up to ``amount`` of the signer's tokens."""
        return self._transact("approve", spender, amount)

    def transfer(self, to: str, amount: int) -> TxReceipt:
        """Send ``amount`` of the signer's tokens to ``to``."""
        return self._transact("transfer", to, amount)

    def balance_of(self, account: str) -> int:
        """``account``'s token balance."""
        return int(self._call("balanceOf", account))

    def allowance(self, owner: str, spender: str) -> int:
        """What ``spender`` may still take from ``owner``."""
        return int(self._call("allowance", owner, spender))

    def total_supply(self) -> int:
        """Tokens in existence."""
        return int(self._call("totalSupply"))

    def owner(self) -> str:
        """The account allowed to mint."""
        return str(self._call("owner"))
