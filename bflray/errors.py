"""Error hierarchy: one root, domain subclasses that also inherit the matching builtin.

Callers may catch either the bflray class or the builtin (``except ValueError`` still
catches a :class:`ConfigError`). Messages carry the offending values.
"""

from __future__ import annotations


class BflrayError(Exception):
    """Root of every error bflray raises on purpose."""


class ConfigError(BflrayError, ValueError):
    """An experiment configuration is malformed, out of range or contradictory."""


class DataError(BflrayError, ValueError):
    """A dataset is missing, corrupt or cannot be partitioned as asked."""


class ChainError(BflrayError, RuntimeError):
    """The chain node or a contract call failed."""


class ChainUnavailableError(ChainError, ConnectionError):
    """The chain node did not start or did not answer within the configured timeout."""


class ContractRevertError(ChainError):
    """A contract call reverted with a custom error, decoded into its name and arguments.

    Attributes
    ----------
    error_name:
        The Solidity custom error's name, e.g. ``"RoundAlreadyRecorded"``.
    values:
        The error's arguments, by parameter name, in declaration order.
    """

    def __init__(self, error_name: str, values: dict[str, object], *, contract: str = "") -> None:
        self.error_name = error_name
        self.values = dict(values)
        self.contract = contract
        args = ", ".join(f"{k}={_show(v)}" for k, v in self.values.items())
        where = f"{contract}: " if contract else ""
        super().__init__(f"{where}reverted with {error_name}({args})")


class StoreError(BflrayError, OSError):
    """The off-chain store or a run directory is inconsistent or cannot be written."""


class BackendError(BflrayError, RuntimeError):
    """A simulation backend (in-process or Ray) failed to host or reach a role."""


def _show(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return repr(value)
