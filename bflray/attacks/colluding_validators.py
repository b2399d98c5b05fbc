"""Colluding validators, a chain attack: a share η (``attack.malicious_fraction``) of the chain
validators, or ``voting.byzantine_validators`` of them when that is larger, attest one forged
model hash together whatever they find. Fewer than the ledger's quorum (⌈2n/3⌉ of the
validators) can never finalize it; at the quorum they finalize a record no honest validator
could reproduce."""

from __future__ import annotations

from bflray.attacks.registry import declare_attack

declare_attack(
    "colluding_validators", category="chain", summary="η of the validators attest one forged model hash together"
)


def colluding_count(*, validators: int, malicious_fraction: float, byzantine_validators: int) -> int:
    """How many validators (the first ones) collude."""
    return max(byzantine_validators, int(round(malicious_fraction * validators)))
