"""Compiled contract artifacts: build them with forge, ship them in the package, check them.

``python -m bflray.chain.artifacts build`` runs ``forge build`` (the repository's pinned
Foundry, compiling with solc-js through ``tools/solc``) and writes one JSON file per deployable
contract under ``contracts/`` (tests and scripts excluded) to ``bflray/chain/artifacts/``. An
installed package reads those files with :func:`load_artifact` and needs neither node nor solc.

Each artifact carries the *source hash* of its sources, compiler pin and bytecode settings
(see :mod:`bflray.chain.source_hash`). :func:`check_artifacts` recomputes it from the files
alone, without compiling, so a stale artifact is caught on a machine without node
(``python -m bflray.chain.artifacts check``).
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from bflray.chain._tools import find_tool, repo_root, tool_version
from bflray.chain.source_hash import declared_contracts, deployable_sources, foundry_profile, source_hash
from bflray.errors import ChainError

__all__ = [
    "Artifact",
    "artifact_versions",
    "build_artifacts",
    "check_artifacts",
    "load_artifact",
    "shipped_contracts",
]

_DEFAULT_ARTIFACT_DIR = Path(__file__).resolve().parent / "artifacts"
_FORGE_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Artifact:
    """One compiled contract as shipped in the package.

    Attributes
    ----------
    contract_name:
        The Solidity contract's name.
    abi:
        The ABI entries (functions, events, errors).
    bytecode:
        Creation bytecode, ``0x``-prefixed hex.
    deployed_bytecode:
        Runtime bytecode, ``0x``-prefixed hex.
    source_hash:
        The source hash (see the module docstring) the artifact was built from.
    solc_version:
        The compiler that built it, e.g. ``"0.8.37+commit.f401782d"``.
    source_path:
        The contract's source file, relative to the repository root.
    foundry_version:
        The forge that drove the build, e.g. ``"1.7.1"``.
    """

    contract_name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: str
    deployed_bytecode: str
    source_hash: str
    solc_version: str
    source_path: str
    foundry_version: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Artifact:
        """Build an artifact from its shipped JSON object."""
        return cls(
            contract_name=data["contractName"],
            abi=tuple(data["abi"]),
            bytecode=data["bytecode"],
            deployed_bytecode=data["deployedBytecode"],
            source_hash=data["sourceHash"],
            solc_version=data["solcVersion"],
            source_path=data["sourcePath"],
            foundry_version=data["foundryVersion"],
        )

    def to_json(self) -> dict[str, Any]:
        """The shipped JSON object."""
        return {
            "contractName": self.contract_name,
            "sourcePath": self.source_path,
            "sourceHash": self.source_hash,
            "solcVersion": self.solc_version,
            "foundryVersion": self.foundry_version,
            "abi": list(self.abi),
            "bytecode": self.bytecode,
            "deployedBytecode": self.deployed_bytecode,
        }


# ---------------------------------------------------------------------------- loading


def shipped_contracts() -> list[str]:
    """Names of the contracts whose artifacts this package ships, sorted."""
    folder = resources.files("bflray.chain").joinpath("artifacts")
    if not folder.is_dir():
        return []
    return sorted(entry.name[: -len(".json")] for entry in folder.iterdir() if entry.name.endswith(".json"))


@functools.cache
def load_artifact(name: str) -> Artifact:
    """Read a shipped artifact by contract name.

    Parameters
    ----------
    name:
        The contract's name, e.g. ``"FederationLedger"``.

    Raises
    ------
    ChainError
        If the package ships no artifact of that name (the message lists those it ships).
    """
    entry = resources.files("bflray.chain").joinpath("artifacts", f"{name}.json")
    if not entry.is_file():
        raise ChainError(
            f"no shipped artifact for contract {name!r}; shipped: {shipped_contracts()} "
            f"(build them with `python -m bflray.chain.artifacts build`)"
        )
    return Artifact.from_json(json.loads(entry.read_text(encoding="utf-8")))


def artifact_versions() -> dict[str, str]:
    """The compiler and Foundry versions that built the shipped artifacts.

    Returns
    -------
    dict[str, str]
        ``{"solc": ..., "foundry": ...}``; several versions are joined with ``", "``.
    """
    artifacts = [load_artifact(name) for name in shipped_contracts()]
    if not artifacts:
        raise ChainError("this package ships no contract artifacts")
    return {
        "solc": ", ".join(sorted({a.solc_version for a in artifacts})),
        "foundry": ", ".join(sorted({a.foundry_version for a in artifacts})),
    }


# ---------------------------------------------------------------------------- checking


def check_artifacts(root: Path | None = None, *, artifact_dir: Path | None = None) -> list[str]:
    """Contracts whose shipped artifact is missing or no longer matches its sources.

    Compiles nothing: recomputes each source hash from the files (see the module docstring).

    Parameters
    ----------
    root:
        The repository root; by default the checkout this package sits in.
    artifact_dir:
        Where the artifacts are; by default ``bflray/chain/artifacts`` of this package.

    Returns
    -------
    list[str]
        Sorted contract names; empty when every artifact is current.
    """
    root = (root or repo_root()).resolve()
    artifact_dir = artifact_dir or _DEFAULT_ARTIFACT_DIR
    stale: set[str] = set()
    shipped: dict[str, Artifact] = {}
    for path in sorted(artifact_dir.glob("*.json")):
        artifact = Artifact.from_json(json.loads(path.read_text(encoding="utf-8")))
        shipped[artifact.contract_name] = artifact
    expected = {name: src for src in deployable_sources(root) for name in declared_contracts(src)}
    stale.update(name for name in expected if name not in shipped)
    for name, artifact in shipped.items():
        source = root / artifact.source_path
        if name not in expected or not source.is_file() or source_hash(source, root) != artifact.source_hash:
            stale.add(name)
    return sorted(stale)


# ---------------------------------------------------------------------------- building


def _run_forge_build(root: Path) -> None:
    forge = find_tool("forge")
    command = [str(forge), "build", "--root", str(root)]
    try:
        result = subprocess.run(
            command, cwd=root, capture_output=True, text=True, timeout=_FORGE_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ChainError(f"`{' '.join(command)}` failed to run: {exc}") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        raise ChainError(f"`{' '.join(command)}` exited with {result.returncode}:\n{tail}")


def _forge_outputs(out_dir: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(source path, contract name, forge artifact) for every artifact forge wrote."""
    for path in sorted(out_dir.rglob("*.json")):
        if "build-info" in path.relative_to(out_dir).parts:
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        target = data.get("metadata", {}).get("settings", {}).get("compilationTarget", {})
        for source_path, name in target.items():
            yield source_path, name, data


def build_artifacts(root: Path | None = None, *, artifact_dir: Path | None = None) -> list[Path]:
    """Compile the contracts with forge and write the shipped artifacts.

    Idempotent: a file is rewritten only when its content changes, and artifacts of contracts
    that no longer exist are removed.

    Parameters
    ----------
    root:
        The repository root (with ``foundry.toml``); by default the checkout this package sits in.
    artifact_dir:
        Where to write; by default ``bflray/chain/artifacts`` of this package.

    Returns
    -------
    list[Path]
        The artifact files, one per deployable contract, sorted.
    """
    root = (root or repo_root()).resolve()
    artifact_dir = artifact_dir or _DEFAULT_ARTIFACT_DIR
    _run_forge_build(root)
    out_dir = root / str(foundry_profile(root).get("out", "out"))
    sources = {src.relative_to(root).as_posix(): src for src in deployable_sources(root)}
    foundry_version = tool_version("forge")
    artifacts: dict[str, Artifact] = {}
    for source_path, name, data in _forge_outputs(out_dir):
        bytecode = data["bytecode"]["object"]
        if source_path not in sources or bytecode in ("", "0x"):
            continue
        artifacts[name] = Artifact(
            contract_name=name,
            abi=tuple(data["abi"]),
            bytecode=bytecode,
            deployed_bytecode=data["deployedBytecode"]["object"],
            source_hash=source_hash(sources[source_path], root),
            solc_version=data["metadata"]["compiler"]["version"],
            source_path=source_path,
            foundry_version=foundry_version,
        )
    artifact_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, artifact in sorted(artifacts.items()):
        path = artifact_dir / f"{name}.json"
        text = json.dumps(artifact.to_json(), indent=2, sort_keys=False) + "\n"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    for path in artifact_dir.glob("*.json"):
        if path.stem not in artifacts:
            path.unlink()
    load_artifact.cache_clear()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bflray.chain.artifacts {build,check} [--root DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m bflray.chain.artifacts", description="Build or check the shipped contract artifacts."
    )
    parser.add_argument("command", choices=["build", "check"])
    parser.add_argument("--root", type=Path, default=None, help="repository root (with foundry.toml)")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            for path in build_artifacts(args.root):
                print(f"wrote {path}")
            return 0
        stale = check_artifacts(args.root)
    except ChainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if stale:
        print(f"stale contract artifacts: {', '.join(stale)}; run `make contracts`", file=sys.stderr)
        return 1
    print("contract artifacts match their sources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
