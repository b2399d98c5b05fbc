"""The source hash of a contract: what its compiled artifact depends on, computed without compiling.

SHA-256 over a canonical JSON of

- the contract's source file and every file under ``contracts/`` it imports, transitively
  (path and content);
- the compiler and library pins in ``package.json`` (``solc``, ``@openzeppelin/contracts``),
  which stand for the compiler and for every imported file outside ``contracts/``;
- the settings in ``foundry.toml`` that change bytecode (EVM version, optimizer, runs, via-IR,
  metadata hash, remappings).

Imports are found with a regular expression over the source with comments removed, and
resolved as solc does: relative to the importing file for ``./`` and ``../``, else through
the remappings, relative to the repository root.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bflray.chain._tools import repo_root
from bflray.errors import ChainError

__all__ = ["declared_contracts", "deployable_sources", "foundry_profile", "source_hash"]

_HASH_FORMAT = "bflray-artifact-source-hash/1"
_PINNED_PACKAGES = ("solc", "@openzeppelin/contracts")
_BYTECODE_SETTINGS = ("evm_version", "optimizer", "optimizer_runs", "via_ir", "bytecode_hash", "remappings")
_NOT_DEPLOYED_DIRS = ("test", "script")
_COMMENT_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
_IMPORT_RE = re.compile(r"\bimport\s+(?:[^;\"']*?\bfrom\s+)?[\"']([^\"']+)[\"']", re.DOTALL)
_DEPLOYABLE_RE = re.compile(r"^\s*(?:contract|library)\s+([A-Za-z_]\w*)", re.MULTILINE)


def foundry_profile(root: Path) -> dict[str, Any]:
    """The ``[profile.default]`` table of ``root/foundry.toml``."""
    path = root / "foundry.toml"
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ChainError(f"cannot read {path}: {exc}") from exc
    profile: dict[str, Any] = config.get("profile", {}).get("default", {})
    return profile


def _package_pins(root: Path) -> dict[str, str]:
    path = root / "package.json"
    try:
        package = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ChainError(f"cannot read {path}: {exc}") from exc
    pins = {**package.get("dependencies", {}), **package.get("devDependencies", {})}
    return {name: str(pins.get(name, "")) for name in _PINNED_PACKAGES}


def _remap(import_path: str, remappings: Sequence[str]) -> str:
    for remapping in remappings:
        prefix, _, target = remapping.partition("=")
        if import_path.startswith(prefix):
            return target + import_path[len(prefix) :]
    return import_path


def _local_imports(source: Path, root: Path, remappings: Sequence[str]) -> Iterator[Path]:
    text = _COMMENT_RE.sub("", source.read_text(encoding="utf-8"))
    for import_path in _IMPORT_RE.findall(text):
        if import_path.startswith(("./", "../")):
            yield (source.parent / import_path).resolve()
        else:
            yield (root / _remap(import_path, remappings)).resolve()


def _source_closure(source: Path, root: Path, remappings: Sequence[str]) -> list[Path]:
    """The source and every file under ``contracts/`` it imports, transitively, sorted."""
    contracts = (root / "contracts").resolve()
    seen: set[Path] = set()
    stack = [source.resolve()]
    while stack:
        path = stack.pop()
        if path in seen:
            continue
        if not path.is_file():
            raise ChainError(f"{source.relative_to(root)} imports {path}, which does not exist")
        seen.add(path)
        stack.extend(p for p in _local_imports(path, root, remappings) if p.is_relative_to(contracts))
    return sorted(seen)


def source_hash(source: Path, root: Path | None = None) -> str:
    """The source hash of one contract source file (see the module docstring).

    Parameters
    ----------
    source:
        The ``.sol`` file, absolute or relative to ``root``.
    root:
        The repository root; by default the checkout this package sits in.

    Returns
    -------
    str
        ``"sha256:"`` and 64 hex digits.
    """
    root = (root or repo_root()).resolve()
    source = source if source.is_absolute() else root / source
    profile = foundry_profile(root)
    remappings = [str(r) for r in profile.get("remappings", [])]
    files = {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in _source_closure(source, root, remappings)
    }
    record = {
        "format": _HASH_FORMAT,
        "packages": _package_pins(root),
        "settings": {key: profile.get(key) for key in _BYTECODE_SETTINGS},
        "files": files,
    }
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def deployable_sources(root: Path) -> list[Path]:
    """The ``.sol`` files under ``root/contracts`` that ship artifacts (not tests or scripts), sorted."""
    contracts = root / "contracts"
    return sorted(
        path for path in contracts.rglob("*.sol") if path.relative_to(contracts).parts[0] not in _NOT_DEPLOYED_DIRS
    )


def declared_contracts(source: Path) -> list[str]:
    """The non-abstract contracts and libraries a source file declares, in order."""
    return _DEPLOYABLE_RE.findall(_COMMENT_RE.sub("", source.read_text(encoding="utf-8")))
