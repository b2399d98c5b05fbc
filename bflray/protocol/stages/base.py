"""The stage interface."""

from __future__ import annotations

from typing import Protocol

from bflray.protocol.state import RoundState, RunContext


class Stage(Protocol):
    """A named step of a round; reads and extends ``state``."""

    name: str

    def __call__(self, state: RoundState, ctx: RunContext) -> None: ...
