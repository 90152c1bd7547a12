"""Audio files into the firmware's sample rate and channel order, with level checks.

Recordings and sample libraries come at any rate and channel count; models see 48 kHz blocks in
firmware.layout.CHANNEL_NAMES order. Everything that bridges the two lives here, so that the
rules (how a stereo drum sample becomes five piezo channels, what counts as silent or clipped)
are written once and documented in docs/DATA.md.
"""

from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from firmware.errors import InputFileError
from firmware.layout import CHANNEL_NAMES, N_CHANNELS, N_PIEZOS, SAMPLE_RATE_HZ

SILENT_CHANNEL = -1
"""A channel map entry for a sensor the recording does not have: that channel stays zero."""


@dataclass(frozen=True)
class LevelConfig:
    """Thresholds that reject a recording before it can train anything."""

    silent_peak_dbfs: float = -60.0
    """A piezo channel whose peak is below this carries no hits: a dead sensor or a wrong map."""
    clip_level: float = 0.999
    """A sample at or above this magnitude is taken as clipped."""
    max_clipped_fraction: float = 0.001
    """A channel with more than this fraction of its samples clipped is rejected (0.1 %: a few
    clipped samples per hit pass, a recording driven into the rails does not)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.clip_level <= 1.0:
            raise ValueError(f"clip_level must be in (0, 1], got {self.clip_level}")
        if not 0.0 <= self.max_clipped_fraction < 1.0:
            raise ValueError("max_clipped_fraction must be in [0, 1)")


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Read a WAV, FLAC or AIFF file (anything libsndfile reads).

    Returns:
        (samples float32 [frames, file_channels] in [-1, 1], sample rate in Hz).

    Raises:
        InputFileError: missing, unreadable or empty file.
    """
    if not Path(path).is_file():
        raise InputFileError(f"{path}: no such audio file")
    try:
        samples, rate_hz = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise InputFileError(f"{path}: cannot read audio ({error})") from None
    if samples.shape[0] == 0:
        raise InputFileError(f"{path}: audio file has no samples")
    return samples, int(rate_hz)


def resample(samples: np.ndarray, from_hz: int, to_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Polyphase resampling (scipy's default Kaiser anti-alias filter).

    Args:
        samples: float32 [frames, channels] at from_hz.

    Returns:
        float32 [round(frames * to_hz / from_hz), channels] at to_hz; the input itself when
        the rates agree.
    """
    if from_hz == to_hz:
        return samples
    divisor = gcd(from_hz, to_hz)
    return resample_poly(samples, to_hz // divisor, from_hz // divisor, axis=0).astype(np.float32)


def apply_channel_map(samples: np.ndarray, channel_map: tuple[int, ...], where: str) -> np.ndarray:
    """Reorder a recording's channels into the firmware's order.

    Args:
        samples: float32 [frames, file_channels].
        channel_map: for each of firmware.layout.CHANNEL_NAMES (piezo1..piezo5, pickup), the
            0-based file channel carrying it, or SILENT_CHANNEL for a sensor not recorded.
        where: the file to name in errors.

    Returns:
        float32 [frames, 6].

    Raises:
        InputFileError: the map has the wrong length or names a channel the file lacks.
    """
    if len(channel_map) != N_CHANNELS:
        raise InputFileError(
            f"{where}: channel_map has {len(channel_map)} entries, expected {N_CHANNELS} "
            "(piezo1..piezo5, pickup)"
        )
    n_file_channels = samples.shape[1]
    for entry in channel_map:
        if entry != SILENT_CHANNEL and not 0 <= entry < n_file_channels:
            raise InputFileError(
                f"{where}: channel_map names file channel {entry} but the file has "
                f"{n_file_channels} channels (0-based; {SILENT_CHANNEL} for a sensor not recorded)"
            )
    out = np.zeros((samples.shape[0], N_CHANNELS), dtype=np.float32)
    for channel, entry in enumerate(channel_map):
        if entry != SILENT_CHANNEL:
            out[:, channel] = samples[:, entry]
    return out


def corpus_channel_map(n_file_channels: int) -> tuple[int, ...]:
    """The fixed rule that puts a sample library file onto the model's six inputs.

    Piezo k (0-based) takes file channel ``min(k * n // 5, n - 1)``: mono is copied onto all
    five piezos; stereo puts left on piezo1..3 and right on piezo4..5; three to five channels
    spread in order; beyond five, five of them spread across the file's channels (8 channels:
    0, 1, 3, 4, 6). The pickup is always silent: a percussion sample carries no string signal.
    """
    piezos = tuple(min(k * n_file_channels // N_PIEZOS, n_file_channels - 1) for k in range(5))
    return (*piezos, SILENT_CHANNEL)


def level_problem(
    samples: np.ndarray, channels: tuple[int, ...], config: LevelConfig
) -> str | None:
    """Why a recording is unusable (silent or clipped channel, LevelConfig), or None.

    Args:
        samples: float32 [frames, 6] in firmware channel order.
        channels: the logical channels to check: the recorded piezos. The pickup is left out
            (a player may not touch the strings in a hit session), and so is a piezo mapped to
            SILENT_CHANNEL.

    Returns:
        One phrase naming the channel and the measured level, for the caller's error or report.
    """
    for channel in channels:
        magnitude = np.abs(samples[:, channel])
        peak_dbfs = 20.0 * np.log10(max(float(magnitude.max()), 1e-12))
        name = CHANNEL_NAMES[channel]
        if peak_dbfs < config.silent_peak_dbfs:
            return (
                f"{name} is silent (peak {peak_dbfs:.1f} dBFS, below silent_peak_dbfs "
                f"{config.silent_peak_dbfs:g})"
            )
        clipped = np.count_nonzero(magnitude >= config.clip_level) / samples.shape[0]
        if clipped > config.max_clipped_fraction:
            return (
                f"{name} is clipped ({100 * clipped:.2f} % of samples at or above "
                f"{config.clip_level:g}, more than max_clipped_fraction "
                f"{100 * config.max_clipped_fraction:g} %)"
            )
    return None
