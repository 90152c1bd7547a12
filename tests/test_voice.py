"""The voice path on the board (firmware/voice.py), with the real shipped voice bundles, the real
TFLite interpreter, the real tracker and synth."""

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from firmware.config import from_table
from firmware.dx7 import algorithm, format_bank, read_syx
from firmware.dx7.synth import frequency_ratio
from firmware.errors import BundleError, ConfigError
from firmware.layout import SAMPLE_RATE_HZ
from firmware.pitch import PitchConfig, track
from firmware.voice import (
    HOP_SAMPLES,
    REPO_ROOT,
    EnvelopeModel,
    VoiceConfig,
    VoicePath,
    bundle_folder,
)

BANK = REPO_ROOT / "firmware" / "patches" / "hitar.syx"
PATCHES = read_syx(BANK)
RULE = VoiceConfig().bundles
SHIPPED = [
    slot
    for slot, patch in enumerate(PATCHES, start=1)
    if (bundle_folder(RULE, slot, patch) / "manifest.json").is_file()
]
pytestmark = pytest.mark.skipif(not SHIPPED, reason="no voice bundle in deploy/bundles/")


def tone(f0_hz: float, seconds: float, rms_db: float = -20.0) -> np.ndarray:
    """A harmonic tone (6 partials, 1/k) at rms_db dBFS RMS, float32 [samples]."""
    t = np.arange(round(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    k = np.arange(1, 7)[:, None]
    signal = np.sum(np.sin(2 * np.pi * f0_hz * k * t) / k, axis=0)
    signal *= 10 ** (rms_db / 20) / np.sqrt(np.mean(signal**2))
    return signal.astype(np.float32)


def run(path: VoicePath, pickup: np.ndarray) -> np.ndarray:
    """The path's output for a whole signal, period by period (a last partial period dropped)."""
    period = path.period_frames
    n = pickup.shape[0] // period * period
    out = np.zeros(n, np.float32)
    for start in range(0, n, period):
        path.process(pickup[start : start + period], out[start : start + period])
    return out


def make_path(slot: int = 0, period: int = HOP_SAMPLES, **config: object) -> VoicePath:
    return VoicePath(
        VoiceConfig(enabled=True, patch=slot or SHIPPED[0], **config), SAMPLE_RATE_HZ, period
    )


def output_pitch_hz(audio: np.ndarray) -> float:
    """Median pitch of the voice's output over its second half, by the firmware's tracker."""
    f0_hz, _ = track(audio, PitchConfig(), SAMPLE_RATE_HZ)
    voiced = f0_hz[f0_hz.shape[0] // 2 :]
    return float(np.median(voiced[voiced > 0]))


def fundamental_ratio(slot: int) -> float | None:
    """The output's fundamental over the played pitch: the lowest carrier ratio, when every
    sounding operator runs at a whole multiple of it (None for inharmonic patches)."""
    patch = PATCHES[slot - 1]
    ratios = [frequency_ratio(op) for op in patch.operators if op.output_level]
    carriers = algorithm(patch.algorithm).carriers
    base = min(frequency_ratio(patch.operators[number - 1]) for number in carriers)
    multiples = np.array(ratios) / base
    return base if np.allclose(multiples, np.round(multiples)) else None


HARMONIC = [slot for slot in SHIPPED if fundamental_ratio(slot)]


def cents(a_hz: float, b_hz: float) -> float:
    return 1200.0 * abs(np.log2(a_hz / b_hz))


def test_every_shipped_bundle_loads_for_its_own_patch() -> None:
    for slot in SHIPPED:
        patch = PATCHES[slot - 1]
        model = EnvelopeModel(bundle_folder(RULE, slot, patch), SAMPLE_RATE_HZ, patch)
        manifest = model.bundle.manifest
        assert manifest["patch"]["name"] == patch.display_name
        assert manifest["patch"]["slot"] == slot
        assert manifest["pitch"]["hop_samples"] == HOP_SAMPLES
        assert model.pitch_config == PitchConfig(**manifest["pitch"])
        assert manifest["metrics"][manifest["quantization"]]["segments"]["middle"]["snr_db"] >= 30


def test_bundle_of_another_patch_is_refused() -> None:
    slot = SHIPPED[0]
    other = PATCHES[slot % len(PATCHES)]
    with pytest.raises(BundleError, match="trained for patch") as error:
        EnvelopeModel(bundle_folder(RULE, slot, PATCHES[slot - 1]), SAMPLE_RATE_HZ, other)
    assert "\n" not in str(error.value)


def test_bundle_for_another_sample_rate_is_refused() -> None:
    slot = SHIPPED[0]
    with pytest.raises(BundleError, match="sample_rate_hz"):
        EnvelopeModel(bundle_folder(RULE, slot, PATCHES[slot - 1]), 44_100, PATCHES[slot - 1])


def copy_bundles(tmp_path: Path, slots: list[int]) -> str:
    """Copy shipped bundles under tmp_path; returns the naming rule that finds them there."""
    rule = str(tmp_path / "voice-{slot}-{name}")
    for slot in slots:
        patch = PATCHES[slot - 1]
        shutil.copytree(bundle_folder(RULE, slot, patch), bundle_folder(rule, slot, patch))
    return rule


def test_corrupt_or_missing_bundle_is_a_one_line_error_at_start(tmp_path: Path) -> None:
    slot = SHIPPED[0]
    rule = copy_bundles(tmp_path, [slot])
    model_file = bundle_folder(rule, slot, PATCHES[slot - 1]) / "model.tflite"
    model_file.write_bytes(model_file.read_bytes()[:-10])
    with pytest.raises(BundleError, match="checksum") as error:
        make_path(slot, bundles=rule)
    assert "\n" not in str(error.value)
    with pytest.raises(BundleError, match="no such bundle folder"):
        make_path(slot, bundles=str(tmp_path / "nothing-{slot}"))


@pytest.mark.parametrize("slot", HARMONIC)
def test_voice_plays_at_the_carrier_ratio_times_the_pickup_pitch(slot: int) -> None:
    for f0_hz in (196.0, 330.0):  # the output fundamental stays inside the tracker range
        path = make_path(slot)
        out = run(path, tone(f0_hz, 0.6))
        path.close()
        assert np.sqrt(np.mean(out[-9600:] ** 2)) > 1e-3, "the voice should sound"
        assert cents(output_pitch_hz(out), fundamental_ratio(slot) * f0_hz) < 20.0


def test_silence_in_gives_exact_silence_out() -> None:
    path = make_path()
    out = run(path, np.zeros(SAMPLE_RATE_HZ // 4, np.float32))
    assert not out.any()
    sounding = run(path, tone(220.0, 0.3))
    after = run(path, np.zeros(SAMPLE_RATE_HZ // 2, np.float32))
    path.close()
    assert np.abs(sounding).max() > 1e-3
    assert not after[-SAMPLE_RATE_HZ // 4 :].any(), "the voice falls silent after the note"


def test_disabled_path_writes_zeros_and_restarts_clean_when_enabled() -> None:
    path = make_path()
    signal = tone(196.0, 0.4)
    first = run(path, signal)
    path.set_enabled(False)
    assert not run(path, signal).any()
    path.set_enabled(True)
    again = run(path, signal)
    path.close()
    np.testing.assert_array_equal(again, first)


def test_output_gain_scales_the_output() -> None:
    signal = tone(246.9, 0.3)
    plain, louder = make_path(), make_path(output_gain_db=6.0)
    reference, scaled = run(plain, signal), run(louder, signal)
    np.testing.assert_allclose(scaled, reference * 10 ** (6 / 20), rtol=1e-5, atol=1e-7)
    plain.set_output_gain_db(-6.0)
    ramped = run(plain, signal)
    plain.close()
    louder.close()
    assert np.abs(ramped[-HOP_SAMPLES:]).max() < np.abs(reference).max()


def test_input_gain_is_applied_before_the_tracker() -> None:
    signal = tone(164.8, 0.3, rms_db=-26.0)
    boosted = make_path(input_gain_db=6.0)
    plain = make_path()
    np.testing.assert_allclose(
        run(boosted, signal), run(plain, signal * np.float32(10 ** (6 / 20))), atol=1e-6
    )
    boosted.close()
    plain.close()


@pytest.mark.parametrize("period", [128, 256, 32, 48, 100, 1000])
def test_any_period_gives_the_hop_output_delayed_by_the_fifo(period: int) -> None:
    signal = tone(220.0, 0.25)
    reference_path = make_path()
    reference = run(reference_path, signal)
    path = make_path(period=period)
    out = run(path, signal)
    reference_path.close()
    path.close()
    delay = path.delay_samples
    assert delay == (0 if period % HOP_SAMPLES == 0 else HOP_SAMPLES - np.gcd(period, 64))
    n = min(out.shape[0] - delay, reference.shape[0])
    assert not out[:delay].any()
    np.testing.assert_array_equal(out[delay : delay + n], reference[:n])


def test_wrong_block_shape_raises_value_error() -> None:
    path = make_path()
    with pytest.raises(ValueError, match="expects"):
        path.process(np.zeros(63, np.float32), np.zeros(63, np.float32))
    path.close()


def test_reset_gives_the_output_of_a_fresh_path() -> None:
    signal = tone(130.8, 0.3)
    path = make_path()
    first = run(path, signal)
    path.reset()
    np.testing.assert_array_equal(run(path, signal), first)
    path.close()


def wait_for(condition, path: VoicePath, seconds: float = 10.0) -> None:
    """Process silent periods until condition() holds (the swap happens in process)."""
    deadline = time.monotonic() + seconds
    silence = np.zeros(path.period_frames, np.float32)
    out = np.zeros_like(silence)
    while not condition():
        assert time.monotonic() < deadline, "the loader did not finish in time"
        path.process(silence, out)
        time.sleep(0.005)


@pytest.mark.skipif(not HARMONIC, reason="needs a shipped harmonic patch")
def test_patch_switch_is_loaded_off_the_audio_path_and_swapped_between_periods(
    tmp_path: Path,
) -> None:
    first, second = HARMONIC[0], HARMONIC[-1]
    # a bank of its own: the two patches in slots 1 and 2 (the same one twice if only one
    # ships), each slot finding its bundle by the rule
    bank = tmp_path / "bank.syx"
    bank.write_bytes(format_bank([PATCHES[first - 1], PATCHES[second - 1]]))
    rule = str(tmp_path / "voice-{slot}")
    for slot, shipped in ((1, first), (2, second)):
        source = bundle_folder(RULE, shipped, PATCHES[shipped - 1])
        shutil.copytree(source, tmp_path / f"voice-{slot}")
    path = make_path(1, bank=str(bank), bundles=rule)
    before = run(path, tone(220.0, 0.5))
    started = time.perf_counter()
    path.set_patch(2)
    assert time.perf_counter() - started < 0.01, "set_patch must not load in the caller"
    wait_for(lambda: path.slot == 2, path)
    after = run(path, tone(220.0, 0.5))
    status = path.status()
    path.close()
    assert status["patch"] == PATCHES[second - 1].display_name and status["patch_loads"] == 1
    assert cents(output_pitch_hz(before), 220.0 * fundamental_ratio(first)) < 20.0
    assert cents(output_pitch_hz(after), 220.0 * fundamental_ratio(second)) < 20.0


def test_failed_patch_load_is_counted_and_the_old_patch_plays_on(tmp_path: Path) -> None:
    slot = SHIPPED[0]
    rule = copy_bundles(tmp_path, [slot])
    other = slot % len(PATCHES) + 1
    path = make_path(slot, bundles=rule)
    path.set_patch(other)
    wait_for(lambda: path.patch_load_failures == 1, path)
    out = run(path, tone(220.0, 0.3))
    path.close()
    assert path.slot == slot
    assert "no such bundle folder" in path.status()["last_error"]
    assert np.abs(out).max() > 1e-3


def test_state_and_note_tracker_are_reset_by_silence() -> None:
    slot = SHIPPED[0]
    patch = PATCHES[slot - 1]
    model = EnvelopeModel(bundle_folder(RULE, slot, patch), SAMPLE_RATE_HZ, patch)
    note = [(220.0, 0.6)] * 20
    first = [model.step(*hop).copy() for hop in note]
    assert not model.step(0.0, 0.0).any()
    again = [model.step(*hop).copy() for hop in note]
    np.testing.assert_array_equal(np.array(again), np.array(first))
    assert model.notes.onsets == 2


def test_bundle_without_note_tracker_parameters_is_refused(tmp_path: Path) -> None:
    import json

    from firmware.bundle import write_bundle

    slot = SHIPPED[0]
    patch = PATCHES[slot - 1]
    source = bundle_folder(RULE, slot, patch)
    manifest = json.loads((source / "manifest.json").read_text())
    del manifest["notes"]
    write_bundle(tmp_path / "old", (source / "model.tflite").read_bytes(), manifest)
    with pytest.raises(BundleError, match="'notes'") as error:
        EnvelopeModel(tmp_path / "old", SAMPLE_RATE_HZ, patch)
    assert "\n" not in str(error.value)


def test_config_from_a_toml_table() -> None:
    table = {"enabled": True, "patch": 3, "input_gain_db": 6, "gate_db": -60}
    config = from_table(VoiceConfig, table, "profile.toml [voice]")
    assert config.patch == 3 and config.input_gain_db == 6.0 and config.gate_db == -60.0
    with pytest.raises(ConfigError, match=r"\[voice\].*patch 33"):
        from_table(VoiceConfig, {"patch": 33}, "profile.toml [voice]")
    with pytest.raises(ConfigError, match="bundles"):
        from_table(VoiceConfig, {"bundles": "voice-{number}"}, "profile.toml [voice]")


def test_gate_override_reaches_the_tracker() -> None:
    path = make_path(gate_db=-40.0)
    out = run(path, tone(220.0, 0.3, rms_db=-50.0))
    path.close()
    assert path._voice.tracker.config.gate_db == -40.0
    assert np.abs(out).max() == 0.0, "below the gate the pickup counts as silent"
