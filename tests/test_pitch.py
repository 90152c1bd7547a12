"""Tests of firmware/pitch.py: pitch and loudness of the pickup per hop."""

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest

from firmware.config import from_table
from firmware.errors import ConfigError
from firmware.layout import N_CHANNELS, PICKUP_CHANNEL, SAMPLE_RATE_HZ
from firmware.pitch import (
    LOUDNESS_FLOOR_DB,
    DifferenceScratch,
    PitchConfig,
    PitchTracker,
    difference_function,
    fft_length,
    loudness_from_db,
    loudness_from_rms,
    normalised_pitch,
    track,
)
from training.data.midi_render import Note, fluidsynth_available, render, write_midi

RATE_HZ = SAMPLE_RATE_HZ
CONFIG = PitchConfig()
SETTLE_HOPS = 40
"""Hops (53 ms) after a tone starts before its pitch is checked."""


def tone(f0_hz: float, seconds: float, amplitudes: tuple[float, ...], seed: int = 0) -> np.ndarray:
    """Harmonic k of f0_hz at amplitudes[k - 1], random phases; float32 [samples]."""
    phases = np.random.default_rng(seed).uniform(0.0, 2.0 * np.pi, len(amplitudes))
    t = np.arange(round(seconds * RATE_HZ)) / RATE_HZ
    signal = sum(
        a * np.sin(2.0 * np.pi * k * f0_hz * t + phase)
        for k, (a, phase) in enumerate(zip(amplitudes, phases, strict=True), start=1)
        if k * f0_hz < 0.45 * RATE_HZ
    )
    return signal.astype(np.float32)


def cents_error(f0_hz: np.ndarray, reference_hz: float) -> np.ndarray:
    """Signed error in cents; -inf where unvoiced (0 Hz)."""
    with np.errstate(divide="ignore"):
        return 1200.0 * np.log2(f0_hz / reference_hz)


RANGE_HZ = np.geomspace(CONFIG.fmin_hz * 1.01, CONFIG.fmax_hz * 0.99, 9).round(2).tolist()
DENSE_RANGE_HZ = np.geomspace(CONFIG.fmin_hz, CONFIG.fmax_hz, 40).round(2).tolist()


@pytest.mark.parametrize("f0_hz", RANGE_HZ)
def test_sine_pitch_is_within_one_cent_across_the_range(f0_hz: float) -> None:
    f0, _ = track(tone(f0_hz, 0.3, (0.5,)), CONFIG, RATE_HZ)
    steady = f0[SETTLE_HOPS:]
    assert np.all(steady > 0), "a steady sine must be voiced"
    assert np.max(np.abs(cents_error(steady, f0_hz))) < 1.0


@pytest.mark.parametrize("f0_hz", RANGE_HZ)
def test_harmonic_tone_pitch_is_within_three_cents_across_the_range(f0_hz: float) -> None:
    amplitudes = tuple(0.4 / k for k in range(1, 12))
    f0, _ = track(tone(f0_hz, 0.3, amplitudes, seed=1), CONFIG, RATE_HZ)
    steady = f0[SETTLE_HOPS:]
    assert np.all(steady > 0)
    assert np.max(np.abs(cents_error(steady, f0_hz))) < 3.0


@pytest.mark.parametrize("rate_hz", [44_100, RATE_HZ])
def test_bright_tones_keep_their_octave_at_44_1_and_48_khz(rate_hz: int) -> None:
    """Eleven harmonics at phases k: the sharpest dips of d' the tracker meets."""
    t = np.arange(round(0.12 * rate_hz)) / rate_hz
    worst_cents = []
    for f0_hz in DENSE_RANGE_HZ:
        signal = sum(
            0.3 / k * np.sin(2.0 * np.pi * k * f0_hz * t + k)
            for k in range(1, 12)
            if k * f0_hz < 0.45 * rate_hz
        )
        f0, _ = track(signal.astype(np.float32), CONFIG, rate_hz)
        steady = f0[SETTLE_HOPS:]
        assert np.all(steady > 0), f"{f0_hz} Hz at {rate_hz} Hz: unvoiced hops"
        worst_cents.append(np.max(np.abs(cents_error(steady, f0_hz))))
    assert max(worst_cents) < 5.0


@pytest.mark.parametrize("f0_hz", [82.41, 110.0, 196.0, 329.63])
def test_weak_fundamental_does_not_jump_an_octave_up(f0_hz: float) -> None:
    """A plucked string whose fundamental and odd harmonics have decayed under the second
    harmonic: the half-period dips below YIN's threshold, the full period is deeper."""
    amplitudes = (0.08, 0.5, 0.03, 0.25, 0.02, 0.12)
    f0, _ = track(tone(f0_hz, 0.3, amplitudes, seed=2), CONFIG, RATE_HZ)
    steady = f0[SETTLE_HOPS:]
    assert np.all(steady > 0)
    assert np.max(np.abs(cents_error(steady, f0_hz))) < 10.0


def test_silence_gives_zero_pitch_and_zero_loudness() -> None:
    tracker = PitchTracker(CONFIG, RATE_HZ)
    silence = np.zeros(CONFIG.hop_samples, dtype=np.float32)
    assert {tracker.process(silence) for _ in range(50)} == {(0.0, 0.0)}


def test_a_hop_of_nan_is_counted_and_tracked_as_silence() -> None:
    signal = tone(220.0, 0.2, (0.3,))
    tracker = PitchTracker(CONFIG, RATE_HZ)
    hops = signal.reshape(-1, CONFIG.hop_samples).copy()
    hops[50, 10] = np.nan
    hops[60, :] = np.inf
    outputs = np.array([tracker.process(hop) for hop in hops])
    assert tracker.nonfinite_hops == 2
    assert np.all(np.isfinite(outputs))
    f0_hz = outputs[:, 0]
    assert np.all(np.abs(cents_error(f0_hz[-40:], 220.0)) < 1.0), "recovers after the bad hops"


def test_white_noise_is_unvoiced() -> None:
    noise = np.random.default_rng(3).standard_normal(RATE_HZ // 2) * 0.03
    f0, loudness = track(noise.astype(np.float32), CONFIG, RATE_HZ)
    assert np.mean(f0 > 0) < 0.01
    assert np.all(loudness[SETTLE_HOPS:] > 0.3), "noise at -30 dBFS is not silence"


def test_loudness_mapping_is_exact_at_the_floor_and_at_full_scale() -> None:
    assert loudness_from_db(LOUDNESS_FLOOR_DB) == 0.0
    assert loudness_from_db(0.0) == 1.0
    assert loudness_from_db(LOUDNESS_FLOOR_DB / 2) == pytest.approx(0.5, abs=1e-12)
    np.testing.assert_array_equal(loudness_from_db(np.array([-120.0, 12.0])), [0.0, 1.0])
    assert loudness_from_rms(1.0) == 1.0
    assert loudness_from_rms(10.0 ** (LOUDNESS_FLOOR_DB / 20.0)) == 0.0
    assert loudness_from_rms(0.0) == 0.0


def test_full_scale_square_wave_has_loudness_one() -> None:
    square = np.where(np.arange(RATE_HZ // 10) % 100 < 50, 1.0, -1.0).astype(np.float32)
    _, loudness = track(square, CONFIG, RATE_HZ)
    np.testing.assert_array_equal(loudness[CONFIG.loudness_hops :], 1.0)


@pytest.mark.parametrize("amplitude", [0.5, 0.05, 0.001])
def test_loudness_is_the_rms_of_the_last_hops_in_db(amplitude: float) -> None:
    window_samples = CONFIG.loudness_hops * CONFIG.hop_samples
    f0_hz = 4 * RATE_HZ / window_samples  # four whole periods in the RMS window: no ripple
    _, loudness = track(tone(f0_hz, 0.2, (amplitude,)), CONFIG, RATE_HZ)
    expected = loudness_from_rms(amplitude / math.sqrt(2.0))
    np.testing.assert_allclose(loudness[SETTLE_HOPS:], expected, atol=1e-4)


def test_loudness_ripple_on_the_low_e_string_is_under_two_percent() -> None:
    _, loudness = track(tone(82.41, 0.3, (0.3,)), CONFIG, RATE_HZ)
    assert np.ptp(loudness[SETTLE_HOPS:]) < 0.02


def test_onset_shows_in_loudness_within_one_hop() -> None:
    signal = np.concatenate([np.zeros(10 * CONFIG.hop_samples), tone(220.0, 0.1, (0.1,))])
    _, loudness = track(signal.astype(np.float32), CONFIG, RATE_HZ)
    assert loudness[9] == 0.0
    assert loudness[10] > 0.3


def test_normalised_pitch_is_midi_over_127_and_zero_when_unvoiced() -> None:
    assert normalised_pitch(440.0) == pytest.approx(69.0 / 127.0)
    assert normalised_pitch(0.0) == 0.0
    f0_hz = np.array([0.0, CONFIG.fmin_hz, 261.63, CONFIG.fmax_hz, 1e5])
    pitch = normalised_pitch(f0_hz)
    assert pitch.shape == f0_hz.shape
    assert pitch[0] == 0.0 and pitch[-1] == 1.0
    assert np.all(np.diff(pitch) > 0)
    assert pitch[2] == pytest.approx(60.0 / 127.0, abs=1e-4)


def glide_with_gaps() -> np.ndarray:
    """A test signal with every state: silence, an onset, a glide, noise, a jump, decay."""
    seconds = 0.6
    n = round(seconds * RATE_HZ)
    f0_hz = np.concatenate([np.zeros(n // 6), np.geomspace(110.0, 440.0, n // 2)])
    f0_hz = np.concatenate([f0_hz, np.full(n - f0_hz.shape[0], 880.0)])
    phase = 2.0 * np.pi * np.cumsum(f0_hz) / RATE_HZ
    envelope = (f0_hz > 0) * np.exp(-np.arange(n) / (0.4 * RATE_HZ))
    noise = np.random.default_rng(4).standard_normal(n) * 1e-3
    return (0.3 * envelope * (np.sin(phase) + 0.4 * np.sin(2 * phase)) + noise).astype(np.float32)


def test_track_equals_process_hop_by_hop_after_reset() -> None:
    signal = glide_with_gaps()
    f0_offline, loudness_offline = track(signal, CONFIG, RATE_HZ)
    tracker = PitchTracker(CONFIG, RATE_HZ)
    for hop in tone(97.0, 0.1, (0.5, 0.3)).reshape(-1, CONFIG.hop_samples):
        tracker.process(hop)  # state that reset() must clear
    tracker.reset()
    block = np.zeros((CONFIG.hop_samples, N_CHANNELS), dtype=np.float32)
    streamed = []
    for hop in signal.reshape(-1, CONFIG.hop_samples):
        block[:, PICKUP_CHANNEL] = hop  # the pickup as the engine hands it: a block column
        streamed.append(tracker.process(block[:, PICKUP_CHANNEL]))
    f0_streamed, loudness_streamed = np.array(streamed, dtype=np.float32).T
    assert np.any(f0_offline > 0) and np.any(f0_offline == 0)
    np.testing.assert_array_equal(f0_streamed, f0_offline)
    np.testing.assert_array_equal(loudness_streamed, loudness_offline)


@pytest.mark.parametrize("n_samples", [0, 1, 63, 64, 65, 128, 8193])
def test_track_takes_any_length_and_drops_a_last_partial_hop(n_samples: int) -> None:
    signal = glide_with_gaps()[:n_samples]
    f0_hz, loudness = track(signal, CONFIG, RATE_HZ)
    n_hops = n_samples // CONFIG.hop_samples
    assert f0_hz.shape == loudness.shape == (n_hops,)
    assert f0_hz.dtype == loudness.dtype == np.float32
    longer, _ = track(glide_with_gaps()[: n_hops * CONFIG.hop_samples], CONFIG, RATE_HZ)
    np.testing.assert_array_equal(f0_hz, longer)


@pytest.mark.parametrize("hop_samples", [16, 32, 128, 256])
def test_other_hop_sizes_track_the_same_pitch(hop_samples: int) -> None:
    config = PitchConfig(hop_samples=hop_samples)
    f0, loudness = track(tone(196.0, 0.3, (0.3, 0.2, 0.1)), config, RATE_HZ)
    steady = f0[round(0.06 * RATE_HZ / hop_samples) :]
    assert np.all(np.abs(cents_error(steady, 196.0)) < 1.0)
    assert np.all(loudness[-5:] > 0.5)


@pytest.mark.parametrize("shape", [(63,), (65,), (128,), (64, 1), (1, 64)])
def test_wrong_hop_shape_raises_value_error(shape: tuple[int, ...]) -> None:
    tracker = PitchTracker(CONFIG, RATE_HZ)
    with pytest.raises(ValueError, match="hop has shape"):
        tracker.process(np.zeros(shape, dtype=np.float32))


def test_pitch_step_is_followed_within_window_plus_two_periods() -> None:
    f0_hz = np.full(RATE_HZ // 2, 440.0)
    change = RATE_HZ // 4 + 17
    f0_hz[:change] = 329.63
    phase = 2.0 * np.pi * np.cumsum(f0_hz) / RATE_HZ
    signal = (0.3 * (np.sin(phase) + 0.5 * np.sin(2 * phase))).astype(np.float32)
    estimate, _ = track(signal, CONFIG, RATE_HZ)
    hop_end = (np.arange(estimate.shape[0]) + 1) * CONFIG.hop_samples
    on_new_pitch = (hop_end > change) & (np.abs(cents_error(estimate, 440.0)) < 50.0)
    first = int(np.argmax(on_new_pitch))
    assert np.all(on_new_pitch[first:]), "once on the new pitch, the tracker stays there"
    latency_ms = 1e3 * (hop_end[first] - change) / RATE_HZ
    bound_ms = CONFIG.window_ms + 2e3 / 329.63 + 2e3 * CONFIG.hop_samples / RATE_HZ
    assert latency_ms < bound_ms
    assert np.all(np.abs(cents_error(estimate[: change // CONFIG.hop_samples][40:], 329.63)) < 5)


def test_difference_function_equals_the_direct_sum() -> None:
    window, n_lags = 50, 40
    frame = np.random.default_rng(5).standard_normal(fft_length(window + n_lags))
    frame = frame.astype(np.float32)
    out = np.zeros(n_lags, dtype=np.float32)
    difference_function(frame, window, DifferenceScratch.for_frame(frame.shape[0]), out)
    newest = frame[-window:].astype(np.float64)
    direct = [
        np.sum((newest - frame[frame.shape[0] - window - lag : frame.shape[0] - lag]) ** 2)
        for lag in range(n_lags)
    ]
    np.testing.assert_allclose(out, direct, atol=1e-3)


def test_fft_length_has_only_small_prime_factors() -> None:
    assert [fft_length(n) for n in (1, 7, 11, 465, 525, 1000, 1025)] == [
        1, 8, 12, 480, 540, 1000, 1080,
    ]  # fmt: skip


def test_config_from_toml_table() -> None:
    config = from_table(PitchConfig, {"window_ms": 5, "fmin_hz": 60}, "profile.toml [pitch]")
    assert config.window_ms == 5.0 and config.fmin_hz == 60.0
    with pytest.raises(ConfigError, match=r"profile.toml \[pitch\]: unknown key 'fmin'"):
        from_table(PitchConfig, {"fmin": 60}, "profile.toml [pitch]")
    with pytest.raises(ConfigError, match="decimation 3 must be a positive divisor"):
        from_table(PitchConfig, {"decimation": 3}, "profile.toml [pitch]")
    with pytest.raises(ConfigError, match=r"lowpass_hz 2000\.0 must be above fmax_hz"):
        from_table(PitchConfig, {"lowpass_hz": 2000}, "profile.toml [pitch]")
    with pytest.raises(ConfigError, match="voiced_on"):
        from_table(PitchConfig, {"voiced_on": 0.5, "voiced_off": 0.2}, "profile.toml [pitch]")


def test_lowpass_above_the_decimated_nyquist_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="lowpass_hz 16000"):
        PitchTracker(PitchConfig(lowpass_hz=16000.0), RATE_HZ)
    PitchTracker(PitchConfig(lowpass_hz=16000.0, decimation=1), RATE_HZ)


REAL_NOTES = [  # steel-string guitar: low E, A, D strings, then high on the neck
    Note(pitch=40, velocity=90, onset_s=0.0, duration_s=0.6),
    Note(pitch=45, velocity=60, onset_s=0.9, duration_s=0.6),
    Note(pitch=50, velocity=110, onset_s=1.8, duration_s=0.6),
    Note(pitch=64, velocity=90, onset_s=2.7, duration_s=0.6),
    Note(pitch=76, velocity=90, onset_s=3.6, duration_s=0.6),
]


@pytest.mark.skipif(
    not fluidsynth_available(), reason="needs fluidsynth and /usr/share/sounds/sf2/FluidR3_GM.sf2"
)
def test_fluidsynth_steel_guitar_render_is_tracked_within_50_cents() -> None:
    with tempfile.TemporaryDirectory() as folder:
        midi_path = Path(folder) / "notes.mid"
        write_midi(midi_path, program=25, notes=REAL_NOTES, release_s=0.2)
        signal = render(midi_path, Path(folder) / "notes.wav", RATE_HZ)
    signal *= np.float32(0.5 / np.max(np.abs(signal)))
    f0_hz, loudness = track(signal, CONFIG, RATE_HZ)
    hop_end_s = (np.arange(f0_hz.shape[0]) + 1) * CONFIG.hop_samples / RATE_HZ
    for note in REAL_NOTES:
        sustained = (hop_end_s >= note.onset_s + 0.05) & (hop_end_s <= note.offset_s)
        reference_hz = 440.0 * 2.0 ** ((note.pitch - 69) / 12)
        within = np.abs(cents_error(f0_hz[sustained], reference_hz)) <= 50.0
        assert np.mean(within) > 0.95, f"MIDI {note.pitch}: {np.mean(within):.1%} within 50 cents"
        assert np.all(loudness[sustained] > 0.2)
    silent = hop_end_s > REAL_NOTES[-1].offset_s + 0.25
    assert np.all(f0_hz[silent] == 0.0)
