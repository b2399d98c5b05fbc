"""Locate the chain toolchain's binaries (anvil, forge) and the repository that holds contracts.

The toolchain comes from the npm registry (``package.json`` pins Foundry), so the binaries
live under the repository's ``node_modules``. A binary is looked up in order: the environment
variable ``BFLRAY_<NAME>``, the repository's ``node_modules``, then ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from bflray.errors import ChainError

_FOUNDRY_PACKAGE = "@foundry-rs/{name}-linux-amd64"


def repo_root() -> Path:
    """The source checkout that holds ``foundry.toml``: this package's parent, else the cwd.

    Returns
    -------
    Path
        The first of this package's grandparent directory and the current directory (or one
        of its parents) that has a ``foundry.toml``; the grandparent if none has.
    """
    package_parent = Path(__file__).resolve().parents[2]
    candidates = [package_parent, *(p for p in [Path.cwd(), *Path.cwd().parents])]
    for candidate in candidates:
        if (candidate / "foundry.toml").is_file():
            return candidate
    return package_parent


def find_tool(name: str) -> Path:
    """Find a Foundry binary (``anvil``, ``forge``, ``cast``).

    Parameters
    ----------
    name:
        The binary's name.

    Returns
    -------
    Path
        An executable file.

    Raises
    ------
    ChainError
        If it is in none of the places searched; the message names them all.
    """
    env_var = f"BFLRAY_{name.upper()}"
    searched: list[str] = []
    from_env = os.environ.get(env_var)
    if from_env:
        path = Path(from_env)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        searched.append(f"${env_var}={from_env} (not an executable file)")
    else:
        searched.append(f"${env_var} (unset)")
    root = repo_root()
    for candidate in (
        root / "node_modules" / _FOUNDRY_PACKAGE.format(name=name) / "bin" / name,
        root / "node_modules" / ".bin" / name,
    ):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        searched.append(str(candidate))
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    searched.append(f"{name} on PATH")
    raise ChainError(f"cannot find {name}: searched {', '.join(searched)}; run `npm ci` in {root} or set ${env_var}")


def tool_version(name: str, *, timeout_s: float = 10.0) -> str:
    """The version line a Foundry binary prints, e.g. ``"1.7.1"``.

    Parameters
    ----------
    name:
        The binary's name.
    timeout_s:
        How long ``<name> --version`` may take.

    Returns
    -------
    str
        The text after ``Version:`` on the first line (the whole first line if absent).
    """
    binary = find_tool(name)
    try:
        result = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=timeout_s, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ChainError(f"`{binary} --version` failed: {exc}") from exc
    first = result.stdout.strip().splitlines()[0] if result.stdout.strip() else ""
    _, sep, version = first.partition("Version:")
    return version.strip() if sep else first
