"""ALSA capture and playback against the real ALSA library, without a sound card.

tests/alsa/asoundrc (loaded through ALSA_CONFIG_PATH, which ALSA re-reads when it changes)
defines a capture device that plays back a raw file (ALSA's file plugin with infile, over the
null plugin) and a playback device that writes into a file. What no device without a clock can
do (overrun, underrun, a period other than the one asked for) is provoked by wrapping the real
pyalsaaudio PCM: the only stand-ins in this file.
"""

import errno
import logging
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from firmware.audio_io import (
    SAMPLE_FORMATS,
    AlsaCapture,
    AlsaPlayback,
    AudioConfig,
    check_negotiated,
    list_devices,
    validate_audio_config,
)
from firmware.config import from_table
from firmware.errors import AudioDeviceError, ConfigError

alsaaudio = pytest.importorskip("alsaaudio")

ASOUNDRC = Path(__file__).parent / "alsa" / "asoundrc"
PERIOD = 64
MAP = (7, 2, 5, 0, 1, 3)
"""An interface with 8 inputs, the instrument's channels scattered over them."""


@pytest.fixture(autouse=True)
def test_alsa_config(monkeypatch):
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(ASOUNDRC))


def raw_capture(path, sample_format, frames, channels, seed=0):
    """Write random interleaved samples as the interface would deliver them; return the float
    values a correct conversion gives, shape [frames, channels]."""
    rng = np.random.default_rng(seed)
    if sample_format == "FLOAT_LE":
        raw = rng.uniform(-1, 1, (frames, channels)).astype("<f4")
        expected = raw.astype(np.float64)
    elif sample_format == "S16_LE":
        raw = rng.integers(-(2**15), 2**15, (frames, channels)).astype("<i2")
        expected = raw / 2.0**15
    elif sample_format == "S24_LE":
        value = rng.integers(-(2**23), 2**23, (frames, channels))
        garbage = rng.integers(0, 256, (frames, channels)) << 24  # top byte: not part of it
        raw = ((value & 0xFFFFFF) | garbage).astype(np.uint32).view("<i4")
        expected = value / 2.0**23
    else:
        raw = rng.integers(-(2**31), 2**31, (frames, channels)).astype("<i4")
        expected = raw / 2.0**31
    raw.tofile(path)
    return expected


def capture_config(infile, **overrides):
    fields = {
        "capture_device": f"hitar_capture:'{infile}'",
        "capture_channels": 8,
        "channel_map": MAP,
        "period_frames": PERIOD,
    }
    return AudioConfig(**{**fields, **overrides})


def read_periods(capture, periods):
    out = np.zeros((PERIOD, 6), np.float32)
    blocks = []
    for _ in range(periods):
        assert capture.read(out) == PERIOD
        blocks.append(out.copy())
    return np.concatenate(blocks)


class WrappedPCM:
    """A real pyalsaaudio PCM whose read/write results are replaced on chosen calls, as
    pyalsaaudio reports an overrun or underrun: -EPIPE, after re-preparing the stream."""

    real_pcm = alsaaudio.PCM

    def __init__(self, fail_calls=(), info=None, **kwargs):
        self.pcm = self.real_pcm(**kwargs)
        self.fail_calls = set(fail_calls)
        self.info_changes = info or {}
        self.calls = 0
        self.closed = False

    def __getattr__(self, name):
        return getattr(self.pcm, name)

    def read(self):
        self.calls += 1
        return (-errno.EPIPE, b"") if self.calls in self.fail_calls else self.pcm.read()

    def write(self, data):
        self.calls += 1
        return -errno.EPIPE if self.calls in self.fail_calls else self.pcm.write(data)

    def info(self):
        return {**self.pcm.info(), **self.info_changes}

    def close(self):
        self.closed = True
        self.pcm.close()


@pytest.mark.parametrize("sample_format", list(SAMPLE_FORMATS))
def test_capture_returns_the_samples_written_in_logical_order(tmp_path, sample_format):
    infile = tmp_path / "in.raw"
    expected = raw_capture(infile, sample_format, 5 * PERIOD, 8)
    capture = AlsaCapture(capture_config(infile, sample_format=sample_format))
    got = read_periods(capture, 5)
    capture.close()
    assert got.dtype == np.float32
    assert_allclose(got, expected[:, list(MAP)], rtol=1e-6, atol=1e-9)
    assert capture.xruns == 0


def test_capture_reblocks_when_alsa_picks_another_period(tmp_path, monkeypatch, caplog):
    infile = tmp_path / "in.raw"
    expected = raw_capture(infile, "S32_LE", 6 * PERIOD, 8)
    real_pcm = alsaaudio.PCM
    monkeypatch.setattr(alsaaudio, "PCM", lambda **kw: real_pcm(**{**kw, "periodsize": 96}))
    with caplog.at_level(logging.WARNING, logger="firmware.audio_io"):
        capture = AlsaCapture(capture_config(infile))
    assert capture.alsa_period_frames == 96
    assert "period 96 frames" in caplog.text
    got = read_periods(capture, 4)  # 256 frames out of three 96-frame ALSA periods
    capture.close()
    assert_allclose(got, expected[: 4 * PERIOD, list(MAP)], rtol=1e-6)


def test_capture_overrun_is_recovered_and_counted(tmp_path, monkeypatch):
    infile = tmp_path / "in.raw"
    expected = raw_capture(infile, "S32_LE", 3 * PERIOD, 8)
    monkeypatch.setattr(alsaaudio, "PCM", lambda **kw: WrappedPCM(fail_calls={2}, **kw))
    capture = AlsaCapture(capture_config(infile))
    got = read_periods(capture, 3)
    assert capture.xruns == 1
    assert_allclose(got, expected[:, list(MAP)], rtol=1e-6)


def test_capture_that_never_recovers_is_a_device_error(tmp_path, monkeypatch):
    infile = tmp_path / "in.raw"
    raw_capture(infile, "S32_LE", PERIOD, 8)
    monkeypatch.setattr(alsaaudio, "PCM", lambda **kw: WrappedPCM(fail_calls=range(99), **kw))
    capture = AlsaCapture(capture_config(infile))
    with pytest.raises(AudioDeviceError, match=r"hitar_capture.*failed reads in a row"):
        capture.read(np.zeros((PERIOD, 6), np.float32))


def test_capture_read_refuses_a_wrong_buffer(tmp_path):
    capture = AlsaCapture(AudioConfig(capture_device="null"))
    for bad in (np.zeros((PERIOD, 5), np.float32), np.zeros((PERIOD, 6), np.float64)):
        with pytest.raises(ValueError, match=r"float32 \[64, 6\]"):
            capture.read(bad)


def test_capture_and_playback_do_not_allocate_per_period():
    capture = AlsaCapture(AudioConfig(capture_device="null"))
    playback = AlsaPlayback(AudioConfig(playback_device="null"))
    out = np.zeros((PERIOD, 6), np.float32)
    block = np.zeros(PERIOD, np.float32)
    tracemalloc.start()
    try:
        for _ in range(10):
            capture.read(out)
            playback.write(block)
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(1000):
            capture.read(out)
            playback.write(block)
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    period_bytes = PERIOD * 6 * 4  # the bytes object pyalsaaudio returns per read
    assert peak - before < 2 * period_bytes + 1024
    assert after - before < 1024


def expected_playback(blocks, sample_format):
    """What the device should receive for float blocks: rounded, clipped, on both channels."""
    spec = SAMPLE_FORMATS[sample_format]
    values = np.concatenate(blocks).astype(np.float64) * spec.full_scale
    if not spec.is_float:
        values = np.rint(values)
    values = np.clip(values, *spec.playback_limits).astype(spec.dtype)
    return np.repeat(values[:, None], 2, axis=1)


@pytest.mark.parametrize("sample_format", list(SAMPLE_FORMATS))
def test_playback_file_holds_what_was_written_on_every_channel(tmp_path, sample_format):
    outfile = tmp_path / "out.raw"
    config = AudioConfig(
        playback_device=f"hitar_playback:'{outfile}'",
        sample_format=sample_format,
        playback_prefill_periods=2,
    )
    rng = np.random.default_rng(1)
    blocks = [rng.uniform(-1.2, 1.2, PERIOD).astype(np.float32) for _ in range(4)]
    playback = AlsaPlayback(config)
    playback.write(blocks[0])
    playback.write(blocks[1][:, None])  # [frames, 1] is a mono block too
    playback.write(blocks[2])
    playback.write(blocks[3])
    playback.close()
    got = np.fromfile(outfile, SAMPLE_FORMATS[sample_format].dtype).reshape(-1, 2)
    silence = np.zeros((2 * PERIOD, 2), got.dtype)
    assert_array_equal(got, np.concatenate([silence, expected_playback(blocks, sample_format)]))
    assert playback.xruns == 0


def test_playback_underrun_is_recovered_with_fresh_prefill(tmp_path, monkeypatch):
    outfile = tmp_path / "out.raw"
    monkeypatch.setattr(alsaaudio, "PCM", lambda **kw: WrappedPCM(fail_calls={4}, **kw))
    playback = AlsaPlayback(AudioConfig(playback_device=f"hitar_playback:'{outfile}'"))
    blocks = [np.full(PERIOD, 0.25 * (i + 1), np.float32) for i in range(3)]
    for block in blocks:  # calls: prefill, block 0, block 1, block 2 (underrun), prefill, block 2
        playback.write(block)
    playback.close()
    assert playback.xruns == 1
    got = np.fromfile(outfile, "<i4").reshape(-1, 2)
    silence = np.zeros((PERIOD, 2), np.int32)
    played = [silence, *(expected_playback([b], "S32_LE") for b in blocks[:2]), silence]
    assert_array_equal(got, np.concatenate([*played, expected_playback(blocks[2:], "S32_LE")]))


def test_playback_refuses_a_block_of_another_shape():
    playback = AlsaPlayback(AudioConfig(playback_device="null"))
    for shape in ((PERIOD + 1,), (PERIOD, 2), (1, PERIOD)):
        with pytest.raises(ValueError, match="block: expected shape"):
            playback.write(np.zeros(shape, np.float32))


@pytest.mark.parametrize("stream", ["capture", "playback"])
def test_missing_device_is_a_one_line_error_naming_it(stream):
    config = AudioConfig(capture_device="no_such_pcm", playback_device="no_such_pcm")
    with pytest.raises(AudioDeviceError) as caught:
        (AlsaCapture if stream == "capture" else AlsaPlayback)(config)
    message = str(caught.value)
    assert message.startswith(f"ALSA {stream} device 'no_such_pcm': cannot open (")
    assert "\n" not in message


def test_close_twice_is_fine(tmp_path):
    capture = AlsaCapture(AudioConfig(capture_device="null"))
    playback = AlsaPlayback(AudioConfig(playback_device="null"))
    for device in (capture, playback, capture, playback):
        device.close()


def test_list_devices_names_the_configured_pcms_and_their_directions():
    assert "null (capture, playback)" in list_devices()


def test_missing_pyalsaaudio_is_a_one_line_error_and_the_module_still_imports(monkeypatch):
    monkeypatch.setitem(sys.modules, "alsaaudio", None)  # import alsaaudio now fails
    with pytest.raises(AudioDeviceError, match="pyalsaaudio is not installed"):
        AlsaCapture(AudioConfig())


def negotiated_info(config, channels):
    """PCM.info() of a real device opened with config (the null device takes anything)."""
    pcm = alsaaudio.PCM(
        type=alsaaudio.PCM_CAPTURE,
        device="null",
        rate=config.sample_rate_hz,
        channels=channels,
        format=getattr(alsaaudio, f"PCM_FORMAT_{config.sample_format}"),
        periodsize=config.period_frames,
        periods=config.periods,
    )
    info = pcm.info()
    pcm.close()
    return info


@pytest.mark.parametrize("stream", ["capture", "playback"])
def test_device_running_at_another_rate_is_refused_and_closed(monkeypatch, stream):
    opened = []

    def open_at_44k1(**kwargs):
        opened.append(WrappedPCM(info={"rate": 44100}, **kwargs))
        return opened[-1]

    monkeypatch.setattr(alsaaudio, "PCM", open_at_44k1)
    config = AudioConfig(capture_device="null", playback_device="null")
    with pytest.raises(AudioDeviceError, match="'null': runs at 44100 Hz, not 48000 Hz"):
        (AlsaCapture if stream == "capture" else AlsaPlayback)(config)
    assert opened[0].closed


def test_negotiation_that_matches_is_silent():
    config = AudioConfig()
    assert check_negotiated(config, "hw:1", "capture", 6, negotiated_info(config, 6)) is None


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("rate", 44100, "runs at 44100 Hz, not 48000 Hz"),
        ("format_name", "S16_LE", "does not take sample format S32_LE"),
        ("channels", 2, "opened with 2 channels, not 6"),
    ],
)
def test_negotiated_rate_format_or_channels_that_differ_are_errors(field, value, expected):
    config = AudioConfig()
    info = {**negotiated_info(config, 6), field: value}
    with pytest.raises(AudioDeviceError, match=expected) as caught:
        check_negotiated(config, "hw:1", "capture", 6, info)
    assert str(caught.value).startswith("ALSA capture device 'hw:1': ")


def test_negotiated_period_that_differs_is_a_note():
    config = AudioConfig()
    info = {**negotiated_info(config, 6), "period_size": 128, "periods": 2}
    note = check_negotiated(config, "hw:1", "capture", 6, info)
    assert note.startswith("ALSA capture device 'hw:1': period 128 frames x 2 instead of 64 x 4")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("channel_map", (0, 1, 2, 3, 4), "channel_map: expected 6 distinct"),
        ("channel_map", (0, 1, 2, 3, 4, 4), "channel_map: expected 6 distinct"),
        ("channel_map", (0, 1, 2, 3, 4, -1), "channel_map: expected 6 distinct"),
        ("channel_map", (0, 1, 2, 3, 4, 6), "channel_map: expected interface channels below"),
        ("sample_format", "S24_3LE", "sample_format: expected one of S16_LE, S24_LE"),
        ("period_frames", 0, "period_frames: expected a positive integer"),
        ("capture_channels", 0, "capture_channels: expected a positive integer"),
        ("periods", 1, "periods: expected at least 2"),
        ("playback_prefill_periods", 4, "playback_prefill_periods: expected 0..3"),
        ("capture_device", "", "capture_device: expected an ALSA device name"),
    ],
)
def test_invalid_config_is_a_one_line_error_naming_the_field(field, value, expected):
    config = AudioConfig(**{field: value})
    with pytest.raises(ConfigError, match=expected) as caught:
        validate_audio_config(config, "pi4.toml [audio]")
    assert str(caught.value).startswith(f"pi4.toml [audio] {field}: ")
    with pytest.raises(ConfigError, match=expected):
        AlsaCapture(config)


def test_config_from_a_toml_table_validates():
    table = {"capture_device": "hw:1", "channel_map": [5, 4, 3, 2, 1, 0], "sample_format": "S24_LE"}
    config = from_table(AudioConfig, table, "pi4.toml [audio]")
    validate_audio_config(config, "pi4.toml [audio]")
    assert config.channel_map == (5, 4, 3, 2, 1, 0)
