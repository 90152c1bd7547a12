"""PNG plots of a training run: curves, confusion matrices, the 2-D embedding."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from training.figures import save_figure


def plot_history(history: dict[str, list[float]], path: Path) -> None:
    """Loss and accuracy per epoch, training against validation."""
    accuracies = sorted(k for k in history if k.endswith("accuracy") and not k.startswith("val_"))
    figure, axes = plt.subplots(1, 1 + len(accuracies), figsize=(4 * (1 + len(accuracies)), 3))
    for axis, key in zip(np.atleast_1d(axes), ["loss", *accuracies], strict=True):
        axis.plot(history.get(key, []), label="train")
        axis.plot(history.get(f"val_{key}", []), label="validation")
        axis.set_title(key)
        axis.set_xlabel("epoch")
        axis.legend()
    save_figure(figure, path)


def plot_confusion(matrix: np.ndarray, class_names: list[str], title: str, path: Path) -> None:
    """Row-normalised confusion matrix with counts in the cells."""
    matrix = np.asarray(matrix)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure, axis = plt.subplots(
        figsize=(1.0 + 0.7 * len(class_names), 0.8 + 0.6 * len(class_names))
    )
    axis.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if rates[row, column] > 0.5 else "black"
        axis.text(column, row, str(count), ha="center", va="center", color=colour, fontsize=8)
    axis.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
    save_figure(figure, path)


def plot_embedding(
    embedding: np.ndarray,
    labels: np.ndarray,
    class_names: tuple[str, ...],
    dynamics: np.ndarray,
    path: Path,
) -> None:
    """The 2-D embedding twice: coloured by class, and by dynamics."""
    figure, (by_class, by_dynamics) = plt.subplots(1, 2, figsize=(10, 4.5))
    for index, name in enumerate(class_names):
        chosen = labels == index
        by_class.scatter(*embedding[chosen].T, s=4, label=name, alpha=0.6)
    by_class.legend(markerscale=3)
    by_class.set_title("embedding by class")
    points = by_dynamics.scatter(*embedding.T, s=4, c=dynamics, cmap="viridis", alpha=0.6)
    figure.colorbar(points, ax=by_dynamics, label="dynamics")
    by_dynamics.set_title("embedding by dynamics")
    save_figure(figure, path)
