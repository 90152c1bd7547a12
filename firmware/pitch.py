"""Pitch and loudness of the string pickup, once per 64-sample hop: the FM voice's two inputs.

The envelope model of the FM voice (Caspe et al., "FM Tone Transfer with Envelope Learning")
reads a normalised pitch and a loudness in [0, 1] every hop. This module computes both, in one
implementation shared by the board (`PitchTracker.process`, hop by hop) and by training
(`track`, a whole signal through the same tracker), so that the model is trained on exactly the
numbers it will see on stage.

Pitch: YIN (de Cheveigné and Kawahara 2002), shaped for a 64-sample hop.

- Decimation. The lag search runs on the pickup low-passed to `lowpass_hz` (8 kHz) and
  decimated by `decimation` (48 kHz -> 24 kHz): fundamentals up to `fmax_hz` and their first
  harmonics survive, and the FFTs halve. Decimating by 4 was tried and rejected: at 12 kHz the
  dip of a violin's C6 falls between lags and loses to the dip an octave below.
- Newest-first window. The difference function compares the newest `window_ms` of the signal
  with the same span `lag` samples earlier, d(lag) = sum_j (x[n - j] - x[n - j - lag])^2,
  where YIN puts the window at the oldest end. A note of period P is then seen whole about
  window + P after it starts, however low `fmin_hz` is, so a high note is not delayed by the
  room the lowest string needs.
- Lag choice. The cumulative mean normalised difference d' of YIN, each dip measured at the
  vertex of a parabola through it. As in YIN the first dip wins, which keeps the tracker off
  sub-octaves, but the limit a dip must reach is relative to the deepest dip rather than
  absolute (`dip_ratio`, `dip_margin`; the reasons are in pick_lag).
- Refinement at full rate. Interpolation between 24 kHz lags is up to 9 cents off at the top
  of the range, so the difference function is evaluated again on the full-rate signal at the
  lag nearest the estimate and its two neighbours, and the vertex of a parabola through them
  gives the period.
- Voicing with hysteresis: a note becomes voiced when its aperiodicity (d' at the chosen dip)
  falls below `voiced_on` and stays voiced until it rises above `voiced_off`. Below `gate_db`
  the pickup counts as silent: unvoiced, and the lag search is skipped. The default gate is
  the loudness floor, so f0 is 0 whenever loudness is 0 and the pair (0, 0) means silence.

Loudness: RMS over the last `loudness_hops` hops in dBFS, clamped at -70 dB and scaled to
[0, 1], the reference runtime's mapping. A window of about one period of the lowest string
keeps the RMS from rippling at the pitch period; because the value is in dB an onset still
shows within one hop (a note at -20 dBFS lifts the first hop's loudness from 0 to about 0.4).

Latency, what the tracker adds to the voice (`bench/pitch.py` measures it): a new note's pitch
is reported once its first period is about a window behind the newest sample: window + one
period + the voicing decision + the decimation filter's delay (0.3 ms). Measured on harmonic
tones from silence: 20 ms for E2 (82 Hz), 9 ms for E4, 3.6 ms for E6; between notes: 16 ms
E2 -> A2, 9 ms E4 -> A4. No estimator can name a period before it has heard one, so for the
low strings (E2: 12 ms per period) physics, not the 3 ms pipeline goal, bounds pitch latency;
`window_ms` trades steadiness for speed above that. On sampled guitars the pluck's noisy
attack adds about 10 ms more. Loudness follows within one hop. Both outputs describe the
signal up to the end of the hop just processed: no look-ahead, no extra buffering.

Real-time: every buffer is allocated in the constructor. Per hop, `process` shifts two short
ring buffers in place, runs three FFTs of 540 points and a few dozen vector operations.
"""

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from firmware.errors import ConfigError

LOUDNESS_FLOOR_DB = -70.0
"""RMS level in dBFS mapped to loudness 0; 0 dBFS maps to 1 (the reference runtime's range)."""
FLOOR_RMS = 10.0 ** (LOUDNESS_FLOOR_DB / 20.0)

MIDI_A4 = 69.0
A4_HZ = 440.0
MIDI_RANGE = 127.0
"""Pitch is normalised as MIDI note / 127, as in DDSP."""

Levels = TypeVar("Levels", float, np.ndarray)
"""Per-hop scalars on the board, whole curves in training: the mappings take either."""

NEIGHBOURS = np.array([[-1], [0], [1]])
SLOPE_CURVATURE = np.array([[1.0, 0.0, -1.0], [1.0, -2.0, 1.0]], dtype=np.float32)
"""Applied to d' at lags (l - 1, l, l + 1): the slope and curvature of the parabola through
them, whose vertex lies at l + slope / (2 curvature), slope^2 / (8 curvature) below d'(l)."""


@dataclass(frozen=True)
class PitchConfig:
    """Parameters of the pickup's pitch and loudness tracker; a voice bundle records them."""

    hop_samples: int = 64
    """Samples per call of process(): one audio period of the engine."""
    fmin_hz: float = 70.0
    """Lowest pitch reported: below drop-D (73.4 Hz)."""
    fmax_hz: float = 2200.0
    """Highest pitch reported: above C7 (2093 Hz), the top of flute and violin parts."""
    window_ms: float = 7.5
    """YIN integration window, newest samples first: longer is steadier, shorter is faster."""
    decimation: int = 2
    """Decimation factor of the lag search; must divide hop_samples."""
    decimation_taps: int = 32
    """Length of the windowed-sinc low-pass filter ahead of the decimation."""
    lowpass_hz: float = 8000.0
    """Cut-off (-6 dB) of that filter: the lag search sees harmonics up to about here. Narrower
    keeps the dip of a short period smooth enough to interpolate between lags; with the full
    12 kHz, the dip of a bright 1.5 kHz tone falls between lags and loses to the octave below."""
    dip_ratio: float = 3.0
    """The period is the first dip of d' no deeper than dip_ratio x the deepest dip..."""
    dip_margin: float = 0.02
    """...plus dip_margin (see pick_lag)."""
    voiced_on: float = 0.15
    """An unvoiced tracker turns voiced when the aperiodicity d' falls below this..."""
    voiced_off: float = 0.3
    """...and a voiced one turns unvoiced when it rises above this."""
    gate_db: float = LOUDNESS_FLOOR_DB
    """RMS level in dBFS below which the pickup counts as silent: unvoiced, no lag search.
    Raise it on a board whose pickup hums."""
    loudness_hops: int = 8
    """Hops in the RMS window: 8 x 64 samples = 10.7 ms at 48 kHz, one period of 94 Hz."""

    def __post_init__(self) -> None:
        if self.hop_samples < 1:
            raise ValueError(f"hop_samples must be positive, got {self.hop_samples}")
        if not 0 < self.fmin_hz < self.fmax_hz:
            raise ValueError(f"need 0 < fmin_hz < fmax_hz, got {self.fmin_hz}, {self.fmax_hz}")
        if self.window_ms <= 0:
            raise ValueError(f"window_ms must be positive, got {self.window_ms}")
        if self.decimation < 1 or self.hop_samples % self.decimation:
            raise ValueError(
                f"decimation {self.decimation} must be a positive divisor of hop_samples "
                f"{self.hop_samples}"
            )
        if self.decimation_taps < 1:
            raise ValueError(f"decimation_taps must be positive, got {self.decimation_taps}")
        if self.lowpass_hz <= self.fmax_hz:
            raise ValueError(f"lowpass_hz {self.lowpass_hz} must be above fmax_hz {self.fmax_hz}")
        if self.dip_ratio < 1 or self.dip_margin < 0:
            raise ValueError(
                f"need dip_ratio >= 1 and dip_margin >= 0, got {self.dip_ratio}, {self.dip_margin}"
            )
        if not 0 < self.voiced_on <= self.voiced_off:
            raise ValueError(
                f"need 0 < voiced_on <= voiced_off, got {self.voiced_on}, {self.voiced_off}"
            )
        if self.loudness_hops < 1:
            raise ValueError(f"loudness_hops must be positive, got {self.loudness_hops}")


def loudness_from_db(level_db: Levels) -> Levels:
    """Map RMS levels in dBFS onto the network's loudness input: -70 dB (or less) is 0,
    0 dB (or more) is 1, linear in dB between. An array for an array, a float for a float."""
    return _unit_clip((level_db - LOUDNESS_FLOOR_DB) / -LOUDNESS_FLOOR_DB)


def loudness_from_rms(rms: Levels) -> Levels:
    """Loudness in [0, 1] of signals whose RMS (full scale 1.0) is rms; digital silence is 0.
    An array for an array, a float for a float."""
    return loudness_from_db(20.0 * np.log10(np.maximum(rms, FLOOR_RMS)))


def normalised_pitch(f0_hz: Levels) -> Levels:
    """Map pitches in Hz onto the network's pitch input, as DDSP does: MIDI note number / 127,
    clipped to [0, 1], and 0 Hz (unvoiced) to 0. The default range 70..2200 Hz maps onto
    0.27..0.82; A4 (440 Hz) is 0.54. An array for an array, a float for a float."""
    midi = MIDI_A4 + 12.0 * np.log2(np.maximum(f0_hz, 1e-3) / A4_HZ)
    return _unit_clip(midi / MIDI_RANGE) * (f0_hz > 0.0)


def _unit_clip(value: Levels) -> Levels:
    """Clip to [0, 1]; plain min/max for a float, whose np.clip costs microseconds per hop."""
    if isinstance(value, float):
        return min(max(value, 0.0), 1.0)
    return np.clip(value, 0.0, 1.0)


def lowpass_taps(n_taps: int, cutoff: float) -> np.ndarray:
    """Windowed-sinc (Blackman) low-pass FIR with unit gain at DC.

    Args:
        n_taps: filter length; the group delay is (n_taps - 1) / 2 samples.
        cutoff: -6 dB frequency as a fraction of the sample rate (0.5 is Nyquist).

    Returns:
        float32 taps, shape [n_taps], symmetric.
    """
    n = np.arange(n_taps) - (n_taps - 1) / 2.0
    taps = np.sinc(2.0 * cutoff * n) * np.blackman(n_taps)
    return (taps / taps.sum()).astype(np.float32)


def fft_length(n: int) -> int:
    """The smallest length >= n with no prime factor above 5, which FFTs handle fastest."""
    while True:
        rest = n
        for prime in (2, 3, 5):
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return n
        n += 1


@dataclass(frozen=True)
class DifferenceScratch:
    """Work arrays of difference_function for one frame length, allocated once."""

    spectrum: np.ndarray
    """complex64, shape [frame_samples // 2 + 1]: spectrum of the frame."""
    cross: np.ndarray
    """complex64, same shape: spectrum of the reversed window, then its product with the
    frame's."""
    correlation: np.ndarray
    """float32, shape [frame_samples]: correlation of the window with the frame."""
    energy: np.ndarray
    """float32, shape [frame_samples + 1]: energy[k] is the energy of frame[:k]."""

    @classmethod
    def for_frame(cls, frame_samples: int) -> "DifferenceScratch":
        n_bins = frame_samples // 2 + 1
        return cls(
            spectrum=np.zeros(n_bins, dtype=np.complex64),
            cross=np.zeros(n_bins, dtype=np.complex64),
            correlation=np.zeros(frame_samples, dtype=np.float32),
            energy=np.zeros(frame_samples + 1, dtype=np.float32),
        )


def difference_function(
    frame: np.ndarray, window_samples: int, scratch: DifferenceScratch, out: np.ndarray
) -> np.ndarray:
    """YIN difference function with the window at the newest end of the frame.

    d(lag) = sum over the newest window_samples samples x[n] of (x[n] - x[n - lag])^2,
    computed as energy + energy - 2 x correlation, the correlation by FFT (circular over the
    frame, which is long enough that no lag wraps).

    Args:
        frame: float32 samples, oldest first, shape [frame_samples] with frame_samples >=
            window_samples + n_lags, best of fft_length.
        window_samples: samples in the integration window.
        scratch: work arrays for this frame length.
        out: where d is written, float32, shape [n_lags]: lags 0..n_lags - 1.

    Returns:
        out: d(lag) in squared full-scale units. Rounding may leave it slightly negative where
        the signal is exactly periodic.
    """
    n_frame = frame.shape[0]
    n_lags = out.shape[0]
    np.fft.rfft(frame, out=scratch.spectrum)
    # Convolving with the time-reversed window is correlating with the window, without a conj.
    np.fft.rfft(frame[: n_frame - window_samples - 1 : -1], n_frame, out=scratch.cross)
    np.multiply(scratch.cross, scratch.spectrum, out=scratch.cross)
    np.fft.irfft(scratch.cross, n_frame, out=scratch.correlation)
    # correlation[m] = sum_j window[j] frame[m - window + 1 + j]: lag l sits at m = n_frame - 1 - l
    energy = scratch.energy
    np.multiply(frame, frame, out=energy[1:])
    np.add.accumulate(energy, out=energy)  # energy[k]: energy of frame[:k]
    oldest = n_frame - window_samples - n_lags + 1
    np.subtract(
        energy[n_frame - n_lags + 1 :][::-1], energy[oldest : oldest + n_lags][::-1], out=out
    )
    correlation = scratch.correlation[n_frame - n_lags :][::-1]
    out += out[0]  # the newest window's energy
    out -= correlation
    out -= correlation
    return out


def normalised_difference(d: np.ndarray, lags: np.ndarray, out: np.ndarray) -> np.ndarray:
    """YIN cumulative mean normalised difference d'(lag) = d(lag) lag / sum_{k=1..lag} d(k).

    Args:
        d: difference function, shape [n_lags], n_lags >= 2.
        lags: 0, 1, ..., n_lags - 1 as float32, shape [n_lags].
        out: where d' is written, float32, shape [n_lags]. d'(0) = 1, and d' = 1 at every lag
            for a constant window (d(1) = 0), which is not a periodic signal.
    """
    if d[1] <= 0.0:
        out[:] = 1.0
        return out
    np.add.accumulate(d, out=out)
    np.divide(d[1:] * lags[1:], out[1:], out=out[1:])
    out[0] = 1.0
    return out


def pick_lag(
    dprime: np.ndarray, min_lag: int, max_lag: int, dip_ratio: float, dip_margin: float
) -> tuple[float, float]:
    """The period: the first dip of d' in [min_lag, max_lag] no deeper than dip_ratio x the
    deepest dip + dip_margin.

    Each dip (local minimum) is measured at the vertex of the parabola through it: a short
    period falls between lags and its sampled value flatters the dip an octave below. The
    first-dip rule is YIN's, and keeps the tracker off sub-octaves; the limit is relative where
    YIN's threshold is absolute, because a string whose fundamental and odd harmonics decay
    first has a half-period dip under any useful absolute threshold (0.06) while its true
    period is fifteen times deeper (0.004). Relative, the limit still lets the true period win
    during an attack, when the dip at three periods can be twice as deep as the first.

    Args:
        dprime: d' for lags 0..max_lag + 1, shape [max_lag + 2]; min_lag >= 1.

    Returns:
        (lag, aperiodicity): the period in fractional lags, and d' at its dip's vertex.
    """
    centre = dprime[min_lag : max_lag + 1]
    is_dip = (centre <= dprime[min_lag - 1 : max_lag]) & (centre < dprime[min_lag + 1 :])
    lags = np.flatnonzero(is_dip)
    if not lags.shape[0]:  # d' only falls or only rises across the range: no period in it
        first = int(np.argmin(centre))
        return float(min_lag + first), float(centre[first])
    lags += min_lag
    neighbours = dprime[lags + NEIGHBOURS]  # [3, n_dips]: d' at lag - 1, lag, lag + 1
    slope, curvature = SLOPE_CURVATURE @ neighbours  # curvature > 0 at a dip
    depth = neighbours[1] - slope * slope / (8.0 * curvature)
    limit = dip_ratio * max(0.0, float(depth.min())) + dip_margin
    first = int(np.argmax(depth <= limit))
    offset = 0.5 * float(slope[first]) / float(curvature[first])
    return float(lags[first]) + offset, max(0.0, float(depth[first]))


def parabolic_offset(left: float, centre: float, right: float) -> float:
    """Offset of the vertex of the parabola through three equally spaced values, clamped to
    [-1, 1] (the middle value need not be the smallest); 0 unless the parabola opens upwards."""
    curvature = left - 2.0 * centre + right
    if curvature <= 0.0:
        return 0.0
    return max(-1.0, min(1.0, 0.5 * (left - right) / curvature))


class PitchTracker:
    """Streaming pitch and loudness of the pickup, one hop at a time (see the module doc)."""

    def __init__(self, config: PitchConfig, sample_rate_hz: int) -> None:
        factor = config.decimation
        rate_hz = sample_rate_hz / factor
        if config.lowpass_hz > rate_hz / 2:
            raise ConfigError(
                f"pitch: lowpass_hz {config.lowpass_hz} is above the Nyquist frequency of "
                f"sample_rate_hz {sample_rate_hz} / decimation {factor}"
            )
        self.config = config
        self.sample_rate_hz = sample_rate_hz
        self._min_lag = max(2, math.floor(rate_hz / config.fmax_hz))
        self._max_lag = math.ceil(rate_hz / config.fmin_hz)
        self._window = max(1, round(config.window_ms * 1e-3 * rate_hz))
        n_lags = self._max_lag + 2
        frame_samples = fft_length(self._window + n_lags)
        self._frame = np.zeros(frame_samples, dtype=np.float32)
        self._scratch = DifferenceScratch.for_frame(frame_samples)
        self._d = np.zeros(n_lags, dtype=np.float32)
        self._dprime = np.zeros(n_lags, dtype=np.float32)
        self._lags = np.arange(n_lags, dtype=np.float32)
        self._new_decimated = self._frame[frame_samples - config.hop_samples // factor :]

        # Full-rate ring: the decimator's input and the refinement's lags.
        taps = config.decimation_taps
        self._full_window = self._window * factor
        full_samples = max(
            self._full_window + factor * (self._max_lag + 1) + 2,
            config.hop_samples + taps - 1,
        )
        self._full = np.zeros(full_samples, dtype=np.float32)
        self._new_hop = self._full[full_samples - config.hop_samples :]
        self._newest = self._full[full_samples - self._full_window :]
        self._lagged = sliding_window_view(self._full, self._full_window)
        self._differences = np.zeros((3, self._full_window), dtype=np.float32)
        decimator_input = self._full[full_samples - config.hop_samples - taps + 1 :]
        self._decimator_windows = sliding_window_view(decimator_input, taps)[factor - 1 :: factor]
        self._taps = lowpass_taps(taps, config.lowpass_hz / sample_rate_hz)[::-1].copy()

        self._gate_mean_square = 10.0 ** (config.gate_db / 10.0)
        self._energies = [0.0] * config.loudness_hops
        self._energy_index = 0
        self._voiced = False
        self.nonfinite_hops = 0
        """Hops that held NaN or infinite samples: counted, and tracked as silence."""

    def reset(self) -> None:
        """Forget the signal, as if the pickup had been silent; the parameters stay."""
        self._frame[:] = 0.0
        self._full[:] = 0.0
        self._energies = [0.0] * self.config.loudness_hops
        self._energy_index = 0
        self._voiced = False

    def process(self, hop: np.ndarray) -> tuple[float, float]:
        """Track one hop of the pickup.

        Args:
            hop: samples of the pickup, shape [hop_samples], full scale 1.0 (float32 best;
                a column of a (frames, channels) block is fine).

        Returns:
            (f0_hz, loudness): the pitch in Hz of the signal up to the end of this hop, 0.0
            when unvoiced or silent; the loudness in [0, 1]. A hop with NaN or infinite
            samples counts as silence and in nonfinite_hops.

        Raises:
            ValueError: hop is not of shape [hop_samples].
        """
        config = self.config
        if hop.shape != (config.hop_samples,):
            raise ValueError(
                f"hop has shape {hop.shape}, the pitch tracker expects ({config.hop_samples},)"
            )
        full = self._full
        full[: -config.hop_samples] = full[config.hop_samples :]
        self._new_hop[:] = hop
        energy = float(np.dot(self._new_hop, self._new_hop))
        if not math.isfinite(energy):  # one bad hop must not poison the ring buffers
            self.nonfinite_hops += 1
            self._new_hop[:] = 0.0
            energy = 0.0
        n_new = self._new_decimated.shape[0]
        self._frame[:-n_new] = self._frame[n_new:]
        np.matmul(self._decimator_windows, self._taps, out=self._new_decimated)

        self._energies[self._energy_index] = energy
        self._energy_index = (self._energy_index + 1) % config.loudness_hops
        mean_square = sum(self._energies) / (config.loudness_hops * config.hop_samples)
        loudness = float(loudness_from_rms(math.sqrt(mean_square)))
        if mean_square < self._gate_mean_square:
            self._voiced = False
            return 0.0, loudness

        difference_function(self._frame, self._window, self._scratch, self._d)
        normalised_difference(self._d, self._lags, self._dprime)
        lag, aperiodicity = pick_lag(
            self._dprime, self._min_lag, self._max_lag, config.dip_ratio, config.dip_margin
        )
        self._voiced = aperiodicity < (config.voiced_off if self._voiced else config.voiced_on)
        if not self._voiced:
            return 0.0, loudness
        return self.sample_rate_hz / self._refine(config.decimation * lag), loudness

    def _refine(self, period_samples: float) -> float:
        """The period in full-rate samples: the vertex of a parabola through the full-rate
        difference function at the nearest lag to the decimated estimate and its neighbours
        (that estimate is within a tenth of a full-rate sample on harmonic tones)."""
        nearest = round(period_samples)
        stop = self._full.shape[0] - self._full_window - nearest + 2
        np.subtract(self._lagged[stop - 3 : stop], self._newest, out=self._differences)
        right, centre, left = np.einsum("ij,ij->i", self._differences, self._differences).tolist()
        return nearest + parabolic_offset(left, centre, right)


def track(
    signal: np.ndarray, config: PitchConfig, sample_rate_hz: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pitch and loudness of a whole pickup signal, hop by hop through a fresh PitchTracker:
    exactly the numbers the board computes, for training and evaluation.

    Args:
        signal: samples, shape [samples]; a last partial hop is ignored.

    Returns:
        f0_hz: float32, shape [samples // hop_samples]: the pitch at the end of each hop, 0
            when unvoiced. Hop k covers samples [k hop_samples, (k + 1) hop_samples).
        loudness: float32, same shape, in [0, 1].
    """
    if signal.ndim != 1:
        raise ValueError(f"signal has shape {signal.shape}, track expects [samples]")
    tracker = PitchTracker(config, sample_rate_hz)
    n_hops = signal.shape[0] // config.hop_samples
    hops = signal[: n_hops * config.hop_samples].reshape(n_hops, config.hop_samples)
    f0_hz = np.zeros(n_hops, dtype=np.float32)
    loudness = np.zeros(n_hops, dtype=np.float32)
    for index, hop in enumerate(hops):
        f0_hz[index], loudness[index] = tracker.process(hop)
    return f0_hz, loudness
