"""Shipped contract artifacts: they load without node, and they match the Solidity sources."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bflray.chain.artifacts import (
    artifact_versions,
    build_artifacts,
    check_artifacts,
    load_artifact,
    shipped_contracts,
)
from bflray.chain.source_hash import source_hash
from bflray.errors import ChainError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "bflray" / "chain" / "artifacts"


def _copy_repo(tmp_path: Path) -> Path:
    for name in ("foundry.toml", "package.json"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "contracts", tmp_path / "contracts")
    shutil.copytree(SHIPPED, tmp_path / "artifacts")
    return tmp_path


def test_shipped_artifacts_match_sources() -> None:
    stale = check_artifacts(ROOT)

    assert stale == [], f"stale artifacts {stale}: run `make contracts` and commit bflray/chain/artifacts"


def test_federation_ledger_artifact_loads() -> None:
    artifact = load_artifact("FederationLedger")

    assert "FederationLedger" in shipped_contracts()
    assert artifact.bytecode.startswith("0x60") and artifact.deployed_bytecode.startswith("0x")
    assert {e["name"] for e in artifact.abi if e["type"] == "error"} >= {"RoundAlreadyRecorded", "ZeroRoot"}
    assert artifact.solc_version.startswith("0.8.37")


def test_artifact_versions_name_compiler_and_foundry() -> None:
    versions = artifact_versions()

    assert versions["solc"].startswith("0.8.37") and versions["foundry"] == "1.7.1"


def test_unknown_artifact_names_the_shipped_ones() -> None:
    with pytest.raises(ChainError, match=r"no shipped artifact for contract 'Nope'.*FederationLedger"):
        load_artifact("Nope")


def test_editing_a_source_makes_the_check_report_it(tmp_path: Path) -> None:
    root = _copy_repo(tmp_path)
    assert check_artifacts(root, artifact_dir=root / "artifacts") == []
    source = root / "contracts" / "FederationLedger.sol"

    source.write_text(source.read_text() + "\n// an edit\n")

    assert check_artifacts(root, artifact_dir=root / "artifacts") == ["FederationLedger"]


def test_editing_an_imported_local_file_or_optimizer_makes_it_stale(tmp_path: Path) -> None:
    root = _copy_repo(tmp_path)
    (root / "contracts" / "Lib.sol").write_text("// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\n")
    source = root / "contracts" / "FederationLedger.sol"
    text = source.read_text()
    before = source_hash(source, root)
    source.write_text(text.replace("import {Ownable}", 'import "./Lib.sol";\nimport {Ownable}', 1))
    with_import = source_hash(source, root)

    (root / "contracts" / "Lib.sol").write_text("// SPDX-License-Identifier: MIT\npragma solidity ^0.8.25;\n")
    lib_edited = source_hash(source, root)
    toml = root / "foundry.toml"
    toml.write_text(toml.read_text().replace("optimizer_runs = 200", "optimizer_runs = 201"))

    assert len({before, with_import, lib_edited, source_hash(source, root)}) == 4


def test_new_contract_without_artifact_is_reported(tmp_path: Path) -> None:
    root = _copy_repo(tmp_path)
    (root / "contracts" / "Registry.sol").write_text("pragma solidity ^0.8.24;\ncontract Registry {}\n")
    (root / "contracts" / "test" / "Helper.sol").write_text("pragma solidity ^0.8.24;\ncontract Helper {}\n")

    assert check_artifacts(root, artifact_dir=root / "artifacts") == ["Registry"]


@pytest.mark.integration
def test_forge_rebuild_reproduces_the_shipped_artifacts(forge_binary: Path, tmp_path: Path) -> None:
    written = build_artifacts(ROOT, artifact_dir=tmp_path)

    assert [p.name for p in written] == sorted(p.name for p in SHIPPED.glob("*.json"))
    for path in written:
        assert json.loads(path.read_text()) == json.loads((SHIPPED / path.name).read_text()), path.name
