"""Player calibration: the fit recovers the offsets a model is off by, a calibrated bundle is
applied by the firmware's HitModel and by evaluation alike, `hits calibrate` writes a bundle
the firmware loads, and malformed calibrations or too few hits stop in one line."""

import json
import shutil

import numpy as np
import pytest
import soundfile

from firmware.bundle import load_bundle, write_bundle
from firmware.calibration import (
    MIN_HITS_PER_CLASS,
    RIDGE,
    calibrated,
    fit_offsets,
    manifest_offsets,
)
from firmware.cli import DEFAULT_MODEL
from firmware.errors import BundleError
from firmware.features import FeatureConfig, hit_features
from firmware.hit_model import HitModel
from firmware.onset import DetectorConfig
from tests.hits_data import KIT, guitar_like_dataset
from tests.test_data_sessions import audacity_labels, recording, session_toml
from training.data.dataset import ContextConfig, DatasetError, HitDataset
from training.hits.calibrate import calibrate_bundle
from training.hits.cli import main
from training.hits.evaluate import evaluate_bundle
from training.hits.simulated import SimulatedSplit, simulate_split

FEATURES = FeatureConfig()
HANDS = ("heel", "thumb", "fingers", "nails")
LOCATIONS = ("piezo1", "piezo2", "piezo3", "piezo4", "piezo5")
TAKE_PER_HAND = 8
"""Hits per hand part in player 102's take: under the calibration's prior, 4 moved this
player's accuracy by 0.012 and 8 by 0.029."""


def softmax(logits: np.ndarray) -> np.ndarray:
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True)


def test_the_fit_recovers_the_offsets_a_model_is_off_by():
    """Labels drawn from the true probabilities; the model's are shifted by known offsets."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 2.0, (20_000, 4))
    labels = np.array([rng.choice(4, p=p) for p in softmax(logits)])
    shift = np.array([1.0, -0.5, 0.0, -0.5])
    fitted = fit_offsets(softmax(logits - shift), labels)
    np.testing.assert_allclose(fitted, shift - shift.mean(), atol=0.06)
    assert fitted.dtype == np.float32 and abs(fitted.sum()) < 1e-5


def test_a_model_that_is_right_about_its_odds_gets_next_to_no_offsets():
    rng = np.random.default_rng(1)
    probabilities = softmax(rng.normal(0.0, 2.0, (20_000, 4)))
    labels = np.array([rng.choice(4, p=p) for p in probabilities])
    np.testing.assert_allclose(fit_offsets(probabilities, labels), 0.0, atol=0.05)


def test_calibrated_probabilities_sum_to_one_and_zero_offsets_change_nothing():
    probabilities = softmax(np.random.default_rng(2).normal(0.0, 2.0, (50, 4))).astype(np.float32)
    np.testing.assert_allclose(calibrated(probabilities, np.zeros(4)), probabilities, atol=1e-6)
    moved = calibrated(probabilities, np.array([2.0, 0.0, 0.0, -2.0]))
    np.testing.assert_allclose(moved.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(moved[:, 0] >= probabilities[:, 0]) and np.all(moved[:, 3] <= probabilities[:, 3])


def test_a_model_confidently_wrong_on_every_hit_gets_finite_offsets_that_fix_them():
    """int8-like outputs, 0 and 1 exactly, and class 1 read as class 0 at 0.996: only a large
    offset (about e^8) tells the two apart, which a full Newton step from zero overshoots. Under
    a weak ridge 3 hits per class move it that far; under the default prior it takes more hits
    (3 per class leave class 1 where it was), and then the offsets fix them too."""
    rows = {0: [1.0, 0, 0, 0], 1: [0.996, 0.004, 0, 0], 2: [0, 0, 1.0, 0], 3: [0, 0, 0, 1.0]}
    for per_class, ridge, fixed in ((3, 1e-3, True), (3, RIDGE, False), (30, RIDGE, True)):
        labels = np.repeat(np.arange(4), per_class)
        probabilities = np.array([rows[label] for label in labels], np.float32)
        offsets = fit_offsets(probabilities, labels, ridge=ridge)
        assert np.all(np.isfinite(offsets)) and np.abs(offsets).max() < 50
        right = calibrated(probabilities, offsets).argmax(axis=1) == labels
        assert right.all() == fixed, (per_class, ridge, offsets)


def test_refitting_calibrated_outputs_on_the_same_hits_adds_next_to_nothing():
    """Nearly separable hits, where the likelihood alone would push the offsets without end:
    the ridge holds the total, so a second round on the same hits keeps the first's offsets
    (a ridge on the new offsets alone added 0.4 more here, and more at each round)."""
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(4), 4)
    logits = rng.normal(0.0, 1.0, (16, 4)) + 5.0 * np.eye(4)[labels]
    probabilities = softmax(logits - np.array([0.0, 0.0, 6.0, -3.0])).astype(np.float32)
    once = fit_offsets(probabilities, labels)
    again = fit_offsets(calibrated(probabilities, once), labels, applied=once)
    assert np.ptp(once) > 2.0
    np.testing.assert_allclose(again, 0.0, atol=1e-3)


def test_the_prior_holds_a_few_hits_back_and_gives_way_to_many():
    """The ridge weighs against the hits' summed likelihood, not their mean: a take of 3 hits
    per class moves the offsets only part of the way that the same evidence 50 times over
    does, and a much weaker ridge lets those 3 hits move them all the way."""
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(4), 3)
    shift = np.array([1.5, -0.5, 0.0, -1.0])
    probabilities = softmax(rng.normal(0.0, 1.0, (12, 4)) - shift).astype(np.float32)
    few = fit_offsets(probabilities, labels)
    many = fit_offsets(np.tile(probabilities, (50, 1)), np.tile(labels, 50))
    weak = fit_offsets(probabilities, labels, ridge=1e-3)
    assert np.abs(few).max() < 0.5 * np.abs(many).max()
    np.testing.assert_allclose(weak, many, atol=0.1)


def test_a_class_without_hits_or_labels_out_of_range_are_refused():
    probabilities = np.full((6, 4), 0.25)
    with pytest.raises(ValueError, match="class 3 has no calibration hit"):
        fit_offsets(probabilities, np.array([0, 1, 2, 0, 1, 2]))
    with pytest.raises(ValueError, match=r"in \[0, 4\)"):
        fit_offsets(probabilities, np.array([0, 1, 2, 3, 4, 0]))


@pytest.mark.parametrize(
    ("calibration", "message"),
    [
        ([1, 2], "'calibration' must be an object of tasks"),
        ({"style": {"offsets": [0, 0]}}, "calibration.style: not a task of this model"),
        ({"hand": {"offsets": [0, 0, 0]}}, "calibration.hand.offsets must be 4 finite numbers"),
        ({"hand": {"offsets": [0, 0, 0, "x"]}}, "calibration.hand.offsets must be 4 finite"),
        ({"hand": {"offsets": [0, 0, 0, float("nan")]}}, "must be 4 finite numbers"),
        ({"hand": [0, 0, 0, 0]}, "calibration.hand.offsets must be 4 finite numbers"),
    ],
)
def test_a_malformed_calibration_is_refused_in_one_line(calibration, message):
    with pytest.raises(BundleError, match=message) as error:
        manifest_offsets(calibration, {"hand": HANDS, "location": LOCATIONS}, "m.json")
    assert str(error.value).startswith("m.json: ") and "\n" not in str(error.value)
    assert manifest_offsets(None, {"hand": HANDS}, "m.json") == {}


def calibrated_copy(tmp_path, calibration) -> object:
    """The shipped bundle with a calibration section written into its manifest."""
    bundle = load_bundle(DEFAULT_MODEL, "hits")
    manifest = {
        k: v for k, v in bundle.manifest.items() if k not in ("format", "format_version")
    } | {"calibration": calibration}
    return write_bundle(tmp_path / "calibrated", bundle.model_path.read_bytes(), manifest)


@pytest.mark.skipif(not KIT.is_dir(), reason="Debian hydrogen-drumkits not installed")
def test_the_firmware_applies_a_bundles_calibration_to_every_hit(tmp_path):
    offsets = {"hand": [1.5, -0.5, -0.5, -0.5], "location": [0.0, 0.0, 0.0, 0.0, 0.0]}
    bundle = calibrated_copy(
        tmp_path, {task: {"offsets": values} for task, values in offsets.items()}
    )
    plain, tuned = HitModel(DEFAULT_MODEL, FEATURES), HitModel(bundle.path, FEATURES)
    dataset = guitar_like_dataset(8, seed=3)
    for features in hit_features(dataset.windows(FEATURES), FEATURES):
        raw = plain.predict(features).hand_p.copy()
        prediction = tuned.predict(features)
        np.testing.assert_allclose(prediction.hand_p, calibrated(raw, offsets["hand"]), atol=1e-6)
        np.testing.assert_allclose(prediction.location_p.sum(), 1.0, atol=1e-5)


def test_the_firmware_refuses_a_bundle_with_a_malformed_calibration(tmp_path):
    bundle = calibrated_copy(tmp_path, {"hand": {"offsets": [0.0, 1.0]}})
    with pytest.raises(BundleError, match=r"calibration\.hand\.offsets must be 4 finite numbers"):
        HitModel(bundle.path, FEATURES)


@pytest.fixture(scope="module")
def player_takes() -> tuple[HitDataset, HitDataset]:
    """A player the shipped model never heard (simulated player 102, whose thumbs it reads
    as heels): a calibration take of the first TAKE_PER_HAND hits of each hand part, and the
    rest."""
    hits, _ = simulate_split(
        SimulatedSplit((102,), (1,), 40.0, seed=11),
        FEATURES, DetectorConfig(), ContextConfig(), workers=1,
    )  # fmt: skip
    labels = hits.labels["hand"]
    take = np.concatenate([np.flatnonzero(labels == c)[:TAKE_PER_HAND] for c in range(len(HANDS))])
    return hits.subset(take), hits.subset(np.setdiff1d(np.arange(len(hits)), take))


@pytest.fixture(scope="module")
def player(player_takes) -> HitDataset:
    return player_takes[0]


def test_calibration_on_a_few_hits_helps_on_the_players_other_hits(player_takes, tmp_path):
    take, rest = player_takes
    out = tmp_path / "player"
    fitted = calibrate_bundle(DEFAULT_MODEL, take, "hand", out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["calibration"]) == ["hand"]
    assert manifest["calibration"]["hand"]["hits"] == dict.fromkeys(HANDS, TAKE_PER_HAND)
    assert manifest["sha256"] == load_bundle(DEFAULT_MODEL, "hits").manifest["sha256"]
    HitModel(out, FEATURES)
    on_take = evaluate_bundle(out, take)["tasks"]["hand"]["accuracy"]
    assert on_take == pytest.approx(fitted["accuracy_on_these_hits"]["after"])
    before = evaluate_bundle(DEFAULT_MODEL, rest)["tasks"]["hand"]["accuracy"]
    after = evaluate_bundle(out, rest)["tasks"]["hand"]["accuracy"]
    assert after > before + 0.02, (before, after)


def test_calibrating_a_calibrated_bundle_adds_to_its_offsets(player, tmp_path):
    once = calibrate_bundle(DEFAULT_MODEL, player, "hand", tmp_path / "once")
    twice = calibrate_bundle(tmp_path / "once", player, "hand", tmp_path / "twice")
    first, second = once["accuracy_on_these_hits"], twice["accuracy_on_these_hits"]
    assert second["before"] == first["after"], "the second round starts from the first's model"
    np.testing.assert_allclose(
        list(twice["offsets"].values()), list(once["offsets"].values()), atol=1e-3
    )
    assert np.ptp(list(once["offsets"].values())) > 0.5, "this player needs real offsets"


def test_too_few_hits_of_a_class_stop_calibration(player, tmp_path):
    labels = player.labels["hand"]
    few = player.subset(
        np.flatnonzero(labels != 0).tolist() + np.flatnonzero(labels == 0)[:2].tolist()
    )
    assert MIN_HITS_PER_CLASS == 3
    with pytest.raises(DatasetError, match="'heel' has 2 labelled hits; calibration needs at"):
        calibrate_bundle(DEFAULT_MODEL, few, "hand", tmp_path / "no")
    assert not (tmp_path / "no").exists()


def test_calibrate_command_reports_and_stops_in_one_line(player, tmp_path, capsys):
    data = tmp_path / "player.npz"
    player.save(data)
    report = tmp_path / "fitted.json"
    args = ["calibrate", "--model", str(DEFAULT_MODEL), "--data", str(data)]
    assert main([*args, "--out", str(tmp_path / "b"), "--report", str(report)]) == 0
    assert json.loads(report.read_text())["data"]["hits"] == len(player)
    assert main([*args, "--out", str(tmp_path / "c"), "--task", "style"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: task 'style': the bundle classifies") and error.count("\n") == 1


def test_a_labelled_take_too_small_to_train_on_calibrates(tmp_path):
    """A sessions folder with one short take (fewer hits per class than training's minimum,
    no dataset.toml): the calibrate command reads it and writes a bundle the firmware loads."""
    if not KIT.is_dir():
        pytest.skip("Debian hydrogen-drumkits not installed")
    samples, onsets = recording()
    folder = tmp_path / "take"
    folder.mkdir()
    soundfile.write(folder / "take.flac", samples, 48000, subtype="PCM_24")
    (folder / "take.txt").write_text(audacity_labels(onsets, np.random.default_rng(0)))
    (folder / "take.toml").write_text(session_toml())
    out = tmp_path / "mine"
    assert (
        main(["calibrate", "--model", str(DEFAULT_MODEL), "--data", str(folder), "--out", str(out)])
        == 0
    )
    assert sum(
        json.loads((out / "manifest.json").read_text())["calibration"]["hand"]["hits"].values()
    ) == len(onsets)
    assert HitModel(out, FEATURES).offsets["hand"].shape == (len(HANDS),)


def test_a_calibrated_bundle_survives_a_copy_and_is_checked_like_any_other(player, tmp_path):
    calibrate_bundle(DEFAULT_MODEL, player, "hand", tmp_path / "player")
    shutil.copytree(tmp_path / "player", tmp_path / "copy")
    manifest_path = tmp_path / "copy" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["calibration"]["hand"]["offsets"][0] = "loud"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"calibration\.hand\.offsets"):
        evaluate_bundle(tmp_path / "copy", player)
