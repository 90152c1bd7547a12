"""Audio files into 48 kHz and the firmware's channel order; silent and clipped recordings."""

import numpy as np
import pytest
import soundfile
from scipy.signal import resample_poly

from firmware.errors import InputFileError
from firmware.layout import SAMPLE_RATE_HZ
from training.data.audio import (
    SILENT_CHANNEL,
    LevelConfig,
    apply_channel_map,
    corpus_channel_map,
    level_problem,
    read_audio,
    resample,
)


def tone(rate_hz, channels, seconds=0.25, freq_hz=1000.0):
    """A sine per channel, channel c at (c + 1) * 0.1 amplitude, float32 [frames, channels]."""
    t = np.arange(round(rate_hz * seconds)) / rate_hz
    amplitudes = 0.1 * (np.arange(channels) + 1)
    return (np.sin(2 * np.pi * freq_hz * t)[:, None] * amplitudes).astype(np.float32)


@pytest.mark.parametrize(
    ("suffix", "subtype", "rate_hz", "channels"),
    [
        (".wav", "PCM_16", 44100, 1),
        (".flac", "PCM_24", 22050, 2),
        (".aiff", "PCM_24", 96000, 3),
        (".aif", "FLOAT", 48000, 8),
    ],
)
def test_files_of_any_format_rate_and_channels_reach_48k(
    tmp_path, suffix, subtype, rate_hz, channels
):
    path = tmp_path / f"hit{suffix}"
    file_format = "AIFF" if suffix.startswith(".aif") else None
    soundfile.write(path, tone(rate_hz, channels), rate_hz, subtype=subtype, format=file_format)
    samples, read_rate_hz = read_audio(path)
    frames = round(rate_hz / 4)
    assert read_rate_hz == rate_hz and samples.shape == (frames, channels)
    assert samples.dtype == np.float32
    at_48k = resample(samples, rate_hz)
    assert at_48k.shape == (-(-frames * SAMPLE_RATE_HZ // rate_hz), channels)
    assert at_48k.dtype == np.float32
    middle = slice(2000, 10000)
    np.testing.assert_allclose(at_48k[middle], tone(SAMPLE_RATE_HZ, channels)[middle], atol=2e-3)


def test_resample_is_scipy_resample_poly():
    samples = tone(44100, 2)
    np.testing.assert_allclose(
        resample(samples, 44100), resample_poly(samples, 160, 147, axis=0), rtol=1e-6, atol=1e-7
    )
    assert resample(samples, SAMPLE_RATE_HZ, SAMPLE_RATE_HZ) is samples


def test_unreadable_and_empty_files_are_named(tmp_path):
    with pytest.raises(InputFileError, match="no such audio file"):
        read_audio(tmp_path / "none.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(InputFileError, match=rf"^{junk}: cannot read audio"):
        read_audio(junk)
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros((0, 2), np.float32), 48000)
    with pytest.raises(InputFileError, match="no samples"):
        read_audio(empty)


def test_channel_map_reorders_and_silences():
    samples = tone(48000, 8)
    out = apply_channel_map(samples, (7, 6, 0, 1, 2, SILENT_CHANNEL), "s.toml")
    assert out.shape == (samples.shape[0], 6)
    for channel, entry in enumerate((7, 6, 0, 1, 2)):
        np.testing.assert_array_equal(out[:, channel], samples[:, entry])
    assert not out[:, 5].any()


@pytest.mark.parametrize(
    ("channel_map", "message"),
    [
        ((0, 1, 2, 3, 4), "5 entries, expected 6"),
        ((0, 1, 2, 3, 4, 6), "file channel 6 but the file has 6 channels"),
    ],
)
def test_channel_map_that_does_not_fit_the_file_is_an_error(channel_map, message):
    with pytest.raises(InputFileError, match=rf"^s.toml: channel_map .*{message}"):
        apply_channel_map(tone(48000, 6), channel_map, "s.toml")


@pytest.mark.parametrize(
    ("channels", "piezos"),
    [
        (1, (0, 0, 0, 0, 0)),
        (2, (0, 0, 0, 1, 1)),
        (3, (0, 0, 1, 1, 2)),
        (5, (0, 1, 2, 3, 4)),
        (8, (0, 1, 3, 4, 6)),
    ],
)
def test_corpus_channel_rule(channels, piezos):
    assert corpus_channel_map(channels) == (*piezos, SILENT_CHANNEL)


def test_silent_and_clipped_channels_are_found():
    config = LevelConfig(silent_peak_dbfs=-60.0, clip_level=0.99, max_clipped_fraction=0.01)
    signal = np.full((1000, 6), 0.5, np.float32)
    assert level_problem(signal, (0, 1, 2, 3, 4), config) is None
    signal[:, 2] = 0.0005
    assert level_problem(signal, (0, 1, 3, 4), config) is None
    assert level_problem(signal, (0, 1, 2), config).startswith("piezo3 is silent (peak -66.0 dBFS")
    signal[:, 2] = 0.5
    signal[:11, 4] = -1.0
    assert "piezo5 is clipped (1.10 %" in level_problem(signal, (0, 1, 2, 3, 4), config)
    signal[1:, 4] = 0.5
    assert level_problem(signal, (0, 1, 2, 3, 4), config) is None
