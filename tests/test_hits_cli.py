"""`python -m training hits train`: bad input stops before training with one line naming the
file and exit status 2; a small real run writes everything it promises; --distribute trains
under a MirroredStrategy of two CPU replicas."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile
from scipy.signal import resample_poly

from firmware.features import FeatureConfig
from firmware.hit_model import HitModel
from tests.hits_data import KIT, guitar_like_dataset
from tests.test_data_sessions import audacity_labels, recording, session_toml
from training.hits.cli import main

pytestmark = pytest.mark.skipif(not KIT.is_dir(), reason="Debian hydrogen-drumkits not installed")


@pytest.fixture(scope="module")
def take():
    return recording()


@pytest.fixture
def sessions(tmp_path, take):
    """A sessions folder with three sessions of real hits (min 4 hits per class)."""
    samples, onsets = take
    folder = tmp_path / "sessions"
    folder.mkdir()
    for index in range(3):
        name = f"take{index}"
        soundfile.write(folder / f"{name}.flac", samples, 48000, subtype="PCM_24")
        labels = audacity_labels(onsets, np.random.default_rng(index))
        (folder / f"{name}.txt").write_text(labels)
        toml = session_toml(f"s{index}", audio=f"{name}.flac", labels=f"{name}.txt")
        (folder / f"s{index}.toml").write_text(toml)
    (folder / "dataset.toml").write_text("[sessions]\nmin_hits_per_class = 4\n")
    return folder


def train_command(data, out, *extra):
    return ["train", "--data", str(data), "--out", str(out), "--min-hits", "4", *extra]


def one_line_error(capsys) -> str:
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1, error
    return error


def append(path, text):
    with open(path, "a") as file:
        file.write(text)


def malformed(folder, samples):
    append(folder / "take1.txt", "1.5\tsoon\theel piezo1\n")


def empty(folder, samples):
    append(folder / "take1.txt", "1.0\t1.0\t\n")


def overlapping(folder, samples):
    append(folder / "take2.txt", "1.0\t1.0\theel piezo1\n1.004\t1.004\tnails piezo2\n")


def silent(folder, samples):
    toml = session_toml("s0", "take0.flac", "take0.txt", channel_map=[2, 3, 1, 5, 6, 0])
    (folder / "s0.toml").write_text(toml)


def clipped(folder, samples):
    soundfile.write(folder / "take1.flac", np.clip(samples * 40, -1, 1), 48000, subtype="PCM_24")


def other_rate(folder, samples):
    other = resample_poly(samples, 147, 160)
    soundfile.write(folder / "take2.flac", other, 44100, subtype="PCM_24")


def too_few(folder, samples):
    (folder / "dataset.toml").write_text("[sessions]\nmin_hits_per_class = 16\n")


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (malformed, r"take1.txt:21: "),
        (empty, r"take1.txt:21: empty label"),
        (overlapping, r"take2.txt:22: hit at 1.004 s is 4.0 ms after"),
        (silent, r"take0.flac: piezo3 is silent"),
        (clipped, r"take1.flac: piezo\d is clipped"),
        (other_rate, r"take2.flac: recorded at 44100 Hz"),
        (too_few, r"class '.*' of task '.*' has 15 hits, at least 16 needed"),
    ],
)
def test_bad_input_stops_training_in_one_line(sessions, take, tmp_path, capsys, spoil, message):
    import re

    spoil(sessions, take[0])
    assert main(train_command(sessions, tmp_path / "run")) == 2
    assert re.search(message, one_line_error(capsys))
    assert not (tmp_path / "run").exists()


def test_too_few_groups_and_bad_options_stop_training(tmp_path, capsys):
    data = tmp_path / "hits.npz"
    guitar_like_dataset(60, groups=("a", "b")).save(data)
    assert main(train_command(data, tmp_path / "run")) == 2
    assert "2 'session' group(s); training needs at least 3" in one_line_error(capsys)
    assert main(train_command(data, tmp_path / "run", "--tasks", "hand,colour")) == 2
    assert "--tasks: 'colour' is not a task of" in one_line_error(capsys)
    assert main(train_command(data, tmp_path / "run", "--cpu-replicas", "2")) == 2
    assert "--cpu-replicas needs --distribute" in one_line_error(capsys)
    assert main(train_command(data, tmp_path / "run", "--mixup", "-1")) == 2
    assert "command line: mixup_alpha must be >= 0" in one_line_error(capsys)
    assert main(train_command(data, tmp_path / "run", "--first-task-input", "plane")) == 2
    assert "command line: first_task_input must be one of" in one_line_error(capsys)
    assert main(train_command(data, tmp_path / "run", "--speed", "2")) == 2
    assert "command line: speed_probability must be in [0, 1], got 2.0" in one_line_error(capsys)
    assert main(train_command(tmp_path / "nowhere", tmp_path / "run")) == 2
    assert "nowhere: no such dataset" in one_line_error(capsys)
    assert not (tmp_path / "run").exists()


def test_extra_training_hits_must_label_every_task_in_every_source(tmp_path, capsys):
    data, extra = tmp_path / "hits.npz", tmp_path / "extra.npz"
    guitar_like_dataset(60, groups=("a", "b", "c")).save(data)
    only_hand = guitar_like_dataset(20, groups=("x",))
    dataclasses.replace(
        only_hand,
        tasks={"hand": only_hand.tasks["hand"]},
        labels={"hand": only_hand.labels["hand"]},
    ).save(extra)
    good = tmp_path / "good.npz"
    guitar_like_dataset(20, groups=("y",)).save(good)
    for command in ("train", "crossval"):
        args = train_command(data, tmp_path / "run", "--extra-train", str(good), str(extra))
        if command == "crossval":
            args = ["crossval", *args[1:3], "--report", str(tmp_path / "r.json"), *args[5:]]
        assert main(args) == 2
        assert "extra.npz: hits without a 'location' label (--extra-train)" in one_line_error(
            capsys
        )
    assert not (tmp_path / "run").exists() and not (tmp_path / "r.json").exists()


def test_a_bad_validation_fraction_stops_crossval_in_one_line(tmp_path, capsys):
    data = tmp_path / "hits.npz"
    guitar_like_dataset(60, groups=("a", "b", "c")).save(data)
    report = tmp_path / "r.json"
    for fraction in ("1", "-0.2"):
        command = ["crossval", "--data", str(data), "--report", str(report)]
        assert main([*command, "--validation-fraction", fraction]) == 2
        assert f"--validation-fraction must be in [0, 1), got {float(fraction)}" in one_line_error(
            capsys
        )
    assert not report.exists()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "hits.npz"
    guitar_like_dataset(200, groups=("a", "b", "c", "d", "e")).save(path)
    return path


@pytest.mark.slow
def test_train_writes_the_run_and_a_bundle_the_firmware_loads(saved, tmp_path):
    out = tmp_path / "run"
    # 40 held-out hits: one hit that int8 gets wrong is 2.5 points, over the 1-point gate.
    extra = ("--epochs", "12", "--batch-size", "32", "--no-progress", "--model", "vae",
             "--float-fallback")  # fmt: skip
    assert main(train_command(saved, out, *extra)) == 0
    for name in (
        "config.json", "history.json", "history.png", "report.json", "confusion-hand.png",
        "confusion-location.png", "embedding.png", "float.tflite", "model.keras", "run.json",
        "export.npz",
    ):  # fmt: skip
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["family"] == "vae" and config["tasks"] == ["hand", "location"]
    splits = report["training"]["splits"]
    assert not set(splits["test"]["session"]) & set(splits["train"]["session"])
    assert not set(splits["validation"]["session"]) & set(splits["train"]["session"])
    assert report["metrics"]["held_out_hits"] == splits["test"]["hits"]
    model = HitModel(out / "bundle", FeatureConfig())
    assert model.bundle.manifest["model"]["family"] == "vae"
    assert model.bundle.manifest["metrics"] == report["metrics"]
    metrics = report["metrics"]
    worst_loss = max(
        metrics["float"][task]["macro_f1"] - metrics["int8"][task]["macro_f1"]
        for task in ("hand", "location")
    )
    assert (metrics["shipped"] == "int8") == (worst_loss <= 0.01)


@pytest.mark.slow
def test_distribute_trains_on_two_cpu_replicas(saved, tmp_path):
    """In a fresh process: the CPU must be split before TensorFlow starts."""
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "training", "hits", *train_command(saved, out),
        "--epochs", "6", "--batch-size", "32", "--no-progress", "--distribute",
        "--cpu-replicas", "2", "--float-fallback", "--first-task-input", "trunk",
        "--no-level-input",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "distributing over 2 replicas" in result.stderr
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 6 and history["loss"][-1] < history["loss"][0]
    assert (out / "bundle" / "model.tflite").is_file()
    encoder = json.loads((out / "config.json").read_text())["cnn"]["encoder"]
    assert encoder["first_task_input"] == "trunk" and encoder["level_input"] is False
