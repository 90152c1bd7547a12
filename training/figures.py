"""Saving matplotlib figures for run folders: one place for the headless backend, the layout
and the file, shared by the hit and voice runs' plots."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # workstations and CI without a display
import matplotlib.pyplot as plt


def save_figure(figure: plt.Figure, path: Path) -> None:
    """Lay out, write as PNG (parent folders made) and close, so that a run making many plots
    does not hold them all in memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
