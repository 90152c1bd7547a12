"""Typed configuration: frozen dataclasses filled from TOML tables, validated once at start.

Each component owns its config dataclass (DetectorConfig in onset.py, OscConfig in osc.py, ...);
this module only turns TOML tables into them, so that a typo in a board profile is a one-line
error naming the file, the table and the key instead of a silently ignored setting.
"""

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from firmware.errors import ConfigError

T = TypeVar("T")


def load_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; any failure is a ConfigError naming the file."""
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None


def from_table(cls: type[T], table: dict[str, Any], where: str) -> T:
    """Build the dataclass cls from a TOML table, checking keys and value types.

    Args:
        cls: a dataclass whose fields have simple annotations (int, float, str, bool,
            tuple[int, ...], tuple[str, ...], optional variants of those).
        table: the parsed table; missing keys keep the dataclass defaults.
        where: what to name in errors, e.g. "board/profiles/pi4.toml [detector]".
    """
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table, got {type(table).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {field.name for field in dataclasses.fields(cls) if field.init}
    unknown = sorted(set(table) - fields)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key '{unknown[0]}' (expected one of: {', '.join(sorted(fields))})"
        )
    values = {key: _coerce(value, hints[key], f"{where} {key}") for key, value in table.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}: {error}") from None


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check value against a simple annotation; ints are accepted where floats are expected."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0])
    if origin is tuple:
        item_type = typing.get_args(annotation)[0]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(item, item_type, f"{where}[{i}]") for i, item in enumerate(value))
    if annotation is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if annotation is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if annotation in (str, bool) and type(value) is annotation:
        return value
    expected = getattr(annotation, "__name__", str(annotation))
    raise ConfigError(f"{where}: expected {expected}, got {value!r}")
