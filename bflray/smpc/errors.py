"""Errors of the secret-sharing layer; each also inherits the matching builtin."""

from __future__ import annotations

from bflray.errors import BflrayError


class SmpcError(BflrayError, ValueError):
    """A secret-sharing computation was asked something it cannot do safely."""


class EncodingOverflowError(SmpcError):
    """A value, or a sum of values, does not fit the field without wrapping."""


class ReconstructionError(SmpcError):
    """Too few, duplicate or inconsistent shares to reconstruct a secret."""
