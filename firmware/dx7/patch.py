"""A DX7 voice as typed, validated data: the Patch and its six Operators.

Values are the ones the DX7 front panel shows, so a patch reads like its published parameter
sheet: algorithm 1..32, operator detune -7..+7, transpose in semitones from C3. Operators are
held in natural order (``operators[0]`` is OP1); the SysEx formats store them in reverse order
(OP6 first), and only `firmware.dx7.sysex` deals with that.

Construction validates every field, so a Patch that exists can always be written to SysEx and
played; a bad value is a PatchError naming the field and its range.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from firmware.errors import HitarError

N_OPERATORS = 6
NAME_CHARS = 10
"""A voice name is exactly ten 7-bit characters on the DX7; shorter names are padded."""

CURVE_NAMES: tuple[str, ...] = ("-LIN", "-EXP", "+EXP", "+LIN")
"""Keyboard level scaling curves, by their value 0..3."""

LFO_WAVEFORMS: tuple[str, ...] = ("TRIANGLE", "SAW DOWN", "SAW UP", "SQUARE", "SINE", "S/HOLD")
"""LFO waveforms, by their value 0..5."""

OPERATOR_RANGES: dict[str, tuple[int, int]] = {
    "rates": (0, 99),
    "levels": (0, 99),
    "break_point": (0, 99),
    "left_depth": (0, 99),
    "right_depth": (0, 99),
    "left_curve": (0, 3),
    "right_curve": (0, 3),
    "rate_scaling": (0, 7),
    "amp_mod_sensitivity": (0, 3),
    "velocity_sensitivity": (0, 7),
    "output_level": (0, 99),
    "fixed_frequency": (0, 1),
    "coarse": (0, 31),
    "fine": (0, 99),
    "detune": (-7, 7),
}
"""Inclusive range of each Operator field (for tuples: of each element)."""

PATCH_RANGES: dict[str, tuple[int, int]] = {
    "pitch_eg_rates": (0, 99),
    "pitch_eg_levels": (0, 99),
    "algorithm": (1, 32),
    "feedback": (0, 7),
    "osc_key_sync": (0, 1),
    "lfo_speed": (0, 99),
    "lfo_delay": (0, 99),
    "lfo_pitch_mod_depth": (0, 99),
    "lfo_amp_mod_depth": (0, 99),
    "lfo_key_sync": (0, 1),
    "lfo_waveform": (0, 5),
    "pitch_mod_sensitivity": (0, 7),
    "transpose": (-24, 24),
}
"""Inclusive range of each Patch field other than name and operators."""


class PatchError(HitarError):
    """A DX7 patch or SysEx file is malformed or has a field out of range."""


@dataclass(frozen=True)
class Operator:
    """One of the six DX7 operators: a sine oscillator with its envelope generator.

    Defaults are those of the DX7's INIT VOICE for OP2..OP6 (silent: output level 0).
    """

    rates: tuple[int, int, int, int] = (99, 99, 99, 99)
    """EG rates R1..R4, 0..99 (99 fastest): attack, decay 1, decay 2 (to sustain), release."""
    levels: tuple[int, int, int, int] = (99, 99, 99, 0)
    """EG levels L1..L4, 0..99: L3 is the sustain level, L4 where the release ends."""
    break_point: int = 39
    """Keyboard level scaling break point, 0..99 = keys A-1..C8 (39 = C3, MIDI 60)."""
    left_depth: int = 0
    """Level scaling depth below the break point, 0..99."""
    right_depth: int = 0
    """Level scaling depth above the break point, 0..99."""
    left_curve: int = 0
    """Level scaling curve below the break point: index into CURVE_NAMES."""
    right_curve: int = 0
    """Level scaling curve above the break point: index into CURVE_NAMES."""
    rate_scaling: int = 0
    """Keyboard rate scaling 0..7: how much faster the EG runs for higher keys."""
    amp_mod_sensitivity: int = 0
    """LFO amplitude modulation sensitivity, 0..3."""
    velocity_sensitivity: int = 0
    """Key velocity sensitivity of the output level, 0..7."""
    output_level: int = 0
    """Output level 0..99, 0.75 dB per step near the top."""
    fixed_frequency: bool = False
    """False: frequency is a ratio of the key's pitch; True: a fixed frequency in Hz."""
    coarse: int = 1
    """Ratio mode: multiplier 0..31 (0 means 0.5). Fixed mode: decade 0..3 (1, 10, 100, 1000 Hz),
    higher values repeat the decades as on the DX7."""
    fine: int = 0
    """Ratio mode: ratio x (1 + fine / 100). Fixed mode: frequency x 10 ** (fine / 100)."""
    detune: int = 0
    """Detune -7..+7, about a cent per step in the middle of the keyboard."""

    def __post_init__(self) -> None:
        for name, (low, high) in OPERATOR_RANGES.items():
            _check(f"operator {name}", getattr(self, name), low, high)


def _init_operators() -> tuple[Operator, ...]:
    """The INIT VOICE operators: OP1 sounding at full level, OP2..OP6 silent."""
    return (Operator(output_level=99),) + (Operator(),) * (N_OPERATORS - 1)


@dataclass(frozen=True)
class Patch:
    """One DX7 voice: global parameters and six operators. Defaults give the DX7's INIT VOICE
    (algorithm 1, a plain sine from OP1)."""

    name: str = "INIT VOICE"
    """Up to ten 7-bit characters; padded with spaces to ten."""
    algorithm: int = 1
    """Operator routing 1..32, as numbered on the DX7 (see firmware.dx7.algorithms)."""
    feedback: int = 0
    """Operator feedback amount 0..7 on the algorithm's feedback operator."""
    osc_key_sync: bool = True
    """Restart every oscillator at phase 0 when a note starts."""
    transpose: int = 0
    """Semitones -24..+24 added to the key (0: key C3 plays C3)."""
    pitch_eg_rates: tuple[int, int, int, int] = (99, 99, 99, 99)
    pitch_eg_levels: tuple[int, int, int, int] = (50, 50, 50, 50)
    """Pitch EG levels 0..99; 50 is no pitch change."""
    lfo_speed: int = 35
    lfo_delay: int = 0
    lfo_pitch_mod_depth: int = 0
    lfo_amp_mod_depth: int = 0
    lfo_key_sync: bool = True
    lfo_waveform: int = 0
    """Index into LFO_WAVEFORMS."""
    pitch_mod_sensitivity: int = 3
    operators: tuple[Operator, ...] = field(default_factory=_init_operators)
    """The six operators, OP1 first."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or len(self.name) > NAME_CHARS:
            raise PatchError(f"name: {self.name!r} is not a string of at most {NAME_CHARS} chars")
        if any(ord(char) > 127 for char in self.name):
            raise PatchError(f"name: {self.name!r} has a character outside 7-bit ASCII")
        object.__setattr__(self, "name", self.name.ljust(NAME_CHARS))
        for name, (low, high) in PATCH_RANGES.items():
            _check(name, getattr(self, name), low, high)
        if len(self.operators) != N_OPERATORS or not all(
            isinstance(op, Operator) for op in self.operators
        ):
            raise PatchError(f"operators: expected {N_OPERATORS} Operator values, OP1 first")
        object.__setattr__(self, "operators", tuple(self.operators))

    @property
    def display_name(self) -> str:
        """The name without its padding, for menus and logs."""
        return self.name.rstrip()

    def replace_operator(self, number: int, **changes: Any) -> "Patch":
        """A copy of this patch with OP<number> (1..6) changed; the patch itself is frozen."""
        if not 1 <= number <= N_OPERATORS:
            raise PatchError(f"operator number: {number}, expected 1..{N_OPERATORS}")
        ops = list(self.operators)
        ops[number - 1] = dataclasses.replace(ops[number - 1], **changes)
        return dataclasses.replace(self, operators=tuple(ops))


def _check(name: str, value: object, low: int, high: int) -> None:
    """Raise PatchError unless value (an int, bool or tuple of ints) lies in [low, high]."""
    items = value if isinstance(value, tuple) else (value,)
    expected_len = 4 if isinstance(value, tuple) else 1
    if len(items) != expected_len or not all(isinstance(item, int) for item in items):
        raise PatchError(f"{name}: {value!r}, expected {expected_len} integer(s)")
    for item in items:
        if not low <= item <= high:
            raise PatchError(f"{name}: {value!r} is out of range {low}..{high}")
