"""Augmentation: each transform does to the signal what its physical cause would."""

import numpy as np
import pytest
from scipy.signal import sosfilt, sosfreqz

from firmware.features import FeatureConfig, cut_window
from firmware.layout import SAMPLE_RATE_HZ
from training.data.augment import (
    AugmentConfig,
    add_noise,
    apply_gain,
    apply_sections,
    apply_sensor_gains,
    augment,
    change_speed,
    hard_clip,
    invert_phase,
    jitter_shifts,
    random_sections,
    rbj_high_shelf,
    rbj_low_shelf,
    rbj_peaking,
    soft_clip,
)
from training.data.dataset import cut_windows


@pytest.fixture
def hits():
    """Decaying noise bursts, float32 [8, 608, 6]."""
    rng = np.random.default_rng(1)
    envelope = np.exp(-np.arange(608) / 120.0)[None, :, None]
    return (0.3 * rng.standard_normal((8, 608, 6)) * envelope).astype(np.float32)


def response_db(sos, freqs_hz):
    _, h = sosfreqz(sos, worN=np.asarray(freqs_hz, dtype=float), fs=SAMPLE_RATE_HZ)
    return 20 * np.log10(np.abs(h))


def band_energy_db(signal, lo_hz, hi_hz):
    spectrum = np.abs(np.fft.rfft(signal, axis=0)) ** 2
    freqs = np.fft.rfftfreq(signal.shape[0], 1 / SAMPLE_RATE_HZ)
    return 10 * np.log10(spectrum[(freqs >= lo_hz) & (freqs < hi_hz)].sum())


def test_phase_inversion_negates(hits):
    np.testing.assert_array_equal(invert_phase(hits), -hits)


@pytest.mark.parametrize("gain_db", [-9.0, 6.0])
def test_low_shelf_changes_lows_by_its_gain_and_leaves_highs(gain_db):
    sos = rbj_low_shelf(300.0, gain_db)[None]
    low, mid, high = response_db(sos, [20.0, 300.0, 15000.0])
    assert low == pytest.approx(gain_db, abs=0.1)
    assert mid == pytest.approx(gain_db / 2, abs=0.05)
    assert high == pytest.approx(0.0, abs=0.1)


@pytest.mark.parametrize("gain_db", [-6.0, 9.0])
def test_high_shelf_changes_highs_by_its_gain_and_leaves_lows(gain_db):
    sos = rbj_high_shelf(4000.0, gain_db)[None]
    low, mid, high = response_db(sos, [30.0, 4000.0, 23000.0])
    assert low == pytest.approx(0.0, abs=0.1)
    assert mid == pytest.approx(gain_db / 2, abs=0.05)
    assert high == pytest.approx(gain_db, abs=0.15)


def test_peak_has_its_gain_at_its_frequency_only():
    sos = rbj_peaking(1000.0, 8.0, 2.0)[None]
    centre, far_low, far_high = response_db(sos, [1000.0, 20.0, 20000.0])
    assert centre == pytest.approx(8.0, abs=1e-6)
    assert abs(far_low) < 0.1 and abs(far_high) < 0.3


def test_low_shelf_on_real_noise_raises_the_band_energy_it_should():
    rng = np.random.default_rng(2)
    noise = rng.standard_normal((SAMPLE_RATE_HZ, 2)).astype(np.float32)
    shelved = apply_sections(noise[None], rbj_low_shelf(200.0, 12.0)[None, None])[0]
    assert band_energy_db(shelved, 10, 60) - band_energy_db(noise, 10, 60) == pytest.approx(
        12.0, abs=0.5
    )
    assert band_energy_db(shelved, 5000, 20000) - band_energy_db(
        noise, 5000, 20000
    ) == pytest.approx(0.0, abs=0.2)


def test_gain_and_sensor_gains_scale_as_asked(hits):
    np.testing.assert_allclose(apply_gain(hits, 20.0), 10 * hits, rtol=1e-6)
    per_hit = apply_gain(hits, np.array([0.0, -20.0] * 4))
    np.testing.assert_allclose(per_hit[1], hits[1] / 10, rtol=1e-6)
    np.testing.assert_allclose(per_hit[0], hits[0], rtol=1e-6)
    gains_db = np.array([0.0, 6.0, -6.0, 0.0, 20.0, -20.0])
    out = apply_sensor_gains(hits, gains_db)
    np.testing.assert_allclose(out / hits, np.broadcast_to(10 ** (gains_db / 20), hits.shape), 1e-5)


def test_clipping_respects_the_ceiling_and_spares_small_signals(hits):
    hard = hard_clip(hits, 0.1)
    assert np.abs(hard).max() == pytest.approx(0.1)
    small = np.abs(hits) < 0.1
    np.testing.assert_array_equal(hard[small], hits[small])
    soft = soft_clip(hits, 0.1)
    assert np.abs(soft).max() < 0.1
    tiny = np.abs(hits) < 0.002
    np.testing.assert_allclose(soft[tiny], hits[tiny], rtol=1e-3, atol=1e-9)
    assert np.all(np.sign(soft) == np.sign(hits))


@pytest.mark.parametrize("snr_db", [10.0, 30.0])
def test_noise_is_added_at_the_asked_snr(snr_db):
    rng = np.random.default_rng(3)
    signal = np.sin(np.linspace(0, 2000, 48000))[None, :, None].repeat(6, axis=2) * 0.5
    noisy = add_noise(signal.astype(np.float32), snr_db, rng)
    measured = 10 * np.log10(np.mean(signal**2) / np.mean((noisy - signal) ** 2))
    assert measured == pytest.approx(snr_db, abs=0.1)


def test_jitter_shifts_the_window_by_the_given_samples(hits):
    features = FeatureConfig()
    onset_offset = features.pre_roll_samples + 64
    shifts = np.array([-5, 0, 3, 64, -64, 1, 1, 0])
    windows = cut_windows(hits, onset_offset, features, shifts)
    for hit, shift in enumerate(shifts):
        start = onset_offset - features.pre_roll_samples + shift
        np.testing.assert_array_equal(windows[hit], hits[hit, start : start + 480])
        np.testing.assert_array_equal(
            windows[hit], cut_window(hits[hit], onset_offset + shift, features)
        )
    with pytest.raises(ValueError, match="outside"):
        cut_windows(hits, onset_offset, features, np.full(8, 65))


def test_jitter_shifts_cover_the_range_and_no_more():
    shifts = jitter_shifts(5000, 4, np.random.default_rng(4))
    assert set(shifts.tolist()) == set(range(-4, 5))


def test_random_sections_stay_within_the_configured_gain():
    rng = np.random.default_rng(5)
    config = AugmentConfig(shelf_gain_db=6.0)
    freqs = np.geomspace(20, 23000, 200)
    sections = random_sections(rng, config, 20)
    assert sections.shape == (20, 3, 6)
    for sos in sections:
        assert np.abs(response_db(sos, freqs)).max() <= 18.0 + 1e-6


def test_sections_for_many_hits_are_the_cookbook_sections_for_each():
    freqs, gains, qs = np.array([200.0, 3000.0]), np.array([-6.0, 9.0]), np.array([0.7, 4.0])
    peaks = rbj_peaking(freqs, gains, qs)
    shelves = rbj_high_shelf(freqs, gains)
    assert peaks.shape == shelves.shape == (2, 6)
    for i in range(2):
        np.testing.assert_allclose(peaks[i], rbj_peaking(freqs[i], gains[i], qs[i]))
        np.testing.assert_allclose(shelves[i], rbj_high_shelf(freqs[i], gains[i]))


def test_filtering_each_hit_with_its_own_sections_is_what_sosfilt_does(hits):
    """The vectorised recursion against scipy's sosfilt, hit by hit, on resonant peaks
    (Q up to 4) whose ringing outlasts the context."""
    config = AugmentConfig(peak_hz=(100.0, 300.0), shelf_gain_db=12.0)
    sections = random_sections(np.random.default_rng(6), config, len(hits))
    filtered = apply_sections(hits, sections)
    assert filtered.dtype == np.float32 and filtered.shape == hits.shape
    for hit, sos in enumerate(sections):
        expected = sosfilt(sos, hits[hit], axis=0).astype(np.float32)
        np.testing.assert_allclose(filtered[hit], expected, rtol=1e-5, atol=1e-7)
    assert not np.allclose(filtered, hits, atol=1e-3)


def test_augment_is_reproducible_new_and_keeps_shape(hits):
    first = augment(hits, np.random.default_rng(7))
    again = augment(hits, np.random.default_rng(7))
    other = augment(hits, np.random.default_rng(8))
    original = hits.copy()
    assert first.shape == hits.shape and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    np.testing.assert_array_equal(hits, original)
    assert np.all(np.isfinite(first))


def test_a_change_of_speed_scales_frequency_and_keeps_the_onset_in_place():
    onset, frames = 112, 608
    times = np.arange(frames) - onset
    tone = np.where(times >= 0, np.sin(2 * np.pi * 1000.0 * times / SAMPLE_RATE_HZ), 0.0)
    contexts = np.repeat(tone[None, :, None], 3, axis=0).astype(np.float32)
    changed = change_speed(contexts, np.array([1.0, 1.12, 0.89]), onset)
    np.testing.assert_array_equal(changed[0], contexts[0])
    for hit, factor in ((1, 1.12), (2, 0.89)):
        after = changed[hit, onset : onset + 400, 0] * np.hanning(400)
        spectrum = np.abs(np.fft.rfft(after, 1 << 16))
        peak_hz = np.argmax(spectrum) * SAMPLE_RATE_HZ / (1 << 16)
        assert peak_hz == pytest.approx(1000 * factor, rel=0.005)
        assert np.all(changed[hit, :onset] == 0.0), "nothing moves before the onset"


def test_speed_is_drawn_only_when_asked_and_needs_the_onset(hits):
    plain = augment(hits, np.random.default_rng(3), AugmentConfig())
    asked = AugmentConfig(speed_probability=1.0)
    faster = augment(hits, np.random.default_rng(3), asked, onset_offset=112)
    assert not np.allclose(plain, faster)
    np.testing.assert_array_equal(
        plain, augment(hits, np.random.default_rng(3), AugmentConfig(), onset_offset=112)
    )
    with pytest.raises(ValueError, match="onset_offset"):
        augment(hits, np.random.default_rng(3), asked)
