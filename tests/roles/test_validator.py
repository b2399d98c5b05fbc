"""ChainValidator without a chain: it attests only what it recomputed from the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bflray.chain.merkle import keccak, leaf, merkle_root
from bflray.models.por_head import PoRHeadSpec
from bflray.models.por_stacked import PoRHeadStacked
from bflray.por import EDITransaction
from bflray.roles.validator import BYZANTINE_HASH, ChainValidator, PoRCheck, RoundClaim
from bflray.store import BlobStore, RoundManifest

MODEL = b"the global model"


def _commit(root: Path, payloads: list[bytes], round_: int = 1) -> RoundClaim:
    store = BlobStore(root)
    hashes = [store.put(p) for p in payloads]
    ids = tuple(range(10, 10 + len(payloads)))
    store.put_manifest(RoundManifest(round_, ids, tuple(hashes)))
    return RoundClaim(round_, merkle_root([leaf(h, p) for h, p in zip(ids, hashes, strict=True)]), store.put(MODEL))


def test_an_honest_round_is_attested_with_the_recomputed_pair(tmp_path: Path) -> None:
    claim = _commit(tmp_path, [b"a", b"bb", b"ccc"])
    verdict = ChainValidator(0, tmp_path, seed=0).verify(claim)
    assert verdict.attest and (verdict.payload_root, verdict.model_hash) == (claim.payload_root, claim.model_hash)


def test_a_payload_swapped_in_the_store_is_refused(tmp_path: Path) -> None:
    claim = _commit(tmp_path, [b"a", b"bb", b"ccc"])
    store = BlobStore(tmp_path)
    store.path_of(keccak(b"bb")).write_bytes(b"BB")
    verdict = ChainValidator(1, tmp_path, seed=0).verify(claim)
    assert not verdict.attest and "does not match its hash" in verdict.reason


def test_a_root_or_model_the_store_does_not_back_is_refused(tmp_path: Path) -> None:
    claim = _commit(tmp_path, [b"a", b"bb"])
    wrong_root = RoundClaim(1, keccak(b"another root"), claim.model_hash)
    wrong_model = RoundClaim(1, claim.payload_root, keccak(b"a model nobody published"))
    validator = ChainValidator(0, tmp_path, seed=0)
    assert "Merkle root recomputed from the store" in validator.verify(wrong_root).reason
    assert "is not in the store" in validator.verify(wrong_model).reason


def test_a_byzantine_validator_attests_a_wrong_model_hash(tmp_path: Path) -> None:
    claim = _commit(tmp_path, [b"a"])
    verdict = ChainValidator(2, tmp_path, seed=0, byzantine=True).verify(claim)
    assert verdict.attest and verdict.model_hash == BYZANTINE_HASH != claim.model_hash


@pytest.fixture
def head() -> PoRHeadStacked:
    return PoRHeadStacked(PoRHeadSpec(width=16, tokens=4, num_outputs=3, hidden=(8,)))


def _edi(head: PoRHeadStacked, hospital: int, *, forged: bool) -> bytes:
    rng = np.random.default_rng(hospital)
    state = head.init(rng)
    kappa = rng.normal(size=(1, 4, 16)).astype(np.float32)
    with torch.no_grad():
        out = torch.softmax(head.logits(torch.from_numpy(state)[None], torch.from_numpy(kappa)[None]), -1)[0].numpy()
    if forged:
        out = out[:, ::-1].copy()
    return EDITransaction(1, hospital, state, kappa, out, np.array([1])).encode()


def test_por_validations_the_coordinator_misreported_are_refused(tmp_path: Path, head: PoRHeadStacked) -> None:
    claim = _commit(tmp_path, [_edi(head, h, forged=h == 1) for h in range(4)])
    check = PoRCheck(head.logits, 1e-4, 3)
    validator = ChainValidator(0, tmp_path, seed=0, sample=4, por=check)
    assert validator.verify(claim, excluded=(11,)).attest  # hospital 11 (the forged one) was excluded
    refused = validator.verify(claim, excluded=())
    assert not refused.attest and "hospital 11's EDI transaction is invalid" in refused.reason
    wrongly = validator.verify(claim, excluded=(11, 12))
    assert not wrongly.attest and "hospital 12's EDI transaction is valid, but the coordinator excluded it" in wrongly.reason
