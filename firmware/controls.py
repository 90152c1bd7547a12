"""The OSC control address space: what a player may change while the instrument runs.

Pure validation, no networking: `firmware.osc.OscControlServer` hands every incoming message to
`parse_control`, and only what passes reaches the engine, as a `Control` value applied between
two periods. Anything else is rejected with one line saying which address and what is expected,
so a patch in Max or Pd that sends the wrong thing learns why. The table below is documented in
docs/OSC.md (tests/test_controls.py keeps the two in step).
"""

import math
from dataclasses import dataclass

from firmware.errors import HitarError


class ControlError(HitarError):
    """An incoming control message has an unknown address, a wrong type or count of arguments,
    or a value out of range."""


@dataclass(frozen=True)
class ControlSpec:
    """One control: its OSC argument type ('f' float, 'i' int) and inclusive range."""

    name: str
    osc_type: str
    minimum: float
    maximum: float
    unit: str
    meaning: str

    def describe(self) -> str:
        """The expected argument, e.g. 'f in 0.1..10'."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.osc_type} in {self.minimum:g}..{self.maximum:g}{unit}"


CONTROL_SPECS: dict[str, ControlSpec] = {
    spec.name: spec
    for spec in (
        ControlSpec(
            "threshold", "f", 0.1, 10.0, "", "detector threshold multiplier, <1 is more sensitive"
        ),
        ControlSpec(
            "retrigger_ms", "f", 4.0, 100.0, "ms", "minimum time between two hits (dead time)"
        ),
        ControlSpec("voice", "i", 0, 1, "", "FM voice off (0) or on (1)"),
        ControlSpec("patch", "i", 1, 32, "", "FM voice patch: slot in the DX7 bank (1..32)"),
        ControlSpec("input_gain_db", "f", -60.0, 24.0, "dB", "gain on the pickup before the voice"),
        ControlSpec("output_gain_db", "f", -60.0, 12.0, "dB", "gain on the voice's output"),
        ControlSpec("status_interval_s", "f", 0.1, 2.0, "s", "period of /status messages"),
    )
}
"""Every numeric control, by name; its address is `{prefix}/control/{name}`."""

CALIBRATE = "calibrate"
"""The one string control, `{prefix}/control/calibrate s`: a player calibration on the board
(firmware/live_calibration.py). Its argument is a command or one of the model's class names."""
CALIBRATION_COMMANDS: tuple[str, ...] = ("fit", "stop", "clear", "reset")
"""fit: fit offsets on the hits labelled so far and play on them; stop: label no more hits;
clear: drop the labelled hits; reset: play without any player calibration again."""


@dataclass(frozen=True)
class Control:
    """A validated control change: an int for 'i' controls, a float for 'f' controls, the
    command or class name for calibrate."""

    name: str
    value: int | float | str


def control_address(prefix: str, name: str) -> str:
    """The OSC address of a control, e.g. ('/hitar', 'threshold') -> '/hitar/control/threshold'."""
    return f"{prefix}/control/{name}"


def parse_control(
    address: str, args: list | tuple, prefix: str, class_names: tuple[str, ...] = ()
) -> Control:
    """Validate one incoming message as a control change.

    Args:
        address: the OSC address as received.
        args: the decoded arguments (python-osc decodes 'i' to int, 'f'/'d' to float).
        prefix: the configured address prefix, e.g. '/hitar'.
        class_names: the hit model's class names, which calibrate takes besides its commands.

    Raises:
        ControlError: one line naming the address and what is expected. Float controls accept
            an int argument too (many senders type 2 as an int); int controls accept only ints.
    """
    base = control_address(prefix, "")
    name = address[len(base) :] if address.startswith(base) else None
    if name == CALIBRATE:
        return _parse_calibrate(address, args, class_names)
    spec = CONTROL_SPECS.get(name) if name is not None else None
    if spec is None:
        raise ControlError(
            f"{address}: unknown control address (expected {base}<name>, "
            f"name one of: {', '.join([*CONTROL_SPECS, CALIBRATE])})"
        )
    expected = f"one argument, {spec.describe()}"
    if len(args) != 1:
        raise ControlError(f"{address}: expected {expected}, got {len(args)} arguments")
    value = args[0]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ControlError(f"{address}: expected {expected}, got {_typed(value)}")
    if spec.osc_type == "i" and not isinstance(value, int):
        raise ControlError(f"{address}: expected {expected}, got {_typed(value)}")
    if not (math.isfinite(value) and spec.minimum <= value <= spec.maximum):
        raise ControlError(f"{address}: expected {expected}, got {value!r} (out of range)")
    return Control(spec.name, float(value) if spec.osc_type == "f" else int(value))


def _parse_calibrate(address: str, args: list | tuple, class_names: tuple[str, ...]) -> Control:
    choices = (*CALIBRATION_COMMANDS, *class_names)
    expected = f"one argument, s, one of: {', '.join(choices)}"
    if len(args) != 1:
        raise ControlError(f"{address}: expected {expected}, got {len(args)} arguments")
    if args[0] not in choices or not isinstance(args[0], str):
        raise ControlError(f"{address}: expected {expected}, got {_typed(args[0])}")
    return Control(CALIBRATE, args[0])


def _typed(value: object) -> str:
    """A value and its type as a sender would recognise them, e.g. "'loud' (a string)"."""
    kinds = {str: "a string", float: "a float", int: "an int", bool: "a boolean", bytes: "a blob"}
    return f"{value!r} ({kinds.get(type(value), type(value).__name__)})"
