"""Note sequences on a frame grid: the score from which the DX7 envelope generators make training
targets, and from which a "true render" of a patch is played.

Frames are control frames (one per synth block, e.g. 64 samples at 48 kHz = 750 frames/s), so
note starts and stops fall exactly on the instants where the synth takes new controls.
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class NoteEvent:
    """One key press: held from start_frame (first frame of the attack) to stop_frame (first frame
    of the release). The patch's transpose is applied by the envelopes and the synth, not here."""

    key: int
    """MIDI note 0..127 (60 = C3 on the DX7 = middle C, 69 = A 440 Hz)."""
    velocity: int
    """MIDI velocity 0..127."""
    start_frame: int
    stop_frame: int

    def __post_init__(self) -> None:
        if not 0 <= self.key <= 127:
            raise ValueError(f"key {self.key}, expected 0..127")
        if not 0 <= self.velocity <= 127:
            raise ValueError(f"velocity {self.velocity}, expected 0..127")
        if not 0 <= self.start_frame < self.stop_frame:
            raise ValueError(
                f"frames [{self.start_frame}, {self.stop_frame}): expected 0 <= start < stop"
            )


def midi_to_hz(key: float) -> float:
    """Equal-tempered frequency in Hz of a MIDI note number (69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((key - 69.0) / 12.0)


def sorted_notes(notes: Sequence[NoteEvent]) -> list[NoteEvent]:
    """Notes by start frame; two notes starting on one frame is a ValueError (a mono voice)."""
    ordered = sorted(notes, key=lambda note: note.start_frame)
    for before, after in itertools.pairwise(ordered):
        if before.start_frame == after.start_frame:
            raise ValueError(f"two notes start at frame {after.start_frame}; the voice is mono")
    return ordered


def pitch_track_hz(notes: Sequence[NoteEvent], n_frames: int) -> np.ndarray:
    """The f0 that plays the notes on the synth: each note's pitch from its start until the next
    note starts (its release tail keeps its pitch), 0 (no note) before the first.

    Returns:
        float32 f0 in Hz, shape [n_frames].
    """
    f0_hz = np.zeros(n_frames, dtype=np.float32)
    for note in sorted_notes(notes):
        f0_hz[note.start_frame :] = midi_to_hz(note.key)
    return f0_hz
