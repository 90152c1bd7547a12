"""Leave-one-group-out evaluation: how a model does on a kit, session or player it never heard.

Each fold holds one group out as its test set. The early-stopping validation split is drawn
from the *other* groups (whole groups again), so nothing of the held-out group steers training;
the fold's model is then converted to float and int8 TFLite and both are evaluated on the
held-out group through the firmware's path (training.hits.evaluate). With no validation split
(validation_fraction 0) each model trains on every other group for a fixed number of epochs
instead: where the groups are few and unlike each other, as real drum kits are, the groups
held back to validate are groups the model never learns from. (For the drum benchmark's
ensembles it did not pay: docs/HIT_MODELS_LOG.md, "Every kit trained on".)
"""

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from deploy.export import class_disagreement, load_tflite
from deploy.hits import convert_hits_model
from firmware.features import FeatureConfig
from training.data.dataset import HitDataset, concatenate
from training.data.splits import group_split, leave_one_group_out
from training.hits.evaluate import evaluate_model
from training.hits.train import TrainConfig, dataset_features, train_classifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fold:
    """One fold's hits, as indices into the dataset: fit and validation never hold any hit of
    test_group."""

    test_group: str
    fit: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def group_folds(groups: np.ndarray, validation_fraction: float, seed: int) -> Iterator[Fold]:
    """One fold per group (sorted): that group is the test set; of the others, whole groups
    making up about validation_fraction of their hits are the validation set (drawn with a
    generator seeded by (seed, fold number)), the rest are fitted. validation_fraction 0: no
    validation set, every other group is fitted.

    Raises:
        DatasetError: fewer than three groups (a test group and two to split), or fewer than
            two with validation_fraction 0.
        ValueError: validation_fraction outside [0, 1).
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    for number, (name, train, test) in enumerate(leave_one_group_out(groups)):
        if validation_fraction == 0.0:
            yield Fold(name, train, train[:0], test)
            continue
        rng = np.random.default_rng([seed, number])
        fit, validation = group_split(groups[train], validation_fraction, rng)
        yield Fold(name, train[fit], train[validation], test)


def cross_validate(
    dataset: HitDataset,
    tasks: tuple[str, ...],
    group_key: str,
    features: FeatureConfig,
    config: TrainConfig,
    validation_fraction: float = 0.2,
    on_fold: Callable[[dict[str, Any]], None] | None = None,
    extra_fit: HitDataset | None = None,
) -> dict[str, Any]:
    """Train and evaluate one model per fold of group_folds(dataset.groups[group_key]).

    Args:
        validation_fraction: share of the other groups' hits (whole groups) that early-stops
            each fold's training; 0: none, each model trains config.epochs epochs on every
            other group and keeps its last weights.
        on_fold: called with each fold's result as it is done (for progress).
        extra_fit: hits that every fold also trains on (and calibrates int8 with), never
            validated or tested: other sources of the same classes, such as the soundfonts'
            drum kits (training.data.soundfont_drums) beside the benchmark's hydrogen kits.

    Returns:
        {"folds": [per fold: test group, the groups fitted and validated on, hits, best
        epoch, int8/float disagreement, and the "float" and "int8" evaluation reports],
        "mean": {variant: {task: mean macro-F1 and accuracy over folds}}}.
    """
    groups = dataset.groups[group_key]
    classes = {task: tuple(dataset.tasks[task]) for task in tasks}
    manifest = {"features": features.to_dict(), "classes": classes}
    folds = []
    for fold in group_folds(groups, validation_fraction, config.seed):
        fit, validation, test = (
            dataset.subset(fold.fit),
            dataset.subset(fold.validation),
            dataset.subset(fold.test),
        )
        trained_on = fit if extra_fit is None else concatenate([fit, extra_fit])
        early_stopping = validation if len(validation) else None
        result = train_classifier(
            trained_on, early_stopping, tasks, features, config, progress=False
        )
        float_bytes, int8_bytes = convert_hits_model(
            result.model, tasks, dataset_features(trained_on, features)
        )
        reports, outputs = {}, {}
        for variant, model_bytes in (("float", float_bytes), ("int8", int8_bytes)):
            reports[variant], outputs[variant] = evaluate_model(
                load_tflite(model_bytes), manifest, test
            )
        done = {
            "test_group": fold.test_group,
            "fit_groups": sorted(set(fit.groups[group_key].tolist())),
            "validation_groups": sorted(set(validation.groups[group_key].tolist())),
            "hits": {
                "fit": len(fit),
                "extra_fit": 0 if extra_fit is None else len(extra_fit),
                "validation": len(validation),
                "test": len(test),
            },
            "best_epoch": result.best_epoch,
            "int8_float_disagreement": class_disagreement(outputs["float"], outputs["int8"], tasks),
            **reports,
        }
        folds.append(done)
        if on_fold is not None:
            on_fold(done)
    return {"folds": folds, "mean": mean_scores(folds, tasks)}


def mean_scores(folds: list[dict[str, Any]], tasks: tuple[str, ...]) -> dict[str, Any]:
    """Macro-F1 and accuracy per task and variant, averaged over folds (each fold counts
    once, whatever its size)."""
    return {
        variant: {
            task: {
                metric: float(np.mean([fold[variant]["tasks"][task][metric] for fold in folds]))
                for metric in ("macro_f1", "accuracy")
            }
            for task in tasks
        }
        for variant in ("float", "int8")
    }
