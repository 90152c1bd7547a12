"""Hit detection on the five body piezos: sample-accurate onsets, streaming, any block size.

How it decides, per frame of 16 samples (frames are aligned to the absolute sample count,
which is what makes every block size give the same onsets):

1. Each channel is band-passed (2 to 12 kHz by default: a hit's attack is broadband, while
   what the strings leak into the piezos, and the body's ringing, sit lower and die faster up
   there; below lie hum and the strings' low partials) and gives one energy per frame.
2. A channel's *attack* energy is the mean over the last ``attack_frames`` frames (a hit stays
   loud for milliseconds, a flicker of ringing strings does not), and its *background* the
   larger of its noise floor (a slow average of log energy: it follows sensor noise and
   sustained string playing but hardly moves for a hit) and its recent level (the mean over
   the few milliseconds before the attack window: a hit's own ringing is the background of
   whatever follows it).
3. A frame whose attack energy on some piezo exceeds that piezo's background by the novelty
   threshold is a candidate, unless it falls in the dead time of the previous candidate.
4. A candidate is confirmed ``confirm_frames`` later. Plucked strings shake the body too, but
   they are far more novel on the pickup than on the piezos, and a body hit is the reverse;
   the pickup may hear a pluck up to a millisecond after the bridge does (the wave has to
   travel along the string). So the peak attack novelty of the piezos and of the pickup over
   the candidate's frame and the confirmation span, both against the background frozen at the
   candidate, are compared: a pickup that rose to within ``pluck_margin_db`` of the piezos
   marks a pluck. A pluck is not reported, and masks like a hit (its sound keeps growing on
   the piezos while the pickup's background already holds it).
   The hit path waits about 10 ms after an onset for its feature window anyway, so
   confirming costs no latency.
5. A hit's onset is refined in the recent history of the piezo that peaks in the attack window
   (the nearest to the hit, which hears it first): the start of the run of samples above its
   background (by ``onset_threshold_db``) that leads to the peak, a run ending at
   ``quiet_samples`` quiet samples.

Real-time: state is preallocated; a period costs two filter calls and a few small vectorised
numpy operations on arrays of a few frames; the per-hit work touches at most
``max_lookback_samples`` samples.
"""

from dataclasses import dataclass

import numpy as np
from scipy import signal

from firmware.errors import ConfigError
from firmware.layout import N_CHANNELS, N_PIEZOS, PICKUP_CHANNEL

_TINY = 1e-30
_RING_SAMPLES = 8192
"""Band-passed history kept: a chunk plus the longest look-back."""
_MAX_CHUNK = 4096
"""Longer blocks are analysed in chunks of this many samples."""


@dataclass(frozen=True)
class DetectorConfig:
    """Detector parameters ([detector] in a board profile). Defaults are tuned on simulated
    sessions whose seeds the benchmark never uses (bench/onsets.py)."""

    band_low_hz: float = 2000.0
    """Lower edge of the detection band (2nd-order Butterworth each side)."""
    band_high_hz: float = 12000.0
    """Upper edge of the detection band."""
    frame_samples: int = 16
    """Analysis hop: the decision grid (0.33 ms at 48 kHz); onsets are refined below it."""
    attack_frames: int = 3
    """Frames whose mean energy is compared with the background."""
    novelty_threshold_db: float = 11.0
    """How far a piezo's attack energy must rise over its background to be a candidate."""
    floor_seconds: float = 1.0
    """Time constant of the noise floor (log-energy average)."""
    recent_frames: int = 16
    """Frames averaged for the recent background (5.3 ms at 48 kHz)."""
    recent_gap_frames: int = 1
    """Frames between the recent background and the attack window, so that a slow attack's
    first frame does not hide the rest of it."""
    min_level_db: float = -100.0
    """Frame energy (dB re full scale, in the detection band) below which nothing triggers:
    digital silence."""
    dead_time_ms: float = 8.0
    """After a candidate, no new one for this long: a contact lasts up to several ms."""
    confirm_frames: int = 9
    """Frames after a candidate over which its pickup and piezo novelty are compared (3 ms at
    48 kHz); the span must end within the dead time."""
    pluck_margin_db: float = 8.0
    """A candidate whose peak pickup novelty exceeds its peak piezo novelty minus this is a
    pluck."""
    onset_threshold_db: float = 10.0
    """Level over the background (per sample) that counts as sound when refining the onset."""
    quiet_samples: int = 8
    """A run of this many quiet samples separates the hit's attack from what came before."""
    lookback_samples: int = 96
    """How far before the candidate frame the refinement may look (2 ms at 48 kHz)."""

    def __post_init__(self) -> None:
        if not 0 < self.band_low_hz < self.band_high_hz:
            raise ValueError("band edges must satisfy 0 < band_low_hz < band_high_hz")
        if not 1 <= self.frame_samples <= 256:
            raise ValueError(f"frame_samples must be in [1, 256], got {self.frame_samples}")
        if self.recent_frames < 1 or self.recent_gap_frames < 0:
            raise ValueError("recent_frames must be >= 1 and recent_gap_frames >= 0")
        if not 1 <= self.attack_frames <= 16:
            raise ValueError(f"attack_frames must be in [1, 16], got {self.attack_frames}")
        if not 0 < self.lookback_samples <= 1024:
            raise ValueError(f"lookback_samples must be in (0, 1024], got {self.lookback_samples}")
        if self.quiet_samples < 1:
            raise ValueError(f"quiet_samples must be >= 1, got {self.quiet_samples}")
        if self.floor_seconds <= 0:
            raise ValueError(f"floor_seconds must be > 0, got {self.floor_seconds}")
        if not 0 <= self.confirm_frames <= 64:
            raise ValueError(f"confirm_frames must be in [0, 64], got {self.confirm_frames}")
        if not 0 <= self.dead_time_ms <= 100:
            raise ValueError(f"dead_time_ms must be in [0, 100], got {self.dead_time_ms}")
        if self.max_lookback_samples > _RING_SAMPLES - _MAX_CHUNK:
            raise ValueError(
                f"lookback, attack and confirmation reach {self.max_lookback_samples} samples, "
                f"more than {_RING_SAMPLES - _MAX_CHUNK}"
            )

    @property
    def max_lookback_samples(self) -> int:
        """The furthest an onset can lie before the start of the block that reports it: the
        refinement's reach plus the confirmation delay."""
        reach = self.lookback_samples + self.attack_frames * self.frame_samples
        return reach + (self.confirm_frames + 1) * self.frame_samples - 1


@dataclass
class _Candidate:
    """A frame that may hold a hit, waiting for its confirmation."""

    frame: int
    background: np.ndarray
    """Per-channel background energy frozen at the candidate, shape [6]."""
    piezo_peak: float
    pickup_peak: float


class HitDetector:
    """Streaming multichannel hit detector; see the module docstring for how it decides."""

    def __init__(self, config: DetectorConfig, sample_rate_hz: int) -> None:
        """Build the filters and preallocate all state for config at sample_rate_hz.

        Raises:
            ConfigError: the band or the dead time does not fit this sample rate.
        """
        if config.band_high_hz >= sample_rate_hz / 2:
            raise ConfigError(
                f"detector band_high_hz: {config.band_high_hz} Hz is not below Nyquist "
                f"({sample_rate_hz / 2} Hz)"
            )
        self.config = config
        self.sample_rate_hz = sample_rate_hz
        hop = config.frame_samples
        band_hz = (config.band_low_hz, config.band_high_hz)
        self._band = signal.butter(2, band_hz, "bandpass", fs=sample_rate_hz)
        pole = float(np.exp(-hop / (config.floor_seconds * sample_rate_hz)))
        self._floor_pole = pole
        self._floor_filter = (np.array([1.0 - pole]), np.array([1.0, -pole]))
        self._confirm_frames = config.confirm_frames
        try:
            self.set_dead_time_ms(config.dead_time_ms)
        except ValueError as error:
            raise ConfigError(f"detector dead_time_ms: {error}") from None
        self._confirm_frames = config.confirm_frames
        self._novelty = 10.0 ** (config.novelty_threshold_db / 10.0)
        self._min_energy = 10.0 ** (config.min_level_db / 10.0)
        self._pluck_margin = 10.0 ** (config.pluck_margin_db / 10.0)
        self._onset_ratio = 10.0 ** (config.onset_threshold_db / 10.0)
        self._band_state = np.zeros((self._band[1].size - 1, N_CHANNELS))
        self._ring = np.zeros((2 * _RING_SAMPLES, N_CHANNELS), dtype=np.float32)
        self._floor_state = np.zeros((1, N_CHANNELS))
        """State of the floor's one-pole filter: pole times the last log floor."""
        self._history_rows = (
            config.recent_frames + config.recent_gap_frames + config.attack_frames - 1
        )
        # Frame energies: the history rows, then up to one chunk's frames.
        self._energy = np.zeros((self._history_rows + _MAX_CHUNK // hop + 1, N_CHANNELS))
        self._scale = 1.0
        self.reset()

    def reset(self) -> None:
        """Forget all signal history; the sample count restarts at 0. Keeps the sensitivity."""
        self._band_state[:] = 0.0
        self._ring[:] = 0.0
        self._floor_state[:] = 0.0
        self._energy[:] = 0.0
        self._samples_seen = 0
        self._frames_done = 0
        self._dead_until_frame = 0
        self._last_trigger_end = 0
        self._candidate: _Candidate | None = None

    def set_sensitivity(self, scale: float) -> None:
        """Multiply the novelty threshold by scale: above 1 only stronger hits are detected,
        below 1 softer ones too."""
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError(f"sensitivity scale must be a positive number, got {scale}")
        self._scale = float(scale)

    def set_dead_time_ms(self, dead_time_ms: float) -> None:
        """Live control of the retrigger mask: no new candidate for this long after one. It
        must outlast the confirmation span, within which a candidate is still being judged."""
        hop = self.config.frame_samples
        frames = int(np.ceil(dead_time_ms * 1e-3 * self.sample_rate_hz / hop))
        if frames <= self._confirm_frames:
            raise ValueError(
                f"{dead_time_ms} ms must outlast confirm_frames "
                f"({self._confirm_frames} frames of {hop} samples)"
            )
        self._dead_frames = frames

    def process(self, block: np.ndarray) -> list[int]:
        """Feed one block and return the onsets of the hits confirmed in it.

        Args:
            block: float32 samples, shape [frames, 6], in firmware.layout channel order.

        Returns:
            Absolute onset sample indices (0 = the first sample processed since start or
            reset), increasing; an onset may lie up to config.max_lookback_samples before this
            block's first sample.

        Raises:
            ValueError: the block is not two-dimensional with 6 channels.
        """
        if block.ndim != 2 or block.shape[1] != N_CHANNELS:
            raise ValueError(f"block must have shape (frames, {N_CHANNELS}), got {block.shape}")
        onsets: list[int] = []
        for start in range(0, block.shape[0], _MAX_CHUNK):
            self._write(block[start : start + _MAX_CHUNK])
            self._analyse(onsets)
        return onsets

    def _write(self, chunk: np.ndarray) -> None:
        """Band-pass and append to the ring; every sample is stored twice so that any recent
        span is contiguous."""
        filtered, self._band_state = signal.lfilter(*self._band, chunk, axis=0, zi=self._band_state)
        n = chunk.shape[0]
        position = self._samples_seen % _RING_SAMPLES
        first = min(n, _RING_SAMPLES - position)
        self._ring[position : position + first] = filtered[:first]
        self._ring[position + _RING_SAMPLES : position + _RING_SAMPLES + first] = filtered[:first]
        if first < n:
            self._ring[: n - first] = filtered[first:]
            self._ring[_RING_SAMPLES : _RING_SAMPLES + n - first] = filtered[first:]
        self._samples_seen += n

    def _span(self, start_sample: int, stop_sample: int) -> np.ndarray:
        """Band-passed samples [start_sample, stop_sample), a view, shape [n, 6], float32."""
        stop = stop_sample % _RING_SAMPLES or _RING_SAMPLES
        if stop < stop_sample - start_sample:
            stop += _RING_SAMPLES
        return self._ring[stop - (stop_sample - start_sample) : stop]

    def _analyse(self, onsets: list[int]) -> None:
        """Energies and backgrounds of every frame completed so far, then decisions."""
        hop, rows = self.config.frame_samples, self._history_rows
        first_frame = self._frames_done
        n_frames = self._samples_seen // hop - first_frame
        if n_frames == 0:
            return
        frames = self._span(first_frame * hop, (first_frame + n_frames) * hop)
        frames = frames.reshape(n_frames, hop, N_CHANNELS)
        energy = self._energy[: rows + n_frames]
        np.einsum("fsc,fsc->fc", frames, frames, out=energy[rows:], dtype=np.float64)
        energy[rows:] *= 1.0 / hop
        log_energy = np.log(energy[rows:] + _TINY)
        if first_frame == 0:
            self._floor_state[:] = self._floor_pole * log_energy[0]
            energy[:rows] = energy[rows]
        floor, self._floor_state = signal.lfilter(
            *self._floor_filter, log_energy, axis=0, zi=self._floor_state
        )
        # Frame k's background: the larger of the floor and the mean of the recent frames that
        # end recent_gap_frames before k's attack window (the last attack_frames frames).
        recent = _windows(energy, self.config.recent_frames, n_frames).sum(axis=-1)
        recent *= 1.0 / self.config.recent_frames
        background = np.maximum(np.exp(floor), recent, out=recent)
        attack = self.config.attack_frames
        level = energy[rows - attack + 1 : rows - attack + 1 + n_frames].copy()
        for lag in range(attack - 2, -1, -1):
            level += energy[rows - lag : rows - lag + n_frames]
        level *= 1.0 / attack
        threshold = background[:, :N_PIEZOS] * (self._novelty * self._scale)
        np.maximum(threshold, self._min_energy, out=threshold)
        candidates = np.flatnonzero((level[:, :N_PIEZOS] > threshold).any(axis=1))
        if candidates.size or self._candidate is not None:
            self._decide(candidates, level, background, first_frame, onsets)
        energy[:rows] = energy[n_frames : n_frames + rows]
        self._frames_done += n_frames

    def _decide(
        self,
        candidates: np.ndarray,
        level: np.ndarray,
        background: np.ndarray,
        first_frame: int,
        onsets: list[int],
    ) -> None:
        """Open candidates, accumulate their peaks, and confirm those whose span has ended.

        Args:
            candidates: indices of this block's frames that passed the novelty test.
            level: attack energies, shape [n_frames, 6].
            background: per-frame backgrounds, shape [n_frames, 6].
        """
        last_frame = first_frame + level.shape[0] - 1
        next_index = 0  # frames of this block before it have been considered
        while True:
            candidate = self._candidate
            if candidate is not None:
                deadline = candidate.frame + self._confirm_frames
                lo = max(candidate.frame, first_frame) - first_frame
                hi = min(deadline, last_frame) - first_frame + 1
                if hi > lo:
                    rise = (level[lo:hi] / (candidate.background + _TINY)).max(axis=0)
                    candidate.piezo_peak = max(candidate.piezo_peak, rise[:N_PIEZOS].max())
                    candidate.pickup_peak = max(candidate.pickup_peak, rise[PICKUP_CHANNEL])
                if deadline > last_frame:
                    return
                if candidate.pickup_peak * self._pluck_margin < candidate.piezo_peak:
                    onsets.append(self._refine(candidate))
                self._candidate = None
            later = candidates[candidates >= max(next_index, self._dead_until_frame - first_frame)]
            if later.size == 0:
                return
            i = int(later[0])
            frame = first_frame + i
            self._candidate = _Candidate(frame, background[i].copy(), 0.0, 0.0)
            self._dead_until_frame = frame + 1 + self._dead_frames
            next_index = i + 1

    def _refine(self, candidate: _Candidate) -> int:
        """Onset of a confirmed hit: on the piezo that peaks in the attack window (the nearest
        to the hit, which hears it first), the start of the run of sound leading to the peak."""
        attack = self.config.attack_frames * self.config.frame_samples
        stop = (candidate.frame + 1) * self.config.frame_samples
        start = max(stop - attack - self.config.lookback_samples, self._last_trigger_end, 0)
        self._last_trigger_end = stop
        piezos = self._span(start, stop)[:, :N_PIEZOS]
        window = piezos[-attack:]
        peak, channel = np.unravel_index(np.argmax(np.abs(window)), window.shape)
        peak += piezos.shape[0] - window.shape[0]
        power = np.square(piezos[: peak + 1, channel], dtype=np.float64)
        sound = np.flatnonzero(power > self._onset_ratio * candidate.background[channel])
        if sound.size == 0:
            return start + int(peak)
        breaks = np.flatnonzero(np.diff(sound) > self.config.quiet_samples)
        return start + int(sound[breaks[-1] + 1] if breaks.size else sound[0])


def _windows(rows: np.ndarray, length: int, count: int) -> np.ndarray:
    """Overlapping windows of `length` consecutive rows, starting at rows 0..count-1: a view of
    shape [count, channels, length] (summing each window in the same order whatever the block
    size, which keeps results bit-identical across block sizes)."""
    row_stride, column_stride = rows.strides
    return np.ndarray(
        (count, rows.shape[1], length),
        dtype=rows.dtype,
        buffer=rows,
        strides=(row_stride, column_stride, row_stride),
    )
