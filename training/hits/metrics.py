"""Classification metrics over class indices: accuracy, per-class and macro F1, confusion.

Plain numpy so that the same numbers come out for Keras, float TFLite and int8 TFLite outputs.
"""

from typing import Any

import numpy as np
from scipy.stats import spearmanr


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """int64 [n_classes, n_classes]: rows are true classes, columns predicted ones."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def f1_per_class(matrix: np.ndarray) -> np.ndarray:
    """F1 of each class from a confusion matrix; 0 for a class never true nor predicted."""
    true_positive = np.diag(matrix).astype(float)
    denominator = matrix.sum(axis=0) + matrix.sum(axis=1)
    return np.divide(
        2 * true_positive, denominator, out=np.zeros_like(true_positive), where=denominator > 0
    )


def classification_report(
    truth: np.ndarray, probabilities: np.ndarray, class_names: tuple[str, ...]
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class F1 and the confusion matrix of one task.

    Args:
        truth: int [n] class indices.
        probabilities: float [n, n_classes] model outputs.
    """
    predicted = probabilities.argmax(axis=1)
    matrix = confusion_matrix(truth, predicted, len(class_names))
    present = matrix.sum(axis=1) > 0
    f1 = f1_per_class(matrix)
    return {
        "n": len(truth),
        "accuracy": float(np.mean(predicted == truth)) if len(truth) else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "f1": {name: float(value) for name, value in zip(class_names, f1, strict=True)},
        "classes": list(class_names),
        "confusion": matrix.tolist(),
    }


def dynamics_rank_correlation(
    embedding: np.ndarray, labels: np.ndarray, dynamics: np.ndarray, class_names: tuple[str, ...]
) -> dict[str, float]:
    """How well the embedding orders hits by dynamics within each class.

    Per class, dynamics is regressed linearly on the 2-D embedding and the Spearman rank
    correlation between that read-out and the labelled dynamics is reported (1: the plane has a
    direction along which the class's hits lie in order of how hard they were played).

    Args:
        embedding: float [n, 2]; labels: int [n] class indices; dynamics: float [n] (NaN for
            unknown, left out).
    """
    correlations = {}
    for index, name in enumerate(class_names):
        chosen = (labels == index) & np.isfinite(dynamics)
        if chosen.sum() < 10:
            continue
        design = np.column_stack([embedding[chosen], np.ones(chosen.sum())])
        weights, *_ = np.linalg.lstsq(design, dynamics[chosen], rcond=None)
        correlations[name] = float(spearmanr(design @ weights, dynamics[chosen]).statistic)
    if correlations:
        correlations["mean"] = float(np.mean(list(correlations.values())))
    return correlations
