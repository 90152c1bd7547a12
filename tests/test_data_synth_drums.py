"""Synthesised drum kits: the physics each class is built from shows in the sound, every kit
holds every class, and the files load through the corpus loader with their onsets found."""

import json
import subprocess
import sys

import numpy as np

from firmware.layout import SAMPLE_RATE_HZ
from training.data.dataset import HitDataset
from training.data.drumkits import CLASSES
from training.data.synth_drums import (
    MEMBRANE_RATIOS,
    PRE_ROLL_S,
    build_synth_drums,
    contact_pulse,
    synth_kit_hits,
)


def spectrum(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    magnitude = np.abs(np.fft.rfft(samples))
    return np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE_HZ), magnitude


def test_membrane_modes_are_the_bessel_zeros_over_the_fundamental():
    assert MEMBRANE_RATIOS[0] == 1.0
    np.testing.assert_allclose(MEMBRANE_RATIOS[1:3], [1.593, 2.136], atol=1e-3)  # J_1, J_2
    assert np.all(np.diff(MEMBRANE_RATIOS) >= 0) and MEMBRANE_RATIOS[-1] <= 12


def test_a_shorter_contact_is_brighter_and_every_pulse_has_unit_area():
    short, long = contact_pulse(0.3e-3), contact_pulse(3e-3)
    assert np.isclose(short.sum(), 1.0) and np.isclose(long.sum(), 1.0)
    frequencies, short_spectrum = spectrum(np.pad(short, (0, 4800 - len(short))))
    _, long_spectrum = spectrum(np.pad(long, (0, 4800 - len(long))))
    at_1khz = np.argmin(np.abs(frequencies - 1_000))
    assert short_spectrum[at_1khz] > 0.9 and long_spectrum[at_1khz] < 0.1


def test_a_kit_plays_every_class_and_repeats_exactly():
    hits = list(synth_kit_hits(3))
    assert {hit.class_name for hit in hits} == set(CLASSES)
    again = list(synth_kit_hits(3))
    assert all(np.array_equal(a.samples, b.samples) for a, b in zip(hits, again, strict=True))
    other = list(synth_kit_hits(4))
    assert not np.array_equal(hits[0].samples, other[0].samples)


def test_each_class_shows_its_physics():
    """Kicks ring lowest, a closed hi-hat dies fastest, cymbals ring longest; all start after
    the pre-roll's silence."""
    lead = round(PRE_ROLL_S * SAMPLE_RATE_HZ)
    peaks, tails = {}, {}
    for kit in range(4):
        for hit in synth_kit_hits(kit):
            assert not hit.samples[:lead].any()
            sound = hit.samples[lead:]
            frequencies, magnitude = spectrum(sound[2400:])  # after 50 ms
            peaks.setdefault(hit.class_name, []).append(frequencies[np.argmax(magnitude)])
            energy = np.cumsum(sound.astype(np.float64) ** 2)
            tails.setdefault(hit.drum, []).append(1 - energy[4800] / energy[-1])  # after 100 ms
    assert np.median(peaks["kick"]) < 100 < np.median(peaks["tom"])
    assert np.median(peaks["hihat"]) > 1_000 and np.median(peaks["cymbal"]) > 150
    assert np.median(tails["closed"]) < 0.05 < np.median(tails["open"])
    assert np.median(tails["crash"]) > np.median(tails["snare"])


def test_the_kits_load_as_a_corpus_with_their_onsets_found(tmp_path):
    dataset, report = build_synth_drums(tmp_path, kits=2)
    assert not report.skipped and not report.fallbacks
    assert set(dataset.groups["kit"]) == {hit.kit for k in range(2) for hit in synth_kit_hits(k)}
    assert np.bincount(dataset.labels["class"], minlength=len(CLASSES)).min() > 0
    assert np.all((dataset.dynamics > 0) & (dataset.dynamics < 1))
    written = sorted(path.relative_to(tmp_path).parts[:2] for path in tmp_path.rglob("*.wav"))
    assert written[0] == ("cymbal", "synth00") and len(written) == len(dataset)


def test_the_command_writes_a_dataset_and_refuses_no_kits(tmp_path):
    out = tmp_path / "synth.npz"
    done = subprocess.run(
        [sys.executable, "-m", "training.data", "synth-drums", "--kits", "1", "--folder",
         str(tmp_path / "files"), "--out", str(out), "--json"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["hits"] == len(HitDataset.load(out)) == len(list(synth_kit_hits(0)))
    refused = subprocess.run(
        [sys.executable, "-m", "training.data", "synth-drums", "--kits", "0"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr.strip() == "error: --kits: expected at least 1 kit, got 0"
