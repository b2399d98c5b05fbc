"""``ChainValidator``: the role that checks a round before it attests it (ARCHITECTURE, finalize).

A validator does not trust the coordinator's record. For the round it is asked about it

1. reads the round's manifest from the off-chain store and recomputes the Merkle root over
   ``keccak256(abi.encode(hospitalId, payloadHash))`` leaves;
2. re-reads every payload kept in the store and checks that its bytes still hash to the
   committed hash (under secure aggregation only the hashes are kept, and the root is
   recomputed from them);
3. checks that the published global model hashes to the claimed model hash;
4. in Proof-of-Reasoning rounds, re-validates a seeded sample of the EDI transactions (does
   each classifier reproduce its published outputs within ε?) and compares the outcome with
   the coordinator's published exclusions.

It attests the (root, model hash) pair it recomputed only when every check passed; otherwise
it refuses, with the reason. A Byzantine validator (``byzantine=True``) attests a wrong model
hash whatever it found; a minority of them can never finalize it (the ledger's quorum is
⌈2n/3⌉ of the validators registered when the round opened).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bflray.chain.merkle import EMPTY_ROUND_ROOT, keccak, leaf, merkle_root
from bflray.errors import StoreError
from bflray.seeding import Purpose, derive_rng
from bflray.store import BlobStore, RoundManifest

#: The model hash a Byzantine validator attests.
BYZANTINE_HASH = keccak(b"bflray: a Byzantine validator's model hash")


@dataclass(frozen=True)
class RoundClaim:
    """What the coordinator says a round produced."""

    round: int
    payload_root: bytes
    model_hash: bytes


@dataclass(frozen=True)
class PoRCheck:
    """What a validator needs to re-validate EDI transactions: the classifiers' logits
    function (``states, kappa -> logits``), ε and the number of classes."""

    logits: Callable[[Any, Any], Any]
    epsilon: float
    num_classes: int


@dataclass(frozen=True)
class Verdict:
    """A validator's finding for one round; ``attest`` is False when a check failed."""

    validator: int
    round: int
    payload_root: bytes
    model_hash: bytes
    attest: bool
    reason: str = ""


class ChainValidator:
    """Validator ``index``, reading the run's off-chain store at ``store_root``.

    Parameters
    ----------
    sample:
        PoR transactions re-validated per round (a seeded sample; all when fewer).
    seed:
        The run's seed: the sample is drawn by ``(seed, round, validator, COMMITTEE)``.
    """

    def __init__(
        self, index: int, store_root: str | Path, *, seed: int, sample: int = 8, por: PoRCheck | None = None,
        byzantine: bool = False,
    ) -> None:
        self.index = index
        self.store = BlobStore(store_root)
        self.seed = seed
        self.sample = sample
        self.por = por
        self.byzantine = byzantine

    def verify(self, claim: RoundClaim, *, excluded: tuple[int, ...] = ()) -> Verdict:
        """Check ``claim`` against the store; ``excluded``: hospitals the coordinator declared
        invalid this round (PoR)."""
        if self.byzantine:
            return Verdict(self.index, claim.round, claim.payload_root, BYZANTINE_HASH, attest=True)
        try:
            manifest = self.store.get_manifest(claim.round)
            root = self._recompute_root(manifest)
            if root != claim.payload_root:
                return self._refuse(claim, f"Merkle root recomputed from the store is 0x{root.hex()}, "
                                           f"the coordinator claims 0x{claim.payload_root.hex()}")  # fmt: skip
            self.store.get(claim.model_hash, verify=True)
            if self.por is not None:
                problem = self._recheck_por(self.por, manifest, excluded)
                if problem:
                    return self._refuse(claim, problem)
        except StoreError as exc:
            return self._refuse(claim, str(exc))
        return Verdict(self.index, claim.round, root, claim.model_hash, attest=True)

    def _recompute_root(self, manifest: RoundManifest) -> bytes:
        for payload_hash in manifest.payload_hashes:
            if self.store.path_of(payload_hash).exists():  # kept in the clear: its bytes must match
                self.store.get(payload_hash, verify=True)
        leaves = [leaf(h, p) for h, p in zip(manifest.hospital_ids, manifest.payload_hashes, strict=True)]
        return merkle_root(leaves) if leaves else EMPTY_ROUND_ROOT

    def _recheck_por(self, por: PoRCheck, manifest: RoundManifest, excluded: tuple[int, ...]) -> str:
        from bflray.por.edi import EDITransaction
        from bflray.por.validation import validate_transactions

        round_ = manifest.round
        n = len(manifest.hospital_ids)
        if n == 0:
            return ""
        rng = derive_rng(self.seed, round_, self.index, Purpose.COMMITTEE)
        picks = np.sort(rng.choice(n, size=min(self.sample, n), replace=False))
        txs = [EDITransaction.decode(self.store.get(manifest.payload_hashes[i])) for i in picks]
        result = validate_transactions(txs, por.logits, epsilon=por.epsilon, num_classes=por.num_classes)
        declared = set(excluded)
        for i, ok, reason in zip(picks, result.valid, result.reasons, strict=True):
            hospital = manifest.hospital_ids[i]
            if bool(ok) == (hospital in declared):
                verdict = "valid" if ok else f"invalid ({reason})"
                said = "excluded" if hospital in declared else "kept"
                return f"round {round_}: hospital {hospital}'s EDI transaction is {verdict}, but the coordinator {said} it"
        return ""

    def _refuse(self, claim: RoundClaim, reason: str) -> Verdict:
        return Verdict(self.index, claim.round, bytes(32), bytes(32), attest=False, reason=reason)
