"""PNG plots of an envelope-model run: learning curves and held-out envelopes."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from firmware.note_tracker import INPUT_NAMES
from training.figures import save_figure


def plot_history(history: dict[str, list[float]], path: Path) -> None:
    """Training and validation loss per epoch (and the validation L1, the reference
    paper's figure, when the loss is another), log scale."""
    figure, axis = plt.subplots(figsize=(5, 3))
    axis.semilogy(history["train_loss"], label="train loss")
    axis.semilogy(history["val_loss"], label="validation loss")
    if history["val_l1"] != history["val_loss"]:
        axis.semilogy(history["val_l1"], label="validation L1")
    axis.set_xlabel("epoch")
    axis.set_ylabel("loss")
    axis.legend()
    save_figure(figure, path)


def plot_envelopes(
    inputs: np.ndarray, true: np.ndarray, predicted: np.ndarray, frame_rate_hz: float, path: Path
) -> None:
    """One held-out sequence: the inputs, and each operator's true and predicted level.

    Args:
        inputs: float32 [frames, N_INPUTS] (firmware.note_tracker.INPUT_NAMES; the age is
            drawn as the onset input, its decaying flag).
        true, predicted: float32 [frames, 6] operator levels.
    """
    t_s = np.arange(inputs.shape[0]) / frame_rate_hz
    figure, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for column, name in enumerate(INPUT_NAMES):
        if name != "age":
            axes[0].plot(t_s, inputs[:, column], label=name)
    axes[0].legend(loc="upper right", ncol=3)
    for op in range(true.shape[1]):
        line = axes[1].plot(t_s, true[:, op], label=f"OP{op + 1}")[0]
        axes[1].plot(t_s, predicted[:, op], "--", color=line.get_color())
    axes[1].set_xlabel("s")
    axes[1].set_ylabel("OL (solid: EG, dashed: model)")
    axes[1].legend(loc="upper right", ncol=3)
    save_figure(figure, path)
