"""A finished run directory read back: its config, summary and tables.

The layout and the Parquet schemas are documented in the README ("Run directory and Parquet
schemas"); :data:`SCHEMA_VERSION` is written into ``summary.json`` and changes whenever a
table loses or renames a column or changes a column's meaning (adding a column does not).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bflray.errors import StoreError
from bflray.store import read_rows

__all__ = ["SCHEMA_VERSION", "RunData", "load_run"]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RunData:
    """What a report needs of one run directory.

    Attributes
    ----------
    path:
        The run directory.
    config_text:
        ``config.toml`` as written (the resolved config).
    config:
        The same, parsed (not validated: an older run's config may predate today's keys).
    summary:
        ``summary.json``; empty for a run that did not finish.
    rounds:
        ``rounds.parquet``, one dict per round.
    chain:
        ``chain.parquet``, one dict per (round, contract, function); empty when absent.
    """

    path: Path
    config_text: str
    config: dict[str, Any]
    summary: dict[str, Any]
    rounds: list[dict[str, Any]]
    chain: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def pipeline(self) -> str:
        return str(self.config.get("experiment", {}).get("pipeline", "fedavg"))

    @property
    def hospitals(self) -> int:
        return int(self.config.get("federation", {}).get("hospitals", 0))

    def column(self, key: str) -> list[float]:
        """``key`` of every round as floats (NaN where absent or null)."""
        return [_number(r.get(key)) for r in self.rounds]

    def has(self, key: str) -> bool:
        return any(not math.isnan(v) for v in self.column(key))

    @property
    def round_numbers(self) -> list[int]:
        return [int(r["round"]) for r in self.rounds]

    @property
    def stages(self) -> list[str]:
        """Stage names in the order the rounds' ``seconds_<stage>`` columns list them."""
        keys = self.rounds[0].keys() if self.rounds else []
        return [k.removeprefix("seconds_") for k in keys if k.startswith("seconds_") and k != "seconds_total"]

    def state_bytes_by_round(self) -> dict[int, float]:
        """Net new storage-slot bytes per round from ``chain.parquet`` (``-1``: setup)."""
        out: dict[int, float] = {}
        for row in self.chain:
            new, freed = row.get("new_slots"), row.get("freed_slots")
            if new is None or freed is None:
                continue
            out[int(row["round"])] = out.get(int(row["round"]), 0.0) + 32.0 * (new - freed)
        return out


def load_run(path: str | Path) -> RunData:
    """Read the run directory ``path``; a :class:`StoreError` names what is missing."""
    import tomllib

    run = Path(path)
    if not (run / "rounds.parquet").is_file():
        raise StoreError(f"{str(run)!r} is not a run directory with rounds: no rounds.parquet there")
    try:
        config_text = (run / "config.toml").read_text(encoding="utf-8")
        config = tomllib.loads(config_text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise StoreError(f"cannot read the config of run {str(run)!r}: {exc}") from exc
    summary_path = run / "summary.json"
    summary: dict[str, Any] = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    rounds = read_rows(run / "rounds.parquet")
    chain = read_rows(run / "chain.parquet") if (run / "chain.parquet").is_file() else []
    return RunData(path=run, config_text=config_text, config=config, summary=summary, rounds=rounds, chain=chain)


def _number(value: Any) -> float:
    if value is None or isinstance(value, str):
        return float("nan")
    return float(value)
