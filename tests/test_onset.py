"""The hit detector: sample-accurate, block-size invariant, deaf to noise, wary of plucks."""

import mir_eval
import numpy as np
import pytest

from firmware.config import from_table
from firmware.errors import ConfigError
from firmware.layout import N_CHANNELS, SAMPLE_RATE_HZ
from firmware.onset import DetectorConfig, HitDetector
from training.simulator import HitSetConfig, SessionConfig, simulate_hits, simulate_session

FS = SAMPLE_RATE_HZ


def noise(n_frames: int, seed: int = 0, rms: float = 1e-4) -> np.ndarray:
    """White noise on all six channels (-80 dBFS by default), float32 [n_frames, 6]."""
    return np.random.default_rng(seed).normal(0.0, rms, (n_frames, N_CHANNELS)).astype(np.float32)


def add_clicks(signal: np.ndarray, onsets: list[int], channel: int, amplitude: float) -> None:
    """Add a damped 4 kHz burst starting exactly at each onset (in place)."""
    t = np.arange(480)
    click = amplitude * np.exp(-t / 48.0) * np.cos(2 * np.pi * 4000.0 * t / FS)
    for onset in onsets:
        signal[onset : onset + t.size, channel] += click


def run_in_blocks(detector: HitDetector, audio: np.ndarray, block: int) -> list[int]:
    """Process audio in blocks, checking the look-back bound of every reported onset."""
    onsets = []
    for start in range(0, audio.shape[0], block):
        found = detector.process(audio[start : start + block])
        assert all(o >= start - detector.config.max_lookback_samples for o in found)
        onsets += found
    return onsets


@pytest.fixture(scope="module")
def session():
    """Hits over string playing, two players."""
    config = SessionConfig(seconds=8.0, players=(3, 4), instrument=1)
    audio, hits, _ = simulate_session(config, seed=31)
    return audio, np.array([hit.onset_sample for hit in hits])


def test_onset_is_sample_accurate_on_synthetic_clicks():
    audio = noise(4 * FS)
    truth = [4_800 + 9_601 * k + (k * 7) % 16 for k in range(19)]
    for k, onset in enumerate(truth):
        add_clicks(audio, [onset], channel=k % 5, amplitude=0.05 * (1 + k % 3))
    found = HitDetector(DetectorConfig(), FS).process(audio)
    assert len(found) == len(truth)
    assert np.max(np.abs(np.array(found) - truth)) <= 1


@pytest.mark.parametrize("block", [1, 64, 65, 128, 8193])
def test_any_block_size_gives_the_same_onsets(session, block):
    audio = session[0][: 3 * FS]
    whole = HitDetector(DetectorConfig(), FS).process(audio)
    assert len(whole) > 5
    assert run_in_blocks(HitDetector(DetectorConfig(), FS), audio, block) == whole


def test_simulated_hits_are_found_on_time_over_string_playing(session):
    audio, truth = session
    found = np.array(HitDetector(DetectorConfig(), FS).process(audio))
    f_measure, _, _ = mir_eval.onset.f_measure(truth / FS, found / FS, window=0.002)
    matches = mir_eval.util.match_events(truth / FS, found / FS, 0.002)
    errors = [found[j] - truth[i] for i, j in matches]
    assert f_measure >= 0.95
    assert np.median(np.abs(errors)) <= 0.25e-3 * FS


def test_noise_alone_gives_no_detection():
    assert HitDetector(DetectorConfig(), FS).process(noise(10 * FS)) == []
    quiet = SessionConfig(seconds=10.0, hit_span=(0.0, 0.0), string_span=(0.0, 0.0))
    audio, _, _ = simulate_session(quiet, seed=2)
    assert HitDetector(DetectorConfig(), FS).process(audio) == []


def test_digital_silence_gives_no_detection():
    silence = np.zeros((FS, N_CHANNELS), dtype=np.float32)
    silence[FS // 2 :] = 1e-9
    assert HitDetector(DetectorConfig(), FS).process(silence) == []


def test_string_playing_alone_is_taken_for_plucks():
    # 20 s of single notes and strums: about 50 pluck events (and 120 plucks) on the piezos.
    config = SessionConfig(seconds=20.0, hit_span=(0.0, 0.0), players=(5,), instrument=3)
    audio, hits, _ = simulate_session(config, seed=41)
    assert hits == []
    assert len(HitDetector(DetectorConfig(), FS).process(audio)) <= 1


def test_ringing_does_not_retrigger_but_a_second_hit_soon_after_is_found():
    config = HitSetConfig(n_hits=8, players=(2,), buffer_ms=300.0, string_probability=0.0)
    hit_set = simulate_hits(config, seed=5)
    onset = hit_set.hits[0].onset_sample
    for audio in hit_set.audio:
        found = HitDetector(DetectorConfig(), FS).process(audio)
        assert len(found) == 1 and abs(found[0] - onset) <= 0.25e-3 * FS
    gap = int(0.030 * FS)
    first, second = hit_set.audio[3], hit_set.audio[4]
    double = first.copy()
    double[gap:] += second[:-gap]
    found = HitDetector(DetectorConfig(), FS).process(double)
    assert len(found) == 2 and abs(found[1] - (onset + gap)) <= 0.25e-3 * FS


def test_a_longer_dead_time_masks_a_second_hit_soon_after():
    config = HitSetConfig(n_hits=5, players=(2,), buffer_ms=300.0, string_probability=0.0)
    hit_set = simulate_hits(config, seed=5)
    gap = int(0.030 * FS)
    double = hit_set.audio[3].copy()
    double[gap:] += hit_set.audio[4][:-gap]
    detector = HitDetector(DetectorConfig(), FS)
    detector.set_dead_time_ms(50.0)
    assert len(detector.process(double)) == 1
    detector.reset()
    detector.set_dead_time_ms(8.0)
    assert len(detector.process(double)) == 2
    with pytest.raises(ValueError, match="must outlast"):
        detector.set_dead_time_ms(1.0)


def test_sensitivity_multiplies_the_threshold():
    audio = noise(FS)
    add_clicks(audio, [FS // 2], channel=1, amplitude=0.002)  # about 30 dB over the noise
    detector = HitDetector(DetectorConfig(), FS)
    assert len(detector.process(audio)) == 1
    detector.reset()
    detector.set_sensitivity(10.0**4)  # +40 dB
    assert detector.process(audio) == []
    detector.reset()
    detector.set_sensitivity(1.0)
    assert len(detector.process(audio)) == 1
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError):
            detector.set_sensitivity(bad)


def test_reset_restarts_the_sample_count():
    audio = noise(FS)
    add_clicks(audio, [10_000, 30_000], channel=0, amplitude=0.05)
    detector = HitDetector(DetectorConfig(), FS)
    first = detector.process(audio)
    detector.reset()
    assert detector.process(audio) == first == [10_000, 30_000]


@pytest.mark.parametrize("shape", [(64, 5), (64,), (64, 6, 1), (6, 64)])
def test_wrong_block_shape_raises_value_error(shape):
    detector = HitDetector(DetectorConfig(), FS)
    with pytest.raises(ValueError):
        detector.process(np.zeros(shape, dtype=np.float32))


def test_bad_configuration_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match=r"pi\.toml \[detector\].*frame_samples"):
        from_table(DetectorConfig, {"frame_samples": 0}, "pi.toml [detector]")
    with pytest.raises(ConfigError, match="Nyquist"):
        HitDetector(DetectorConfig(band_high_hz=12_000.0), 16_000)
