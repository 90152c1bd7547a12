"""Datasets of the envelope model: the network's inputs as the board computes them, and the
operator levels of a patch as targets.

Inputs come from running the firmware's own tracker (`firmware.pitch.track`, the code the board
runs hop by hop) on each phrase's pickup signal, not from the phrase's control curves. The
network thus learns from what it will be given on stage: pitch that appears a window and a
period after the note (later for low notes), loudness smoothed over the tracker's RMS window,
the odd unvoiced hop, pitch errors on glides and vibrato. Trained on the clean curves instead,
it would expect pitch and loudness to arrive together and would meet the tracker's lag for
the first time on the board. The tracker's output does not depend on the patch, so one tracked
set serves every patch and is cached (build/voice-cache/).

The network's inputs are then made from the tracker's pitch and loudness by the firmware's
note tracker (`firmware.note_tracker.note_inputs`: key, velocity estimate, age since the onset),
again the board's own code; they are cheap, so they are made on loading and a change of the
note tracker needs no new tracking.

Sequences. The board resets the network's state whenever both inputs are zero (silence); a
training sequence is therefore one run of hops in which pitch or loudness is non-zero, and
starts from a zero state, as the board does. Every phrase starts and ends in silence and its
envelope generators start fresh, so a sequence's targets are the patch's levels over the same
hops of its phrase.
"""

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

import firmware.pitch as pitch_module
import training.voice.phrases as phrases_module
from firmware.dx7 import NoteEvent, Patch, operator_levels
from firmware.note_tracker import N_INPUTS, NoteConfig, note_inputs
from firmware.pitch import PitchConfig, track
from training.voice.phrases import PhraseConfig, make_phrase, pickup_signal

log = logging.getLogger(__name__)

CACHE_SOURCES = (pitch_module.__file__, phrases_module.__file__, __file__)
"""A cached set is keyed by these files' bytes too: a changed tracker means new inputs."""
TRACKED_FIELDS = (
    "f0_hz", "loudness", "offsets", "phrase_of", "first_frame", "notes", "phrase_frames"
)  # fmt: skip
"""The fields that are cached (inputs are made from them on loading)."""


@dataclass(frozen=True)
class VoiceInputs:
    """A phrase set as the tracker reports it: sequences of inputs, and the score behind them.

    Sequence i covers rows offsets[i]:offsets[i + 1] of inputs, f0_hz and loudness, which are
    hops first_frame[i].. of phrase phrase_of[i].
    """

    inputs: np.ndarray
    """float32 [frames, N_INPUTS]: the network's inputs (firmware.note_tracker.note_inputs of
    f0_hz and loudness, each sequence from a fresh note tracker)."""
    f0_hz: np.ndarray
    """float32 [frames]: the tracker's pitch in Hz (0 unvoiced), what the synth would play."""
    loudness: np.ndarray
    """float32 [frames]: the tracker's loudness in [0, 1]."""
    offsets: np.ndarray
    """int64 [n_sequences + 1]."""
    phrase_of: np.ndarray
    """int64 [n_sequences]."""
    first_frame: np.ndarray
    """int64 [n_sequences]."""
    notes: np.ndarray
    """int64 [n_notes, 5]: phrase, key, velocity, start_frame, stop_frame (phrase frames)."""
    phrase_frames: np.ndarray
    """int64 [n_phrases]: hops in each phrase."""

    @property
    def n_sequences(self) -> int:
        return int(self.phrase_of.shape[0])

    @property
    def lengths(self) -> np.ndarray:
        """Hops per sequence, int64 [n_sequences]."""
        return np.diff(self.offsets)

    def rows(self, index: int) -> slice:
        """The rows of sequence index in inputs, f0_hz and targets."""
        return slice(int(self.offsets[index]), int(self.offsets[index + 1]))

    def phrase_notes(self, phrase: int) -> list[NoteEvent]:
        """The score of a phrase, frames counted from its start."""
        rows = self.notes[self.notes[:, 0] == phrase]
        return [NoteEvent(int(k), int(v), int(a), int(b)) for _, k, v, a, b in rows]

    def targets(self, patch: Patch, frame_rate_hz: float) -> np.ndarray:
        """The patch's operator levels on every row, float32 [frames, 6] (OL, OP1 first)."""
        levels = np.zeros((self.inputs.shape[0], 6), dtype=np.float32)
        by_phrase: dict[int, list[int]] = {}
        for index, phrase in enumerate(self.phrase_of.tolist()):
            by_phrase.setdefault(phrase, []).append(index)
        for phrase, sequences in by_phrase.items():
            phrase_levels = operator_levels(
                patch, self.phrase_notes(phrase), int(self.phrase_frames[phrase]), frame_rate_hz
            )
            for index in sequences:
                rows = self.rows(index)
                first = int(self.first_frame[index])
                levels[rows] = phrase_levels[first : first + rows.stop - rows.start]
        return levels


def voiced_runs(f0_hz: np.ndarray, loudness: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of hops where pitch or loudness is non-zero: between two runs
    the board resets the network's state."""
    active = np.concatenate([[False], (f0_hz != 0.0) | (loudness != 0.0), [False]])
    edges = np.flatnonzero(np.diff(active.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def build_inputs(
    n_phrases: int,
    seed: int,
    phrases: PhraseConfig,
    pitch: PitchConfig,
    notes: NoteConfig,
    sample_rate_hz: int,
    progress: bool = True,
) -> VoiceInputs:
    """Draw n_phrases phrases (phrase i from the seed sequence [seed, i]), render each as a
    pickup signal, run the firmware's tracker on it and make the network's inputs."""
    return with_inputs(
        track_phrases(n_phrases, seed, phrases, pitch, sample_rate_hz, progress),
        notes, sample_rate_hz / pitch.hop_samples,
    )  # fmt: skip


def track_phrases(
    n_phrases: int,
    seed: int,
    phrases: PhraseConfig,
    pitch: PitchConfig,
    sample_rate_hz: int,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """The tracker's part of build_inputs: the TRACKED_FIELDS of a VoiceInputs."""
    parts: dict[str, list[np.ndarray]] = {"f0_hz": [], "loudness": [], "first": [], "phrase": []}
    score, phrase_frames, lengths = [], [], []
    for phrase_index in tqdm(range(n_phrases), desc="tracking phrases", disable=not progress):
        rng = np.random.default_rng([seed, phrase_index])
        phrase = make_phrase(rng, phrases, pitch.hop_samples, sample_rate_hz)
        signal = pickup_signal(phrase, rng, phrases, sample_rate_hz)
        f0_hz, loudness = track(signal, pitch, sample_rate_hz)
        for start, stop in voiced_runs(f0_hz, loudness):
            parts["f0_hz"].append(f0_hz[start:stop])
            parts["loudness"].append(loudness[start:stop])
            parts["first"].append(np.array([start]))
            parts["phrase"].append(np.array([phrase_index]))
            lengths.append(stop - start)
        score += [
            (phrase_index, n.key, n.velocity, n.start_frame, n.stop_frame) for n in phrase.notes
        ]
        phrase_frames.append(phrase.n_frames)
    return {
        "f0_hz": np.concatenate(parts["f0_hz"]).astype(np.float32),
        "loudness": np.concatenate(parts["loudness"]).astype(np.float32),
        "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "phrase_of": np.concatenate(parts["phrase"]).astype(np.int64),
        "first_frame": np.concatenate(parts["first"]).astype(np.int64),
        "notes": np.array(score, dtype=np.int64).reshape(-1, 5),
        "phrase_frames": np.array(phrase_frames, dtype=np.int64),
    }


def with_inputs(
    tracked: dict[str, np.ndarray], notes: NoteConfig, frame_rate_hz: float
) -> VoiceInputs:
    """A VoiceInputs from the tracker's fields, each sequence's inputs made by a fresh note
    tracker (as the board resets it on the silence before every sequence)."""
    f0_hz, loudness, offsets = tracked["f0_hz"], tracked["loudness"], tracked["offsets"]
    inputs = np.zeros((f0_hz.shape[0], N_INPUTS), np.float32)
    for first, stop in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True):
        inputs[first:stop] = note_inputs(
            f0_hz[first:stop], loudness[first:stop], notes, frame_rate_hz
        )
    return VoiceInputs(inputs=inputs, **{name: tracked[name] for name in TRACKED_FIELDS})


def cached_inputs(
    n_phrases: int,
    seed: int,
    phrases: PhraseConfig,
    pitch: PitchConfig,
    notes: NoteConfig,
    sample_rate_hz: int,
    cache_dir: Path,
    progress: bool = True,
) -> VoiceInputs:
    """build_inputs, the tracker's part stored under cache_dir by a hash of everything it
    depends on (arguments and the source of the tracker, the phrases and this module)."""
    sources = [hashlib.sha256(Path(name).read_bytes()).hexdigest() for name in CACHE_SOURCES]
    key = json.dumps(
        [sources, n_phrases, seed, asdict(phrases), asdict(pitch), sample_rate_hz],
        sort_keys=True,
    )
    path = cache_dir / f"inputs-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    frame_rate_hz = sample_rate_hz / pitch.hop_samples
    if path.is_file():
        with np.load(path) as stored:
            return with_inputs(
                {name: stored[name] for name in TRACKED_FIELDS}, notes, frame_rate_hz
            )
    tracked = track_phrases(n_phrases, seed, phrases, pitch, sample_rate_hz, progress)
    cache_dir.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp.npz")
    np.savez(temporary, **tracked)
    temporary.replace(path)
    log.info("cached %d phrases (%d hops) in %s", n_phrases, tracked["f0_hz"].shape[0], path)
    return with_inputs(tracked, notes, frame_rate_hz)
