"""Augmentation grounded in what really varies between guitars, sensors and sessions.

Each transform models one physical cause: a piezo wired the other way round (phase inversion),
another body or sensor mounting (shelving and peaking EQ: RBJ cookbook biquads), an input stage
driven too hard (soft and hard clipping), a different preamp gain (gain), sensors that are not
matched (per-sensor gain), a noisier interface (noise at a set SNR), a detector that fires a
little early or late (onset jitter: the window re-cut from each hit's context), and, off unless
asked for, another instrument of the same kind tuned or sized differently (a change of speed:
every frequency and duration of the hit scaled alike). Speed is off by default because on the
guitar a contact's duration is what tells a thumb from a heel; a drum kit's tuning is not.

All functions are pure: arrays in, new arrays out, randomness only from an explicit
np.random.Generator. Signals are float32 [n, frames, channels] (hit contexts, see
training.data.dataset) unless stated; per-hit parameters are drawn along the first axis.
"""

from dataclasses import dataclass

import numpy as np

from firmware.layout import SAMPLE_RATE_HZ


def _per_hit(values: np.ndarray | float) -> np.ndarray:
    """A float or [n] per-hit values, shaped to broadcast over [n, frames, channels]."""
    return np.asarray(values, dtype=np.float32)[..., None, None]


def invert_phase(signal: np.ndarray) -> np.ndarray:
    """The signal negated: a piezo or pickup wired with the opposite polarity."""
    return -signal


def apply_gain(signal: np.ndarray, gain_db: np.ndarray | float) -> np.ndarray:
    """Scale each hit by gain_db (float, or [n] for [n, frames, channels] input)."""
    return signal * _per_hit(10.0 ** (np.asarray(gain_db, dtype=np.float32) / 20.0))


def apply_sensor_gains(signal: np.ndarray, gains_db: np.ndarray) -> np.ndarray:
    """Scale each channel of each hit: sensors whose sensitivities are not matched.

    Args:
        signal: [n, frames, channels].
        gains_db: [n, channels] (or [channels] for all hits alike).
    """
    gains = 10.0 ** (np.asarray(gains_db, dtype=np.float32) / 20.0)
    return signal * gains[..., None, :]


def hard_clip(signal: np.ndarray, ceiling: np.ndarray | float) -> np.ndarray:
    """Clip at +-ceiling (float, or [n] per hit): a converter or preamp at its rails."""
    ceiling = _per_hit(ceiling)
    return np.clip(signal, -ceiling, ceiling)


def soft_clip(signal: np.ndarray, ceiling: np.ndarray | float) -> np.ndarray:
    """ceiling * tanh(signal / ceiling): unity gain for small signals, a smooth saturation
    that never exceeds +-ceiling (float, or [n] per hit): an overdriven analogue stage."""
    ceiling = _per_hit(ceiling)
    return (ceiling * np.tanh(signal / ceiling)).astype(np.float32)


def add_noise(
    signal: np.ndarray, snr_db: np.ndarray | float, rng: np.random.Generator
) -> np.ndarray:
    """Add white Gaussian noise at snr_db below each hit's mean power.

    The noise power of a hit is its signal power (mean square over all frames and channels)
    divided by 10^(snr_db / 10), the same on every channel: an interface's noise floor does
    not depend on which sensor is loudest.

    Args:
        signal: [n, frames, channels].
        snr_db: float or [n].
    """
    power = np.mean(np.square(signal, dtype=np.float64), axis=(1, 2))
    noise_rms = np.sqrt(power / 10.0 ** (np.asarray(snr_db) / 10.0))
    noise = rng.standard_normal(signal.shape, dtype=np.float32)
    noisy = signal + noise * noise_rms.astype(np.float32)[:, None, None]
    return noisy.astype(np.float32, copy=False)


Parameter = np.ndarray | float
"""A filter parameter: one value, or one per hit [n] (the section then has shape [n, 6])."""


def rbj_peaking(
    freq_hz: Parameter, gain_db: Parameter, q: Parameter, sample_rate_hz: int = SAMPLE_RATE_HZ
) -> np.ndarray:
    """Peaking EQ biquad (RBJ Audio EQ Cookbook) as one second-order section [6] (or [n, 6]):
    b0 b1 b2 a0 a1 a2, normalised so a0 = 1. gain_db at freq_hz, 0 dB far from it."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * freq_hz / sample_rate_hz
    alpha = np.sin(w0) / (2.0 * q)
    cos = np.cos(w0)
    b = [1.0 + alpha * a, -2.0 * cos, 1.0 - alpha * a]
    den = [1.0 + alpha / a, -2.0 * cos, 1.0 - alpha / a]
    return _section(b, den)


def rbj_low_shelf(
    freq_hz: Parameter,
    gain_db: Parameter,
    slope: float = 1.0,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
) -> np.ndarray:
    """Low-shelf biquad (RBJ cookbook) as one section [6] (or [n, 6]): gain_db below
    freq_hz (the shelf midpoint), 0 dB above; slope 1 is the steepest without overshoot."""
    a, cos, beta = _shelf_terms(freq_hz, gain_db, slope, sample_rate_hz)
    b = [
        a * ((a + 1) - (a - 1) * cos + beta),
        2 * a * ((a - 1) - (a + 1) * cos),
        a * ((a + 1) - (a - 1) * cos - beta),
    ]
    den = [
        (a + 1) + (a - 1) * cos + beta,
        -2 * ((a - 1) + (a + 1) * cos),
        (a + 1) + (a - 1) * cos - beta,
    ]
    return _section(b, den)


def rbj_high_shelf(
    freq_hz: Parameter,
    gain_db: Parameter,
    slope: float = 1.0,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
) -> np.ndarray:
    """High-shelf biquad (RBJ cookbook) as one section [6] (or [n, 6]): gain_db above freq_hz, 0 dB
    below."""
    a, cos, beta = _shelf_terms(freq_hz, gain_db, slope, sample_rate_hz)
    b = [
        a * ((a + 1) + (a - 1) * cos + beta),
        -2 * a * ((a - 1) + (a + 1) * cos),
        a * ((a + 1) + (a - 1) * cos - beta),
    ]
    den = [
        (a + 1) - (a - 1) * cos + beta,
        2 * ((a - 1) - (a + 1) * cos),
        (a + 1) - (a - 1) * cos - beta,
    ]
    return _section(b, den)


def _shelf_terms(
    freq_hz: Parameter, gain_db: Parameter, slope: float, sample_rate_hz: int
) -> tuple[Parameter, Parameter, Parameter]:
    """(A, cos w0, 2 sqrt(A) alpha) shared by both shelves."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * freq_hz / sample_rate_hz
    alpha = np.sin(w0) / 2.0 * np.sqrt((a + 1.0 / a) * (1.0 / slope - 1.0) + 2.0)
    return a, np.cos(w0), 2.0 * np.sqrt(a) * alpha


def _section(b: list[Parameter], a: list[Parameter]) -> np.ndarray:
    coefficients = np.stack(np.broadcast_arrays(*b, *a), axis=-1).astype(np.float64)
    return coefficients / coefficients[..., 3:4]


def apply_sections(signal: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """Filter each hit with its own second-order sections, from rest, as sosfilt would.

    scipy's sosfilt takes one filter for all signals, and one call per hit (thousands per
    epoch) was the slowest part of an epoch's augmentation. Here the recursion (transposed
    direct form II) runs over frames once, for every hit and channel at a time, in float64,
    with the same numbers as sosfilt (tests/test_data_augment.py).

    Args:
        signal: [n, frames, channels].
        sos: [n, n_sections, 6], normalised so a0 = 1.

    Returns:
        float32 [n, frames, channels].
    """
    frames = np.moveaxis(signal, 1, 0).astype(np.float64, order="C")
    y, state1, state2, scratch = (np.empty(frames.shape[1:]) for _ in range(4))
    for section in np.moveaxis(sos, 1, 0):
        b0, b1, b2, _, a1, a2 = (section[:, k, None] for k in range(6))
        state1.fill(0.0)
        state2.fill(0.0)
        for x in frames:  # each frame is overwritten by its output once it is used
            np.multiply(b0, x, out=y)
            y += state1
            np.multiply(b1, x, out=state1)
            np.multiply(a1, y, out=scratch)
            state1 -= scratch
            state1 += state2
            np.multiply(b2, x, out=state2)
            np.multiply(a2, y, out=scratch)
            state2 -= scratch
            x[...] = y
    return np.moveaxis(frames, 0, 1).astype(np.float32)


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of random augmentation (the ``[augment]`` table)."""

    invert_probability: float = 0.5
    filter_probability: float = 0.5
    shelf_gain_db: float = 6.0
    """Shelf and peak gains are drawn uniformly in +-this."""
    low_shelf_hz: tuple[float, float] = (80.0, 800.0)
    high_shelf_hz: tuple[float, float] = (1500.0, 12000.0)
    peak_hz: tuple[float, float] = (150.0, 15000.0)
    peak_q: tuple[float, float] = (0.7, 4.0)
    """Frequencies and Q are drawn log-uniformly in these ranges."""
    clip_probability: float = 0.2
    clip_depth_db: float = 12.0
    """Clip ceiling drawn uniformly between each hit's peak and this far below it."""
    gain_db: float = 12.0
    """Overall gain drawn uniformly in +-this."""
    sensor_spread_db: float = 2.0
    """Per-channel gain: Gaussian with this standard deviation in dB."""
    noise_probability: float = 0.5
    snr_db: tuple[float, float] = (20.0, 60.0)
    max_jitter_samples: int = 16
    """Onset jitter drawn uniformly in +-this (16 samples = 0.33 ms at 48 kHz); must not
    exceed ContextConfig.margin_samples."""
    speed_probability: float = 0.0
    """Share of hits played at another speed (change_speed); 0: never, and no random number
    is drawn for it, so a recipe without it trains exactly as before it existed."""
    speed_octaves: float = 1.0 / 6.0
    """Speed factors drawn log-uniformly in 2^+-this (1/6 octave: a factor of 0.89 to 1.12,
    within the 64-sample context margin of a 10 ms window)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.speed_probability <= 1.0:
            raise ValueError(f"speed_probability must be in [0, 1], got {self.speed_probability}")


def augment(
    contexts: np.ndarray,
    rng: np.random.Generator,
    config: AugmentConfig = AugmentConfig(),
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    onset_offset: int | None = None,
) -> np.ndarray:
    """One random augmentation of each hit context (all transforms but jitter).

    Args:
        contexts: float32 [n, context_samples, channels].
        onset_offset: index of the onset within each context; needed when
            config.speed_probability is above 0.

    Returns:
        float32 [n, context_samples, channels], a new array. Cut the model windows from it
        with training.data.dataset.cut_windows and jitter_shifts.
    """
    n, _, n_channels = contexts.shape
    out = np.array(contexts, dtype=np.float32)
    invert = rng.random(n) < config.invert_probability
    out[invert] = invert_phase(out[invert])
    filtered = np.flatnonzero(rng.random(n) < config.filter_probability)
    if filtered.size:
        sections = random_sections(rng, config, filtered.size, sample_rate_hz)
        out[filtered] = apply_sections(out[filtered], sections)
    clip = np.flatnonzero(rng.random(n) < config.clip_probability)
    if clip.size:
        peaks = np.max(np.abs(out[clip]), axis=(1, 2)) + 1e-12
        ceilings = peaks * 10.0 ** (-rng.uniform(0.0, config.clip_depth_db, clip.size) / 20.0)
        soft = rng.random(clip.size) < 0.5
        out[clip[soft]] = soft_clip(out[clip[soft]], ceilings[soft])
        out[clip[~soft]] = hard_clip(out[clip[~soft]], ceilings[~soft])
    out = apply_gain(out, rng.uniform(-config.gain_db, config.gain_db, n))
    out = apply_sensor_gains(out, rng.normal(0.0, config.sensor_spread_db, (n, n_channels)))
    noisy = np.flatnonzero(rng.random(n) < config.noise_probability)
    if noisy.size:
        out[noisy] = add_noise(out[noisy], rng.uniform(*config.snr_db, noisy.size), rng)
    if config.speed_probability > 0:
        if onset_offset is None:
            raise ValueError("a change of speed needs the contexts' onset_offset")
        faster = np.flatnonzero(rng.random(n) < config.speed_probability)
        octaves = rng.uniform(-config.speed_octaves, config.speed_octaves, faster.size)
        out[faster] = change_speed(out[faster], 2.0**octaves, onset_offset)
    return out


def change_speed(contexts: np.ndarray, factors: np.ndarray, onset_offset: int) -> np.ndarray:
    """Each hit played faster (factor > 1: shorter and higher) or slower, around its onset.

    Linear interpolation at onset + (t - onset) * factor, so the onset stays where the window
    cutter expects it. A faster hit reads past the end of its context near the window's end
    when the factor outgrows the context's margin: those few samples repeat the last one.

    Args:
        contexts: float32 [n, context_samples, channels].
        factors: float [n], each hit's speed (1: unchanged).
        onset_offset: index of the onset within each context.

    Returns:
        float32 [n, context_samples, channels], a new array.
    """
    n, frames, _ = contexts.shape
    times = np.arange(frames, dtype=np.float64)
    positions = onset_offset + (times[None, :] - onset_offset) * np.asarray(factors)[:, None]
    positions = np.clip(positions, 0.0, frames - 1.0)
    below = np.floor(positions).astype(np.int64)
    above = np.minimum(below + 1, frames - 1)
    weight = (positions - below)[..., None].astype(np.float32)
    rows = np.arange(n)[:, None]
    return (contexts[rows, below] * (1.0 - weight) + contexts[rows, above] * weight).astype(
        np.float32
    )


def random_sections(
    rng: np.random.Generator,
    config: AugmentConfig,
    n: int,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
) -> np.ndarray:
    """n random filters, each a low shelf, a high shelf and a peak: sections [n, 3, 6]."""

    def log_uniform(bounds: tuple[float, float]) -> np.ndarray:
        return np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]), n))

    def gain() -> np.ndarray:
        return rng.uniform(-config.shelf_gain_db, config.shelf_gain_db, n)

    return np.stack(
        [
            rbj_low_shelf(log_uniform(config.low_shelf_hz), gain(), 1.0, sample_rate_hz),
            rbj_high_shelf(log_uniform(config.high_shelf_hz), gain(), 1.0, sample_rate_hz),
            rbj_peaking(
                log_uniform(config.peak_hz), gain(), log_uniform(config.peak_q), sample_rate_hz
            ),
        ],
        axis=1,
    )


def jitter_shifts(n: int, max_shift_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Onset shifts int [n], uniform in [-max_shift_samples, max_shift_samples], for
    training.data.dataset.cut_windows: the detector's onset error, re-applied."""
    return rng.integers(-max_shift_samples, max_shift_samples + 1, size=n)
