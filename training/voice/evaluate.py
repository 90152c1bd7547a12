"""Evaluation of a voice bundle on held-out phrases, through the board's own code.

The levels come from the bundle's TFLite model stepped hop by hop by `firmware.voice.
EnvelopeModel` (the board's class: its note tracker, state reset on silence included), from the
pitch tracker's output.
Both renders go through `firmware.dx7.render_offline` with the same f0 (the tracker's, what the
board's synth plays): the *voice render* from the model's levels, the *true render* from the
patch's own envelope generators. The difference is therefore the envelope model's error alone.

Segments of each note (hops counted from the note's start frame in the score):

- onset: the first ONSET_MS (the attack, while the tracker is still finding the pitch and the
  network is inferring velocity from a rising loudness);
- middle: from ONSET_MS to the note-off or the next note (decay and sustain);
- end: from the note-off to END_MS later or the end of the sequence (the release).

SNR in dB is 10 log10(energy of the true render / energy of the difference) over all samples of
a segment kind, across all held-out notes (loud notes weigh more, as they do to a listener).
L1 is the mean absolute level error per operator over the segment's hops.
"""

import math
from typing import Any

import numpy as np

from firmware.dx7 import Patch, render_offline
from firmware.voice import EnvelopeModel
from training.voice.dataset import VoiceInputs

ONSET_MS = 50.0
END_MS = 500.0
SEGMENTS = ("onset", "middle", "end")


def segment_masks(data: VoiceInputs, frame_rate_hz: float) -> dict[str, np.ndarray]:
    """Which rows of data belong to each segment kind: bool [frames] per name in SEGMENTS."""
    masks = {name: np.zeros(data.inputs.shape[0], dtype=bool) for name in SEGMENTS}
    onset_frames = round(ONSET_MS * 1e-3 * frame_rate_hz)
    end_frames = round(END_MS * 1e-3 * frame_rate_hz)
    for index in range(data.n_sequences):
        rows = data.rows(index)
        first = int(data.first_frame[index])
        last = first + rows.stop - rows.start
        notes = data.phrase_notes(int(data.phrase_of[index]))
        for number, note in enumerate(notes):
            following = notes[number + 1].start_frame if number + 1 < len(notes) else last
            spans = {
                "onset": (note.start_frame, min(note.start_frame + onset_frames, note.stop_frame)),
                "middle": (note.start_frame + onset_frames, note.stop_frame),
                "end": (note.stop_frame, min(note.stop_frame + end_frames, following)),
            }
            for name, (start, stop) in spans.items():
                start, stop = max(start, first), min(stop, last)
                if start < stop:
                    masks[name][rows.start + start - first : rows.start + stop - first] = True
    return masks


def predict_levels(model: EnvelopeModel, data: VoiceInputs) -> np.ndarray:
    """The model's levels for every sequence, each from a zero state: float32 [frames, 6]."""
    levels = np.zeros((data.inputs.shape[0], 6), np.float32)
    for index in range(data.n_sequences):
        rows = data.rows(index)
        levels[rows] = model.run(data.f0_hz[rows], data.loudness[rows])
    return levels


def block_energies(
    patch: Patch,
    data: VoiceInputs,
    levels: np.ndarray,
    targets: np.ndarray,
    sample_rate_hz: int,
    hop_samples: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Energy per hop of the true render and of (voice render - true render), float64
    [frames] each, every sequence rendered on its own from a silent synth."""
    true_energy = np.zeros(data.inputs.shape[0])
    error_energy = np.zeros(data.inputs.shape[0])
    for index in range(data.n_sequences):
        rows = data.rows(index)
        f0_hz = data.f0_hz[rows]
        true = render_offline(patch, targets[rows], f0_hz, sample_rate_hz, hop_samples)
        voice = render_offline(patch, levels[rows], f0_hz, sample_rate_hz, hop_samples)
        true_blocks = true.reshape(-1, hop_samples).astype(np.float64)
        error_blocks = (voice - true).reshape(-1, hop_samples).astype(np.float64)
        true_energy[rows] = np.sum(true_blocks**2, axis=1)
        error_energy[rows] = np.sum(error_blocks**2, axis=1)
    return true_energy, error_energy


def snr_db(signal_energy: float, error_energy: float) -> float:
    """10 log10(signal / error); +inf for no error, nan for no signal."""
    if signal_energy <= 0.0:
        return math.nan
    if error_energy <= 0.0:
        return math.inf
    return 10.0 * math.log10(signal_energy / error_energy)


def evaluate(
    model: EnvelopeModel,
    patch: Patch,
    data: VoiceInputs,
    targets: np.ndarray,
    sample_rate_hz: int,
    hop_samples: int,
) -> dict[str, Any]:
    """L1 and SNR of a model on held-out phrases, overall and per segment kind.

    Args:
        targets: the patch's levels on data's rows (data.targets(patch, ...)).

    Returns:
        {"l1", "snr_db", "hops", "notes", "segments": {name: {"l1", "snr_db", "hops"}}}.
    """
    levels = predict_levels(model, data)
    true_energy, error_energy = block_energies(
        patch, data, levels, targets, sample_rate_hz, hop_samples
    )
    error = np.abs(levels - targets).mean(axis=1)
    masks = segment_masks(data, sample_rate_hz / hop_samples)
    segments = {
        name: {
            "l1": float(error[mask].mean()) if mask.any() else math.nan,
            "snr_db": snr_db(float(true_energy[mask].sum()), float(error_energy[mask].sum())),
            "hops": int(mask.sum()),
        }
        for name, mask in masks.items()
    }
    return {
        "l1": float(error.mean()),
        "snr_db": snr_db(float(true_energy.sum()), float(error_energy.sum())),
        "hops": int(error.shape[0]),
        "notes": int(data.notes.shape[0]),
        "segments": segments,
    }
