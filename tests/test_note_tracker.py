"""Tests of firmware/note_tracker.py: onsets, key, velocity and age of the pickup's notes, from
the real pitch tracker's output on harmonic tones."""

import numpy as np
import pytest

from firmware.config import from_table
from firmware.errors import ConfigError
from firmware.layout import SAMPLE_RATE_HZ
from firmware.note_tracker import INPUT_NAMES, N_INPUTS, NoteConfig, NoteTracker, note_inputs
from firmware.pitch import PitchConfig, normalised_pitch, track

HOP = PitchConfig().hop_samples
FRAME_RATE_HZ = SAMPLE_RATE_HZ / HOP
AGE = INPUT_NAMES.index("age")
KEY = INPUT_NAMES.index("key")
VELOCITY = INPUT_NAMES.index("velocity")
ONSET = INPUT_NAMES.index("onset")


def midi_hz(key: float) -> float:
    return 440.0 * 2.0 ** ((key - 69.0) / 12.0)


def played(keys: np.ndarray, levels_db: np.ndarray) -> np.ndarray:
    """A harmonic tone (6 partials, 1/k) whose pitch (MIDI, fractional) and RMS level (dBFS)
    follow per-hop curves, float32 [hops * HOP]; -inf dB is silence."""
    pitch_hz = np.repeat([midi_hz(k) for k in keys], HOP)
    gain = np.repeat(10.0 ** (levels_db / 20.0), HOP)
    phase = 2.0 * np.pi * np.cumsum(pitch_hz) / SAMPLE_RATE_HZ
    tone = sum(np.sin(k * phase) / k for k in range(1, 7))
    tone /= np.sqrt(np.sum(1.0 / np.arange(1, 7) ** 2) / 2.0)
    return (tone * gain).astype(np.float32)


def inputs_of(keys: np.ndarray, levels_db: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The note tracker's inputs [hops, N_INPUTS] for a played curve, through the real pitch
    tracker, with its f0_hz and loudness [hops]."""
    f0_hz, loudness = track(played(keys, levels_db), PitchConfig(), SAMPLE_RATE_HZ)
    return note_inputs(f0_hz, loudness, NoteConfig(), FRAME_RATE_HZ), f0_hz, loudness


def onset_hops(inputs: np.ndarray) -> list[int]:
    """Where each detected note started: the hop each age count began at."""
    age_hops = np.round(inputs[:, AGE] * FRAME_RATE_HZ).astype(int)
    active = np.any(inputs != 0.0, axis=1)
    starts = [
        hop - age_hops[hop]
        for hop in range(inputs.shape[0])
        if active[hop] and (hop == 0 or not active[hop - 1] or age_hops[hop] <= age_hops[hop - 1])
    ]
    return sorted(set(starts))


def curve(*parts: tuple[int, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per-hop key and level from (hops, key, level_db) parts."""
    keys = np.concatenate([np.full(n, key, float) for n, key, _ in parts])
    levels = np.concatenate([np.full(n, db, float) for n, _, db in parts])
    return keys, levels


def test_a_note_from_silence_starts_at_its_first_hop_and_ages_in_seconds() -> None:
    keys, levels = curve((10, 57, -np.inf), (600, 57, -20.0))
    inputs, f0_hz, loudness = inputs_of(keys, levels)
    assert not inputs[:10].any(), "silence gives zero inputs"
    assert onset_hops(inputs) == [10]
    expected_age = np.minimum(np.arange(600), NoteConfig().max_age_s * FRAME_RATE_HZ)
    np.testing.assert_allclose(inputs[10:, AGE], expected_age / FRAME_RATE_HZ, rtol=1e-6)
    assert inputs[10, ONSET] == 1.0 and inputs[-1, ONSET] < 1e-6
    np.testing.assert_allclose(inputs[:, 0], normalised_pitch(f0_hz))
    np.testing.assert_array_equal(inputs[:, 1], loudness)
    assert inputs[-1, KEY] == pytest.approx(57 / 127)


def test_velocity_is_the_mean_loudness_over_the_velocity_window() -> None:
    keys, levels = curve((200, 64, -25.0))
    levels = levels - 0.02 * np.arange(200)  # a decaying string
    inputs, _, loudness = inputs_of(keys, levels)
    first, stop = NoteConfig().velocity_hops
    assert inputs[-1, VELOCITY] == pytest.approx(loudness[first:stop].mean(), rel=1e-6)
    np.testing.assert_array_equal(inputs[stop:, VELOCITY], inputs[-1, VELOCITY])


@pytest.mark.parametrize("new_key", [45, 52, 70, 83])
def test_a_step_to_another_key_is_an_onset_dated_near_the_change(new_key: int) -> None:
    old_key = new_key - 5
    keys, levels = curve((300, old_key, -20.0), (300, new_key, -20.0))
    inputs, _, _ = inputs_of(keys, levels)
    onsets = onset_hops(inputs)
    assert len(onsets) == 2 and onsets[0] == 0
    assert abs(onsets[1] - 300) <= 4, f"onset at {onsets[1]}, the key changed at 300"
    assert inputs[-1, KEY] == pytest.approx(new_key / 127)


def test_vibrato_and_a_slow_swell_are_not_new_notes() -> None:
    hops = np.arange(900)
    keys = 62 + 0.3 * np.sin(2 * np.pi * 6.0 * hops / FRAME_RATE_HZ)  # 30 cents at 6 Hz
    levels = -20.0 + 9.0 * (0.5 - 0.5 * np.cos(2 * np.pi * hops / 300))  # 9 dB over 0.4 s
    inputs, _, _ = inputs_of(keys, levels)
    assert onset_hops(inputs) == [0]
    first_voiced = int(np.argmax(inputs[:, 0] > 0))
    assert not inputs[:first_voiced, KEY].any(), "no key before the pitch is known"
    np.testing.assert_allclose(inputs[first_voiced:, KEY], 62 / 127)


@pytest.mark.parametrize("key", [43, 67])
def test_a_reattack_on_the_same_key_is_an_onset(key: int) -> None:
    dip = np.linspace(-20.0, -45.0, 5)
    keys, levels = curve((300, key, -20.0), (5, key, 0.0), (300, key, -12.0))
    levels[300:305] = dip
    inputs, _, _ = inputs_of(keys, levels)
    onsets = onset_hops(inputs)
    assert len(onsets) == 2 and abs(onsets[1] - 305) <= 4


@pytest.mark.parametrize("key", [43, 67])
def test_a_fall_to_a_softer_note_is_an_onset_but_a_release_is_not(key: int) -> None:
    keys, levels = curve((300, key, -15.0), (5, key, 0.0), (300, key, -35.0))
    levels[300:305] = np.linspace(-15.0, -45.0, 5)
    inputs, _, _ = inputs_of(keys, levels)
    onsets = onset_hops(inputs)
    assert len(onsets) == 2 and abs(onsets[1] - 305) <= 4
    release = np.concatenate([np.full(300, -15.0), np.linspace(-15.0, -95.0, 150)])
    inputs, _, _ = inputs_of(np.full(450, float(key)), release)
    assert onset_hops(inputs) == [0]


def test_silence_resets_the_tracker_and_the_next_hop_starts_a_note() -> None:
    keys, levels = curve((200, 60, -20.0), (20, 60, -np.inf), (200, 60, -20.0))
    f0_hz, loudness = track(played(keys, levels), PitchConfig(), SAMPLE_RATE_HZ)
    tracker = NoteTracker(NoteConfig(), FRAME_RATE_HZ)
    stepped = np.array(
        [
            tracker.process(f, level).copy()
            for f, level in zip(f0_hz.tolist(), loudness.tolist(), strict=True)
        ]
    )
    fresh = note_inputs(f0_hz[220:], loudness[220:], NoteConfig(), FRAME_RATE_HZ)
    silent = (f0_hz == 0) & (loudness == 0)
    assert silent[210:220].all()
    np.testing.assert_array_equal(stepped[220:], fresh)
    assert stepped.shape[1] == N_INPUTS


def test_config_from_a_table_and_bad_values_are_one_line_errors() -> None:
    config = from_table(NoteConfig, {"settle_ms": 50, "velocity_hops": [10, 30]}, "m.json notes")
    assert config.settle_ms == 50.0 and config.velocity_hops == (10, 30)
    for table, field in (
        ({"velocity_hops": [30, 10]}, "velocity_hops"),
        ({"velocity_hops": [1, 2, 3]}, "velocity_hops"),
        ({"rise_db": 0}, "rise_db"),
        ({"flat_hops": 30}, "flat_hops"),
        ({"onset": 1}, "unknown key 'onset'"),
    ):
        with pytest.raises(ConfigError, match=field) as error:
            from_table(NoteConfig, table, "m.json notes")
        assert "\n" not in str(error.value)
