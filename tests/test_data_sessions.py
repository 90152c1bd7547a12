"""Sessions: a labelled multichannel recording of real hits, built into a dataset, and every
check that must stop the build naming its file."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from scipy.signal import resample_poly

from firmware.errors import ConfigError, HitarError, InputFileError
from firmware.layout import HAND_PARTS, LOCATIONS
from training.data.__main__ import main
from training.data.audio import read_audio, resample
from training.data.dataset import DatasetError
from training.data.sessions import build_sessions

KIT = Path("/usr/share/hydrogen/data/drumkits/The Black Pearl 1.0")
pytestmark = pytest.mark.skipif(not KIT.is_dir(), reason="Debian hydrogen-drumkits not installed")
SAMPLES = ("PearlSnare-Hard.wav", "PearlTom1-Med.wav", "PearlKick-Hard.wav", "PearlTom2-Soft.wav")
FILE_CHANNELS = 8
CHANNEL_MAP = [2, 3, 4, 5, 6, 0]
N_HITS = 20
SPACING_S = 0.25
FIRST_S = 0.3


def hit_sound(name):
    samples, rate_hz = read_audio(KIT / name)
    mono = resample(samples, rate_hz)[:, 0]
    start = int(np.argmax(np.abs(mono) >= 0.01 * np.abs(mono).max()))
    return mono[start : start + 9600]


def recording():
    """8-channel interface recording at 48 kHz: real drum hits on the piezo channels, loudest
    on the hit location's sensor; quiet noise everywhere. Returns (samples, true onsets)."""
    rng = np.random.default_rng(0)
    n_frames = round((FIRST_S + N_HITS * SPACING_S + 0.3) * 48000)
    samples = (1e-4 * rng.standard_normal((n_frames, FILE_CHANNELS))).astype(np.float32)
    sounds = [hit_sound(name) for name in SAMPLES]
    onsets = []
    for i in range(N_HITS):
        start = round((FIRST_S + i * SPACING_S) * 48000) + int(rng.integers(-200, 200))
        sound = sounds[i % len(sounds)] * 0.6
        distance = np.abs(np.arange(5) - i % 5)
        for piezo, gain in enumerate(0.5**distance):
            channel = CHANNEL_MAP[piezo]
            samples[start : start + len(sound), channel] += gain * sound
        onsets.append(start)
    return samples, np.array(onsets)


def audacity_labels(onsets, rng, extra=()):
    lines = []
    for i, onset in enumerate(onsets):
        time_s = onset / 48000 + rng.uniform(-0.005, 0.005)
        label = f"{HAND_PARTS[i % 4]} {LOCATIONS[i % 5]}" + ("", " mf", " 0.9")[i % 3]
        lines.append(f"{time_s:.6f}\t{time_s:.6f}\t{label}")
    lines += [f"{time_s:.6f}\t{time_s:.6f}\theel piezo1" for time_s in extra]
    return "\n".join(lines) + "\n"


def session_toml(session_id="s1", audio="take.flac", labels="take.txt", **extra):
    table = {
        "id": session_id, "player": "ann", "instrument": "proto", "audio": audio,
        "labels": labels, "channel_map": CHANNEL_MAP, **extra,
    }  # fmt: skip
    lines = ["[session]"] + [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def take():
    return recording()


@pytest.fixture
def folder(tmp_path, take):
    """A dataset folder with one session (one extra label where nothing was played)."""
    samples, onsets = take
    soundfile.write(tmp_path / "take.flac", samples, 48000, subtype="PCM_24")
    labels = audacity_labels(onsets, np.random.default_rng(1), extra=[onsets[-1] / 48000 + 0.15])
    (tmp_path / "take.txt").write_text(labels)
    (tmp_path / "s1.toml").write_text(session_toml())
    (tmp_path / "dataset.toml").write_text("[sessions]\nmin_hits_per_class = 4\n")
    return tmp_path


def context_offset(context, samples, onset, onset_offset):
    """How far (samples) from onset the context was cut, found by exact comparison."""
    for shift in range(-200, 201):
        start = onset + shift - onset_offset
        piece = samples[start : start + len(context)][:, CHANNEL_MAP]
        if np.allclose(piece, context, atol=1e-6):
            return shift
    raise AssertionError("context not found near the true onset")


def test_session_builds_with_detector_onsets_near_the_truth(folder, take):
    dataset, summary = build_sessions(folder)
    samples, onsets = take
    samples = read_audio(folder / "take.flac")[0]
    assert len(dataset) == N_HITS
    assert dataset.class_names("hand").tolist() == [HAND_PARTS[i % 4] for i in range(N_HITS)]
    assert dataset.class_names("location").tolist() == [LOCATIONS[i % 5] for i in range(N_HITS)]
    shifts = [
        context_offset(dataset.contexts[i], samples, onsets[i], dataset.onset_offset)
        for i in range(N_HITS)
    ]
    assert max(abs(shift) for shift in shifts) <= 32, shifts
    assert dataset.source.tolist() == [f"{folder / 'take.txt'}:{i + 1}" for i in range(N_HITS)]
    assert np.isnan(dataset.dynamics[0]) and dataset.dynamics[2] == pytest.approx(0.9)
    assert set(dataset.groups["session"]) == {"s1"} and set(dataset.groups["player"]) == {"ann"}
    (report,) = summary["sessions"]
    assert report["hits"] == N_HITS and report["labels"] == N_HITS + 1 and report["dropped"] == 1
    assert summary["dropped"] == [
        {
            "source": f"{folder / 'take.txt'}:{N_HITS + 1}",
            "time_s": pytest.approx(onsets[-1] / 48000 + 0.15),
            "reason": "no detector onset within 20 ms",
        }
    ]
    assert summary["duration_s"] == pytest.approx(len(samples) / 48000, abs=1e-3)
    assert summary["tasks"]["hand"] == {"heel": 5, "thumb": 5, "fingers": 5, "nails": 5}
    json.dumps(summary)


def test_reaper_labels_give_the_same_hits(folder, take):
    _, onsets = take
    rows = ["#,Name,Start,End,Length"]
    for i, onset in enumerate(onsets):
        minutes, seconds = divmod(onset / 48000 + 0.002, 60)
        label = f"{HAND_PARTS[i % 4]} {LOCATIONS[i % 5]}"
        rows.append(f"M{i + 1},{label},{minutes:.0f}:{seconds:06.3f},,")
    (folder / "take.csv").write_text("\n".join(rows) + "\n")
    (folder / "s1.toml").write_text(session_toml(labels="take.csv"))
    from_csv, _ = build_sessions(folder)
    (folder / "s1.toml").write_text(session_toml())
    from_txt, _ = build_sessions(folder)
    np.testing.assert_array_equal(from_csv.contexts, from_txt.contexts)
    assert from_csv.source[3] == f"{folder / 'take.csv'}:5"


def test_other_rate_is_refused_unless_resampling_is_asked(folder, take):
    samples, _ = take
    soundfile.write(folder / "take.flac", resample_poly(samples, 147, 160), 44100, subtype="PCM_24")
    with pytest.raises(InputFileError, match=r"take.flac: recorded at 44100 Hz.*resample = true"):
        build_sessions(folder)
    (folder / "s1.toml").write_text(session_toml(resample=True))
    dataset, _ = build_sessions(folder)
    assert len(dataset) == N_HITS


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"channel_map": [2, 3, 4, 5, 8, 0]}, InputFileError, "file channel 8 but the file has 8"),
        ({"channel_map": [2, 3, 1, 5, 6, 0]}, InputFileError, r"take.flac: piezo3 is silent"),
        ({"audio": "gone.wav"}, InputFileError, "gone.wav: no such audio file"),
        ({"labels": "gone.txt"}, InputFileError, "gone.txt: no such label file"),
        ({"player": None}, ConfigError, r"s1.toml \[session\]: missing key 'player'"),
        ({"colour": "red"}, ConfigError, r"s1.toml \[session\]: unknown key 'colour'"),
        ({"resample": "yes"}, ConfigError, r"s1.toml \[session\] resample: expected bool"),
    ],
)
def test_bad_session_files_stop_the_build_naming_the_file(folder, change, error, message):
    table = dict(change)
    text = session_toml(**{k: v for k, v in table.items() if v is not None})
    if table.get("player", "") is None:
        text = "\n".join(line for line in text.splitlines() if not line.startswith("player"))
    (folder / "s1.toml").write_text(text)
    with pytest.raises(error, match=message) as raised:
        build_sessions(folder)
    assert "\n" not in str(raised.value)


def test_clipped_recording_is_refused(folder, take):
    samples, _ = take
    soundfile.write(folder / "take.flac", np.clip(samples * 40, -1, 1), 48000, subtype="PCM_24")
    with pytest.raises(InputFileError, match=r"take.flac: piezo\d is clipped .*max_clipped"):
        build_sessions(folder)


def test_labels_far_from_any_hit_stop_the_build(folder, take):
    _, onsets = take
    shifted = audacity_labels(onsets + 4800, np.random.default_rng(2))
    (folder / "take.txt").write_text(shifted)
    with pytest.raises(InputFileError, match=r"take.txt: 20 of 20 labels have no usable onset"):
        build_sessions(folder)


def test_overlapping_labels_name_their_line(folder):
    with open(folder / "take.txt", "a") as file:
        file.write("1.000000\t1.000000\theel piezo1\n1.004000\t1.004000\tthumb piezo2\n")
    with pytest.raises(InputFileError, match=r"take.txt:23: hit at 1.004 s is 4.0 ms after"):
        build_sessions(folder)


def test_duplicate_session_ids_and_rare_classes_stop_the_build(folder):
    (folder / "copy.toml").write_text(session_toml())
    with pytest.raises(InputFileError, match=r"s1\.toml: session id 's1' is used by another"):
        build_sessions(folder)
    (folder / "copy.toml").unlink()
    (folder / "dataset.toml").write_text("[sessions]\nmin_hits_per_class = 6\n")
    with pytest.raises(DatasetError, match="has 5 hits, at least 6 needed"):
        build_sessions(folder)
    (folder / "dataset.toml").write_text("[session]\nmin_hits_per_class = 6\n")
    with pytest.raises(ConfigError, match=r"dataset.toml: unknown table \[session\]"):
        build_sessions(folder)


def test_command_line_builds_saves_and_reports_errors_in_one_line(folder, tmp_path, capsys):
    out = tmp_path / "out" / "hits.npz"
    assert main(["sessions", str(folder), "--json", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["hits"] == N_HITS and summary["saved"] == str(out)
    assert main(["summary", str(out)]) == 0
    assert "hand: heel 5, thumb 5, fingers 5, nails 5" in capsys.readouterr().out
    assert main(["sessions", str(folder / "nowhere")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no such dataset folder" in error


def test_errors_are_hitar_errors():
    assert issubclass(DatasetError, HitarError)
