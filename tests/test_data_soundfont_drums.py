"""The soundfonts' drum kits as training kits: rendered one note at a time by the real
fluidsynth, duplicates dropped, and nothing that sounds like a benchmark hit kept."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from firmware.errors import InputFileError
from firmware.layout import SAMPLE_RATE_HZ
from training.data.corpus import CorpusReport, HitFile
from training.data.drumkits import CLASSES
from training.data.midi_render import fluidsynth_available
from training.data.soundfont_drums import (
    ATTACK_SAMPLES,
    FILE_LENGTH_S,
    GM_DRUM_NOTES,
    PRE_ROLL_S,
    SOUNDFONT_KITS,
    VELOCITIES,
    RenderedHit,
    SoundfontKit,
    attack_signature,
    attack_similarity,
    benchmark_attacks,
    build_soundfont_drums,
    check_installed,
    distinct_hits,
    render_kit,
    soundfont_drum_files,
)

FLUIDR3 = {kit.name: kit for kit in SOUNDFONT_KITS if kit.package == "fluid-soundfont-gm"}
needs_fluidsynth = pytest.mark.skipif(
    not fluidsynth_available(), reason="needs fluidsynth and Debian's fluid-soundfont-gm"
)


def decaying_noise(seed: int, frames: int = 6000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=frames) * np.exp(-np.arange(frames) / 800.0)


def test_attack_similarity_ignores_gain_polarity_and_small_shifts_but_not_another_sound():
    hit = np.concatenate([np.zeros(300), decaying_noise(0)])
    attack = attack_signature(hit)
    assert attack.shape == (ATTACK_SAMPLES,)
    assert np.linalg.norm(attack) == pytest.approx(1.0)
    same = [-0.25 * hit, np.concatenate([np.zeros(30), hit])[: len(hit)]]
    others = [decaying_noise(1), decaying_noise(2)]
    similarity = attack_similarity(attack, np.array([attack_signature(x) for x in same + others]))
    np.testing.assert_allclose(similarity[:2], 1.0, atol=1e-6)
    assert np.all(similarity[2:] < 0.3)


def rendered(name: str, class_name: str, samples: np.ndarray) -> RenderedHit:
    stereo = np.stack([samples, samples], axis=1).astype(np.float32)
    return RenderedHit(name, class_name, 36, 80, stereo)


def test_duplicates_and_benchmark_recordings_are_left_out_and_reported(tmp_path):
    quiet = np.zeros(500)
    recording = np.concatenate([quiet, decaying_noise(0)])
    benchmark_hit = tmp_path / "bench.wav"
    soundfile.write(benchmark_hit, recording, SAMPLE_RATE_HZ, subtype="FLOAT")
    hits = [
        rendered("copy-of-benchmark", "snare", 0.5 * recording),
        rendered("new", "snare", np.concatenate([quiet, decaying_noise(1)])),
        rendered("new-again-louder", "snare", 2.0 * np.concatenate([quiet, decaying_noise(1)])),
        rendered("other", "snare", np.concatenate([quiet, decaying_noise(2)])),
        rendered("same-sound-other-class", "tom", np.concatenate([quiet, decaying_noise(1)])),
    ]
    report = CorpusReport()
    benchmark = benchmark_attacks([HitFile(benchmark_hit, "snare", "hydrogen")])
    kept = [hit.kit for hit in distinct_hits(hits, benchmark, report)]
    assert kept == ["new", "other", "same-sound-other-class"]
    assert report.skipped == [
        ("snare/copy-of-benchmark/36_80.wav", "the same recording as a benchmark hit"),
        ("snare/new-again-louder/36_80.wav", "the same sound as a hit already kept"),
    ]


def test_a_missing_soundfont_names_the_package_to_install(tmp_path):
    kit = SoundfontKit("some-soundfont-package", tmp_path / "none.sf2", "x-standard", 0)
    with pytest.raises(InputFileError, match=r"none\.sf2: .*install Debian's some-soundfont"):
        check_installed([kit])


@needs_fluidsynth
def test_a_kit_renders_every_sounding_note_from_just_before_its_onset():
    hits = list(render_kit(FLUIDR3["fluidr3-standard"]))
    assert len(hits) == sum(len(notes) for notes in GM_DRUM_NOTES.values()) * len(VELOCITIES)
    assert {hit.class_name for hit in hits} == set(CLASSES)
    pre_roll = round(PRE_ROLL_S * SAMPLE_RATE_HZ)
    for hit in hits:
        assert hit.samples.shape == (round(FILE_LENGTH_S * SAMPLE_RATE_HZ), 2)
        assert hit.note in GM_DRUM_NOTES[hit.class_name] and hit.velocity in VELOCITIES
        envelope = np.abs(hit.samples).max(axis=1)
        first = int(np.argmax(envelope > 0.03 * envelope.max()))
        assert np.all(envelope[: pre_roll - 10] == 0.0), hit.relative_path
        assert pre_roll - 10 <= first < pre_roll + 480, hit.relative_path  # within 10 ms


@needs_fluidsynth
@pytest.mark.slow
def test_kits_that_are_the_benchmark_or_repeat_a_kit_add_nothing(tmp_path):
    standard, room = FLUIDR3["fluidr3-standard"], FLUIDR3["fluidr3-room"]
    benchmark = soundfont_drum_files([], tmp_path / "benchmark", (standard,))
    alone, _ = build_soundfont_drums([], tmp_path / "alone", (room,))
    dataset, report = build_soundfont_drums(benchmark, tmp_path / "both", (standard, room))
    assert len(benchmark) > 0 and len(alone) > 0
    assert set(dataset.groups["kit"].tolist()) == {"fluidr3-room"}
    leaked = [Path(name).parent.name for name, why in report.skipped if "benchmark" in why]
    assert "fluidr3-standard" in leaked and "fluidr3-room" in leaked  # room reuses standard's
    assert len(dataset) < len(alone)
    written = sorted(
        path.relative_to(tmp_path / "both") for path in (tmp_path / "both").rglob("*.wav")
    )
    assert written == sorted(
        Path(source).relative_to(tmp_path / "both") for source in dataset.source
    )
    for hit in benchmark:
        assert hit.dynamics * 127 == pytest.approx(int(hit.path.stem.split("_")[1]))


@needs_fluidsynth
@pytest.mark.slow
def test_the_command_builds_and_saves_the_training_kits(tmp_path):
    out = tmp_path / "sf.npz"
    done = subprocess.run(
        [sys.executable, "-m", "training.data", "soundfont-drums", "--folder",
         str(tmp_path / "render"), "--out", str(out), "--json"],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode == 2 and "install Debian's" in done.stderr:
        pytest.skip(done.stderr.strip())
    assert done.returncode == 0, done.stderr
    assert out.is_file() and '"hits"' in done.stdout
