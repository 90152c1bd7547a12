"""Recording sessions: a player's labelled multichannel recordings, as a HitDataset.

A session is a WAV/FLAC recording of the six sensors, a label file (training.data.labels), a
channel map and who/what was recorded, described by a small TOML file (schema in docs/DATA.md).
A folder of session files is a dataset. Every check that can fail runs before any hit is
used, so a bad file stops the build with one line naming it instead of training on garbage.

Each label is moved onto the onset the firmware's own detector reports nearest to it (within
``onset_tolerance_ms``); a label without one is reported, never silently dropped, and too many
of them stop the build.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from firmware.config import from_table, load_toml
from firmware.errors import ConfigError, InputFileError
from firmware.features import FeatureConfig
from firmware.layout import HAND_PARTS, LOCATIONS, N_PIEZOS, SAMPLE_RATE_HZ
from firmware.onset import DetectorConfig
from training.data.audio import (
    SILENT_CHANNEL,
    LevelConfig,
    apply_channel_map,
    level_problem,
    read_audio,
    resample,
)
from training.data.dataset import ContextConfig, DatasetBuilder, HitDataset
from training.data.labels import LabelConfig, read_labels
from training.data.onsets import detect_onsets, match_onsets
from training.data.settings import settings_from_file

TASKS = {"hand": HAND_PARTS, "location": LOCATIONS}
DATASET_FILE = "dataset.toml"
"""Optional build settings at the top of a dataset folder; every other *.toml is a session."""


@dataclass(frozen=True)
class SessionInfo:
    """The ``[session]`` table of a session file. Paths are relative to the session file."""

    id: str
    player: str
    instrument: str
    audio: str
    """The recording: WAV or FLAC (anything libsndfile reads)."""
    labels: str
    """An Audacity .txt label track or a REAPER .csv region/marker export."""
    channel_map: tuple[int, ...]
    """For piezo1..piezo5, pickup: the 0-based file channel, or -1 for a sensor not recorded."""
    resample: bool = False
    """Resample a recording that is not at 48 kHz (polyphase); otherwise its rate is an error."""


@dataclass(frozen=True)
class SessionsConfig:
    """How sessions become a dataset (the ``[sessions]`` table of dataset.toml)."""

    onset_tolerance_ms: float = 20.0
    """A label takes the nearest detector onset at most this far from it."""
    max_unmatched_fraction: float = 0.1
    """A session with more labels than this left without an onset stops the build: its
    labels are misplaced (an offset, another file) or the detector misses its hits."""
    min_hits_per_class: int = 20
    """Every hand part and location needs this many hits in the dataset."""

    def __post_init__(self) -> None:
        if self.onset_tolerance_ms <= 0:
            raise ValueError(f"onset_tolerance_ms must be > 0, got {self.onset_tolerance_ms}")
        if not 0.0 <= self.max_unmatched_fraction <= 1.0:
            raise ValueError("max_unmatched_fraction must be in [0, 1]")


@dataclass(frozen=True)
class BuildSettings:
    """Everything a sessions build depends on: dataset.toml has one table per field
    ([sessions], [levels], [context], [detector], [features]); defaults where absent. The
    [features] table must match the model's: the firmware checks bundles against it."""

    sessions: SessionsConfig = field(default_factory=SessionsConfig)
    levels: LevelConfig = field(default_factory=LevelConfig)
    context: ContextConfig = field(default_factory=ContextConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)


@dataclass
class SessionReport:
    """What one session contributed, and every label it could not use."""

    id: str
    player: str
    audio: str
    duration_s: float
    labels: int
    hits: int = 0
    dropped: list[dict[str, Any]] = field(default_factory=list)
    """{"source": file:line, "time_s", "reason"} per label left out."""

    def overview(self) -> dict[str, Any]:
        """The report in one flat mapping, dropped labels counted."""
        overview = {**self.__dict__, "duration_s": round(self.duration_s, 3)}
        return overview | {"dropped": len(self.dropped)}


def read_settings(folder: Path) -> BuildSettings:
    """BuildSettings from the folder's dataset.toml, or the defaults without one.

    Raises:
        ConfigError: malformed file, unknown table or key, bad value.
    """
    path = Path(folder) / DATASET_FILE
    return settings_from_file(BuildSettings, path) if path.is_file() else BuildSettings()


def read_session_file(path: Path) -> tuple[SessionInfo, LabelConfig]:
    """The [session] and optional [labels] tables of a session file.

    Raises:
        ConfigError: malformed file, missing or unknown key, bad value.
    """
    table = load_toml(path)
    unknown = sorted(set(table) - {"session", "labels"})
    if unknown:
        raise ConfigError(f"{path}: unknown table [{unknown[0]}] (expected session, labels)")
    session = table.get("session")
    if not isinstance(session, dict):
        raise ConfigError(f"{path}: missing table [session]")
    required = ("id", "player", "instrument", "audio", "labels", "channel_map")
    missing = [key for key in required if key not in session]
    if missing:
        raise ConfigError(f"{path} [session]: missing key '{missing[0]}'")
    info = from_table(SessionInfo, session, f"{path} [session]")
    labels = from_table(LabelConfig, table.get("labels", {}), f"{path} [labels]")
    return info, labels


def load_session(path: Path, settings: BuildSettings, builder: DatasetBuilder) -> SessionReport:
    """Check one session and add its hits to builder.

    Raises:
        ConfigError, InputFileError: the first problem, one line naming its file.
    """
    path = Path(path)
    info, label_config = read_session_file(path)
    audio_path = path.parent / info.audio
    samples, rate_hz = read_audio(audio_path)
    if rate_hz != SAMPLE_RATE_HZ:
        if not info.resample:
            raise InputFileError(
                f"{audio_path}: recorded at {rate_hz} Hz, models run at {SAMPLE_RATE_HZ} Hz "
                f"(set resample = true in {path.name} to resample it)"
            )
        samples = resample(samples, rate_hz, SAMPLE_RATE_HZ)
    signal = apply_channel_map(samples, info.channel_map, f"{path} [session]")
    recorded = tuple(c for c in range(N_PIEZOS) if info.channel_map[c] != SILENT_CHANNEL)
    problem = level_problem(signal, recorded, settings.levels)
    if problem:
        raise InputFileError(f"{audio_path}: {problem} (file channel map {info.channel_map})")
    duration_s = signal.shape[0] / SAMPLE_RATE_HZ
    labels = read_labels(
        path.parent / info.labels, duration_s, retrigger_s(settings.detector), label_config
    )
    report = SessionReport(info.id, info.player, str(audio_path), duration_s, len(labels))
    onsets = detect_onsets(signal, settings.detector, SAMPLE_RATE_HZ)
    label_samples = np.array([round(label.time_s * SAMPLE_RATE_HZ) for label in labels])
    tolerance = round(settings.sessions.onset_tolerance_ms * SAMPLE_RATE_HZ / 1000)
    matched = match_onsets(label_samples, onsets, tolerance)
    groups = {"session": info.id, "player": info.player, "instrument": info.instrument}
    for label, onset in zip(labels, matched, strict=True):
        if onset < 0:
            reason = f"no detector onset within {settings.sessions.onset_tolerance_ms:g} ms"
        else:
            try:
                builder.add(
                    signal, int(onset), {"hand": label.hand, "location": label.location},
                    label.dynamics, groups, label.source,
                )  # fmt: skip
                report.hits += 1
                continue
            except ValueError:
                reason = "too close to the start or end of the recording for a window"
        report.dropped.append({"source": label.source, "time_s": label.time_s, "reason": reason})
    unmatched = len(report.dropped) / max(len(labels), 1)
    if unmatched > settings.sessions.max_unmatched_fraction:
        first = report.dropped[0]
        raise InputFileError(
            f"{path.parent / info.labels}: {len(report.dropped)} of {len(labels)} labels have no "
            f"usable onset, more than max_unmatched_fraction "
            f"{settings.sessions.max_unmatched_fraction:g} (first: {first['source']} at "
            f"{first['time_s']:.3f} s, {first['reason']})"
        )
    return report


def retrigger_s(detector: DetectorConfig) -> float:
    """The detector's retrigger window (its dead time after a hit) in seconds: labels closer
    than this overlap, as the detector cannot report both."""
    return detector.dead_time_ms / 1000.0


def session_files(folder: Path) -> list[Path]:
    """Every session file under folder (any depth), sorted.

    Raises:
        InputFileError: not a folder, or no session files in it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(f"{folder}: no such dataset folder")
    files = sorted(p for p in folder.rglob("*.toml") if p != folder / DATASET_FILE)
    if not files:
        raise InputFileError(f"{folder}: no session files (*.toml) in the dataset folder")
    return files


def build_sessions(
    folder: Path, settings: BuildSettings | None = None
) -> tuple[HitDataset, dict[str, Any]]:
    """Build the dataset of a folder of sessions, stopping at the first problem.

    Args:
        folder: holds session files (any depth) and optionally dataset.toml.
        settings: overrides the folder's dataset.toml.

    Returns:
        (the dataset with tasks "hand" and "location" and grouping keys session, player,
        instrument; the summary: dataset counts, total duration, per-session reports).

    Raises:
        ConfigError, InputFileError, DatasetError: one line naming the file and the problem.
    """
    settings = read_settings(folder) if settings is None else settings
    builder = DatasetBuilder(TASKS, settings.features, settings.context)
    reports: list[SessionReport] = []
    for path in session_files(folder):
        report = load_session(path, settings, builder)
        if any(earlier.id == report.id for earlier in reports):
            raise InputFileError(f"{path}: session id '{report.id}' is used by another session")
        reports.append(report)
    dataset = builder.build()
    dataset.check_min_per_class(settings.sessions.min_hits_per_class)
    return dataset, session_summary(dataset, reports)


def session_summary(dataset: HitDataset, reports: list[SessionReport]) -> dict[str, Any]:
    """The dataset's counts, total recorded duration, one line per session and every dropped
    label (JSON-able; format_summary prints it)."""
    return {
        **dataset.summary(),
        "duration_s": round(sum(report.duration_s for report in reports), 3),
        "sessions": [report.overview() for report in reports],
        "dropped": [dropped for report in reports for dropped in report.dropped],
    }
