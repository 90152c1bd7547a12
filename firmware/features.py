"""Hit features: the log band spectrum of the first 10 ms after an onset, per channel.

This is the one implementation used by training (dataset building), by evaluation and by the
firmware at run time, so that what a model learned is exactly what it is shown on the board.
The 10 ms window is the instrument's whole action-to-sound budget: it cannot grow.
"""

import itertools
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

from firmware.layout import SAMPLE_RATE_HZ

VELOCITY_RANGE_DB = 60.0
"""Dynamic range mapped onto velocity 0..1: a piezo peak at 0 dBFS is 1, at -60 dBFS is 0."""


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the hit features; a model bundle records them and the firmware refuses a
    bundle whose parameters differ from its own."""

    sample_rate_hz: int = SAMPLE_RATE_HZ
    window_samples: int = 480
    """Samples in the analysis window: 10 ms at 48 kHz."""
    pre_roll_samples: int = 16
    """Samples of the window that come before the detected onset, so that an onset placed a
    little late still keeps the attack in the window. Part of window_samples, not extra."""
    fade_out_samples: int = 64
    """Half-Hann fade at the window's end, against truncation leakage."""
    fft_size: int = 512
    n_bands: int = 40
    """Geometrically spaced bands between the first FFT bin and Nyquist."""
    log_floor: float = 1e-6
    """Added before log10: -120 dB, below any sensor's noise floor."""

    def __post_init__(self) -> None:
        if self.fft_size < self.window_samples:
            raise ValueError(f"fft_size {self.fft_size} < window_samples {self.window_samples}")
        if not 0 <= self.pre_roll_samples < self.window_samples:
            raise ValueError(f"pre_roll_samples must be in [0, {self.window_samples})")
        if not 0 <= self.fade_out_samples <= self.window_samples - self.pre_roll_samples:
            raise ValueError("fade_out_samples must fit in the window after the pre-roll")
        if band_edges(self.fft_size, self.n_bands)[-1] > self.fft_size // 2 + 1:
            raise ValueError(f"n_bands {self.n_bands} is too many for fft_size {self.fft_size}")

    def to_dict(self) -> dict[str, float | int]:
        """The parameters as a plain mapping, as written into a bundle manifest."""
        return asdict(self)

    @property
    def window_ms(self) -> float:
        return 1000.0 * self.window_samples / self.sample_rate_hz

    @cached_property
    def taper(self) -> np.ndarray:
        """Window weights, shape [window_samples, 1]: flat, then a half-Hann fade out."""
        taper = np.ones(self.window_samples, dtype=np.float32)
        if self.fade_out_samples:
            fade = np.hanning(2 * self.fade_out_samples + 1)[self.fade_out_samples + 1 :]
            taper[-self.fade_out_samples :] = fade
        return taper[:, None]

    @cached_property
    def pooling(self) -> np.ndarray:
        """Band averaging matrix, shape [n_bands, fft_size // 2 + 1]."""
        edges = band_edges(self.fft_size, self.n_bands)
        pooling = np.zeros((self.n_bands, self.fft_size // 2 + 1), dtype=np.float32)
        for band, (lo, hi) in enumerate(itertools.pairwise(edges)):
            pooling[band, lo:hi] = 1.0 / (hi - lo)
        return pooling

    @cached_property
    def band_centres_hz(self) -> np.ndarray:
        """Centre frequency of each band in Hz, shape [n_bands], for plots and docs."""
        edges = band_edges(self.fft_size, self.n_bands)
        centre_bins = np.sqrt(edges[:-1] * (edges[1:] - 1))
        return centre_bins * self.sample_rate_hz / self.fft_size


def band_edges(fft_size: int, n_bands: int) -> np.ndarray:
    """FFT bin edges of the bands, shape [n_bands + 1]: geometric from bin 1 (DC is dropped:
    piezo offsets carry nothing), every band at least one bin wide."""
    n_bins = fft_size // 2 + 1
    edges = np.round(np.geomspace(1, n_bins, n_bands + 1)).astype(int)
    for i in range(1, len(edges)):
        edges[i] = max(edges[i], edges[i - 1] + 1)
    return edges


def hit_features(windows: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Log band magnitude spectra of hit windows.

    Args:
        windows: float samples, shape [..., window_samples, channels], as cut by cut_window.
        config: feature parameters.

    Returns:
        float32 log10 band magnitudes, shape [..., n_bands, channels]: frequency runs along
        the first axis so that a 1-D convolution over frequency sees sensors as channels.
    """
    if windows.shape[-2] != config.window_samples:
        raise ValueError(
            f"window has {windows.shape[-2]} samples, features expect {config.window_samples}"
        )
    spectrum = np.fft.rfft(windows * config.taper, n=config.fft_size, axis=-2)
    magnitude = np.abs(spectrum).astype(np.float32) * np.float32(2.0 / config.taper.sum())
    bands = config.pooling @ magnitude
    return np.log10(bands + np.float32(config.log_floor)).astype(np.float32)


def window_start(onset_sample: int, config: FeatureConfig) -> int:
    """First sample of the analysis window of a hit whose onset is at onset_sample."""
    return onset_sample - config.pre_roll_samples


def cut_window(signal: np.ndarray, onset_sample: int, config: FeatureConfig) -> np.ndarray:
    """The analysis window of one hit from a whole recording.

    Args:
        signal: samples, shape [frames, channels].
        onset_sample: index into signal of the hit's onset.

    Returns:
        A view, shape [window_samples, channels].

    Raises:
        ValueError: the window does not lie wholly inside the signal.
    """
    start = window_start(onset_sample, config)
    stop = start + config.window_samples
    if start < 0 or stop > signal.shape[0]:
        raise ValueError(
            f"window [{start}, {stop}) of onset {onset_sample} is outside the signal "
            f"of {signal.shape[0]} frames"
        )
    return signal[start:stop]


def peak_velocity(window: np.ndarray) -> float:
    """Hit velocity in [0, 1] from the peak magnitude over the window's piezo channels.

    Measured by DSP rather than learned: it is exact, free, and leaves the network's
    embedding free to spread hits by the nuances a peak cannot see.

    Args:
        window: samples, shape [window_samples, n_piezos] (the piezo channels only).
    """
    peak = float(np.max(np.abs(window)))
    level_db = 20.0 * np.log10(max(peak, 1e-12))
    return float(np.clip((level_db + VELOCITY_RANGE_DB) / VELOCITY_RANGE_DB, 0.0, 1.0))
