"""Build settings from one TOML file: one table per component config.

A dataset build depends on several component configs (detector, levels, context, ...); a
settings dataclass groups them, and its TOML file has one table per field, named as the field,
each filled by firmware.config.from_table. A missing table keeps that config's defaults.
"""

import dataclasses
import typing
from pathlib import Path
from typing import TypeVar

from firmware.config import from_table, load_toml
from firmware.errors import ConfigError

T = TypeVar("T")


def settings_from_file(cls: type[T], path: Path) -> T:
    """Build the settings dataclass cls from the tables of a TOML file.

    Raises:
        ConfigError: malformed file, unknown table or key, bad value; naming file and table.
    """
    table = load_toml(path)
    parts = typing.get_type_hints(cls)
    unknown = sorted(set(table) - set(parts))
    if unknown:
        raise ConfigError(
            f"{path}: unknown table [{unknown[0]}] (expected {', '.join(f'[{p}]' for p in parts)})"
        )
    return cls(
        **{
            field.name: from_table(parts[field.name], table[field.name], f"{path} [{field.name}]")
            for field in dataclasses.fields(cls)
            if field.name in table
        }
    )
