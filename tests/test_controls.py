"""The control address space: valid messages become Control values, everything else is a
one-line ControlError naming the address and what is expected."""

from pathlib import Path

import pytest

from firmware.controls import (
    CALIBRATION_COMMANDS,
    CONTROL_SPECS,
    Control,
    ControlError,
    control_address,
    parse_control,
)
from firmware.errors import HitarError

PREFIX = "/hitar"
OSC_DOC = Path(__file__).resolve().parents[1] / "docs" / "OSC.md"


@pytest.mark.parametrize("spec", CONTROL_SPECS.values(), ids=lambda spec: spec.name)
def test_every_control_accepts_its_range_ends(spec):
    for value in (spec.minimum, spec.maximum):
        value = int(value) if spec.osc_type == "i" else float(value)
        control = parse_control(control_address(PREFIX, spec.name), [value], PREFIX)
        assert control == Control(spec.name, value)
        assert type(control.value) is type(value)


@pytest.mark.parametrize("spec", CONTROL_SPECS.values(), ids=lambda spec: spec.name)
def test_every_control_rejects_values_just_outside_its_range(spec):
    step = 1 if spec.osc_type == "i" else 1e-3
    address = control_address(PREFIX, spec.name)
    for value in (spec.minimum - step, spec.maximum + step):
        with pytest.raises(ControlError, match="out of range") as caught:
            parse_control(address, [value], PREFIX)
        assert address in str(caught.value)


def test_float_control_takes_an_int_argument_as_float():
    control = parse_control("/hitar/control/threshold", [2], PREFIX)
    assert control == Control("threshold", 2.0)
    assert isinstance(control.value, float)


@pytest.mark.parametrize(
    ("address", "args", "expected"),
    [
        (
            "/hitar/control/threshold",
            ["loud"],
            r"expected one argument, f in 0\.1\.\.10, got 'loud' \(a string\)",
        ),
        ("/hitar/control/patch", [1.5], r"got 1\.5 \(a float\)"),
        ("/hitar/control/voice", [True], r"got True \(a boolean\)"),
        ("/hitar/control/threshold", [], "got 0 arguments"),
        ("/hitar/control/threshold", [1.0, 2.0], "got 2 arguments"),
        ("/hitar/control/threshold", [float("nan")], "out of range"),
        ("/hitar/control/volume", [1.0], "unknown control address"),
        ("/other/control/threshold", [1.0], "unknown control address"),
        ("/hitar/hit", [1.0], "unknown control address"),
    ],
)
def test_malformed_control_is_a_one_line_error_naming_the_address(address, args, expected):
    with pytest.raises(ControlError, match=expected) as caught:
        parse_control(address, args, PREFIX)
    message = str(caught.value)
    assert message.startswith(f"{address}: ")
    assert "\n" not in message
    assert isinstance(caught.value, HitarError)


def test_unknown_address_error_lists_the_controls():
    with pytest.raises(ControlError) as caught:
        parse_control("/hitar/control/nope", [1], PREFIX)
    for name in CONTROL_SPECS:
        assert name in str(caught.value)


def test_prefix_is_configurable():
    assert parse_control("/gtr/control/voice", [1], "/gtr") == Control("voice", 1)
    with pytest.raises(ControlError):
        parse_control("/hitar/control/voice", [1], "/gtr")


def test_osc_doc_lists_every_control_with_its_type_and_range():
    text = OSC_DOC.read_text()
    for spec in CONTROL_SPECS.values():
        row = next(
            (line for line in text.splitlines() if f"`{{prefix}}/control/{spec.name}`" in line),
            None,
        )
        assert row is not None, f"docs/OSC.md lacks control {spec.name}"
        assert f"`{spec.osc_type}`" in row
        assert f"{spec.minimum:g}..{spec.maximum:g}" in row


def test_osc_doc_lists_the_calibrate_control_and_its_commands():
    row = next(
        line for line in OSC_DOC.read_text().splitlines() if "`{prefix}/control/calibrate`" in line
    )
    assert "`s`" in row
    assert all(f"`{command}`" in row for command in CALIBRATION_COMMANDS)
