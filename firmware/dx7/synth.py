"""The FM synth of the voice: six DX7 operators in one of the 32 algorithms, rendered block by
block from a pitch and six operator output levels.

Controls and rendering are apart, as in ddsp: ``set_controls(f0_hz, levels)`` takes the pitch
from the pickup and the levels from the envelope model (or from the patch's own envelope
generators), ``render(out)`` fills one block. The operator levels are ramped linearly across
each block from the previous values to the new ones, as MSFA/Dexed ramp their EG output; the
pitch is held for the block. A note starts when f0 goes from 0 to a pitch and stops when it
returns to 0: the output fades in and out over ``fade_ms`` so neither is a click, and the
oscillators restart at phase 0 at a note start when the patch has oscillator key sync.

Operator model (the DX7's, in floating point): operator i outputs ``OL_i * sin(phase_i + 2 pi *
sum of its modulators' outputs)``; carriers are summed and scaled by ``output_gain``. The
feedback operator adds ``2 pi * 2 ** (feedback - 8) * (y[n-1] + y[n-2]) / 2`` to its own phase,
where y is the output of the operator at the end of the feedback loop (itself, or OP4 / OP5 in
algorithms 4 and 6).

Real-time: every buffer is allocated in the constructor. A block costs a fixed number of numpy
calls on [6, block] arrays, one per layer of the algorithm, and a short per-sample Python loop
for the operators inside the feedback loop only (it is the one recursion that cannot be
vectorised); ``bench/fm_synth.py`` measures it.
"""

import math
from dataclasses import dataclass

import numpy as np

from firmware.dx7.algorithms import algorithm as algorithm_by_number
from firmware.dx7.patch import N_OPERATORS, Operator, Patch

TWO_PI = 2.0 * math.pi


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of the FM synth that are not part of a DX7 patch."""

    fade_ms: float = 2.0
    """Length of the fade in when a note starts and the fade out when it stops."""
    output_gain: float = 0.5
    """Gain from the sum of carrier outputs to the audio output: 0.5 maps a carrier at OL 2
    (output level 99) to a full-scale sine, as in Dexed's float output."""

    def __post_init__(self) -> None:
        if not 0.0 < self.fade_ms <= 1000.0:
            raise ValueError(f"fade_ms {self.fade_ms}, expected (0, 1000]")
        if not 0.0 < self.output_gain <= 10.0:
            raise ValueError(f"output_gain {self.output_gain}, expected (0, 10]")


def detune_octaves(f0_hz: float, detune: int) -> float:
    """Frequency offset of a ratio-mode operator for a DX7 detune -7..+7 at a key pitch, in
    octaves: about a cent per step at A 440, more cents but fewer Hz in the bass (MSFA's fit to
    measurements of a DX7)."""
    log2_f0 = math.log2(f0_hz)
    return 0.0209 / 7.0 * math.exp(-0.396 * log2_f0) * log2_f0 * detune


def fixed_frequency_hz(op: Operator) -> float:
    """The frequency of a fixed-mode operator: 10 ** (coarse mod 4 + fine / 100) Hz, raised by
    detune steps of about a cent (the DX7 detunes fixed operators upwards only)."""
    log2_hz = ((op.coarse & 3) * 100 + op.fine) * math.log2(10.0) / 100.0
    return 2.0 ** (log2_hz + 13457 * max(0, op.detune) / (1 << 24))


def frequency_ratio(op: Operator) -> float:
    """A ratio-mode operator's frequency over the key's: coarse (0 means 0.5) x (1 + fine / 100)."""
    return (op.coarse or 0.5) * (1.0 + op.fine / 100.0)


class FMSynth:
    """Six-operator DX7 voice rendering fixed-size mono blocks from pitch and operator levels."""

    def __init__(
        self,
        patch: Patch,
        sample_rate_hz: int,
        block_frames: int = 64,
        config: SynthConfig | None = None,
    ) -> None:
        if sample_rate_hz <= 0 or block_frames <= 0:
            raise ValueError(f"sample_rate_hz {sample_rate_hz} and block_frames {block_frames}")
        self.patch = patch
        self.sample_rate_hz = sample_rate_hz
        self.block_frames = block_frames
        self.config = config or SynthConfig()
        self._plan_algorithm(patch)
        ops = [patch.operators[i] for i in self._order]
        self._fixed = [op.fixed_frequency for op in ops]
        self._ratio = [frequency_ratio(op) for op in ops]
        self._detune = [op.detune for op in ops]
        self._fixed_hz = [fixed_frequency_hz(op) for op in ops]
        self._transpose = 2.0 ** (patch.transpose / 12.0)
        self._fade_step = 1000.0 / (self.config.fade_ms * sample_rate_hz)

        shape = (N_OPERATORS, block_frames)
        self._steps = np.arange(block_frames, dtype=np.float64)
        self._ramp = np.arange(1, block_frames + 1, dtype=np.float64) / block_frames
        self._phase_buf = np.zeros(shape)
        self._gain_buf = np.zeros(shape)
        self._out_buf = np.zeros(shape)
        self._mod_buf = np.zeros(shape)
        self._mix = np.zeros(block_frames)
        self._fade = np.zeros(block_frames)
        self._increment = np.zeros(N_OPERATORS)
        self._phase = np.zeros(N_OPERATORS)
        self._start = np.zeros(N_OPERATORS)
        self._target = np.zeros(N_OPERATORS)
        self._delta = np.zeros(N_OPERATORS)
        self.reset()

    def reset(self) -> None:
        """Silence: no note, phases and feedback memory cleared; the patch is kept."""
        self._f0_hz = 0.0
        self._sounding = False
        self._gate = 0.0
        self._gate_direction = 0.0
        self._feedback_memory = [0.0, 0.0]
        for array in (self._phase, self._start, self._target, self._delta, self._increment):
            array.fill(0.0)

    def set_controls(self, f0_hz: float, levels: np.ndarray) -> None:
        """Controls for the next block.

        Args:
            f0_hz: the played pitch in Hz (the patch's transpose is applied here); 0 means no
                note: the voice fades out at its last pitch.
            levels: operator output levels OL, shape [6], OP1 first, linear (0..2 on a DX7);
                negative values count as 0. The next block ramps to them.
        """
        if levels.shape != (N_OPERATORS,):
            raise ValueError(f"levels of shape {levels.shape}, expected ({N_OPERATORS},)")
        if not (math.isfinite(f0_hz) and f0_hz >= 0.0 and math.isfinite(float(levels.sum()))):
            raise ValueError(f"f0_hz {f0_hz} and levels must be finite, f0_hz >= 0")
        np.maximum(levels[self._order], 0.0, out=self._target)
        if f0_hz > 0.0:
            if not self._sounding:
                self._start_note()
            if f0_hz != self._f0_hz:
                self._set_pitch(f0_hz)
            self._gate_direction = 1.0
        elif self._sounding:
            self._gate_direction = -1.0
        np.subtract(self._target, self._start, out=self._delta)

    def render(self, out: np.ndarray) -> None:
        """Fill out (float32, shape [block_frames]) with the next block, in place."""
        if out.shape != (self.block_frames,) or out.dtype != np.float32:
            raise ValueError(
                f"out of shape {out.shape} and dtype {out.dtype}, expected "
                f"({self.block_frames},) float32"
            )
        if not self._sounding:
            out.fill(0.0)
            return
        phases, gains, outputs = self._phase_buf, self._gain_buf, self._out_buf
        np.multiply(self._increment[:, None], self._steps, out=phases)
        phases += self._phase[:, None]
        np.multiply(self._delta[:, None], self._ramp, out=gains)
        gains += self._start[:, None]
        if self._chain_len:
            self._render_feedback_chain(phases, gains, outputs)
        for first, stop, modulated in self._layers:
            if modulated:
                mod = self._mod_buf[first:stop]
                np.matmul(self._modulation[first:stop, :first], outputs[:first], out=mod)
                phases[first:stop] += mod
            np.sin(phases[first:stop], out=outputs[first:stop])
            outputs[first:stop] *= gains[first:stop]
        np.matmul(self._carrier_gain, outputs, out=self._mix)
        if self._gate_direction > 0.0 and self._gate >= 1.0:
            out[:] = self._mix
        else:
            self._apply_fade(out)
        self._phase += self._increment * self.block_frames
        np.remainder(self._phase, TWO_PI, out=self._phase)
        self._start[:] = self._target
        self._delta.fill(0.0)

    def _apply_fade(self, out: np.ndarray) -> None:
        """Multiply the mix by the fade ramp into out; a finished fade out ends the note."""
        fade = self._fade
        np.multiply(self._steps, self._gate_direction * self._fade_step, out=fade)
        fade += self._gate + self._gate_direction * self._fade_step
        np.clip(fade, 0.0, 1.0, out=fade)
        np.multiply(self._mix, fade, out=out)
        self._gate = float(fade[-1])
        if self._gate <= 0.0:
            self._sounding = False

    def _render_feedback_chain(
        self, phases: np.ndarray, gains: np.ndarray, outputs: np.ndarray
    ) -> None:
        """Rows 0.._chain_len-1 sample by sample: the feedback loop is a recursion."""
        sin = math.sin
        scale = self._feedback_scale
        y1, y2 = self._feedback_memory
        if self._chain_len == 1:
            result = []
            for phase, gain in zip(phases[0].tolist(), gains[0].tolist(), strict=True):
                y = gain * sin(phase + scale * (y1 + y2))
                y2, y1 = y1, y
                result.append(y)
            outputs[0] = result
        else:  # algorithms 4 and 6: the loop runs down a stack of two or three operators
            chain_phases = phases[: self._chain_len].tolist()
            chain_gains = gains[: self._chain_len].tolist()
            results = [[0.0] * self.block_frames for _ in range(self._chain_len)]
            top_phase, top_gain, top_result = chain_phases[0], chain_gains[0], results[0]
            below = list(zip(chain_phases[1:], chain_gains[1:], results[1:], strict=True))
            for i in range(self.block_frames):
                y = top_gain[i] * sin(top_phase[i] + scale * (y1 + y2))
                top_result[i] = y
                for phase, gain, result in below:
                    y = gain[i] * sin(phase[i] + TWO_PI * y)
                    result[i] = y
                y2, y1 = y1, y
            outputs[: self._chain_len] = results
        self._feedback_memory = [y1, y2]

    def _start_note(self) -> None:
        self._sounding = True
        self._start[:] = self._target
        self._feedback_memory = [0.0, 0.0]
        if self.patch.osc_key_sync:
            self._phase.fill(0.0)

    def _set_pitch(self, f0_hz: float) -> None:
        self._f0_hz = f0_hz
        key_hz = f0_hz * self._transpose
        to_increment = TWO_PI / self.sample_rate_hz
        for row in range(N_OPERATORS):
            if self._fixed[row]:
                hz = self._fixed_hz[row]
            else:
                hz = key_hz * self._ratio[row] * 2.0 ** detune_octaves(key_hz, self._detune[row])
            self._increment[row] = hz * to_increment

    def _plan_algorithm(self, patch: Patch) -> None:
        """Order the operators so that each layer of the algorithm is a contiguous row range.

        Rows 0.._chain_len-1 hold the feedback loop (when feedback is on), computed per sample;
        then come layers in which every operator's modulators sit in earlier rows, computed as
        one vectorised step each. Sets _order (operator index per row), _layers, _modulation
        (radians of phase per unit of modulator output), _carrier_gain and the feedback scale.
        """
        algo = algorithm_by_number(patch.algorithm)
        chain = algo.feedback_chain if patch.feedback else ()
        order = [op - 1 for op in chain]
        layers: list[tuple[int, int, bool]] = []
        while len(order) < N_OPERATORS:
            done = {index + 1 for index in order}
            layer = [
                op - 1
                for op in range(1, N_OPERATORS + 1)
                if op not in done and set(algo.modulators_of(op)) <= done
            ]
            modulated = any(algo.modulators_of(index + 1) for index in layer)
            layers.append((len(order), len(order) + len(layer), modulated))
            order += layer
        self._order = np.array(order)
        self._layers = tuple(layers)
        self._chain_len = len(chain)
        matrix = algo.modulation_matrix[np.ix_(self._order, self._order)]
        self._modulation = np.ascontiguousarray(TWO_PI * matrix)
        carriers = np.isin(self._order + 1, algo.carriers)
        self._carrier_gain = carriers * self.config.output_gain
        self._feedback_scale = TWO_PI * 2.0 ** (patch.feedback - 8) / 2.0


def render_offline(
    patch: Patch,
    levels: np.ndarray,
    f0_hz: np.ndarray,
    sample_rate_hz: int,
    hop_frames: int = 64,
    config: SynthConfig | None = None,
) -> np.ndarray:
    """Render a whole control sequence through FMSynth, exactly as the voice does block by block:
    the "true render" (levels from the patch's EGs) and the "voice render" (levels from a
    network) of a phrase go through the same code and can be compared sample by sample.

    Args:
        levels: operator output levels OL, shape [frames, 6], OP1 first.
        f0_hz: pitch per frame in Hz, shape [frames]; 0 where no note sounds.
        hop_frames: samples per control frame (the synth's block).

    Returns:
        float32 audio, shape [frames * hop_frames].
    """
    if levels.ndim != 2 or levels.shape[1] != N_OPERATORS or f0_hz.shape != levels.shape[:1]:
        raise ValueError(f"levels {levels.shape} and f0_hz {f0_hz.shape}: expected [n, 6], [n]")
    synth = FMSynth(patch, sample_rate_hz, hop_frames, config)
    audio = np.zeros(levels.shape[0] * hop_frames, dtype=np.float32)
    for frame, block in enumerate(audio.reshape(-1, hop_frames)):
        synth.set_controls(float(f0_hz[frame]), levels[frame])
        synth.render(block)
    return audio
