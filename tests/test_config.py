"""TOML tables into frozen dataclasses: every mistake is one line naming file, table and key."""

import re
from dataclasses import dataclass

import pytest

from firmware.config import from_table, load_toml
from firmware.errors import ConfigError


@dataclass(frozen=True)
class Example:
    rate_hz: int = 48_000
    gain: float = 1.0
    name: str = "x"
    enabled: bool = False
    channels: tuple[int, ...] = (0, 1)
    label: str | None = None

    def __post_init__(self) -> None:
        if self.gain < 0:
            raise ValueError(f"gain must be >= 0, got {self.gain}")


def test_fills_given_keys_and_keeps_defaults():
    example = from_table(Example, {"gain": 2, "channels": [3, 4]}, "f.toml [t]")
    assert example == Example(gain=2.0, channels=(3, 4))
    assert isinstance(example.gain, float)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"rate": 1}, "f.toml [t]: unknown key 'rate'"),
        ({"rate_hz": 4.5}, "f.toml [t] rate_hz: expected int, got 4.5"),
        ({"rate_hz": True}, "f.toml [t] rate_hz: expected int, got True"),
        ({"enabled": 1}, "f.toml [t] enabled: expected bool"),
        ({"channels": [0, "a"]}, "f.toml [t] channels[1]: expected int"),
        ({"channels": 3}, "f.toml [t] channels: expected a list"),
        ({"gain": -1.0}, "f.toml [t]: gain must be >= 0"),
    ],
)
def test_mistakes_are_one_line_errors_naming_the_key(table, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        from_table(Example, table, "f.toml [t]")


def test_optional_values_accept_their_type():
    assert from_table(Example, {"label": "a"}, "w").label == "a"


def test_bad_toml_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[audio\nrate = 1\n")
    with pytest.raises(ConfigError, match=re.escape("bad.toml: not valid TOML")):
        load_toml(path)
    with pytest.raises(ConfigError, match=re.escape("missing.toml: no such file")):
        load_toml(tmp_path / "missing.toml")
