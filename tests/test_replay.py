"""WAV replay source and WAV sink, on real drum recordings from Debian's hydrogen-drumkits."""

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from numpy.testing import assert_array_equal

from firmware.errors import ConfigError, HitarError, InputFileError
from firmware.replay import CHUNK_FRAMES, WavReplay, WavSink

DRUMKIT = Path("/usr/share/hydrogen/data/drumkits/Audiophob")
SAMPLES = [
    "101450__menegass__tomh.wav",
    "104227__minorr__hhat-paiste-302-14-open-p.wav",
    "124101__connersaw8__crash.wav",
    "15590__lewis__sabmute.wav",
    "86335__zgump__tom-0105.wav",
    "29800__stomachache__3.wav",
]
MAP = (4, 0, 6, 2, 1, 5)
"""Six of a seven-channel file's channels, scattered."""

needs_drumkit = pytest.mark.skipif(
    not all((DRUMKIT / name).is_file() for name in SAMPLES),
    reason="hydrogen-drumkits (Debian package) not installed",
)


@pytest.fixture(scope="module")
def drum_recording(tmp_path_factory):
    """A 7-channel 44.1 kHz WAV, one real drum sample per channel (first channel of each,
    the seventh a copy of the first reversed), longer than one replay chunk."""
    channels = [soundfile.read(DRUMKIT / name, dtype="float32", always_2d=True) for name in SAMPLES]
    rates = {rate for _, rate in channels}
    assert rates == {44100}
    frames = max(len(data) for data, _ in channels)
    assert frames > 2 * CHUNK_FRAMES
    stacked = np.zeros((frames, 7), np.float32)
    for i, (data, _) in enumerate(channels):
        stacked[: len(data), i] = data[:, 0]
    stacked[:, 6] = stacked[::-1, 0]
    path = tmp_path_factory.mktemp("replay") / "drums7.wav"
    soundfile.write(path, stacked, 44100, subtype="FLOAT")
    return path, stacked


def replay_all(replay):
    """Every period until read returns 0: (frames returned per read, the periods)."""
    out = np.full((replay.period_frames, 6), np.nan, np.float32)
    counts, blocks = [], []
    while True:
        frames = replay.read(out)
        counts.append(frames)
        if frames == 0:
            assert not out.any()
            return counts, blocks
        assert not out[frames:].any()  # the last period is zero padded
        blocks.append(out.copy())


@needs_drumkit
@pytest.mark.parametrize("period_frames", [1, 64, 65, 128, 8193])
def test_replay_gives_the_recording_period_by_period_in_logical_order(
    drum_recording, period_frames
):
    path, stacked = drum_recording
    if period_frames == 1:
        stacked = stacked[:3000]
        soundfile.write(path.with_name("short.wav"), stacked, 44100, subtype="FLOAT")
        path = path.with_name("short.wav")
    replay = WavReplay(path, period_frames, 44100, channel_map=MAP, realtime=False)
    assert (replay.sample_rate_hz, replay.total_frames) == (44100, len(stacked))
    counts, blocks = replay_all(replay)
    replay.close()
    total = len(stacked)
    full, last = divmod(total, period_frames)
    assert counts == [period_frames] * full + ([last] if last else []) + [0]
    assert_array_equal(np.concatenate(blocks)[:total], stacked[:, list(MAP)])
    assert replay.xruns == 0


@needs_drumkit
def test_recording_at_another_rate_is_a_one_line_error():
    path = DRUMKIT / SAMPLES[0]
    with pytest.raises(InputFileError) as caught:
        WavReplay(path, 64, 48_000)
    assert str(caught.value) == f"{path}: 44100 Hz, the model expects 48000 Hz"


@needs_drumkit
def test_recording_with_too_few_channels_is_a_one_line_error():
    path = DRUMKIT / SAMPLES[1]  # stereo
    with pytest.raises(InputFileError) as caught:
        WavReplay(path, 64, 44_100)
    assert str(caught.value) == (
        f"{path}: 2 channels, the channel map [0, 1, 2, 3, 4, 5] needs at least 6"
    )


def six_channel_file(path, seconds, rate=48_000):
    frames = int(seconds * rate)
    data = np.random.default_rng(0).uniform(-1, 1, (frames, 6)).astype(np.float32)
    soundfile.write(path, data, rate, subtype="FLOAT")
    return data


@pytest.mark.parametrize("period_frames", [1, 64, 65, 8193])
def test_looped_replay_is_one_stream_with_full_periods_across_the_seams(tmp_path, period_frames):
    path = tmp_path / "short.wav"
    data = six_channel_file(path, (CHUNK_FRAMES + 1234) / 48_000)
    loops = 3
    with WavReplay(path, period_frames, 48_000, realtime=False, loops=loops) as replay:
        counts, blocks = replay_all(replay)
    total = loops * len(data)
    full, last = divmod(total, period_frames)
    assert counts == [period_frames] * full + ([last] if last else []) + [0]
    assert_array_equal(np.concatenate(blocks)[:total], np.tile(data, (loops, 1)))


def test_loops_must_be_positive(tmp_path):
    path = tmp_path / "short.wav"
    six_channel_file(path, 0.01)
    with pytest.raises(ValueError, match="loops"):
        WavReplay(path, 64, 48_000, loops=0)


def test_paced_replay_takes_about_the_recordings_duration(tmp_path):
    path = tmp_path / "half_second.wav"
    six_channel_file(path, 0.5)
    started = time.monotonic()
    with WavReplay(path, 480, 48_000, realtime=True) as replay:
        counts, _ = replay_all(replay)
    paced_s = time.monotonic() - started
    assert sum(counts) == 24_000
    assert 0.45 <= paced_s < 2.0
    started = time.monotonic()
    with WavReplay(path, 480, 48_000, realtime=False) as replay:
        replay_all(replay)
    assert time.monotonic() - started < paced_s / 2


def test_paced_replay_does_not_drift_after_a_late_read(tmp_path):
    path = tmp_path / "half_second.wav"
    six_channel_file(path, 0.5)
    out = np.zeros((480, 6), np.float32)
    with WavReplay(path, 480, 48_000, realtime=True) as replay:
        started = time.monotonic()
        replay.read(out)
        time.sleep(0.2)  # the engine stalls for 20 periods
        while replay.read(out):
            pass
    assert 0.45 <= time.monotonic() - started < 2.0  # caught up: still about 0.5 s in all


def unusable_path(tmp_path, kind):
    if kind == "folder":
        return tmp_path
    path = tmp_path / f"{kind}.wav"
    if kind == "not-audio":
        path.write_text("not audio")
    return path


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("missing", "no such file"),
        ("folder", "cannot read (Is a directory)"),
        ("not-audio", "not a readable audio file"),
    ],
)
def test_unusable_file_is_a_one_line_error_naming_it(tmp_path, kind, expected):
    path = unusable_path(tmp_path, kind)
    with pytest.raises(InputFileError) as caught:
        WavReplay(path, 64, 48_000)
    message = str(caught.value)
    assert message.startswith(f"{path}: {expected}")
    assert "\n" not in message
    assert isinstance(caught.value, HitarError)


def test_malformed_channel_map_is_a_config_error(tmp_path):
    path = tmp_path / "six.wav"
    six_channel_file(path, 0.01)
    with pytest.raises(ConfigError, match="channel_map: expected 6 distinct"):
        WavReplay(path, 64, 48_000, channel_map=(0, 1, 2, 3, 4, 4))


def test_read_refuses_a_wrong_buffer(tmp_path):
    path = tmp_path / "six.wav"
    six_channel_file(path, 0.01)
    replay = WavReplay(path, 64, 48_000, realtime=False)
    with pytest.raises(ValueError, match=r"float32 \[64, 6\]"):
        replay.read(np.zeros((65, 6), np.float32))
    replay.close()


@pytest.mark.parametrize("shape", [(64,), (64, 1)])
def test_mono_sink_writes_blocks_exactly(tmp_path, shape):
    path = tmp_path / "voice" / "out.wav"
    rng = np.random.default_rng(2)
    blocks = [rng.uniform(-1.5, 1.5, shape).astype(np.float32) for _ in range(5)]
    with WavSink(path, 48_000, 1) as sink:
        for block in blocks:
            sink.write(block)
    assert sink.frames_written == 320
    data, rate = soundfile.read(path, dtype="float32")
    assert rate == 48_000
    assert_array_equal(data, np.concatenate(blocks).reshape(-1))  # > 1 is kept: float WAV


def test_multichannel_sink_round_trips_through_replay(tmp_path):
    path = tmp_path / "six.wav"
    data = np.random.default_rng(3).uniform(-1, 1, (1000, 6)).astype(np.float32)
    with WavSink(path, 48_000, 6) as sink:
        sink.write(data[:640])
        sink.write(data[640:])
    with WavReplay(path, 64, 48_000, realtime=False) as replay:
        _, blocks = replay_all(replay)
    assert_array_equal(np.concatenate(blocks)[:1000], data)


@pytest.mark.parametrize(("channels", "shape"), [(2, (64,)), (2, (64, 1)), (1, (64, 2))])
def test_sink_refuses_a_block_with_other_channels(tmp_path, channels, shape):
    sink = WavSink(tmp_path / "out.wav", 48_000, channels)
    with pytest.raises(ValueError, match="block: expected"):
        sink.write(np.zeros(shape, np.float32))
    sink.close()


def test_unwritable_sink_is_a_one_line_error(tmp_path):
    with pytest.raises(InputFileError) as caught:
        WavSink(tmp_path, 48_000, 1)
    assert str(caught.value) == f"{tmp_path}: cannot write (Is a directory)"
