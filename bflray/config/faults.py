"""Faults injected on purpose, to study (and test) how a run survives them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from bflray.config.section import Section as _Section


class FaultsConfig(_Section):
    """A hospital shard's process exits in the middle of a call, as a crashed host would.

    The driver decides (so a restarted shard does not crash again): in every round listed in
    ``shard_crash_rounds`` the shard ``shard_crash_index`` exits (``os._exit``) as soon as the
    ``shard_crash_method`` call reaches it, while the other shards work. Ray backend only.
    """

    shard_crash_rounds: tuple[int, ...] = Field((), description="rounds in which a shard's process exits mid-call")
    shard_crash_index: int = Field(0, ge=0, description="which shard (0-based, in hospital order)")
    shard_crash_method: Literal["train", "train_reduce", "full_gradient", "score_candidate", "evaluate_global"] = (
        "train"
    )

    @field_validator("shard_crash_rounds", mode="before")
    @classmethod
    def _rounds_tuple(cls, value: object) -> object:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("shard_crash_rounds")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        bad = [r for r in value if r < 1]
        if bad:
            raise ValueError(f"rounds start at 1; got {bad}")
        return value
