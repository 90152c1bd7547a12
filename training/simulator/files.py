"""Session files: the 6-channel WAV, an Audacity label track, and the ground-truth CSV.

The label track is the project's label syntax, shared with real recordings: one line per hit,
``start<TAB>end<TAB><hand> <location> <dynamics>`` with start = end = the onset in seconds.
"""

import csv
from pathlib import Path

import numpy as np
import soundfile

from training.simulator.session import Hit

TRUTH_COLUMNS = ("onset_sample", "hand", "location", "dynamics", "player", "instrument")


def write_session(
    out_dir: Path, name: str, audio: np.ndarray, hits: list[Hit], sample_rate_hz: int
) -> list[Path]:
    """Write NAME.wav (float32), NAME.txt (labels) and NAME.truth.csv into out_dir.

    Args:
        audio: float32 samples, shape [frames, 6].
        hits: ground truth, sorted by onset.

    Returns:
        The three paths written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    wav, labels, truth = (out_dir / f"{name}{suffix}" for suffix in (".wav", ".txt", ".truth.csv"))
    soundfile.write(wav, audio, sample_rate_hz, subtype="FLOAT")
    with open(labels, "w", encoding="utf-8") as file:
        for hit in hits:
            seconds = hit.onset_sample / sample_rate_hz
            file.write(
                f"{seconds:.6f}\t{seconds:.6f}\t{hit.hand} {hit.location} {hit.dynamics:.2f}\n"
            )
    with open(truth, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(TRUTH_COLUMNS)
        for hit in hits:
            writer.writerow([getattr(hit, column) for column in TRUTH_COLUMNS])
    return [wav, labels, truth]
