"""The voice path: the string pickup drives a DX7 patch through its learned envelope model.

Per 64-sample hop (one synth block, one envelope frame):

1. the pickup hop, scaled by the input gain, goes through the PitchTracker: f0 in Hz and
   loudness in [0, 1];
2. when both are zero (silence) the model's recurrent state and its note tracker are reset;
   otherwise the NoteTracker (firmware/note_tracker.py) turns them into the model's inputs
   (pitch, loudness, and the note's key, velocity estimate and age since its onset) and the
   envelope model (TFLite GRU, `EnvelopeModel`) takes one step on them, giving the six
   operator output levels;
3. `FMSynth.set_controls(f0_hz, levels)` then `render(out)`, scaled by the output gain (ramped
   across the hop when it changes, so a gain move does not click).

A period that is a multiple of the hop is processed hop by hop in place, with no delay. Any
other period goes through a FIFO, which delays the output by hop - gcd(period, hop) samples
(the least that lets every period be filled).

Patches. `VoiceConfig.bank` is a DX7 bank, `patch` a slot in it (1..32, as on the DX7 panel),
and each slot needs its own voice bundle (a model trained for that patch), found by the rule
`VoiceConfig.bundles` ("deploy/bundles/voice-{slot}-{name}"). A bundle records the SHA-256 of
the patch it was trained on and the pitch and note tracker parameters it was trained with; both
trackers are built from the bundle's parameters, so training and board cannot drift apart.
`set_patch` hands the loading (bank, bundle, interpreter, synth) to a loader thread; the audio
thread swaps the new voice in between periods when it is ready. A bad bundle at start is a
one-line BundleError; at run time it is counted (`status()`) and the old patch keeps playing.

Real-time: everything the per-period path touches is allocated in the constructor or by the
loader thread; per hop the path makes no allocation beyond the interpreter's and numpy scalars,
opens no file, takes no lock it could wait for and logs nothing.
"""

import dataclasses
import hashlib
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from firmware.bundle import MANIFEST_NAME, Bundle, check_parameters, load_bundle
from firmware.config import from_table
from firmware.dx7 import FMSynth, Patch, read_syx
from firmware.dx7.patch import N_OPERATORS
from firmware.dx7.sysex import encode_voice
from firmware.errors import BundleError, ConfigError, HitarError
from firmware.inference import TfliteModel
from firmware.note_tracker import N_INPUTS, NoteConfig, NoteTracker
from firmware.pitch import PitchConfig, PitchTracker

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLE_KIND = "voice"
HOP_SAMPLES = 64
"""Samples per envelope frame and synth block: the models are trained at this hop."""
BANK_SLOTS = 32

INPUT_NAME = "inputs"
"""float32 [1, 1, N_INPUTS]: firmware.note_tracker's inputs (pitch, loudness, key, velocity,
age, onset)."""
STATE_NAME = "state"
"""float32 [1, H]: the GRU's state before the step (zeros after silence)."""
LEVELS_NAME = "levels"
"""float32 [1, 6]: operator output levels OL, OP1 first."""
STATE_OUT_NAME = "state_out"
"""float32 [1, H]: the GRU's state after the step."""


@dataclass(frozen=True)
class VoiceConfig:
    """The FM voice of a board profile ([voice] table). Relative paths are from the repository
    (or installation) root."""

    enabled: bool = False
    """Play the voice; off, the path writes silence and skips all work."""
    bank: str = "firmware/patches/hitar.syx"
    """DX7 SysEx bank (32 voices) or single-voice dump."""
    patch: int = 7
    """Slot in the bank, 1..32; the default, HITAR ORGN, is the best of the project bank's
    voices whose models reach the quality goal (docs/FM_VOICE.md lists which do)."""
    bundles: str = "deploy/bundles/voice-{slot}-{name}"
    """Voice bundle folder of a slot: {slot} is the slot number, {name} the patch name in lower
    case with dashes ("hitar-ep")."""
    input_gain_db: float = 0.0
    """Gain on the pickup before the tracker: set it so the hardest notes reach the level the
    models were trained to read as velocity 127 (see training/voice/phrases.py)."""
    output_gain_db: float = 0.0
    """Gain on the synth's output."""
    gate_db: float | None = None
    """Tracker gate in dBFS (silence below it), if the pickup hums; None keeps the bundle's."""

    def __post_init__(self) -> None:
        if not 1 <= self.patch <= BANK_SLOTS:
            raise ValueError(f"patch {self.patch}, expected a slot 1..{BANK_SLOTS}")
        _check_gain("input_gain_db", self.input_gain_db)
        _check_gain("output_gain_db", self.output_gain_db)
        try:
            self.bundles.format(slot=1, name="x")
        except (KeyError, IndexError, ValueError):
            raise ValueError(
                f"bundles {self.bundles!r}: only {{slot}} and {{name}} may be filled in"
            ) from None


def _check_gain(name: str, db: float) -> None:
    if not -60.0 <= db <= 40.0:
        raise ValueError(f"{name} {db}, expected -60..40 dB")


def resolve(path: str) -> Path:
    """A configured path: absolute as given, relative from the repository root."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else REPO_ROOT / candidate


def patch_slug(patch: Patch) -> str:
    """The patch's name for file names: lower case, runs of other characters as one dash."""
    words = "".join(c if c.isalnum() else " " for c in patch.display_name.lower()).split()
    return "-".join(words) or "unnamed"


def patch_digest(patch: Patch) -> str:
    """SHA-256 of the patch's 155 SysEx voice bytes: what a voice bundle was trained on."""
    return hashlib.sha256(encode_voice(patch)).hexdigest()


def bundle_folder(rule: str, slot: int, patch: Patch) -> Path:
    """The voice bundle folder of a bank slot under a naming rule (VoiceConfig.bundles)."""
    return resolve(rule.format(slot=slot, name=patch_slug(patch)))


class EnvelopeModel:
    """A voice bundle's step model, with its note tracker and the recurrent state owned here.

    step() runs one hop; on silence (pitch and loudness both 0) it resets the state and the
    note tracker instead of running the model and gives zero levels (the synth is silent then:
    f0 is 0). Training starts every sequence from a zero state and a fresh note tracker at its
    first non-silent hop, which is what this rule reproduces.
    """

    def __init__(self, bundle_path: Path, sample_rate_hz: int, patch: Patch) -> None:
        self.bundle: Bundle = load_bundle(bundle_path, BUNDLE_KIND)
        manifest = self.bundle.manifest
        where = self.bundle.path / MANIFEST_NAME
        if self.bundle.sample_rate_hz != sample_rate_hz:
            raise BundleError(
                f"{where}: sample_rate_hz is {self.bundle.sample_rate_hz}, the voice runs at "
                f"{sample_rate_hz}"
            )
        recorded = manifest.get("patch")
        if not isinstance(recorded, dict) or "sha256" not in recorded:
            raise BundleError(f"{where}: missing 'patch' with the sha256 of its DX7 voice")
        if recorded["sha256"] != patch_digest(patch):
            raise BundleError(
                f"{where}: trained for patch '{recorded.get('name', '?')}', not for "
                f"'{patch.display_name}' (the voice's bytes differ); train a model for it"
            )
        check_parameters(self.bundle, "pitch", {"hop_samples": HOP_SAMPLES})
        self.pitch_config: PitchConfig = from_table(
            PitchConfig, manifest["pitch"], f"{where} pitch"
        )
        if not isinstance(manifest.get("notes"), dict):
            raise BundleError(
                f"{where}: missing 'notes' (the note tracker's parameters); the bundle predates "
                "the note inputs: train it again"
            )
        self.note_config: NoteConfig = from_table(NoteConfig, manifest["notes"], f"{where} notes")
        self.notes = NoteTracker(self.note_config, sample_rate_hz / HOP_SAMPLES)
        self.model = TfliteModel(self.bundle.model_path)
        state_spec = self.model.inputs.get(STATE_NAME)
        if state_spec is None or len(state_spec.shape) != 2:
            raise BundleError(f"{where}: the model has no input '{STATE_NAME}' of shape [1, H]")
        self.state_size = state_spec.shape[1]
        expected = {
            (True, INPUT_NAME): (1, 1, N_INPUTS),
            (True, STATE_NAME): (1, self.state_size),
            (False, LEVELS_NAME): (1, N_OPERATORS),
            (False, STATE_OUT_NAME): (1, self.state_size),
        }
        for (is_input, name), shape in expected.items():
            specs = self.model.inputs if is_input else self.model.outputs
            if name not in specs or specs[name].shape != shape:
                found = specs[name].shape if name in specs else "nothing"
                raise BundleError(
                    f"{where}: tensor '{name}' should have shape {list(shape)}, found {found}"
                )
        self._inputs = np.zeros((1, 1, N_INPUTS), np.float32)
        self._state = np.zeros((1, self.state_size), np.float32)
        self._silent = np.zeros(N_OPERATORS, np.float32)

    def reset(self) -> None:
        """Zero the recurrent state and forget the note, as after silence."""
        self._state.fill(0.0)
        self.notes.reset()

    def step(self, f0_hz: float, loudness: float) -> np.ndarray:
        """One hop.

        Args:
            f0_hz: the pitch tracker's pitch in Hz (0: unvoiced).
            loudness: the pitch tracker's loudness, in [0, 1].

        Returns:
            Operator output levels OL, float32 [6], OP1 first: a buffer overwritten by the next
            call.
        """
        if f0_hz == 0.0 and loudness == 0.0:
            self.reset()
            return self._silent
        self._inputs[0, 0] = self.notes.process(f0_hz, loudness)
        model = self.model
        model.set_input(INPUT_NAME, self._inputs)
        model.set_input(STATE_NAME, self._state)
        model.invoke()
        self._state[...] = model.output(STATE_OUT_NAME)
        return model.output(LEVELS_NAME)[0]

    def run(self, f0_hz: np.ndarray, loudness: np.ndarray) -> np.ndarray:
        """Step through a whole sequence from a zero state (for evaluation: the board's path).

        Args:
            f0_hz, loudness: float32 [frames] each, the pitch tracker's output per hop.

        Returns:
            float32 [frames, 6] operator levels.
        """
        self.reset()
        levels = np.zeros((f0_hz.shape[0], N_OPERATORS), np.float32)
        for frame, (f0, level) in enumerate(zip(f0_hz.tolist(), loudness.tolist(), strict=True)):
            levels[frame] = self.step(f0, level)
        return levels


@dataclass
class LoadedVoice:
    """Everything one patch needs on the audio path, built off it."""

    slot: int
    patch: Patch
    model: EnvelopeModel
    synth: FMSynth
    tracker: PitchTracker


def load_voice(config: VoiceConfig, slot: int, sample_rate_hz: int) -> LoadedVoice:
    """Read the bank, pick the slot, load and check its bundle, build its synth and tracker.

    Raises:
        HitarError: one line naming the bank or bundle file and what is wrong.
    """
    bank = resolve(config.bank)
    patches = read_syx(bank)
    if not 1 <= slot <= len(patches):
        raise ConfigError(f"{bank}: no slot {slot} (it holds {len(patches)} voice(s))")
    patch = patches[slot - 1]
    model = EnvelopeModel(bundle_folder(config.bundles, slot, patch), sample_rate_hz, patch)
    pitch_config = model.pitch_config
    if config.gate_db is not None:
        pitch_config = dataclasses.replace(pitch_config, gate_db=config.gate_db)
        model.pitch_config = pitch_config
    return LoadedVoice(
        slot=slot,
        patch=patch,
        model=model,
        synth=FMSynth(patch, sample_rate_hz, HOP_SAMPLES),
        tracker=PitchTracker(pitch_config, sample_rate_hz),
    )


class VoicePath:
    """The voice on the board: pickup periods in, synth periods out (see the module doc)."""

    def __init__(self, config: VoiceConfig, sample_rate_hz: int, period_frames: int) -> None:
        if period_frames < 1:
            raise ValueError(f"period_frames {period_frames}, expected >= 1")
        self.config = config
        self.sample_rate_hz = sample_rate_hz
        self.period_frames = period_frames
        self._voice = load_voice(config, config.patch, sample_rate_hz)
        self.delay_samples = HOP_SAMPLES - math.gcd(period_frames, HOP_SAMPLES)
        """Output delay of the FIFO for periods that are not a multiple of the hop."""
        self._enabled = config.enabled
        self._enable_requested = config.enabled
        self._input_gain = 10.0 ** (config.input_gain_db / 20.0)
        self._output_gain = 10.0 ** (config.output_gain_db / 20.0)
        self._output_gain_now = self._output_gain
        self._scaled = np.zeros(HOP_SAMPLES, np.float32)
        self._gain_ramp = np.zeros(HOP_SAMPLES, np.float32)
        self._ramp = np.arange(1, HOP_SAMPLES + 1, dtype=np.float32) / HOP_SAMPLES
        self._hop_in = np.zeros(HOP_SAMPLES, np.float32)
        self._hop_out = np.zeros(HOP_SAMPLES, np.float32)
        self._queue = np.zeros(HOP_SAMPLES + period_frames, np.float32)
        self._in_fill = 0
        self._queue_read = 0
        self._queued = self.delay_samples

        self.patch_loads = 0
        """Patches loaded by set_patch and swapped in."""
        self.patch_load_failures = 0
        """set_patch requests that failed (bad bundle, bank or slot); the old patch played on."""
        self.last_error = ""
        self._requested_slot = config.patch
        self._ready: LoadedVoice | None = None
        self._ready_lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._loader = threading.Thread(target=self._load_loop, name="voice-loader", daemon=True)
        self._loader.start()

    @property
    def patch(self) -> Patch:
        """The patch playing now."""
        return self._voice.patch

    @property
    def slot(self) -> int:
        """The bank slot playing now (1..32)."""
        return self._voice.slot

    @property
    def enabled(self) -> bool:
        return self._enable_requested

    def status(self) -> dict[str, Any]:
        """For the status message: what plays, and the loader's counters."""
        return {
            "enabled": self._enable_requested,
            "slot": self._voice.slot,
            "patch": self._voice.patch.display_name,
            "patch_loads": self.patch_loads,
            "patch_load_failures": self.patch_load_failures,
            "last_error": self.last_error,
        }

    def set_enabled(self, on: bool) -> None:
        """Switch the voice on or off; it starts from silence when switched on."""
        self._enable_requested = bool(on)

    def set_patch(self, slot: int) -> None:
        """Ask for another bank slot. Returns at once: the loader thread loads it, the audio
        path swaps it in; a failure is counted and the current patch keeps playing."""
        if not 1 <= slot <= BANK_SLOTS:
            raise ValueError(f"patch slot {slot}, expected 1..{BANK_SLOTS}")
        self._requested_slot = slot
        self._wake.set()

    def set_input_gain_db(self, db: float) -> None:
        _check_gain("input_gain_db", db)
        self._input_gain = 10.0 ** (db / 20.0)

    def set_output_gain_db(self, db: float) -> None:
        _check_gain("output_gain_db", db)
        self._output_gain = 10.0 ** (db / 20.0)

    def reset(self) -> None:
        """Silence: tracker, model state, synth and FIFO cleared; patch and gains kept."""
        voice = self._voice
        voice.tracker.reset()
        voice.model.reset()
        voice.synth.reset()
        self._queue.fill(0.0)
        self._in_fill = 0
        self._queue_read = 0
        self._queued = self.delay_samples

    def close(self) -> None:
        """Stop the loader thread (the path itself needs no closing)."""
        self._closing = True
        self._wake.set()
        self._loader.join(timeout=5.0)

    def process(self, pickup: np.ndarray, out: np.ndarray) -> None:
        """One period.

        Args:
            pickup: the pickup channel, float32 [period_frames] (a column view is fine).
            out: filled in place with the voice, float32 [period_frames]; zeros when disabled.

        Raises:
            ValueError: a block of another shape.
        """
        shape = (self.period_frames,)
        if pickup.shape != shape or out.shape != shape:
            raise ValueError(
                f"pickup {pickup.shape} and out {out.shape}, the voice expects {shape}"
            )
        if self._ready is not None:
            self._swap()
        if self._enable_requested != self._enabled:
            self._enabled = self._enable_requested
            self.reset()
        if not self._enabled:
            out.fill(0.0)
            return
        if self.delay_samples == 0:
            for start in range(0, self.period_frames, HOP_SAMPLES):
                stop = start + HOP_SAMPLES
                self._process_hop(pickup[start:stop], out[start:stop])
        else:
            self._process_through_fifo(pickup, out)

    def _process_through_fifo(self, pickup: np.ndarray, out: np.ndarray) -> None:
        """Periods that are not a multiple of the hop: gather hops, queue their output."""
        taken = 0
        size = self._queue.shape[0]
        while taken < self.period_frames:
            count = min(HOP_SAMPLES - self._in_fill, self.period_frames - taken)
            self._hop_in[self._in_fill : self._in_fill + count] = pickup[taken : taken + count]
            self._in_fill += count
            taken += count
            if self._in_fill == HOP_SAMPLES:
                self._in_fill = 0
                self._process_hop(self._hop_in, self._hop_out)
                write = (self._queue_read + self._queued) % size
                first = min(HOP_SAMPLES, size - write)
                self._queue[write : write + first] = self._hop_out[:first]
                self._queue[: HOP_SAMPLES - first] = self._hop_out[first:]
                self._queued += HOP_SAMPLES
        read = self._queue_read
        first = min(self.period_frames, size - read)
        out[:first] = self._queue[read : read + first]
        out[first:] = self._queue[: self.period_frames - first]
        self._queue_read = (read + self.period_frames) % size
        self._queued -= self.period_frames

    def _process_hop(self, hop: np.ndarray, out: np.ndarray) -> None:
        """Tracker, model and synth for one hop; out is float32 [HOP_SAMPLES], contiguous."""
        voice = self._voice
        np.multiply(hop, self._input_gain, out=self._scaled)
        f0_hz, loudness = voice.tracker.process(self._scaled)
        levels = voice.model.step(f0_hz, loudness)
        voice.synth.set_controls(f0_hz, levels)
        voice.synth.render(out)
        target = self._output_gain
        now = self._output_gain_now
        if target == now:
            out *= target
        else:
            np.multiply(self._ramp, target - now, out=self._gain_ramp)
            self._gain_ramp += now
            out *= self._gain_ramp
            self._output_gain_now = target

    def _swap(self) -> None:
        """Put a loaded voice in place, between periods; skipped (for the next period) if the
        loader holds the lock this instant."""
        if not self._ready_lock.acquire(blocking=False):
            return
        try:
            voice, self._ready = self._ready, None
        finally:
            self._ready_lock.release()
        if voice is None:
            return
        if voice.tracker.config == self._voice.tracker.config:
            voice.tracker = self._voice.tracker
        self._voice = voice
        self.patch_loads += 1

    def _load_loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            slot = self._requested_slot
            if slot == self._voice.slot and self._ready is None:
                continue
            try:
                voice = load_voice(self.config, slot, self.sample_rate_hz)
            except HitarError as error:
                self.patch_load_failures += 1
                self.last_error = str(error)
                log.warning("voice: patch %d not loaded, keeping %d: %s", slot, self.slot, error)
                continue
            with self._ready_lock:
                self._ready = voice
