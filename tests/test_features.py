"""Hit features: shapes, units, band layout, and the window cut the firmware and training share."""

import numpy as np
import pytest

from firmware.features import (
    FeatureConfig,
    band_edges,
    cut_window,
    hit_features,
    peak_velocity,
    window_start,
)

CONFIG = FeatureConfig()


def tone(frequency_hz: float, amplitude: float, channels: int = 6) -> np.ndarray:
    t = np.arange(CONFIG.window_samples) / CONFIG.sample_rate_hz
    wave = amplitude * np.sin(2 * np.pi * frequency_hz * t)
    return np.repeat(wave[:, None], channels, axis=1).astype(np.float32)


def test_features_have_bands_along_first_axis_and_sensors_as_channels():
    features = hit_features(tone(1000.0, 0.5), CONFIG)
    assert features.shape == (CONFIG.n_bands, 6)
    assert features.dtype == np.float32


def test_a_tone_peaks_in_the_band_that_holds_its_frequency():
    for frequency_hz in (300.0, 2000.0, 9000.0):
        features = hit_features(tone(frequency_hz, 0.5), CONFIG)[:, 0]
        edges_hz = band_edges(CONFIG.fft_size, CONFIG.n_bands) * CONFIG.sample_rate_hz / 512
        band = int(np.argmax(features))
        assert edges_hz[band] - 100 <= frequency_hz <= edges_hz[band + 1] + 100


def test_band_magnitude_is_in_amplitude_units():
    """A full-scale tone centred in a one-bin band reads about its amplitude (log10 ~ 0)."""
    frequency_hz = 10 * CONFIG.sample_rate_hz / CONFIG.fft_size  # bin 10, a one-bin band
    features = hit_features(tone(frequency_hz, 1.0), CONFIG)[:, 0]
    assert features.max() == pytest.approx(0.0, abs=0.15)


def test_silence_sits_at_the_log_floor():
    silent = np.zeros((CONFIG.window_samples, 6), np.float32)
    assert np.allclose(hit_features(silent, CONFIG), np.log10(CONFIG.log_floor))


def test_batched_features_equal_one_by_one():
    rng = np.random.default_rng(0)
    windows = rng.normal(0, 0.1, (5, CONFIG.window_samples, 6)).astype(np.float32)
    batched = hit_features(windows, CONFIG)
    for window, expected in zip(windows, batched, strict=True):
        np.testing.assert_allclose(hit_features(window, CONFIG), expected, rtol=1e-5, atol=1e-5)


def test_wrong_window_length_raises():
    with pytest.raises(ValueError, match="480"):
        hit_features(np.zeros((479, 6), np.float32), CONFIG)


def test_bands_cover_the_spectrum_without_gaps_or_overlap():
    edges = band_edges(CONFIG.fft_size, CONFIG.n_bands)
    assert edges[0] == 1 and edges[-1] == CONFIG.fft_size // 2 + 1
    assert np.all(np.diff(edges) >= 1)
    np.testing.assert_allclose(CONFIG.pooling.sum(axis=1), 1.0, rtol=1e-6)


def test_too_many_bands_is_refused():
    with pytest.raises(ValueError, match="too many"):
        FeatureConfig(n_bands=300)


def test_cut_window_starts_pre_roll_before_the_onset():
    signal = np.arange(2000, dtype=np.float32)[:, None].repeat(6, axis=1)
    window = cut_window(signal, 1000, CONFIG)
    assert window.shape == (CONFIG.window_samples, 6)
    assert window[0, 0] == 1000 - CONFIG.pre_roll_samples == window_start(1000, CONFIG)


@pytest.mark.parametrize("onset", [0, 1990])
def test_cut_window_outside_the_signal_raises(onset):
    with pytest.raises(ValueError, match="outside the signal"):
        cut_window(np.zeros((2000, 6), np.float32), onset, CONFIG)


def test_velocity_maps_the_peak_from_minus_60_dbfs_to_full_scale():
    window = np.zeros((CONFIG.window_samples, 5), np.float32)
    assert peak_velocity(window) == 0.0
    window[10, 2] = -1.0
    assert peak_velocity(window) == pytest.approx(1.0)
    window[10, 2] = 10 ** (-30 / 20)
    assert peak_velocity(window) == pytest.approx(0.5, abs=1e-6)
