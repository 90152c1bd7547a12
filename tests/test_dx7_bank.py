"""The shipped bank firmware/patches/hitar.syx: reproducible, valid, distinct, playable."""

from pathlib import Path

import numpy as np
import pytest

from firmware.dx7.envelope import operator_levels
from firmware.dx7.make_bank import BANK_PATH, VOICES, bank_bytes, main
from firmware.dx7.notes import NoteEvent, pitch_track_hz
from firmware.dx7.patch import Patch
from firmware.dx7.synth import render_offline
from firmware.dx7.sysex import read_syx

RATE, HOP = 48_000, 64


def test_the_shipped_bank_is_what_make_bank_writes(tmp_path: Path) -> None:
    assert BANK_PATH.read_bytes() == bank_bytes()
    assert main(["--out", str(tmp_path / "bank.syx")]) == 0
    assert (tmp_path / "bank.syx").read_bytes() == BANK_PATH.read_bytes()


def test_the_bank_holds_distinct_voices_then_init_voices(capsys: pytest.CaptureFixture) -> None:
    patches = read_syx(BANK_PATH)
    voices = patches[: len(VOICES)]
    assert len(voices) >= 6 and len({p.name for p in voices}) == len(voices)
    assert len({p.algorithm for p in voices}) >= 5
    assert sum(p.feedback > 0 for p in voices) >= 3 and any(p.feedback == 0 for p in voices)
    assert all(p == Patch() for p in patches[len(VOICES) :])
    main(["--table"])
    table = capsys.readouterr().out
    assert all(f"`{p.display_name}`" in table for p in voices)


@pytest.mark.parametrize("slot", range(len(VOICES)))
def test_every_voice_sounds_without_clipping_across_the_guitar(slot: int) -> None:
    patch = VOICES[slot][0]
    n_frames = RATE // HOP
    for key in (40, 64, 88):  # E2, E4, E6: the guitar's range
        peaks = []
        for velocity in (20, 127):
            notes = [NoteEvent(key, velocity, 0, n_frames // 2)]
            levels = operator_levels(patch, notes, n_frames, RATE / HOP)
            audio = render_offline(patch, levels, pitch_track_hz(notes, n_frames), RATE, HOP)
            peaks.append(np.abs(audio).max())
        assert 0.01 < peaks[0] <= peaks[1] < 1.0  # the organ ignores velocity
