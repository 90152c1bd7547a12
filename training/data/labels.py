"""Hit label files: Audacity label tracks and REAPER region/marker CSV exports.

A player marks each hit in the editor they already use, with the project's label text
``<hand> <location> [<dynamics>]`` (``thumb piezo3 mf``); this module turns those files into
sorted, checked hit times. Every problem is a one-line InputFileError naming the file and line,
so a typo in a thousand-hit session is found in seconds, not after a training run.

Formats (chosen by the file suffix):

- ``.txt``: an Audacity label track (File > Export > Export Labels): ``start<TAB>end<TAB>label``,
  times in seconds. Point labels (start == end) and region labels both work; a region's hit
  time is its start. Spectral-selection lines (starting with a backslash) are skipped.
- ``.csv``: a REAPER Region/Marker Manager export: a header row naming the columns (``#,Name,
  Start,End,Length`` and optionally ``Color``), then one row per marker (``M3``) or region
  (``R2``); a region's hit time is its start. REAPER writes times in the project's time format:
  seconds (``12.345``), minutes:seconds (``1:02.500``) and hours:minutes:seconds
  (``1:00:02.500``) are read as they are; measures.beats (``5.2.50``: measure 5, beat 2, half a
  beat, REAPER's default ruler) is converted with the tempo and beats per bar given in
  LabelConfig (a constant tempo, measure 1 at time 0). Timecode (``h:m:s:f``) and samples are
  not supported.
"""

import csv
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from firmware.errors import InputFileError
from firmware.layout import HAND_PARTS, LOCATIONS

DYNAMICS_WORDS: dict[str, float] = {
    "pp": 33 / 127,
    "p": 49 / 127,
    "mp": 64 / 127,
    "mf": 80 / 127,
    "f": 96 / 127,
    "ff": 112 / 127,
}
"""Dynamics markings as numbers in [0, 1]: the MIDI velocities notation programs play them at
(pp 33, p 49, mp 64, mf 80, f 96, ff 112) divided by 127."""

AUDACITY_SUFFIXES = (".txt",)
REAPER_SUFFIXES = (".csv",)

_SECONDS = re.compile(r"^\d+(\.\d*)?$")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")
_MEASURES_BEATS = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True)
class LabelConfig:
    """How to read a session's label file (the ``[labels]`` table of a session file)."""

    tempo_bpm: float | None = None
    """Project tempo, needed only for REAPER times in measures.beats."""
    beats_per_bar: int = 4
    """Beats per measure, used only with tempo_bpm."""

    def __post_init__(self) -> None:
        if self.tempo_bpm is not None and not self.tempo_bpm > 0:
            raise ValueError(f"tempo_bpm must be > 0, got {self.tempo_bpm}")
        if self.beats_per_bar < 1:
            raise ValueError(f"beats_per_bar must be >= 1, got {self.beats_per_bar}")


@dataclass(frozen=True)
class Label:
    """One labelled hit."""

    time_s: float
    """Hit time in seconds from the start of the recording, as the player placed it."""
    hand: str
    """One of firmware.layout.HAND_PARTS."""
    location: str
    """One of firmware.layout.LOCATIONS."""
    dynamics: float | None
    """Played dynamics in [0, 1], or None when the label gives none."""
    source: str
    """Where the label came from, ``file:line``, for every later message about this hit."""


def parse_label_text(text: str, where: str) -> tuple[str, str, float | None]:
    """Split label text ``<hand> <location> [<dynamics>]`` into its parts.

    Args:
        text: the label, e.g. ``"heel piezo2 0.8"`` or ``"nails piezo5 ff"``.
        where: ``file:line`` to name in errors.

    Returns:
        (hand, location, dynamics in [0, 1] or None).

    Raises:
        InputFileError: empty text, wrong word count, unknown hand/location/dynamics.
    """
    words = text.split()
    if not words:
        raise InputFileError(f"{where}: empty label (expected '<hand> <location> [<dynamics>]')")
    if len(words) not in (2, 3):
        raise InputFileError(
            f"{where}: label '{text.strip()}' has {len(words)} words "
            "(expected '<hand> <location> [<dynamics>]')"
        )
    hand, location = words[0], words[1]
    if hand not in HAND_PARTS:
        raise InputFileError(
            f"{where}: unknown hand part '{hand}' (expected one of {', '.join(HAND_PARTS)})"
        )
    if location not in LOCATIONS:
        raise InputFileError(
            f"{where}: unknown location '{location}' (expected one of {', '.join(LOCATIONS)})"
        )
    dynamics = _parse_dynamics(words[2], where) if len(words) == 3 else None
    return hand, location, dynamics


def _parse_dynamics(word: str, where: str) -> float:
    if word in DYNAMICS_WORDS:
        return DYNAMICS_WORDS[word]
    try:
        value = float(word)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise InputFileError(
            f"{where}: unknown dynamics '{word}' "
            f"(expected a number in [0, 1] or one of {', '.join(DYNAMICS_WORDS)})"
        )
    return value


def read_labels(
    path: Path, duration_s: float, min_gap_s: float, config: LabelConfig = LabelConfig()
) -> list[Label]:
    """Read and check a label file.

    Args:
        path: an Audacity ``.txt`` label track or a REAPER ``.csv`` export.
        duration_s: length of the labelled recording; every hit must lie in [0, duration_s).
        min_gap_s: two hits closer than this overlap (the detector's retrigger window: it
            could not report both).
        config: REAPER tempo for measures.beats times.

    Returns:
        The hits sorted by time (the file may be in any order).

    Raises:
        InputFileError: one line naming the file and line of the first problem.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in AUDACITY_SUFFIXES:
        read = _read_audacity
    elif suffix in REAPER_SUFFIXES:
        read = _read_reaper
    else:
        raise InputFileError(
            f"{path}: unknown label file type '{path.suffix}' "
            "(expected an Audacity .txt label track or a REAPER .csv export)"
        )
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            entries = read(file, str(path), config)
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such label file") from None
    except UnicodeDecodeError:
        raise InputFileError(f"{path}: not a UTF-8 text file") from None
    except OSError as error:
        raise InputFileError(f"{path}: cannot read ({error.strerror})") from None
    labels = []
    for time_s, text, where in entries:
        if not 0.0 <= time_s < duration_s:
            raise InputFileError(
                f"{where}: label at {time_s:.3f} s is outside the recording "
                f"(0 to {duration_s:.3f} s)"
            )
        hand, location, dynamics = parse_label_text(text, where)
        labels.append(Label(time_s, hand, location, dynamics, where))
    labels.sort(key=lambda label: label.time_s)
    for before, after in itertools.pairwise(labels):
        gap_s = after.time_s - before.time_s
        if gap_s < min_gap_s:
            raise InputFileError(
                f"{after.source}: hit at {after.time_s:.3f} s is {1000 * gap_s:.1f} ms after the "
                f"hit at line {before.source.rsplit(':', 1)[1]} (hits closer than the "
                f"{1000 * min_gap_s:.0f} ms retrigger window overlap)"
            )
    return labels


def _read_audacity(file: TextIO, name: str, config: LabelConfig) -> list[tuple[float, str, str]]:
    """Entries (time_s, label text, file:line) of an Audacity label track."""
    entries = []
    for line_number, line in enumerate(file, start=1):
        where = f"{name}:{line_number}"
        line = line.rstrip("\r\n")
        if not line.strip() or line.startswith("\\"):
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise InputFileError(
                f"{where}: malformed line (expected 'start<TAB>end<TAB>label' in seconds)"
            )
        start_s = _number(fields[0], where, "start")
        end_s = _number(fields[1], where, "end")
        if end_s < start_s:
            raise InputFileError(f"{where}: end {end_s} s is before start {start_s} s")
        entries.append((start_s, "\t".join(fields[2:]), where))
    return entries


def _number(text: str, where: str, field: str) -> float:
    if not _SECONDS.match(text.strip()):
        raise InputFileError(f"{where}: {field} '{text}' is not a time in seconds")
    return float(text)


def _read_reaper(file: TextIO, name: str, config: LabelConfig) -> list[tuple[float, str, str]]:
    """Entries (time_s, label text, file:line) of a REAPER region/marker CSV export."""
    reader = csv.reader(file)
    header = next(reader, None)
    columns = {column.strip().lower(): i for i, column in enumerate(header or [])}
    missing = [column for column in ("#", "name", "start") if column not in columns]
    if missing:
        raise InputFileError(
            f"{name}:1: not a REAPER region/marker export (header lacks column "
            f"'{missing[0]}'; expected '#,Name,Start,End,Length')"
        )
    needed = max(columns["#"], columns["name"], columns["start"])
    entries = []
    line_number = reader.line_num
    for row in reader:
        where = f"{name}:{line_number + 1}"
        line_number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= needed:
            raise InputFileError(
                f"{where}: malformed row ({len(row)} fields, the header has {len(columns)})"
            )
        kind = row[columns["#"]].strip()[:1].upper()
        if kind not in ("M", "R"):
            raise InputFileError(
                f"{where}: malformed row: '#' is '{row[columns['#']]}' "
                "(expected M<n> for a marker or R<n> for a region)"
            )
        time_s = reaper_time_s(row[columns["start"]], where, config)
        entries.append((time_s, row[columns["name"]], where))
    return entries


def reaper_time_s(text: str, where: str, config: LabelConfig) -> float:
    """A REAPER time field in seconds (formats in the module docstring).

    Raises:
        InputFileError: an unsupported or malformed time, or measures.beats without a tempo.
    """
    text = text.strip()
    if match := _MEASURES_BEATS.match(text):
        if config.tempo_bpm is None:
            raise InputFileError(
                f"{where}: time '{text}' is in REAPER measures.beats; set tempo_bpm (and "
                "beats_per_bar) in the session's [labels] table, or export with the ruler in "
                "Minutes:Seconds"
            )
        measure, beat, hundredths = (int(group) for group in match.groups())
        beats = (measure - 1) * config.beats_per_bar + (beat - 1) + hundredths / 100
        return beats * 60.0 / config.tempo_bpm
    if _SECONDS.match(text):
        return float(text)
    if match := _CLOCK.match(text):
        hours, minutes, seconds = match.groups()
        return 3600.0 * int(hours or 0) + 60.0 * int(minutes) + float(seconds)
    raise InputFileError(
        f"{where}: time '{text}' is not seconds, minutes:seconds or measures.beats "
        "(REAPER timecode and samples are not supported)"
    )
