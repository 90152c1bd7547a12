"""The drum samples of LMMS and Sonic Pi as training kits: every listed file is there and
read, the unreadable one is reported, and nothing that repeats a soundfont hit or sounds like
a benchmark hit is kept."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile

from firmware.errors import InputFileError
from firmware.layout import SAMPLE_RATE_HZ
from training.data.corpus import CorpusReport, HitFile
from training.data.drumkits import CLASSES
from training.data.library_drums import (
    LIBRARIES,
    SampleLibrary,
    build_library_drums,
    check_installed,
    library_drum_files,
    library_hits,
)

installed = all(library.folder.is_dir() for library in LIBRARIES)
needs_libraries = pytest.mark.skipif(
    not installed, reason="needs Debian's lmms-common and sonic-pi-samples"
)


def decaying_noise(seed: int, frames: int = 6000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 0.5 * rng.normal(size=frames) * np.exp(-np.arange(frames) / 800.0)


def write(path, samples, rate_hz=SAMPLE_RATE_HZ):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, samples, rate_hz, subtype="FLOAT")
    return path


def test_a_missing_library_names_the_package_to_install(tmp_path):
    library = SampleLibrary("some-samples-package", tmp_path / "nowhere", {})
    with pytest.raises(InputFileError, match=r"nowhere: .*install Debian's some-samples-package"):
        check_installed([library])


def test_repeats_of_a_soundfont_hit_and_benchmark_recordings_are_left_out(tmp_path):
    """A library of four files: a benchmark hit's recording (at another rate), a soundfont
    hit's sound, a new sound, and a file that is not audio. The benchmark's sound is low-passed,
    so that its copy at half the rate holds all of it."""
    quiet = np.zeros(500)
    dull = np.convolve(decaying_noise(0), np.hanning(15) / np.hanning(15).sum(), mode="same")
    benchmark_sound = np.concatenate([quiet, dull])
    soundfont_sound = np.concatenate([quiet, decaying_noise(1)])
    folder = tmp_path / "library"
    write(folder / "bench_copy.wav", benchmark_sound[::2], SAMPLE_RATE_HZ // 2)
    write(folder / "soundfont_copy.wav", 0.5 * soundfont_sound)
    write(folder / "new.wav", np.concatenate([quiet, decaying_noise(2)]))
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEfmt nothing")
    library = SampleLibrary(
        "test-package",
        folder,
        {"kit": {"snare": ("bench_copy.wav", "soundfont_copy.wav", "new.wav", "broken.wav")}},
    )
    benchmark = [HitFile(write(tmp_path / "bench.wav", benchmark_sound), "snare", "hydrogen")]
    soundfont = [HitFile(write(tmp_path / "sf.wav", soundfont_sound), "snare", "fluidr3")]
    report = CorpusReport()
    kept = library_drum_files(benchmark, soundfont, (library,), report)
    assert kept == [HitFile(folder / "new.wav", "snare", "kit")]
    reasons = dict(report.skipped)
    assert reasons[str(folder / "bench_copy.wav")] == "the same recording as a benchmark hit"
    assert reasons[str(folder / "soundfont_copy.wav")] == "the same sound as a hit already kept"
    assert reasons[str(folder / "broken.wav")].startswith("cannot read audio")


@needs_libraries
def test_every_listed_sample_is_installed_and_all_but_one_read():
    listed = [
        (library.folder / name, class_name)
        for library in LIBRARIES
        for classes in library.kits.values()
        for class_name, names in classes.items()
        for name in names
    ]
    assert all(path.is_file() for path, _ in listed)
    assert {class_name for _, class_name in listed} == set(CLASSES)
    report = CorpusReport()
    hits = list(library_hits(LIBRARIES, report))
    assert len(hits) == len(listed) - 1
    assert [name for name, _ in report.skipped] == ["/usr/share/lmms/samples/drums/kick04.ogg"]
    assert all(hit.samples.ndim == 2 and np.abs(hit.samples).max() > 0.01 for hit in hits)


@needs_libraries
@pytest.mark.slow
def test_the_libraries_build_a_dataset_of_every_class_and_kit(tmp_path):
    dataset, report = build_library_drums([], ())
    assert set(dataset.groups["kit"].tolist()) == {
        "lmms",
        "sonicpi-acoustic",
        "sonicpi-electronic",
    }
    counts = np.bincount(dataset.labels["class"], minlength=len(CLASSES))
    assert np.all(counts >= 5), dict(zip(CLASSES, counts.tolist(), strict=True))
    assert len(dataset) + len(report.skipped) == sum(
        len(names)
        for library in LIBRARIES
        for classes in library.kits.values()
        for names in classes.values()
    )


@needs_libraries
def test_the_command_reads_the_soundfont_kits_it_must_not_repeat(tmp_path):
    soundfont_folder = tmp_path / "soundfont-drums"
    copy, rate = soundfile.read("/usr/share/lmms/samples/drums/snare01.ogg")
    write(soundfont_folder / "snare" / "fluidr3-standard" / "38_80.wav", copy, rate)
    out = tmp_path / "library.npz"
    done = subprocess.run(
        [sys.executable, "-m", "training.data", "library-drums", "--soundfont-folder",
         str(soundfont_folder), "--out", str(out), "--json"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.is_file() and '"the same sound as a hit already kept": 1' in done.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "training.data", "library-drums", "--soundfont-folder",
         str(tmp_path / "none")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 2
    assert missing.stderr.strip().endswith("none: no such corpus folder")
