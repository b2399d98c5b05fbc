"""Off-chain content-addressed payload store: one file per payload, named by its keccak256.

Each round also gets a manifest listing which hospital submitted which payload, so the
on-chain Merkle root can be recomputed from the store alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_hash.auto import keccak

from bflray.errors import StoreError
from bflray.rundir import bytes_under


@dataclass(frozen=True)
class RoundManifest:
    """Which hospital committed which payload in a round, in leaf order."""

    round: int
    hospital_ids: tuple[int, ...]
    payload_hashes: tuple[bytes, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "round": self.round,
                "hospital_ids": list(self.hospital_ids),
                "payload_hashes": ["0x" + h.hex() for h in self.payload_hashes],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> RoundManifest:
        raw = json.loads(text)
        return cls(
            round=int(raw["round"]),
            hospital_ids=tuple(int(h) for h in raw["hospital_ids"]),
            payload_hashes=tuple(bytes.fromhex(h.removeprefix("0x")) for h in raw["payload_hashes"]),
        )


class BlobStore:
    """Payload files under ``root/payloads`` and round manifests under ``root/rounds``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        (self.root / "payloads").mkdir(parents=True, exist_ok=True)
        (self.root / "rounds").mkdir(parents=True, exist_ok=True)

    def path_of(self, payload_hash: bytes) -> Path:
        return self.root / "payloads" / payload_hash.hex()

    def put(self, payload: bytes, *, round_: int | None = None) -> bytes:
        """Store ``payload`` and return its keccak256; storing the same bytes twice is a no-op.

        ``round_`` ties a payload that no manifest lists (a round's global model) to its round,
        so :meth:`prune` knows when it may go."""
        digest = keccak(payload)
        path = self.path_of(digest)
        if not path.exists():
            _write_atomic(path, payload)
        if round_ is not None:
            refs = self._refs(round_)
            if digest not in refs:
                _write_atomic(self._refs_path(round_), json.dumps(["0x" + h.hex() for h in [*refs, digest]]).encode())
        return digest

    def prune(self, *, keep_rounds: int, latest: int) -> dict[str, int]:
        """Forget rounds ``≤ latest − keep_rounds``: their manifests, and every payload no kept
        round still lists (content addressing shares identical payloads between rounds). The
        rounds' Merkle roots and model hashes stay on chain; only the bytes go."""
        if keep_rounds < 1:
            raise ValueError(f"keep_rounds must be ≥ 1, got {keep_rounds}")
        cutoff = latest - keep_rounds
        old = sorted(r for r in self.rounds() if r <= cutoff)
        if not old:
            return {"rounds": 0, "payloads": 0, "bytes": 0}
        kept: set[bytes] = set()
        for r in self.rounds():
            if r > cutoff:
                kept.update(self._hashes_of(r))
        payloads = freed = 0
        for r in old:
            for digest in set(self._hashes_of(r)) - kept:
                path = self.path_of(digest)
                try:
                    size = path.stat().st_size
                    path.unlink()
                except FileNotFoundError:
                    continue
                payloads, freed = payloads + 1, freed + size
            self._manifest_path(r).unlink(missing_ok=True)
            self._refs_path(r).unlink(missing_ok=True)
        return {"rounds": len(old), "payloads": payloads, "bytes": freed}

    def rounds(self) -> list[int]:
        """The rounds the store holds a manifest or payload references for."""
        found = set()
        for path in (self.root / "rounds").glob("round-*"):
            stem = path.name.removeprefix("round-").split(".")[0]
            if stem.isdigit():
                found.add(int(stem))
        return sorted(found)

    def disk_bytes(self) -> int:
        """Bytes of every file in the store."""
        return bytes_under(self.root)

    def get(self, payload_hash: bytes, *, verify: bool = True) -> bytes:
        """The payload with this hash; with ``verify`` its bytes must still hash to it."""
        path = self.path_of(payload_hash)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise StoreError(f"payload 0x{payload_hash.hex()} is not in the store at {path}") from exc
        if verify and keccak(data) != payload_hash:
            raise StoreError(f"payload 0x{payload_hash.hex()} at {path} does not match its hash")
        return data

    def put_manifest(self, manifest: RoundManifest) -> Path:
        path = self._manifest_path(manifest.round)
        _write_atomic(path, manifest.to_json().encode())
        return path

    def get_manifest(self, round_: int) -> RoundManifest:
        path = self._manifest_path(round_)
        try:
            return RoundManifest.from_json(path.read_text())
        except FileNotFoundError as exc:
            raise StoreError(f"round {round_} has no manifest at {path}") from exc

    def size_bytes(self, hashes: Sequence[bytes]) -> int:
        return sum(self.path_of(h).stat().st_size for h in hashes)

    def _manifest_path(self, round_: int) -> Path:
        return self.root / "rounds" / f"round-{round_:06d}.json"

    def _refs_path(self, round_: int) -> Path:
        return self.root / "rounds" / f"round-{round_:06d}.refs.json"

    def _refs(self, round_: int) -> list[bytes]:
        try:
            raw = json.loads(self._refs_path(round_).read_text())
        except FileNotFoundError:
            return []
        return [bytes.fromhex(h.removeprefix("0x")) for h in raw]

    def _hashes_of(self, round_: int) -> list[bytes]:
        try:
            listed = list(self.get_manifest(round_).payload_hashes)
        except StoreError:
            listed = []
        return listed + self._refs(round_)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
