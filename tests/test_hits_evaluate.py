"""Evaluation through the firmware's path: the report of a bundle on labelled hits equals a
count made by hand from the firmware's own HitModel, classes are matched by name, and data
the bundle cannot score is refused."""

import json
from dataclasses import replace

import numpy as np
import pytest

from deploy.hits import export_hits_bundle
from firmware.features import FeatureConfig, hit_features
from firmware.hit_model import HitModel
from tests.hits_data import KIT, guitar_like_dataset
from training.data.dataset import DatasetError
from training.hits.cli import main
from training.hits.evaluate import evaluate_bundle
from training.hits.train import TrainConfig, dataset_features, train_classifier

pytestmark = pytest.mark.skipif(not KIT.is_dir(), reason="Debian hydrogen-drumkits not installed")
TASKS = ("hand", "location")
FEATURES = FeatureConfig()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A CNN bundle trained briefly (imperfect on purpose: its errors are what is counted)."""
    dataset = guitar_like_dataset(120, seed=1)
    train = dataset.subset(dataset.groups["session"] != "s4")
    check = dataset.subset(dataset.groups["session"] == "s4")
    config = TrainConfig(epochs=4, batch_size=32, augment=None)
    result = train_classifier(train, check, TASKS, FEATURES, config, progress=False)
    bundle, _ = export_hits_bundle(
        result.model, TASKS, {t: train.tasks[t] for t in TASKS}, FEATURES,
        dataset_features(train, FEATURES), dataset_features(check, FEATURES),
        {t: check.labels[t] for t in TASKS}, tmp_path_factory.mktemp("b") / "bundle",
        {}, "cnn", max_score_loss=1.0,
    )  # fmt: skip
    return bundle.path


@pytest.fixture(scope="module")
def labelled():
    return guitar_like_dataset(48, seed=7)


def test_report_matches_a_count_by_hand(bundle, labelled, tmp_path):
    report = evaluate_bundle(bundle, labelled, plots=tmp_path)
    model = HitModel(bundle, FEATURES)
    windows = labelled.windows(FEATURES)
    for task, classes in (("hand", model.hand_classes), ("location", model.location_classes)):
        counts = np.zeros((len(classes), len(classes)), dtype=int)
        for window, truth in zip(windows, labelled.labels[task], strict=True):
            prediction = model.predict(hit_features(window, FEATURES))
            chosen = prediction.hand_p if task == "hand" else prediction.location_p
            counts[truth, int(np.argmax(chosen))] += 1
        task_report = report["tasks"][task]
        assert task_report["confusion"] == counts.tolist()
        assert task_report["n"] == len(labelled)
        assert task_report["accuracy"] == pytest.approx(np.trace(counts) / len(labelled))
        recall = np.diag(counts) / counts.sum(axis=1)
        precision = np.diag(counts) / np.maximum(counts.sum(axis=0), 1)
        f1 = np.where(recall + precision > 0, 2 * recall * precision / (recall + precision), 0)
        assert task_report["macro_f1"] == pytest.approx(f1.mean())
    for name in ("confusion-hand.png", "confusion-location.png", "embedding.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_classes_are_matched_by_name_not_order(bundle, labelled):
    reordered = tuple(reversed(labelled.tasks["location"]))
    lookup = np.array([reordered.index(name) for name in labelled.tasks["location"]])
    renamed = replace(
        labelled,
        tasks={**labelled.tasks, "location": reordered},
        labels={**labelled.labels, "location": lookup[labelled.labels["location"]]},
    )
    assert evaluate_bundle(bundle, renamed) == evaluate_bundle(bundle, labelled)


def test_data_the_model_cannot_score_is_refused(bundle, labelled):
    other = replace(
        labelled, tasks={**labelled.tasks, "hand": ("heel", "thumb", "fingers", "elbow")}
    )
    with pytest.raises(DatasetError, match="class 'elbow' of task 'hand' is not one of"):
        evaluate_bundle(bundle, other)
    with pytest.raises(DatasetError, match="44100 Hz, the model was built for 48000 Hz"):
        evaluate_bundle(bundle, replace(labelled, sample_rate_hz=44100))


def test_evaluate_command_writes_the_report(bundle, labelled, tmp_path, capsys):
    data = tmp_path / "hits.npz"
    labelled.save(data)
    report_path = tmp_path / "report.json"
    args = ["evaluate", "--model", str(bundle), "--data", str(data), "--report", str(report_path)]
    assert main(args) == 0
    report = json.loads(report_path.read_text())
    assert report["tasks"] == evaluate_bundle(bundle, labelled)["tasks"]
    assert report["data"]["hits"] == len(labelled)
    assert main([*args[:3], "--data", str(tmp_path / "none.npz"), *args[5:]]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "none.npz: no such dataset" in error
