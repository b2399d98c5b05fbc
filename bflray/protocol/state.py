"""What a round's stages share: the run's tools (:class:`RunContext`) and the round's
evolving state (:class:`RoundState`), which each stage reads and extends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from bflray.config import Config
from bflray.metrics import RunMetrics
from bflray.models import StackedModel
from bflray.protocol.backend import Backend
from bflray.protocol.cohort import Cohort
from bflray.roles.messages import RoundPlan, TrainResult
from bflray.store import BlobStore


class Receipt(Protocol):
    @property
    def gas_used(self) -> int: ...
    @property
    def calldata_bytes(self) -> int: ...
    @property
    def log_bytes(self) -> int: ...
    @property
    def tx_hash(self) -> str: ...


class Ledger(Protocol):
    """What the pipeline needs of the ledger contract's binding."""

    def record_round(self, round_: int, /, payload_root: bytes, model_hash: bytes) -> Receipt: ...


@dataclass(frozen=True)
class HeldOutSet:
    """The test split the global model is scored on."""

    features: np.ndarray
    labels: np.ndarray
    image_shape: tuple[int, int, int] | None = None  # (channels, side, side) when the features are images


@dataclass(frozen=True)
class RunContext:
    """The run's tools, the same for every round."""

    config: Config
    backend: Backend
    ledger: Ledger
    store: BlobStore
    metrics: RunMetrics
    model: StackedModel
    test_set: HeldOutSet
    federation: Any = None  # the deployed federation (bflray.chain.Federation): flock, smpc, dp_bfl
    secure: Any = None  # the aggregation nodes (bflray.protocol.secure.SecureAggregation) when aggregation.secure
    accountant: Any = None  # the run's privacy accountant (bflray.privacy.PrivacyAccountant) with a budget
    validation_set: HeldOutSet | None = None  # the coordinator's validation split (dp_bfl contributions)
    validators: list[Any] = field(default_factory=list)  # the chain validators (bflray.roles.validator), hosted
    memory: dict[str, Any] = field(default_factory=dict)  # what a stage carries to the next round


@dataclass
class RoundState:
    """One round as it moves through the stages.

    ``record`` collects the round's row of ``rounds.parquet``; ``hospital_columns`` the
    per-hospital columns of ``hospitals.parquet`` (arrays aligned with ``updates.hospital_ids``).
    """

    round: int
    global_params: np.ndarray
    cohort: Cohort | None = None
    plan: RoundPlan | None = None
    updates: TrainResult | None = None
    weights: np.ndarray | None = None
    transactions: list[Any] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    payload_hashes: list[bytes] = field(default_factory=list)
    payload_root: bytes = bytes(32)
    candidate: np.ndarray | None = None
    model_hash: bytes = bytes(32)
    receipts: list[Receipt] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)
    hospital_columns: dict[str, np.ndarray] = field(default_factory=dict)
    statuses: np.ndarray | None = None  # every hospital's registry status, read once per round (chain pipelines)
    faults: list[dict[str, Any]] = field(default_factory=list)  # hosts that died this round (backend.take_faults)
    rejected_updates: Any = None  # the screen's RejectedUpdates (bflray.protocol.stages.screen)

    def registry_statuses(self, federation: Any) -> np.ndarray:
        """Every hospital's registry status this round, read from chain on first use."""
        if self.statuses is None:
            self.statuses = np.asarray(federation.status(), dtype=np.int64)
        return self.statuses

    def require_updates(self) -> TrainResult:
        if self.updates is None:
            raise RuntimeError(f"round {self.round}: a stage needs the updates, but no train stage ran before it")
        return self.updates
