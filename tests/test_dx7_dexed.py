"""Independent check against Dexed (dexed-py): envelopes and rendered audio of real patches.

The measurement code is bench/dx7_agreement.py, so the thresholds here and the figures in the
benchmark report come from the same computation.
"""

import numpy as np
import pytest

from bench.dx7_agreement import (
    FACTORY_ROMS,
    envelope_errors_db,
    log_spectral_distance_db,
    renders,
    snr_db,
)
from firmware.dx7.make_bank import VOICES
from firmware.dx7.sysex import bank_message, parse_syx

PROJECT_VOICES = {patch.display_name: patch for patch, _ in VOICES}


def factory_voice(slot: int):
    if not FACTORY_ROMS.exists():
        pytest.skip("apt-get install hexter (DX7 ROM banks)")
    return parse_syx(bank_message(FACTORY_ROMS.read_bytes()[:4096]))[slot]


@pytest.mark.parametrize(
    ("name", "key", "velocity", "rate"),
    [
        ("HITAR EP", 60, 100, 48_000),
        ("HITAR BASS", 40, 127, 48_000),
        ("HITAR PAD", 64, 64, 44_100),
        ("HITAR BELL", 76, 90, 48_000),
    ],
)
def test_envelopes_follow_dexed_within_a_tenth_of_a_db(
    name: str, key: int, velocity: int, rate: int
) -> None:
    errors = envelope_errors_db(PROJECT_VOICES[name], key, velocity, rate)
    assert errors.size > 500
    assert np.median(errors) < 0.1 and np.percentile(errors, 90) < 0.5


@pytest.mark.parametrize("slot", [0, 10, 14, 25])  # BRASS 1, E.PIANO 1, BASS 1, TUB BELLS
def test_factory_voice_envelopes_follow_dexed(slot: int) -> None:
    errors = envelope_errors_db(factory_voice(slot), 60, 100, 48_000)
    assert np.median(errors) < 0.1 and np.percentile(errors, 90) < 0.5


@pytest.mark.parametrize(
    ("name", "key", "velocity"),
    [("HITAR EP", 52, 100), ("HITAR BRAS", 60, 80), ("HITAR PLUK", 64, 127), ("HITAR ORGN", 45, 1)],
)
def test_rendered_notes_match_dexed(name: str, key: int, velocity: int) -> None:
    ours, theirs = renders(PROJECT_VOICES[name], key, velocity, 48_000)
    assert snr_db(theirs, ours) > 20.0
    assert log_spectral_distance_db(theirs, ours, 48_000) < 0.75


def test_rendered_factory_voices_match_dexed() -> None:
    for slot in (10, 25):
        ours, theirs = renders(factory_voice(slot), 60, 100, 48_000)
        assert snr_db(theirs, ours) > 20.0
        assert log_spectral_distance_db(theirs, ours, 48_000) < 0.75


def test_the_comparison_detects_a_six_db_level_error() -> None:
    """The measurement is not blind: 8 output level steps (6 dB) on one carrier show."""
    patch = PROJECT_VOICES["HITAR PAD"]
    quieter = patch.replace_operator(1, output_level=patch.operators[0].output_level - 8)
    ours, _ = renders(quieter, 60, 100, 48_000)
    _, theirs = renders(patch, 60, 100, 48_000)
    assert snr_db(theirs, ours) < 15.0
    assert log_spectral_distance_db(theirs, ours, 48_000) > 1.0
