"""The layering is checkable: a wrong import arrow fails the suite (import-linter)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 kept, 0 broken" in proc.stdout


def test_every_library_package_is_named_in_the_actors_contract() -> None:
    # A new top-level library module must join the "library imports actors only from the CLI" contract.
    text = (ROOT / "pyproject.toml").read_text()
    modules = {p.stem for p in (ROOT / "bflray").glob("*.py") if p.stem not in {"__init__", "cli", "__main__"}}
    modules |= {p.name for p in (ROOT / "bflray").iterdir() if (p / "__init__.py").exists()}
    missing = sorted(m for m in modules if f'"bflray.{m}"' not in text)
    assert not missing, f"add to the import-linter contract: {missing}"
