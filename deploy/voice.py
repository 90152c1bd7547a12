"""Export a trained envelope model as a voice bundle, float or int8 by measured quality.

The step model (training.voice.model.step_model) is converted twice, to float TFLite and to full
int8 (int8 inputs, state and outputs, calibrated on (input, state) pairs met on real
sequences). Each conversion is written as a bundle, loaded by the board's own class
(firmware.voice.EnvelopeModel) and evaluated on held-out phrases (training.voice.evaluate:
L1 and SNR of the render). int8 ships only if its middle-of-note SNR reaches the goal and is
within INT8_MAX_LOSS_DB of float's; otherwise float ships (a recurrent model feeds its own
quantisation error back every hop). The manifest records both evaluations and the reason.

Both kinds load in ai-edge-litert and in tflite-runtime 2.14 (which cannot load the dynamic
range quantised models of TF 2.21; those are never made here).
"""

import dataclasses
import datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import keras
import numpy as np

from deploy.export import quantization_summary, to_tflite
from firmware import __version__
from firmware.bundle import Bundle, sha256_file, write_bundle
from firmware.dx7 import Patch
from firmware.note_tracker import INPUT_NAMES, N_INPUTS, NoteConfig
from firmware.pitch import PitchConfig
from firmware.voice import (
    BUNDLE_KIND,
    INPUT_NAME,
    LEVELS_NAME,
    STATE_NAME,
    STATE_OUT_NAME,
    EnvelopeModel,
    patch_digest,
)
from training.voice.dataset import VoiceInputs
from training.voice.evaluate import evaluate
from training.voice.model import GRU_NAME, step_model
from training.voice.phrases import PhraseConfig

GOAL_MIDDLE_SNR_DB = 30.0
"""Middle-of-note SNR a shipped voice must reach on held-out phrases."""
INT8_MAX_LOSS_DB = 1.0
CALIBRATION_HOPS = 1000
CALIBRATION_SEQUENCES = 40
INPUT_MEANINGS = (
    "firmware.pitch.normalised_pitch(f0_hz): MIDI note / 127, 0 when unvoiced",
    "firmware.pitch.PitchTracker loudness: RMS dBFS, -70..0 dB -> 0..1",
    "firmware.note_tracker: the note's key (nearest semitone) / 127, 0 until voiced",
    "firmware.note_tracker: the note's mean loudness over its ages velocity_hops",
    "firmware.note_tracker: seconds since the note's onset, up to max_age_s",
    "firmware.note_tracker: exp(-age / onset_ms)",
)
"""What each of the model's inputs is, for the manifest (firmware.note_tracker.INPUT_NAMES)."""


def calibration_pairs(
    sequence_model: keras.Model, data: VoiceInputs, count: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """(input, state) pairs the step model meets on data's first sequences: the GRU's output
    sequence is its state, so the state before hop t is the output at t - 1 (zero at t = 0).

    Returns:
        {INPUT_NAME: float32 [count, 1, 2], STATE_NAME: float32 [count, H]}.
    """
    hidden = sequence_model.get_layer(GRU_NAME).output[0]
    states_model = keras.Model(sequence_model.inputs, hidden)
    state_size = int(hidden.shape[-1])
    inputs, states = [], []
    for index in range(min(data.n_sequences, CALIBRATION_SEQUENCES)):
        x = data.inputs[data.rows(index)]
        after = np.asarray(states_model([x[None], np.zeros((1, state_size), np.float32)]))[0]
        inputs.append(x)
        states.append(np.concatenate([np.zeros_like(after[:1]), after[:-1]]))
    all_inputs, all_states = np.concatenate(inputs), np.concatenate(states)
    chosen = np.random.default_rng(seed).permutation(len(all_inputs))[:count]
    return {INPUT_NAME: all_inputs[chosen, None, :], STATE_NAME: all_states[chosen]}


def voice_manifest(
    patch: Patch,
    slot: int,
    bank_path: Path,
    pitch: PitchConfig,
    notes: NoteConfig,
    phrases: PhraseConfig,
    state_size: int,
    sample_rate_hz: int,
) -> dict[str, Any]:
    """The manifest fields that describe what the model expects (metrics are added later)."""
    return {
        "kind": BUNDLE_KIND,
        "sample_rate_hz": sample_rate_hz,
        "patch": {
            "name": patch.display_name,
            "slot": slot,
            "sha256": patch_digest(patch),
            "bank": bank_path.name,
            "bank_sha256": sha256_file(bank_path),
        },
        "pitch": dataclasses.asdict(pitch),
        "notes": dataclasses.asdict(notes),
        "inputs": dict(zip(INPUT_NAMES, INPUT_MEANINGS, strict=True)),
        "velocity_map": {
            "top_db": phrases.top_db,
            "range_db": phrases.range_db,
            "rule": "velocity v sustains at top_db - range_db * (1 - v / 127) dBFS RMS",
        },
        "tensors": {
            INPUT_NAME: [1, 1, N_INPUTS],
            STATE_NAME: [1, state_size],
            LEVELS_NAME: [1, 6],
            STATE_OUT_NAME: [1, state_size],
        },
        "state_size": state_size,
        "reset_rule": (
            "state = 0, note tracker reset and no step when pitch and loudness are both 0"
        ),
    }


def export_voice_bundle(
    sequence_model: keras.Model,
    manifest: dict[str, Any],
    patch: Patch,
    test: VoiceInputs,
    test_targets: np.ndarray,
    calibration: VoiceInputs,
    out: Path,
    training_summary: dict[str, Any],
    quantization: str = "auto",
) -> tuple[Bundle, dict[str, Any]]:
    """Convert, evaluate float and int8 through the board's path, write the chosen bundle.

    Args:
        manifest: from voice_manifest.
        test, test_targets: held-out phrases and the patch's levels on them.
        calibration: phrases (training ones) whose (input, state) pairs calibrate int8.
        quantization: "auto" (int8 if it keeps the quality, see the module doc), "float" or
            "int8" (forced; metrics still record both).

    Returns:
        The bundle and its metrics: {"float": evaluation, "int8": evaluation, "shipped",
        "reason"}.
    """
    if quantization not in ("auto", "float", "int8"):
        raise ValueError(f"quantization {quantization!r}: expected auto, float or int8")
    step = step_model(sequence_model)
    candidates = {
        "float": to_tflite(step),
        "int8": to_tflite(step, calibration_pairs(sequence_model, calibration, CALIBRATION_HOPS)),
    }
    sample_rate_hz = int(manifest["sample_rate_hz"])
    hop_samples = int(manifest["pitch"]["hop_samples"])
    evaluations = {}
    with TemporaryDirectory() as folder:
        for name, model_bytes in candidates.items():
            bundle = write_bundle(Path(folder) / name, model_bytes, manifest)
            model = EnvelopeModel(bundle.path, sample_rate_hz, patch)
            evaluations[name] = evaluate(
                model, patch, test, test_targets, sample_rate_hz, hop_samples
            )
            evaluations[name]["model_bytes"] = len(model_bytes)
            evaluations[name]["tensors"] = quantization_summary(model.model)
    shipped, reason = _choose(evaluations, quantization)
    metrics = {**evaluations, "shipped": shipped, "reason": reason}
    full_manifest = {
        **manifest,
        "quantization": shipped,
        "training": training_summary,
        "metrics": metrics,
        "version": __version__,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    return write_bundle(out, candidates[shipped], full_manifest), metrics


def _choose(evaluations: dict[str, dict[str, Any]], quantization: str) -> tuple[str, str]:
    float_mid = evaluations["float"]["segments"]["middle"]["snr_db"]
    int8_mid = evaluations["int8"]["segments"]["middle"]["snr_db"]
    measured = f"middle SNR float {float_mid:.1f} dB, int8 {int8_mid:.1f} dB"
    if quantization != "auto":
        return quantization, f"forced; {measured}"
    if int8_mid >= GOAL_MIDDLE_SNR_DB and int8_mid >= float_mid - INT8_MAX_LOSS_DB:
        return "int8", f"int8 keeps the quality ({measured})"
    return "float", f"int8 loses quality ({measured})"
