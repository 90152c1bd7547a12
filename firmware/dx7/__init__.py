"""The DX7 core of the FM voice: patches and SysEx banks, envelope generators, algorithms and
the block-based FM synth that renders from six operator output levels.

Typical use (see docs/FM_VOICE.md)::

    patch = read_syx(Path("firmware/patches/hitar.syx"))[0]
    notes = [NoteEvent(key=52, velocity=100, start_frame=0, stop_frame=750)]
    levels = operator_levels(patch, notes, n_frames=1500, frame_rate_hz=48_000 / 64)
    audio = render_offline(patch, levels, pitch_track_hz(notes, 1500), 48_000, hop_frames=64)
"""

from firmware.dx7.algorithms import ALGORITHMS, Algorithm, algorithm
from firmware.dx7.envelope import PatchEnvelopes, operator_levels
from firmware.dx7.notes import NoteEvent, midi_to_hz, pitch_track_hz
from firmware.dx7.patch import Operator, Patch, PatchError
from firmware.dx7.synth import FMSynth, SynthConfig, render_offline
from firmware.dx7.sysex import format_bank, format_single, parse_syx, read_syx

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "FMSynth",
    "NoteEvent",
    "Operator",
    "Patch",
    "PatchEnvelopes",
    "PatchError",
    "SynthConfig",
    "algorithm",
    "format_bank",
    "format_single",
    "midi_to_hz",
    "operator_levels",
    "parse_syx",
    "pitch_track_hz",
    "read_syx",
    "render_offline",
]
