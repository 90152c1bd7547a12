"""What a soak plays and when each fault comes: SoakConfig, the recording (Session), and the
limits the checks hold the run to."""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.soak.source import OverrunConfig
from firmware.cli import REPO_ROOT

WORKDIR = REPO_ROOT / "build" / "soak"
SESSION_SECONDS = 120.0
SESSION_SEED = 4242
SESSION_PLAYERS = (300, 301, 302)
PREFIX = "/hitar"
VALID = "valid"
DAMAGES = ("manifest", "checksum", "truncated", "features")
"""Corrupt bundles: a byte of manifest.json flipped (not UTF-8), a byte of model.tflite flipped
(checksum), the model cut short with a matching checksum (not a TFLite model), a manifest made
for other feature parameters."""
MATCH_MS = 2.0
LOOP_TOTALS = (
    "scored",
    "detected",
    "misses",
    "unknown_misses",
    "false_alarms",
    "overrun_artefacts",
    "seam_artefacts",
    "near_overruns",
    "near_overruns_detected",
)
NEAR_OVERRUN_MS = 20.0
"""A hit this close to lost frames lost part of its onset or window: not scored."""
WATCHDOG_SEC = 5.0
"""hitar.service's WatchdogSec."""


@dataclass(frozen=True)
class Session:
    """A recording and its ground truth."""

    path: Path
    frames: int
    sample_rate_hz: int
    onsets: np.ndarray
    """int [n_hits]: ground-truth onset samples, ascending."""
    hands: tuple[str, ...]
    locations: tuple[str, ...]


@dataclass(frozen=True)
class SoakConfig:
    """What the soak plays and when each fault comes (times in seconds of audio)."""

    loops: int = 61
    """Of a 120 s session: 2 h 2 min of audio."""
    board: str = "pi4-octo"
    period_frames: int = 64
    overruns: OverrunConfig = field(default_factory=OverrunConfig)
    speed: float | None = None
    """At most this many times real time (None: as fast as the firmware goes)."""
    outages_at_s: tuple[float, ...] = tuple(60.0 * m for m in (6, 26, 46, 66, 86, 106))
    outage_min_s: float = 2.0
    """Wall seconds the receiver stays away at least (the sender retries once a second)."""
    bursts_at_s: tuple[float, ...] = tuple(60.0 * m for m in range(3, 120, 10))
    burst_malformed: int = 90
    burst_valid: int = 10
    swaps: tuple[tuple[float, str], ...] = tuple(
        (60.0 * m, kind)
        for m, kind in (
            (15, VALID),
            (30, "manifest"),
            (45, VALID),
            (60, "checksum"),
            (75, "truncated"),
            (90, VALID),
            (100, "features"),
        )
    )
    """(when, VALID or one of DAMAGES)."""
    rss_interval_s: float = 0.5
    fault_timeout_s: float = 20.0
    """Wall seconds a fault may take to show in the status before it counts as unseen."""
    max_growth_mib_per_h: float = 4.0
    """Resident memory may grow this much per hour of audio after warm-up ..."""
    memory_slack_mib: float = 4.0
    """... plus this much in all (allocator pools, a reloaded model's arenas)."""

    def __post_init__(self) -> None:
        if self.loops < 1:
            raise ValueError(f"loops must be >= 1, got {self.loops}")
        for _, kind in self.swaps:
            if kind != VALID and kind not in DAMAGES:
                raise ValueError(f"swap kind must be {VALID!r} or one of {DAMAGES}, got {kind!r}")
