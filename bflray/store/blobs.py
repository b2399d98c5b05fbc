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

    def put(self, payload: bytes) -> bytes:
        """Store ``payload`` and return its keccak256; storing the same bytes twice is a no-op."""
        digest = keccak(payload)
        path = self.path_of(digest)
        if not path.exists():
            _write_atomic(path, payload)
        return digest

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


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
