"""Single-hit corpora: a folder per class of one-hit audio files, as a HitDataset.

Public percussion sample sets are the only large source of real, labelled hits. Each file holds
one hit at any rate and channel count; it is resampled to 48 kHz, put onto the model's six
inputs by the fixed rule of training.data.audio.corpus_channel_map, given quiet lead-in and
tail, and its onset is found by the firmware's detector (onsets.single_hit_onset: which
detection, and the fallback where there is none).

Layout: ``<root>/<class>/<file>`` or ``<root>/<class>/<group>/.../<file>``. A file's group (what
splits keep together: the kit or source it comes from) is the first folder below its class
folder, or the root folder's name for files directly in the class folder. Files ending in .wav,
.flac, .aif or .aiff (any case) are read; other files are ignored.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from firmware.errors import InputFileError
from firmware.features import FeatureConfig
from firmware.layout import N_PIEZOS, SAMPLE_RATE_HZ
from firmware.onset import DetectorConfig
from training.data.audio import (
    LevelConfig,
    apply_channel_map,
    corpus_channel_map,
    level_problem,
    read_audio,
    resample,
)
from training.data.dataset import ContextConfig, DatasetBuilder, HitDataset
from training.data.onsets import single_hit_onset

AUDIO_SUFFIXES = (".wav", ".flac", ".aif", ".aiff")
CLASS_TASK = "class"
"""The task name of corpus datasets: one label set, the folder (or instrument) class."""


@dataclass(frozen=True)
class CorpusConfig:
    """How single-hit files become hits (the ``[corpus]`` table)."""

    lead_silence_ms: float = 50.0
    """Zeros put before each file: the detector sees quiet before the hit (many sample files
    start right at the attack) and the context's pre-roll fits."""
    peak_fraction: float = 0.03
    attack_ms: float = 10.0
    """A hit's onset is the last detector onset at most attack_ms before the file first
    reaches peak_fraction of its peak (-30 dB): onsets of noise before the hit come earlier.
    Where there is none, that first sample at the level is the onset (the fallback)."""
    min_hits_per_class: int = 20
    """Every class needs this many hits, or the build stops."""

    def __post_init__(self) -> None:
        if self.lead_silence_ms < 0:
            raise ValueError(f"lead_silence_ms must be >= 0, got {self.lead_silence_ms}")
        if not 0.0 < self.peak_fraction <= 1.0:
            raise ValueError(f"peak_fraction must be in (0, 1], got {self.peak_fraction}")
        if self.attack_ms <= 0:
            raise ValueError(f"attack_ms must be > 0, got {self.attack_ms}")


@dataclass(frozen=True)
class CorpusSettings:
    """Everything a corpus build depends on; a settings file (training.data.settings) has one
    table per field: [corpus], [levels], [context], [detector], [features]."""

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    levels: LevelConfig = field(default_factory=LevelConfig)
    context: ContextConfig = field(default_factory=ContextConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)


@dataclass(frozen=True)
class HitFile:
    """One single-hit file to load, with what is known about it."""

    path: Path
    class_name: str
    group: str
    dynamics: float | None = None


@dataclass
class CorpusReport:
    """What became of each file: kept (with fallback onsets counted) or skipped, and why."""

    kept: Counter = field(default_factory=Counter)
    """(group, class) -> hits kept."""
    fallbacks: list[str] = field(default_factory=list)
    """Files whose onset the detector did not find (placed by the fallback)."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(file, reason) of every file left out."""

    def to_dict(self) -> dict[str, Any]:
        """Counts per group and class, fallbacks and skipped files (JSON-able)."""
        groups: dict[str, dict[str, int]] = {}
        for (group, class_name), count in sorted(self.kept.items()):
            groups.setdefault(group, {})[class_name] = count
        return {
            "kept": groups,
            "fallbacks": self.fallbacks,
            "skipped": [{"file": file, "reason": reason} for file, reason in self.skipped],
        }


def corpus_files(root: Path) -> list[HitFile]:
    """The single-hit files of a folder-per-class corpus (layout in the module docstring).

    Raises:
        InputFileError: root is not a folder or holds no class folder with audio.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputFileError(f"{root}: no such corpus folder")
    files = []
    for class_dir in sorted(path for path in root.iterdir() if path.is_dir()):
        for path in sorted(class_dir.rglob("*")):
            if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES:
                relative = path.relative_to(class_dir).parts
                group = relative[0] if len(relative) > 1 else root.name
                files.append(HitFile(path, class_dir.name, group))
    if not files:
        raise InputFileError(
            f"{root}: no audio files in class folders (expected <root>/<class>/<file>.wav|"
            "flac|aif|aiff)"
        )
    return files


def load_single_hit(path: Path, settings: CorpusSettings) -> tuple[np.ndarray, int, bool]:
    """One single-hit file at 48 kHz on six channels, padded, with its onset.

    Zeros are added before (lead_silence_ms) and after (a whole context), so that the
    context of a hit at the very start or end of a short file fits.

    Returns:
        (signal float32 [frames, 6], onset sample, whether the onset is the fallback's).

    Raises:
        InputFileError: unreadable, or silent/clipped (LevelConfig).
    """
    samples, rate_hz = read_audio(path)
    samples = resample(samples, rate_hz, SAMPLE_RATE_HZ)
    mapped = apply_channel_map(samples, corpus_channel_map(samples.shape[1]), str(path))
    problem = level_problem(mapped, tuple(range(N_PIEZOS)), settings.levels)
    if problem:
        raise InputFileError(f"{path}: {problem}")
    lead = round(settings.corpus.lead_silence_ms * SAMPLE_RATE_HZ / 1000)
    tail = sum(settings.context.span(settings.features))
    signal = np.pad(mapped, ((lead, tail), (0, 0)))
    onset, fallback = single_hit_onset(
        signal,
        settings.detector,
        SAMPLE_RATE_HZ,
        round(settings.corpus.attack_ms * SAMPLE_RATE_HZ / 1000),
        settings.corpus.peak_fraction,
    )
    return signal, onset, fallback


def build_hits(
    files: Iterable[HitFile],
    classes: tuple[str, ...],
    group_key: str,
    settings: CorpusSettings | None = None,
    report: CorpusReport | None = None,
) -> tuple[HitDataset, CorpusReport]:
    """Load single-hit files into a dataset with one task, CLASS_TASK.

    A file that cannot be used (unreadable, silent, clipped) is skipped and listed in the
    report; it never stops the build: a public corpus has the odd bad file.

    Args:
        files: what to load.
        classes: the class names, in model output order.
        group_key: the grouping key the files' groups are stored under ("kit", "source").
        report: the report of the step that chose the files (what it left out, and why),
            which this load adds to; a new one when None.
    """
    settings = CorpusSettings() if settings is None else settings
    builder = DatasetBuilder({CLASS_TASK: classes}, settings.features, settings.context)
    report = CorpusReport() if report is None else report
    for hit in files:
        try:
            signal, onset, fallback = load_single_hit(hit.path, settings)
        except InputFileError as error:
            report.skipped.append((str(hit.path), str(error).removeprefix(f"{hit.path}: ")))
            continue
        builder.add(
            signal, onset, {CLASS_TASK: hit.class_name}, hit.dynamics,
            {group_key: hit.group}, str(hit.path),
        )  # fmt: skip
        report.kept[hit.group, hit.class_name] += 1
        if fallback:
            report.fallbacks.append(str(hit.path))
    return builder.build(), report


def build_corpus(
    root: Path, settings: CorpusSettings | None = None
) -> tuple[HitDataset, CorpusReport]:
    """A folder-per-class corpus as a dataset: task CLASS_TASK over the class folders
    (sorted), groups under the key "source".

    Raises:
        InputFileError: no corpus there.
        DatasetError: a class with fewer than min_hits_per_class usable files.
    """
    files = corpus_files(root)
    classes = tuple(sorted({hit.class_name for hit in files}))
    dataset, report = build_hits(files, classes, "source", settings)
    dataset.check_min_per_class((settings or CorpusSettings()).corpus.min_hits_per_class)
    return dataset, report
