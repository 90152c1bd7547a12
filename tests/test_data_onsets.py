"""Onsets of recorded hits by the firmware's detector: on real drum recordings."""

from pathlib import Path

import numpy as np
import pytest

from firmware.layout import N_CHANNELS, SAMPLE_RATE_HZ
from firmware.onset import DetectorConfig, HitDetector
from training.data.audio import read_audio, resample
from training.data.onsets import BLOCK_FRAMES, detect_onsets, match_onsets, single_hit_onset

KIT = Path("/usr/share/hydrogen/data/drumkits/The Black Pearl 1.0")
needs_kits = pytest.mark.skipif(not KIT.is_dir(), reason="Debian hydrogen-drumkits not installed")


def sample(name):
    """A real drum hit, mono float32 [frames] at 48 kHz."""
    samples, rate_hz = read_audio(KIT / name)
    return resample(samples, rate_hz)[:, 0]


def place(length, hits):
    """A 6-channel recording with each (start, mono hit) on the piezos at falling gains."""
    signal = np.zeros((length, N_CHANNELS), np.float32)
    gains = np.array([1.0, 0.6, 0.4, 0.25, 0.15, 0.0], np.float32)
    for start, hit in hits:
        stop = min(length, start + len(hit))
        signal[start:stop] += hit[: stop - start, None] * gains
    return signal


def attack_offset(hit):
    """Where a sample file's hit really starts: its first sample at 1 % of its peak (some
    files have a few ms of near-silence first)."""
    return int(np.argmax(np.abs(hit) >= 0.01 * np.abs(hit).max()))


def test_match_takes_the_nearest_detection_within_tolerance():
    onsets = np.array([1000, 5000, 5100, 9000])
    labels = np.array([1040, 5080, 7000, 8990, 100])
    assert match_onsets(labels, onsets, 50).tolist() == [1000, 5100, -1, 9000, -1]


def test_a_detection_goes_to_the_nearest_of_two_labels_only():
    assert match_onsets(np.array([990, 1020]), np.array([1000]), 50).tolist() == [1000, -1]
    assert match_onsets(np.array([980, 1005]), np.array([1000]), 50).tolist() == [-1, 1000]


def test_no_detections_match_nothing():
    assert match_onsets(np.array([10, 20]), np.array([], dtype=np.int64), 5).tolist() == [-1, -1]


@needs_kits
def test_detects_real_hits_where_they_were_placed():
    names = ("PearlSnare-Hard.wav", "PearlTom1-Med.wav", "PearlKick-Hard.wav")
    hits = [sample(name) for name in names]
    starts = [4800, 30000, 61234]
    signal = place(96000, zip(starts, hits, strict=True))
    attacks = np.array(starts) + [attack_offset(hit) for hit in hits]
    onsets = detect_onsets(signal, DetectorConfig(), SAMPLE_RATE_HZ)
    matched = match_onsets(attacks, onsets, 96)
    assert np.all(matched >= 0), (onsets, attacks)
    assert np.all(np.abs(matched - attacks) <= 32), (matched, attacks)


@needs_kits
def test_detection_equals_the_detector_fed_period_by_period_as_on_the_board():
    hits = [(3001, sample("PearlSnare-Med.wav")), (21000, sample("PearlTom2-Hard.wav"))]
    signal = place(40000 + 37, hits)
    padded = np.zeros((40000 + BLOCK_FRAMES, signal.shape[1]), np.float32)
    padded[: len(signal)] = signal
    detector = HitDetector(DetectorConfig(), SAMPLE_RATE_HZ)
    periods = [
        onset
        for start in range(0, len(padded), BLOCK_FRAMES)
        for onset in detector.process(padded[start : start + BLOCK_FRAMES])
    ]
    assert len(periods) == 2
    assert detect_onsets(signal, DetectorConfig(), SAMPLE_RATE_HZ).tolist() == periods


@needs_kits
def test_single_hit_onset_skips_noise_long_before_the_hit():
    rng = np.random.default_rng(0)
    hit = sample("PearlSnare-Hard.wav")
    noise_start, hit_start = 2400, 2400 + 960
    signal = place(hit_start + len(hit), [(hit_start, hit)])
    signal[noise_start:hit_start, :5] += 3e-4 * rng.standard_normal((hit_start - noise_start, 5))
    onset, fallback = single_hit_onset(signal, DetectorConfig(), SAMPLE_RATE_HZ, 480, 0.03)
    assert not fallback
    assert abs(onset - hit_start - attack_offset(hit)) <= 24, (onset, hit_start)


@needs_kits
def test_single_hit_at_the_file_start_is_found_after_the_lead_in():
    hit = sample("PearlTom1-Hard.wav")
    signal = place(2400 + len(hit), [(2400, hit)])
    onset, fallback = single_hit_onset(signal, DetectorConfig(), SAMPLE_RATE_HZ, 480, 0.03)
    assert not fallback and abs(onset - 2400 - attack_offset(hit)) <= 16


def test_a_swell_the_detector_cannot_see_falls_back_to_the_level_crossing():
    t = np.arange(48000) / SAMPLE_RATE_HZ
    swell = (np.minimum(t / 0.5, 1.0) ** 3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    signal = place(2400 + len(swell), [(2400, swell)])
    onset, fallback = single_hit_onset(signal, DetectorConfig(), SAMPLE_RATE_HZ, 480, 0.03)
    crossing = int(np.argmax(np.abs(signal[:, 0]) >= 0.03 * np.abs(signal[:, 0]).max()))
    assert fallback and onset == crossing
