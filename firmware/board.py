"""Board profiles: which interface, which periods, which CPU, which OSC peer, one TOML file each.

A profile (``board/profiles/NAME.toml``) holds a ``description`` and the tables [audio],
[detector], [osc] and [realtime], each filled into its component's own config dataclass by
firmware.config.from_table, so a typo is a one-line ConfigError naming the file, the table and
the key. A table left out keeps its component's defaults. Adding a component's table (the voice
will add [voice]) means one entry in TABLES and one field in BoardProfile.

``python -m firmware.board`` lists the profiles; ``python -m firmware.board NAME`` prints the
settings one resolves to (setup.sh runs it to check a profile on the board itself).
"""

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware.audio_io import AudioConfig, validate_audio_config
from firmware.config import from_table, load_toml
from firmware.errors import ConfigError, HitarError
from firmware.layout import SAMPLE_RATE_HZ
from firmware.onset import DetectorConfig
from firmware.osc import OscConfig, validate_osc_config
from firmware.realtime import RealtimeConfig
from firmware.voice import VoiceConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
PROFILES_DIR = REPO_ROOT / "board" / "profiles"

TABLES: dict[str, type] = {
    "audio": AudioConfig,
    "detector": DetectorConfig,
    "osc": OscConfig,
    "realtime": RealtimeConfig,
    "voice": VoiceConfig,
}
"""Profile table -> the config dataclass it fills (the BoardProfile field of the same name)."""


@dataclass(frozen=True)
class BoardProfile:
    """Everything board-specific the firmware is started with."""

    name: str
    description: str
    audio: AudioConfig
    detector: DetectorConfig
    osc: OscConfig
    realtime: RealtimeConfig
    voice: VoiceConfig


def list_board_profiles() -> list[str]:
    """Names of the shipped profiles (board/profiles/*.toml), sorted."""
    return sorted(path.stem for path in PROFILES_DIR.glob("*.toml"))


def profile_path(name_or_path: str) -> Path:
    """board/profiles/NAME.toml for a bare name, else the path as given (a .toml elsewhere)."""
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        return Path(name_or_path)
    path = PROFILES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise ConfigError(
            f"board profile '{name_or_path}': no {_shown(path)} "
            f"(profiles: {', '.join(list_board_profiles())})"
        )
    return path


def load_board_profile(name_or_path: str) -> BoardProfile:
    """Read, fill and cross-check a board profile.

    Args:
        name_or_path: a shipped profile's name ("pi4-octo") or the path of a TOML file.

    Raises:
        ConfigError: one line naming the file, the table and the key, and what is expected.
    """
    path = profile_path(name_or_path)
    shown = _shown(path)
    data = load_toml(path)
    unknown = sorted(set(data) - {"description", *TABLES})
    if unknown:
        raise ConfigError(
            f"{shown}: unknown table or key '{unknown[0]}' "
            f"(expected description and tables {', '.join(f'[{t}]' for t in TABLES)})"
        )
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ConfigError(f"{shown} description: expected a one-line text, got {description!r}")
    configs = {
        table: from_table(cls, data.get(table, {}), f"{shown} [{table}]")
        for table, cls in TABLES.items()
    }
    audio = configs["audio"]
    validate_audio_config(audio, f"{shown} [audio]")
    if audio.sample_rate_hz != SAMPLE_RATE_HZ:
        raise ConfigError(
            f"{shown} [audio] sample_rate_hz: expected {SAMPLE_RATE_HZ} (the rate the shipped "
            f"models are built for), got {audio.sample_rate_hz}"
        )
    validate_osc_config(configs["osc"], f"{shown} [osc]")
    return BoardProfile(name=path.stem, description=description.strip(), **configs)


def describe(profile: BoardProfile) -> list[str]:
    """The profile as 'table.key = value' lines: what the firmware will run with."""
    lines = [f"{profile.name}: {profile.description}"]
    for table in TABLES:
        for key, value in dataclasses.asdict(getattr(profile, table)).items():
            lines.append(f"  {table}.{key} = {_toml_value(value)}")
    return lines


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(value) if isinstance(value, str) else str(value)


def _shown(path: Path) -> str:
    """A profile path as a user would type it: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    """``python -m firmware.board [NAME_OR_PATH]``: list profiles, or check and show one."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        for name in list_board_profiles():
            try:
                print(f"{name}: {load_board_profile(name).description}")
            except HitarError as error:
                print(f"{name}: unusable ({error})")
        return 0
    try:
        print("\n".join(describe(load_board_profile(args[0]))))
    except HitarError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
