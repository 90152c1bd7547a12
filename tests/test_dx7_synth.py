"""FMSynth: frequencies, FM sidebands, every algorithm's routing against a per-sample reference,
feedback, level ramps, block-size independence, fades, the offline renderer, bad input."""

import itertools
import math

import numpy as np
import pytest
import scipy.special

from firmware.config import from_table
from firmware.dx7.algorithms import algorithm
from firmware.dx7.patch import Operator, Patch
from firmware.dx7.synth import FMSynth, SynthConfig, render_offline
from firmware.errors import ConfigError

RATE = 48_000


def patch_with(algorithm_number: int = 32, feedback: int = 0, **ops: Operator) -> Patch:
    """A patch whose operators are silent INIT operators unless given as op1=..., op6=...."""
    operators = tuple(ops.get(f"op{n}", Operator()) for n in range(1, 7))
    return Patch(algorithm=algorithm_number, feedback=feedback, operators=operators)


def hold(
    patch: Patch,
    f0_hz: float,
    levels: list[float],
    n_samples: int,
    block: int = 64,
    config: SynthConfig | None = None,
) -> np.ndarray:
    """Render constant controls for n_samples (rounded up to whole blocks, then cut)."""
    synth = FMSynth(patch, RATE, block, config)
    out = np.zeros(-(-n_samples // block) * block, dtype=np.float32)
    synth.set_controls(f0_hz, np.array(levels))
    for start in range(0, len(out), block):
        synth.render(out[start : start + block])
    return out[:n_samples]


def amplitude_at(signal: np.ndarray, hz: float) -> float:
    """Amplitude of the sinusoid at hz (an exact bin of a whole-second window)."""
    assert len(signal) == RATE
    return float(2.0 * abs(np.fft.rfft(signal)[round(hz)]) / len(signal))


def peak_hz(signal: np.ndarray) -> float:
    """Frequency of the strongest component, parabolic interpolation on a Hann window."""
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    k = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[k - 1 : k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * RATE / len(signal)


@pytest.mark.parametrize(
    ("coarse", "fine", "ratio"), [(1, 0, 1.0), (0, 0, 0.5), (3, 25, 3.75), (14, 0, 14.0)]
)
@pytest.mark.parametrize("number", [1, 3, 5])
def test_a_lone_carrier_is_a_sine_at_its_ratio(
    number: int, coarse: int, fine: int, ratio: float
) -> None:
    patch = patch_with(32, op1=Operator(coarse=coarse, fine=fine), op3=Operator(coarse=coarse,
                       fine=fine), op5=Operator(coarse=coarse, fine=fine))  # fmt: skip
    levels = [0.0] * 6
    levels[number - 1] = 1.0
    out = hold(patch, 220.0, levels, RATE)[RATE // 2 :]
    assert peak_hz(out) == pytest.approx(220.0 * ratio, abs=0.05)
    assert np.abs(out).max() == pytest.approx(0.5, rel=1e-3)  # OL 1 x output gain 0.5


def test_fixed_frequency_ignores_the_pitch_and_detune_follows_the_dx7() -> None:
    fixed = patch_with(op1=Operator(fixed_frequency=True, coarse=2, fine=30))  # 10**2.3 Hz
    for f0 in (110.0, 440.0):
        out = hold(fixed, f0, [1, 0, 0, 0, 0, 0], RATE)[RATE // 2 :]
        assert peak_hz(out) == pytest.approx(10**2.3, abs=0.05)
    for f0, low_cents, high_cents in ((440.0, 5.0, 8.0), (110.0, 9.0, 14.0)):
        up = hold(patch_with(op1=Operator(detune=7)), f0, [1, 0, 0, 0, 0, 0], RATE)
        down = hold(patch_with(op1=Operator(detune=-7)), f0, [1, 0, 0, 0, 0, 0], RATE)
        for out, sign in ((up, 1), (down, -1)):
            cents = 1200 * math.log2(peak_hz(out[RATE // 2 :]) / f0)
            assert low_cents < sign * cents < high_cents


def test_transpose_shifts_the_played_pitch() -> None:
    patch = Patch(transpose=-12)
    out = hold(patch, 440.0, [1, 0, 0, 0, 0, 0], RATE)[RATE // 2 :]
    assert peak_hz(out) == pytest.approx(220.0, abs=0.05)


def test_a_modulator_raises_bessel_sidebands() -> None:
    """OP2 (ratio 3) on OP1 (ratio 1), algorithm 1: components at f0 |1 + 3n| with amplitudes
    |J_n(2 pi OL2)|; the lower sidebands fold onto 2 f0, 5 f0 ... without overlapping."""
    patch = patch_with(1, op1=Operator(), op2=Operator(coarse=3))
    ol2 = 0.2
    out = hold(patch, 100.0, [1.0, ol2, 0, 0, 0, 0], 2 * RATE)[RATE:]
    beta = 2 * math.pi * ol2
    for n in (-2, -1, 0, 1, 2):
        expected = 0.5 * abs(scipy.special.jv(n, beta))
        assert amplitude_at(out, 100.0 * abs(1 + 3 * n)) == pytest.approx(expected, abs=2e-4)
    assert amplitude_at(out, 300.0) < 1e-5  # nothing where no sideband belongs


def reference(
    patch: Patch, f0_hz: float, levels_per_block: np.ndarray, block: int, fade_ms: float = 2.0
) -> np.ndarray:
    """Per-sample FM written straight from the algorithm data: the synth's oracle."""
    algo = algorithm(patch.algorithm)
    key_hz = f0_hz * 2 ** (patch.transpose / 12)
    hz = []
    for op in patch.operators:
        ratio = (op.coarse or 0.5) * (1 + op.fine / 100)
        lg = math.log2(key_hz)
        hz.append(key_hz * ratio * 2 ** (0.0209 / 7 * math.exp(-0.396 * lg) * lg * op.detune))
    order: list[int] = []
    while len(order) < 6:
        order += [
            op
            for op in range(1, 7)
            if op not in order and all(m in order for m in algo.modulators_of(op))
        ]
    source, destination = algo.feedback
    memory = [0.0, 0.0]
    out = []
    previous = levels_per_block[0]
    for n in range(len(levels_per_block) * block):
        target = levels_per_block[n // block]
        if n % block == 0 and n:
            previous = levels_per_block[n // block - 1]
        gain = previous + (target - previous) * (n % block + 1) / block
        y = {}
        for op in order:
            phase = 2 * math.pi * hz[op - 1] * n / RATE
            phase += sum(2 * math.pi * y[m] for m in algo.modulators_of(op))
            if op == destination and patch.feedback:
                phase += 2 * math.pi * 2 ** (patch.feedback - 8) * (memory[0] + memory[1]) / 2
            y[op] = gain[op - 1] * math.sin(phase)
        memory = [y[source], memory[0]]
        fade = min(1.0, (n + 1) * 1000 / (fade_ms * RATE))
        out.append(0.5 * fade * sum(y[c] for c in algo.carriers))
    return np.array(out)


@pytest.mark.parametrize("number", range(1, 33))
def test_every_algorithm_routes_as_the_chart_says(number: int) -> None:
    rng = np.random.default_rng(number)
    ops = {
        f"op{n}": Operator(coarse=int(rng.integers(0, 5)), fine=int(rng.integers(0, 50)),
                           detune=int(rng.integers(-7, 8)))
        for n in range(1, 7)
    }  # fmt: skip
    patch = patch_with(number, feedback=6, **ops)
    block = 32
    levels = rng.uniform(0.0, 0.6, size=(24, 6))
    synth = FMSynth(patch, RATE, block)
    out = np.zeros(24 * block, dtype=np.float32)
    for frame in range(24):
        synth.set_controls(196.0, levels[frame])
        synth.render(out[frame * block : (frame + 1) * block])
    np.testing.assert_allclose(out, reference(patch, 196.0, levels, block), atol=2e-6)


def harmonic_ratio(out: np.ndarray) -> float:
    """Power of harmonics 2..10 over the fundamental's (f0 = 200 Hz, one-second window)."""
    return sum(amplitude_at(out, 200.0 * h) ** 2 for h in range(2, 11)) / (
        amplitude_at(out, 200.0) ** 2
    )


def test_feedback_turns_the_sine_brighter_step_by_step() -> None:
    ratios = []
    for feedback in range(7):
        out = hold(patch_with(32, feedback, op6=Operator()), 200.0, [0, 0, 0, 0, 0, 1.0], 2 * RATE)
        ratios.append(harmonic_ratio(out[RATE:]))
    assert ratios[0] < 1e-10  # no feedback: a pure sine
    assert all(a < b for a, b in itertools.pairwise(ratios))
    assert ratios[6] > 0.1


def test_three_operator_feedback_loop_of_algorithm_4_sounds_through_op4() -> None:
    ops = {f"op{n}": Operator() for n in (4, 5, 6)}
    dry = hold(patch_with(4, 0, **ops), 200.0, [0, 0, 0, 1.0, 0.1, 0.1], 2 * RATE)[RATE:]
    wet = hold(patch_with(4, 7, **ops), 200.0, [0, 0, 0, 1.0, 0.1, 0.1], 2 * RATE)[RATE:]
    assert harmonic_ratio(wet) > 2 * harmonic_ratio(dry)


def test_output_gain_maps_ol_2_to_full_scale_by_default() -> None:
    out = hold(Patch(), 440.0, [2.0, 0, 0, 0, 0, 0], RATE // 10)
    assert np.abs(out).max() == pytest.approx(1.0, rel=1e-3)
    quiet = hold(
        Patch(), 440.0, [2.0, 0, 0, 0, 0, 0], RATE // 10, config=SynthConfig(output_gain=0.25)
    )
    np.testing.assert_allclose(quiet, 0.5 * out, atol=1e-7)


@pytest.mark.parametrize("block", [1, 64, 65, 128, 8193])
def test_constant_controls_render_the_same_at_any_block_size(block: int) -> None:
    patch = patch_with(7, 5, op1=Operator(), op2=Operator(coarse=2), op3=Operator(),
                       op4=Operator(coarse=3), op5=Operator(fine=50), op6=Operator())  # fmt: skip
    levels = [1.0, 0.3, 0.8, 0.2, 0.25, 0.4]
    whole = hold(patch, 233.0, levels, 3 * 8193, block=3 * 8193)
    np.testing.assert_allclose(hold(patch, 233.0, levels, 3 * 8193, block=block), whole, atol=1e-5)


@pytest.mark.parametrize("block", [1, 64, 128])
def test_the_fade_out_is_the_same_at_any_block_size(block: int) -> None:
    def note(size: int) -> np.ndarray:
        synth = FMSynth(patch_with(1, 7, op1=Operator(), op2=Operator()), RATE, size)
        out = np.zeros(2 * 8192, dtype=np.float32)
        for start in range(0, len(out), size):
            f0 = 330.0 if start < 8192 else 0.0
            synth.set_controls(f0, np.array([1.0, 0.5, 0, 0, 0, 0]))
            synth.render(out[start : start + size])
        return out

    np.testing.assert_allclose(note(block), note(8192), atol=1e-5)


def test_offline_render_is_the_streaming_synth() -> None:
    rng = np.random.default_rng(3)
    patch = patch_with(16, 6, **{f"op{n}": Operator(coarse=n) for n in range(1, 7)})
    levels = rng.uniform(0, 1, size=(200, 6)).astype(np.float32)
    f0 = np.where(np.arange(200) % 80 < 60, 150.0 + np.arange(200), 0.0).astype(np.float32)
    offline = render_offline(patch, levels, f0, RATE, 64)
    synth = FMSynth(patch, RATE, 64)
    block = np.zeros(64, dtype=np.float32)
    for frame in range(200):
        synth.set_controls(float(f0[frame]), levels[frame])
        synth.render(block)
        np.testing.assert_array_equal(offline[frame * 64 : (frame + 1) * 64], block)


def steps(x: np.ndarray) -> np.ndarray:
    return np.abs(np.diff(x))


def test_notes_start_and_stop_without_clicks() -> None:
    """Sample-to-sample steps at note on and off stay within the note's own steps plus the
    fade's slope; with a one-sample fade the stop would jump."""
    patch = patch_with(5, 6, op1=Operator(), op2=Operator(coarse=2), op5=Operator(), op6=Operator())
    levels = np.tile([1.2, 0.3, 0, 0, 0.6, 0.2], (150, 1))
    f0 = np.where((np.arange(150) >= 10) & (np.arange(150) < 100), 523.0, 0.0)
    out = render_offline(patch, levels, f0, RATE, 64)
    on, off = 10 * 64, 100 * 64
    steady = steps(out[on + 200 : off - 200]).max()
    fade_slope = np.abs(out).max() * 1000 / (2.0 * RATE)
    assert steps(out[on - 64 : on + 200]).max() <= steady + fade_slope
    assert steps(out[off - 200 : off + 200]).max() <= steady + fade_slope
    assert np.all(out[:on] == 0) and np.all(out[off + 96 :] == 0)  # 2 ms = 96 samples
    abrupt = render_offline(patch, levels, f0, RATE, 64, SynthConfig(fade_ms=1000 / RATE))
    assert steps(abrupt[off - 200 : off + 200]).max() > 2 * (steady + fade_slope)


def test_reset_and_key_sync_restart_the_voice_identically() -> None:
    patch = patch_with(1, 7, op1=Operator(), op2=Operator(coarse=3))
    synth = FMSynth(patch, RATE, 64)
    first, second = np.zeros(640, dtype=np.float32), np.zeros(640, dtype=np.float32)
    for out in (first, second):
        for start in range(0, 640, 64):
            synth.set_controls(300.0, np.array([1.0, 0.4, 0, 0, 0, 0]))
            synth.render(out[start : start + 64])
        synth.reset()
    np.testing.assert_array_equal(first, second)
    silent = np.ones(64, dtype=np.float32)
    synth.render(silent)
    assert not silent.any()


def test_bad_shapes_and_values_are_value_errors() -> None:
    synth = FMSynth(Patch(), RATE, 64)
    with pytest.raises(ValueError, match=r"expected \(64,\) float32"):
        synth.render(np.zeros((64, 1), dtype=np.float32))
    with pytest.raises(ValueError, match=r"expected \(64,\) float32"):
        synth.render(np.zeros(64))
    with pytest.raises(ValueError, match=r"levels of shape \(5,\), expected \(6,\)"):
        synth.set_controls(440.0, np.zeros(5))
    with pytest.raises(ValueError, match="finite"):
        synth.set_controls(float("nan"), np.zeros(6))
    with pytest.raises(ValueError, match="finite"):
        synth.set_controls(440.0, np.array([0, 0, np.inf, 0, 0, 0]))
    with pytest.raises(ValueError, match="fade_ms"):
        SynthConfig(fade_ms=0.0)


def test_synth_config_comes_from_a_toml_table() -> None:
    config = from_table(SynthConfig, {"fade_ms": 5, "output_gain": 0.25}, "pi4.toml [voice]")
    assert config == SynthConfig(fade_ms=5.0, output_gain=0.25)
    with pytest.raises(ConfigError, match=r"pi4\.toml \[voice\]: fade_ms -1"):
        from_table(SynthConfig, {"fade_ms": -1}, "pi4.toml [voice]")
