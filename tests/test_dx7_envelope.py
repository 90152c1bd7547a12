"""DX7 envelope generators: levels, stage shapes and timing, scaling, velocity, note handling."""

import numpy as np
import pytest

from firmware.dx7.envelope import (
    PatchEnvelopes,
    operator_levels,
    rate_scaling_offset,
    velocity_offset,
)
from firmware.dx7.notes import NoteEvent, midi_to_hz, pitch_track_hz
from firmware.dx7.patch import Operator, Patch

FRAME_RATE_HZ = 48_000 / 64
STEP_DB = 20.0 * np.log10(2.0) / 8.0
"""One step of the DX7's 0..127 level scale: an eighth of a doubling, about 0.75 dB."""


def levels_of(
    op: Operator,
    key: int = 60,
    velocity: int = 100,
    hold_frames: int = 1500,
    n_frames: int = 3000,
    frame_rate_hz: float = FRAME_RATE_HZ,
) -> np.ndarray:
    """OL of one operator (as OP1 of an otherwise silent patch) for one note, shape [frames]."""
    patch = Patch(operators=(op,) + (Operator(),) * 5)
    notes = [NoteEvent(key, velocity, 0, hold_frames)]
    return operator_levels(patch, notes, n_frames, frame_rate_hz)[:, 0]


def db(x: np.ndarray) -> np.ndarray:
    return 20.0 * np.log10(x)


def frames_until(levels: np.ndarray, condition) -> int:
    return int(np.argmax(condition(levels)))


def test_full_output_level_is_ol_2_and_the_sustain_is_held_until_release() -> None:
    ol = levels_of(Operator(output_level=99), hold_frames=1000)
    assert ol.dtype == np.float32
    assert ol[10] == pytest.approx(2.0, rel=1e-6)
    np.testing.assert_array_equal(ol[10:1000], ol[10])
    assert ol[1005] < ol[999] and ol[-1] < 1e-4  # L4 = 0: released to silence


def test_output_level_steps_are_0_75_db_and_eg_levels_below_20_follow_the_dx7_curve() -> None:
    sustain = {level: levels_of(Operator(output_level=level))[100] for level in (99, 91, 60, 20)}
    assert db(sustain[99] / sustain[91]) == pytest.approx(8 * STEP_DB, abs=1e-3)
    assert db(sustain[91] / sustain[60]) == pytest.approx(31 * STEP_DB, abs=1e-3)
    assert db(sustain[60] / sustain[20]) == pytest.approx(40 * STEP_DB, abs=1e-3)
    low = levels_of(Operator(output_level=99, levels=(99, 99, 10, 0)))[200]
    # EG levels 99 and 10 sit at 127 and 31 on the 0..127 scale (31: the DX7's table below 20);
    # an EG level moves in pairs of 0.75 dB steps (its lowest bit is dropped): (63 - 15) pairs
    assert db(sustain[99] / low) == pytest.approx(2 * STEP_DB * (63 - 15), abs=1e-3)


def test_decay_is_a_straight_line_in_db() -> None:
    ol = levels_of(Operator(output_level=99, rates=(99, 40, 99, 99), levels=(99, 0, 0, 0)))
    start = frames_until(ol, lambda x: x < 1.9)
    end = frames_until(ol, lambda x: x < 0.02)
    slope = np.diff(db(ol[start:end]))
    assert end - start > 100
    assert np.all(slope < 0) and np.ptp(slope) < 0.01 * abs(np.mean(slope))


def test_attack_jumps_then_rises_fast_and_slows_near_the_top() -> None:
    ol = levels_of(Operator(output_level=99, rates=(50, 99, 99, 99), levels=(99, 99, 99, 0)))
    assert db(ol[0] / 2.0) > -50.0  # the jump: no attack starts from silence
    top = frames_until(ol, lambda x: x >= 2.0)
    steps = np.diff(db(ol[: top + 1]))
    assert top > 10 and np.all(steps > 0)
    assert steps[: top // 4].mean() > 2.0 * steps[-(top // 4) :].mean()


def test_stage_time_halves_for_every_four_quarter_octave_rate_steps() -> None:
    """Rates 50 and 57 are internal rates 32 and 36 (rate * 41 / 64): twice as fast."""

    def decay_frames(rate: int) -> int:
        ol = levels_of(Operator(output_level=99, rates=(99, rate, 99, 99), levels=(99, 0, 0, 0)))
        return frames_until(ol, lambda x: x < 0.01)

    slow, fast = decay_frames(50), decay_frames(57)
    assert slow / fast == pytest.approx(2.0, rel=0.02)
    assert decay_frames(30) > slow > fast > decay_frames(80)


def test_stage_durations_are_the_same_in_seconds_at_any_frame_rate() -> None:
    op = Operator(output_level=99, rates=(99, 45, 99, 99), levels=(99, 0, 0, 0))
    seconds = []
    for frame_rate in (750.0, 689.0625, 375.0):
        ol = levels_of(op, hold_frames=int(3 * frame_rate), n_frames=int(3 * frame_rate),
                       frame_rate_hz=frame_rate)  # fmt: skip
        seconds.append(frames_until(ol, lambda x: x < 0.01) / frame_rate)
    assert max(seconds) - min(seconds) < 3 / 375.0


def test_a_stage_that_keeps_its_level_waits_its_measured_time() -> None:
    """L1 = L2: stage 2 holds for the DX7's static time of rate 50 (6615 samples at 44.1 kHz)
    before stage 3 falls."""
    op = Operator(output_level=99, rates=(99, 50, 70, 99), levels=(99, 99, 0, 0))
    ol = levels_of(op)
    hold_s = frames_until(ol, lambda x: x < 1.99) / FRAME_RATE_HZ
    assert hold_s == pytest.approx(6615 / 44_100, abs=2 / FRAME_RATE_HZ)


def test_rate_scaling_speeds_up_high_keys_only_when_set() -> None:
    def decay_frames(key: int, scaling: int) -> int:
        op = Operator(
            output_level=99, rates=(99, 40, 99, 99), levels=(99, 0, 0, 0), rate_scaling=scaling
        )
        return frames_until(levels_of(op, key=key), lambda x: x < 0.01)

    assert decay_frames(36, 0) == decay_frames(96, 0)
    assert decay_frames(96, 7) < 0.5 * decay_frames(36, 7)
    assert rate_scaling_offset(21, 7) == 0 and rate_scaling_offset(127, 7) == 27


def test_velocity_sensitivity_scales_level_around_velocity_100() -> None:
    def sustain(velocity: int, sensitivity: int) -> float:
        op = Operator(output_level=90, velocity_sensitivity=sensitivity)
        return float(levels_of(op, velocity=velocity)[100])

    assert sustain(20, 0) == sustain(127, 0)
    loudness = [sustain(v, 7) for v in (1, 32, 64, 100, 127)]
    assert loudness == sorted(loudness) and loudness[0] < 0.01 * loudness[-1]
    assert abs(db(np.array(sustain(100, 7) / sustain(100, 0)))) < 0.5
    assert velocity_offset(100, 0) == 0


def test_keyboard_level_scaling_curves_act_on_their_side_of_the_break_point() -> None:
    def sustain(key: int, **scaling: int) -> float:
        return float(levels_of(Operator(output_level=80, break_point=39, **scaling), key=key)[100])

    plain = sustain(60)
    assert sustain(96, right_depth=99, right_curve=0) < 0.1 * plain  # -LIN
    assert sustain(96, right_depth=99, right_curve=2) > 3.0 * plain  # +EXP
    assert sustain(96, left_depth=99, left_curve=0) == plain  # other side untouched
    assert sustain(24, left_depth=99, left_curve=1) < 0.4 * plain  # -EXP below
    exp_near = sustain(66, right_depth=99, right_curve=1)
    lin_near = sustain(66, right_depth=99, right_curve=0)
    assert exp_near > lin_near  # the exponential curve starts gently


def test_transpose_moves_the_key_the_envelopes_see() -> None:
    op = Operator(output_level=80, break_point=39, right_depth=99, right_curve=0)
    patch = Patch(operators=(op,) + (Operator(),) * 5)
    up = Patch(transpose=12, operators=patch.operators)
    notes = [NoteEvent(72, 100, 0, 100)]
    shifted = operator_levels(up, [NoteEvent(60, 100, 0, 100)], 100, FRAME_RATE_HZ)
    np.testing.assert_array_equal(shifted, operator_levels(patch, notes, 100, FRAME_RATE_HZ))


def test_a_new_note_restarts_the_attack_from_the_current_level() -> None:
    op = Operator(output_level=99, rates=(80, 70, 99, 40), levels=(99, 60, 60, 0))
    patch = Patch(operators=(op,) + (Operator(),) * 5)
    notes = [NoteEvent(60, 100, 0, 200), NoteEvent(64, 100, 230, 400)]
    ol = operator_levels(patch, notes, 600, FRAME_RATE_HZ)[:, 0]
    assert ol[229] < ol[199]  # releasing
    assert ol[230] >= ol[229]  # the new attack does not drop to silence first
    assert ol[399] == pytest.approx(ol[199], rel=1e-6)  # same sustain again


def test_patch_envelopes_stream_the_same_levels_as_the_offline_function() -> None:
    patch = Patch(operators=tuple(Operator(output_level=50 + 9 * i, rates=(40 + 10 * i, 50, 60, 70),
                                           levels=(99, 80, 70, 0)) for i in range(6)))  # fmt: skip
    offline = operator_levels(patch, [NoteEvent(57, 90, 0, 300)], 500, FRAME_RATE_HZ)
    envelopes = PatchEnvelopes(patch, FRAME_RATE_HZ)
    streamed = np.zeros_like(offline)
    for frame in range(500):
        if frame == 0:
            envelopes.note_on(57, 90)
        if frame == 300:
            envelopes.note_off()
        envelopes.step(streamed[frame])
    np.testing.assert_array_equal(streamed, offline)


def test_notes_and_pitch_track() -> None:
    notes = [NoteEvent(69, 100, 10, 20), NoteEvent(57, 100, 30, 40)]
    f0 = pitch_track_hz(notes, 50)
    assert f0.dtype == np.float32 and f0[:10].max() == 0.0
    assert f0[10] == pytest.approx(440.0) and f0[29] == pytest.approx(440.0)
    assert f0[49] == pytest.approx(midi_to_hz(57)) == pytest.approx(220.0)
    with pytest.raises(ValueError, match="mono"):
        pitch_track_hz([NoteEvent(60, 1, 5, 9), NoteEvent(62, 1, 5, 8)], 10)
    with pytest.raises(ValueError, match=r"expected 0 <= start < stop"):
        NoteEvent(60, 100, 10, 10)
