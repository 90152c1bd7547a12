"""The project's own DX7 bank, firmware/patches/hitar.syx, made from the voices defined here.

Run ``python -m firmware.dx7.make_bank`` to rewrite the bank (byte-identical every time), or
``--table`` to print the Markdown table of voices used in docs/FM_VOICE.md. Slots after the
project's voices hold INIT VOICE, so users can fill them from any DX7 editor.

The voices are designed for a guitar-driven voice: they respond to velocity, keep their
carriers' output levels summing to about OL 2 (a full-scale sine at the synth's default gain)
so that chords of operators do not clip, and use LFO and pitch EG not at all (the envelope
model and the synth do not reproduce them; a player's own vibrato comes through the pitch).
"""

import argparse
import sys
from pathlib import Path

from firmware.dx7.patch import Operator, Patch
from firmware.dx7.sysex import format_bank

BANK_PATH = Path(__file__).resolve().parents[1] / "patches" / "hitar.syx"


def _op(
    level: int,
    coarse: int,
    rates: tuple[int, int, int, int],
    levels: tuple[int, int, int, int],
    *,
    fine: int = 0,
    detune: int = 0,
    velocity: int = 2,
    rate_scaling: int = 2,
    **scaling: int,
) -> Operator:
    """An operator in ratio mode; keyword scaling takes keyboard level scaling fields."""
    return Operator(
        rates=rates,
        levels=levels,
        output_level=level,
        coarse=coarse,
        fine=fine,
        detune=detune,
        velocity_sensitivity=velocity,
        rate_scaling=rate_scaling,
        **scaling,
    )


VOICES: tuple[tuple[Patch, str], ...] = (
    (
        Patch(
            name="HITAR EP",
            algorithm=5,
            feedback=6,
            operators=(
                _op(88, 1, (96, 25, 25, 67), (99, 75, 0, 0), detune=2, rate_scaling=3),
                _op(76, 1, (95, 50, 35, 78), (99, 75, 0, 0), velocity=6, rate_scaling=3),
                _op(86, 1, (95, 20, 20, 50), (99, 95, 0, 0), detune=-2, rate_scaling=3),
                _op(
                    66,
                    14,
                    (98, 65, 30, 70),
                    (99, 0, 0, 0),
                    velocity=5,
                    rate_scaling=4,
                    break_point=51,
                    right_depth=40,
                    right_curve=1,
                ),
                _op(72, 1, (95, 30, 22, 60), (99, 80, 0, 0)),
                _op(55, 1, (95, 50, 35, 78), (99, 70, 0, 0), velocity=4),
            ),
        ),
        "Electric piano: three carrier/modulator pairs, a 14:1 tine that fades up the keyboard, "
        "velocity brightens",
    ),
    (
        Patch(
            name="HITAR BELL",
            algorithm=29,
            feedback=0,
            operators=(
                _op(80, 1, (99, 25, 20, 30), (99, 60, 0, 0)),
                _op(74, 2, (99, 30, 22, 35), (99, 50, 0, 0), detune=3),
                _op(88, 1, (99, 28, 18, 30), (99, 55, 0, 0)),
                _op(78, 3, (99, 30, 20, 30), (99, 45, 0, 0), fine=50, velocity=4),
                _op(78, 4, (99, 55, 40, 40), (99, 0, 0, 0), fine=20),
                _op(70, 7, (99, 50, 35, 40), (99, 0, 0, 0), velocity=5),
            ),
        ),
        "Bell: inharmonic 3.5:1 and 7:4.2 pairs over plain partials, long exponential decay",
    ),
    (
        Patch(
            name="HITAR BASS",
            algorithm=16,
            feedback=6,
            operators=(
                _op(95, 0, (95, 50, 25, 60), (99, 88, 70, 0)),
                _op(80, 0, (99, 45, 25, 60), (99, 60, 40, 0), velocity=5),
                _op(68, 1, (99, 55, 30, 60), (99, 50, 30, 0)),
                _op(60, 3, (99, 70, 40, 60), (99, 0, 0, 0), velocity=6),
                _op(62, 0, (95, 40, 30, 60), (99, 60, 40, 0)),
                _op(60, 0, (95, 40, 30, 60), (99, 50, 0, 0)),
            ),
        ),
        "Bass an octave down (ratios 0.5): one carrier, three modulator branches, a 3:1 thump "
        "on the attack, feedback grit",
    ),
    (
        Patch(
            name="HITAR BRAS",
            algorithm=22,
            feedback=7,
            operators=(
                _op(88, 1, (72, 76, 99, 71), (99, 88, 96, 0)),
                _op(85, 1, (62, 51, 29, 71), (82, 95, 96, 0), velocity=3),
                _op(80, 1, (72, 76, 99, 71), (99, 88, 96, 0), detune=3),
                _op(80, 1, (72, 76, 99, 71), (99, 88, 96, 0), detune=-3),
                _op(72, 1, (72, 76, 99, 71), (99, 88, 96, 0), detune=1),
                _op(72, 1, (53, 41, 51, 60), (99, 85, 82, 0), velocity=4),
            ),
        ),
        "Brass: a feedback operator brightening four detuned carriers as it swells, slow attack",
    ),
    (
        Patch(
            name="HITAR PLUK",
            algorithm=2,
            feedback=5,
            operators=(
                _op(93, 1, (99, 40, 30, 55), (99, 70, 0, 0), velocity=3, rate_scaling=3),
                _op(82, 1, (99, 65, 45, 60), (99, 40, 0, 0), velocity=6, rate_scaling=3),
                _op(76, 2, (99, 45, 35, 60), (99, 50, 0, 0)),
                _op(72, 3, (99, 70, 50, 60), (99, 20, 0, 0), velocity=5),
                _op(60, 1, (99, 60, 40, 60), (99, 30, 0, 0)),
                _op(50, 5, (99, 80, 60, 70), (99, 0, 0, 0), velocity=5),
            ),
        ),
        "Pluck: a feedback-driven modulator and a 6-5-4-3 stack decaying fast after the attack",
    ),
    (
        Patch(
            name="HITAR PAD",
            algorithm=19,
            feedback=4,
            operators=(
                _op(88, 1, (45, 30, 20, 35), (99, 92, 88, 0), velocity=1),
                _op(70, 1, (40, 30, 20, 35), (90, 80, 75, 0), velocity=2),
                _op(58, 2, (38, 25, 20, 35), (85, 70, 65, 0), velocity=2),
                _op(84, 1, (42, 30, 20, 32), (99, 92, 88, 0), detune=4, velocity=1),
                _op(80, 2, (42, 30, 20, 32), (99, 92, 88, 0), detune=-4, velocity=1),
                _op(66, 1, (35, 25, 25, 30), (95, 85, 80, 0), velocity=2),
            ),
        ),
        "Pad: slow attacks and release, detuned unison and octave carriers under one feedback "
        "modulator",
    ),
    (
        Patch(
            name="HITAR ORGN",
            algorithm=32,
            feedback=4,
            operators=(
                _op(78, 0, (99, 99, 99, 80), (99, 99, 99, 0), velocity=0, rate_scaling=0),
                _op(84, 1, (99, 99, 99, 80), (99, 99, 99, 0), velocity=0, rate_scaling=0),
                _op(74, 1, (99, 99, 99, 80), (99, 99, 99, 0), fine=50, velocity=0),
                _op(80, 2, (99, 99, 99, 80), (99, 99, 99, 0), velocity=0, rate_scaling=0),
                _op(72, 3, (99, 99, 99, 80), (99, 99, 99, 0), velocity=0, rate_scaling=0),
                _op(68, 4, (99, 99, 99, 80), (99, 99, 99, 0), velocity=0, rate_scaling=0),
            ),
        ),
        "Organ: six drawbar-like carriers (0.5, 1, 1.5, 2, 3, 4), feedback on the top one",
    ),
)
"""The project's voices with a one-line description each, in bank order."""


def bank_bytes() -> bytes:
    """The 4104-byte bank: the project's voices, then INIT VOICE."""
    return format_bank([patch for patch, _ in VOICES])


def voice_table() -> str:
    """Markdown table of the voices: slot, name, algorithm, feedback, description."""
    rows = ["| slot | name | algorithm | feedback | voice |", "| --- | --- | --- | --- | --- |"]
    for slot, (patch, description) in enumerate(VOICES, start=1):
        rows.append(
            f"| {slot} | `{patch.display_name}` | {patch.algorithm} | {patch.feedback} "
            f"| {description} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BANK_PATH, help="bank file to write")
    parser.add_argument("--table", action="store_true", help="print the voice table instead")
    args = parser.parse_args(argv)
    if args.table:
        print(voice_table())
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(bank_bytes())
    print(f"wrote {args.out} ({len(VOICES)} voices, {len(bank_bytes())} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
