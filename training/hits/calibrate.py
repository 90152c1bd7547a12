"""Calibrate a hit bundle to one player: fit per-class offsets (firmware.calibration) on a few
labelled hits of theirs, and write a copy of the bundle that carries them.

The player records a short labelled take (a few hits of each hand part, labelled like any
session), and the offsets are fitted on what the bundle itself outputs for those hits, through
the firmware's features and interpreter (training.hits.evaluate). The model file is copied
unchanged; only the manifest gains its "calibration" section, so the firmware checks, deploys
and hot-swaps the calibrated bundle like any other. Calibrating a bundle that already has
offsets for the task adds the new ones to them: offsets compose by addition.
"""

from pathlib import Path
from typing import Any

import numpy as np

from firmware.bundle import load_bundle, write_bundle
from firmware.calibration import (
    calibrated,
    calibrated_manifest,
    fit_offsets,
    manifest_offsets,
    too_few_hits,
)
from firmware.inference import TfliteModel
from training.data.dataset import UNLABELLED, DatasetError, HitDataset
from training.hits.evaluate import bundle_labels, evaluate_model


def calibrate_bundle(
    bundle_path: Path, dataset: HitDataset, task: str, out: Path
) -> dict[str, Any]:
    """Fit task's offsets on dataset's labelled hits and write the calibrated bundle to out.

    Returns:
        What was fitted: offsets, hits per class, and the accuracy on these same hits before
        and after (resubstitution: score another take with `hits evaluate` to know).

    Raises:
        DatasetError: the task is not the bundle's or the data's, or a class has fewer than
            MIN_HITS_PER_CLASS labelled hits.
        BundleError: the bundle does not load or its calibration is malformed.
    """
    bundle = load_bundle(bundle_path, "hits")
    classes = {name: tuple(names) for name, names in bundle.manifest["classes"].items()}
    if task not in classes or task not in dataset.tasks:
        raise DatasetError(
            f"task '{task}': the bundle classifies {sorted(classes)}, "
            f"the data labels {sorted(dataset.tasks)}"
        )
    truth = bundle_labels(dataset, task, classes[task])
    labelled = truth != UNLABELLED
    counts = np.bincount(truth[labelled], minlength=len(classes[task]))
    shortfall = too_few_hits(counts, classes[task], task)
    if shortfall is not None:
        raise DatasetError(shortfall)
    _, outputs = evaluate_model(TfliteModel(bundle.model_path), bundle.manifest, dataset)
    probabilities, truth = outputs[task][labelled], truth[labelled]
    calibration = bundle.manifest.get("calibration") or {}
    previous = manifest_offsets(calibration, classes, str(bundle.path))
    applied = previous.get(task, np.zeros(len(classes[task]), dtype=np.float32))
    fitted = fit_offsets(probabilities, truth, applied)
    offsets = applied + fitted
    hits = dict(zip(classes[task], counts.tolist(), strict=True))
    earlier_hits = {t: section.get("hits", {}) for t, section in calibration.items()}
    manifest = calibrated_manifest(
        bundle.manifest, {**previous, task: offsets}, {**earlier_hits, task: hits}
    )
    written = write_bundle(out, bundle.model_path.read_bytes(), manifest)
    return {
        "bundle": str(written.path),
        "from_bundle": str(bundle.path),
        "task": task,
        "offsets": dict(zip(classes[task], offsets.tolist(), strict=True)),
        "hits": hits,
        "accuracy_on_these_hits": {
            "before": float(np.mean(probabilities.argmax(axis=1) == truth)),
            "after": float(np.mean(calibrated(probabilities, fitted).argmax(axis=1) == truth)),
        },
    }
