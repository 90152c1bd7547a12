"""Export of both families: full-int8 bundles the firmware loads, the int8-vs-float check that
refuses a broken calibration, and re-export of a training run with `python -m deploy`."""

import json

import numpy as np
import pytest

from deploy.__main__ import main as deploy_main
from deploy.export import ExportError
from deploy.hits import export_hits_bundle, save_for_export
from firmware.bundle import load_bundle
from firmware.features import FeatureConfig
from firmware.hit_model import HitModel
from tests.hits_data import KIT, guitar_like_dataset
from training.hits.model import CnnConfig, EncoderConfig
from training.hits.train import TrainConfig, dataset_features, train_classifier
from training.hits.vae import VaeConfig

pytestmark = pytest.mark.skipif(not KIT.is_dir(), reason="Debian hydrogen-drumkits not installed")
TASKS = ("hand", "location")
FEATURES = FeatureConfig()


@pytest.fixture(scope="module", params=["cnn", "vae"])
def trained(request):
    """A model of each family trained briefly on clean hits, with its calibration and
    held-out features."""
    dataset = guitar_like_dataset(160)
    train = dataset.subset(dataset.groups["session"] != "s4")
    test = dataset.subset(dataset.groups["session"] == "s4")
    encoder = EncoderConfig(dropout=0.0)
    config = TrainConfig(
        family=request.param,
        epochs=10,
        batch_size=16,
        seed=1,
        augment=None,
        cnn=CnnConfig(encoder=encoder),
        vae=VaeConfig(encoder=encoder),
    )
    result = train_classifier(train, test, TASKS, FEATURES, config, progress=False)
    return {
        "family": request.param,
        "model": result.model,
        "classes": {task: train.tasks[task] for task in TASKS},
        "calibration_x": dataset_features(train, FEATURES),
        "check_x": dataset_features(test, FEATURES),
        "check_y": {task: test.labels[task] for task in TASKS},
    }


def export(trained, out, calibration_x=None, **options):
    return export_hits_bundle(
        trained["model"],
        TASKS,
        trained["classes"],
        FEATURES,
        trained["calibration_x"] if calibration_x is None else calibration_x,
        trained["check_x"],
        trained["check_y"],
        out,
        {"note": "test"},
        trained["family"],
        **options,
    )


def test_every_family_exports_a_full_int8_bundle_the_firmware_runs(trained, tmp_path):
    # A 10-epoch model scored on 40 hits: one or two near-ties may flip in int8 (2.5 % each).
    # The shipped one-point gate is held by test_a_broken_calibration_is_refused.
    bundle, metrics = export(trained, tmp_path / "bundle", max_score_loss=0.1)
    manifest = bundle.manifest
    assert manifest["model"]["family"] == trained["family"]
    assert all(q["dtype"] == "int8" for q in manifest["quantization"].values())
    assert metrics["shipped"] == "int8"
    for task in TASKS:
        assert metrics["int8"][task]["macro_f1"] >= metrics["float"][task]["macro_f1"] - 0.1
    assert bundle.model_path.stat().st_size < 100_000
    model = HitModel(bundle.path, FEATURES)
    prediction = model.predict(trained["check_x"][0])
    assert prediction.hand_p.shape == (4,) and prediction.location_p.shape == (5,)
    assert prediction.embedding.shape == (2,)
    assert prediction.hand_p.sum() == pytest.approx(1.0, abs=0.02)
    int8 = metrics["int8"]["hand"]
    assert int8["n"] == len(trained["check_x"]) and 0.0 <= int8["accuracy"] <= 1.0


def test_a_broken_calibration_is_refused(trained, tmp_path):
    """Calibrated on one flat spectrum, the int8 ranges cannot hold real hits: the export
    must stop rather than ship a model that plays worse than its float original."""
    flat = np.full_like(trained["calibration_x"], trained["calibration_x"].mean())
    refusal = r"int8 scores .* macro-F1 below float on task .*limit 0\.01"
    with pytest.raises(ExportError, match=refusal):
        export(trained, tmp_path / "bundle", calibration_x=flat)
    assert not (tmp_path / "bundle").exists()


def test_a_refused_int8_model_can_fall_back_to_the_float_one(trained, tmp_path):
    flat = np.full_like(trained["calibration_x"], trained["calibration_x"].mean())
    bundle, metrics = export(trained, tmp_path / "bundle", flat, float_fallback=True)
    assert metrics["shipped"] == "float"
    assert metrics["int8"]["hand"]["macro_f1"] < metrics["float"]["hand"]["macro_f1"] - 0.01
    assert all(q["dtype"] == "float32" for q in bundle.manifest["quantization"].values())
    model = HitModel(bundle.path, FEATURES)
    prediction = model.predict(trained["check_x"][0])
    expected = trained["model"].predict(trained["check_x"][:1], verbose=0)["hand"][0]
    np.testing.assert_allclose(prediction.hand_p, expected, atol=1e-4)


def test_export_hits_reexports_a_training_run(trained, tmp_path, capsys):
    run = tmp_path / "run"
    description = {
        "tasks": list(TASKS),
        "classes": {task: list(names) for task, names in trained["classes"].items()},
        "features": FEATURES.to_dict(),
        "family": trained["family"],
        "training": {"note": "test"},
    }
    save_for_export(
        run,
        trained["model"],
        description,
        trained["calibration_x"],
        trained["check_x"],
        trained["check_y"],
    )
    _, direct = export(trained, tmp_path / "direct", float_fallback=True)
    command = ["export-hits", "--run", str(run), "--bundle", str(tmp_path / "b")]
    assert deploy_main([*command, "--float-fallback"]) == 0
    assert "export-hits:" in capsys.readouterr().out
    bundle = load_bundle(tmp_path / "b", "hits")
    assert bundle.manifest["metrics"]["float"] == json.loads(json.dumps(direct["float"]))
    assert deploy_main(["export-hits", "--run", str(tmp_path), "--bundle", str(run / "x")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "model.keras: missing" in error
