"""PNG plots of an envelope-model run: learning curves and held-out envelopes."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def plot_history(history: dict[str, list[float]], path: Path) -> None:
    """Training and validation L1 per epoch, log scale."""
    figure, axis = plt.subplots(figsize=(5, 3))
    axis.semilogy(history["train_l1"], label="train")
    axis.semilogy(history["val_l1"], label="validation")
    axis.set_xlabel("epoch")
    axis.set_ylabel("L1 (operator level)")
    axis.legend()
    _save(figure, path)


def plot_envelopes(
    inputs: np.ndarray, true: np.ndarray, predicted: np.ndarray, frame_rate_hz: float, path: Path
) -> None:
    """One held-out sequence: the inputs, and each operator's true and predicted level.

    Args:
        inputs: float32 [frames, 2] (normalised pitch, loudness).
        true, predicted: float32 [frames, 6] operator levels.
    """
    t_s = np.arange(inputs.shape[0]) / frame_rate_hz
    figure, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    axes[0].plot(t_s, inputs[:, 0], label="pitch (MIDI / 127)")
    axes[0].plot(t_s, inputs[:, 1], label="loudness")
    axes[0].legend(loc="upper right")
    for op in range(true.shape[1]):
        line = axes[1].plot(t_s, true[:, op], label=f"OP{op + 1}")[0]
        axes[1].plot(t_s, predicted[:, op], "--", color=line.get_color())
    axes[1].set_xlabel("s")
    axes[1].set_ylabel("OL (solid: EG, dashed: model)")
    axes[1].legend(loc="upper right", ncol=3)
    _save(figure, path)


def _save(figure: plt.Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
