"""Plain classes that actors host; each is usable without Ray."""

from __future__ import annotations

from bflray.config import Config
from bflray.roles.hospital_block import HospitalBlock, encode_payload
from bflray.roles.por_block import PoRHospitalBlock
from bflray.training.synthetic import SyntheticWorkload


def make_hospital_block(
    config: Config, first: int, stop: int, workload: SyntheticWorkload | None = None
) -> HospitalBlock:
    """The hospital role the configured pipeline needs, for hospitals ``first … stop-1``."""
    cls = PoRHospitalBlock if config.experiment.pipeline == "por" else HospitalBlock
    return cls(config, first, stop, workload)


__all__ = ["HospitalBlock", "PoRHospitalBlock", "encode_payload", "make_hospital_block"]
