"""Evaluate a hit model on labelled hits through the firmware's own path.

Windows are cut by firmware.features.cut_window, features computed by
firmware.features.hit_features with the bundle's own feature parameters, and the model run by
firmware.inference.TfliteModel one hit at a time, as on the board, its probabilities through
the bundle's player calibration if it has one (firmware.calibration): the figures describe what
the shipped file does, not what the Keras model did. Works for any bundle whose manifest names
its classes per task (guitar bundles: hand and location; drum bundles: class).
"""

import json
from pathlib import Path
from typing import Any

import numpy as np

from firmware.bundle import load_bundle
from firmware.calibration import calibrated, manifest_offsets
from firmware.features import FeatureConfig, hit_features
from firmware.hit_model import INPUT_NAME
from firmware.inference import TfliteModel
from training.data.dataset import UNLABELLED, DatasetError, HitDataset
from training.hits.metrics import classification_report, dynamics_rank_correlation
from training.hits.model import EMBEDDING


def bundle_labels(dataset: HitDataset, task: str, class_names: tuple[str, ...]) -> np.ndarray:
    """The dataset's labels of task as indices into the bundle's class_names (matched by
    name: a corpus may order its classes otherwise), UNLABELLED kept.

    Raises:
        DatasetError: the dataset has a class the bundle does not know.
    """
    unknown = [name for name in dataset.tasks[task] if name not in class_names]
    if unknown:
        raise DatasetError(
            f"dataset: class '{unknown[0]}' of task '{task}' is not one of the model's "
            f"({', '.join(class_names)})"
        )
    lookup = np.array([class_names.index(name) for name in dataset.tasks[task]] + [UNLABELLED])
    return lookup[dataset.labels[task]].astype(np.int32)


def evaluate_model(
    model: TfliteModel, manifest: dict[str, Any], dataset: HitDataset
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Classification report per task the model and the dataset share, and the embedding's
    dynamics ordering.

    Args:
        model: the loaded .tflite (float or int8).
        manifest: its bundle manifest (features, classes).

    Returns:
        (the report, JSON-able; the model's outputs per name, float32 [n, ...]).

    Raises:
        DatasetError: other sample rate, no shared task, or an unknown class.
    """
    features = FeatureConfig(**manifest["features"])
    if dataset.sample_rate_hz != features.sample_rate_hz:
        raise DatasetError(
            f"dataset: {dataset.sample_rate_hz} Hz, the model was built for "
            f"{features.sample_rate_hz} Hz"
        )
    classes = {task: tuple(names) for task, names in manifest["classes"].items()}
    shared = [task for task in classes if task in dataset.tasks]
    if not shared:
        raise DatasetError(
            f"dataset: tasks {sorted(dataset.tasks)}, the model classifies {sorted(classes)}"
        )
    x = hit_features(dataset.windows(features), features)
    outputs = model.run_many(**{INPUT_NAME: x})
    offsets = manifest_offsets(manifest.get("calibration"), classes, "bundle manifest")
    for task, task_offsets in offsets.items():
        outputs[task] = calibrated(outputs[task], task_offsets)
    report: dict[str, Any] = {"hits": len(dataset), "tasks": {}}
    for task in shared:
        truth = bundle_labels(dataset, task, classes[task])
        labelled = truth != UNLABELLED
        report["tasks"][task] = classification_report(
            truth[labelled], outputs[task][labelled], classes[task]
        )
    first = shared[0]
    report["dynamics_rank_correlation"] = dynamics_rank_correlation(
        outputs[EMBEDDING],
        bundle_labels(dataset, first, classes[first]),
        dataset.dynamics,
        classes[first],
    )
    return report, outputs


def evaluate_bundle(
    bundle_path: Path, dataset: HitDataset, plots: Path | None = None
) -> dict[str, Any]:
    """evaluate_model on a bundle folder (checksum and format checked as the firmware does);
    with plots, the confusion matrix per task and the embedding as PNGs in that folder."""
    bundle = load_bundle(bundle_path, "hits")
    report, outputs = evaluate_model(TfliteModel(bundle.model_path), bundle.manifest, dataset)
    report = {"bundle": str(bundle.path), "sha256": bundle.manifest["sha256"], **report}
    if plots is not None:
        from training.hits.plots import plot_confusion, plot_embedding

        for task, task_report in report["tasks"].items():
            plot_confusion(
                np.array(task_report["confusion"]),
                task_report["classes"],
                f"{task} ({bundle.path.name})",
                plots / f"confusion-{task}.png",
            )
        first = next(iter(report["tasks"]))
        names = tuple(report["tasks"][first]["classes"])
        plot_embedding(
            outputs[EMBEDDING],
            bundle_labels(dataset, first, names),
            names,
            dataset.dynamics,
            plots / "embedding.png",
        )
    return report


def write_report(report: dict[str, Any], path: Path) -> None:
    """The report as indented JSON (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
