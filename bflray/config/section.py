"""The base every config section shares: unknown keys refused, frozen, strictly typed, and
every float finite (TOML's ``nan`` and ``inf`` are numbers no key means)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, strict=True, allow_inf_nan=False)
