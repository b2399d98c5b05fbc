"""Read a TOML experiment file, apply ``--set`` overrides, validate, and write it back.

Every failure becomes a :class:`~bflray.errors.ConfigError` whose message is one line that
names the key, the value and what is allowed.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ValidationError

from bflray.config.schema import Config
from bflray.errors import ConfigError


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> Config:
    """Load and validate an experiment config.

    Parameters
    ----------
    path:
        A TOML file; ``None`` starts from the built-in defaults.
    overrides:
        ``"section.key=value"`` strings; the value is read as a TOML literal
        (``3``, ``0.5``, ``true``, ``"text"``, ``[1, 2]``) and, failing that, as a bare string.
    """
    raw = read_toml(path) if path is not None else {}
    for item in overrides:
        apply_override(raw, item)
    return validate_config(raw)


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file into plain data, with a one-line error naming file and problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {str(p)!r} does not exist") from exc
    except OSError as exc:
        raise ConfigError(f"config file {str(p)!r} cannot be read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {str(p)!r} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "TOML files are UTF-8"
        ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(p)!r} is not valid TOML: {exc}") from exc


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Set one ``dotted.key=value`` in ``raw`` in place, creating sections as needed."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {item!r}: expected section.key=value")
    parts = key.split(".")
    if len(parts) < 2:
        raise ConfigError(f"--set {item!r}: key {key!r} must name a section and a key, e.g. experiment.seed")
    node = raw
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise ConfigError(f"--set {item!r}: {where} is a value, not a section")
        node = child
    node[parts[-1]] = parse_literal(text.strip())


def parse_literal(text: str) -> Any:
    """Read ``text`` as a TOML value; a bare word that is not one is taken as a string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def validate_config(raw: Mapping[str, Any]) -> Config:
    """Turn plain data into a :class:`Config`, or raise one clear :class:`ConfigError`."""
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, raw)) from None


def describe_validation_error(exc: ValidationError, raw: Mapping[str, Any]) -> str:
    """One line for the first problem, naming key, value and what is allowed."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = [str(p) for p in first["loc"]]
    key = ".".join(loc) or "<config>"
    value = first.get("input")
    if first["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        what = f"section [{key}]" if len(loc) == 1 else f"key {key} = {_show(value)}"
        line = f"unknown {what}; allowed: {', '.join(allowed)}"
    elif first["type"] in {"model_type", "dict_type"}:
        line = f"{key} must be a table [{key}], got {_show(value)}"
    elif first["type"] in {"tuple_type", "list_type"}:
        line = f"{key} = {_show(value)}: must be a list (a TOML array such as [\"a\", \"b\"])"
    else:
        msg = str(first["msg"]).removeprefix("Value error, ")
        # A check across sections (empty location) or across a section's keys (a table as the
        # value) names its keys and values itself.
        whole = not loc or (first["type"] == "value_error" and isinstance(value, dict))
        line = msg if whole else f"{key} = {_show(value)}: {msg[:1].lower() + msg[1:]}"
    more = len(errors) - 1
    if more:
        line += f" (and {more} more problem{'s' if more > 1 else ''})"
    return line


def _allowed_keys(section_loc: list[str]) -> list[str]:
    model: type[BaseModel] = Config
    for part in section_loc:
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)


def _show(value: object) -> str:
    if isinstance(value, dict):
        return "{...}"
    return repr(value)


def dump_config(config: Config) -> str:
    """The resolved config as TOML text; :func:`load_config` of it gives ``config`` back."""
    return tomli_w.dumps(config.model_dump(mode="json"))


def config_digest(config: Config) -> str:
    """A stable hex digest of the resolved config, for cache keys and run records."""
    return hashlib.sha256(dump_config(config).encode()).hexdigest()
