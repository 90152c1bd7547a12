"""Envelope-model training and export (training/voice/, deploy/voice.py): phrases, inputs from
the firmware's tracker, targets from the patch's EGs, and the exported step model threading its
state exactly as the trained sequence model does, through the real TFLite interpreter."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from firmware.dx7 import operator_levels, read_syx
from firmware.layout import SAMPLE_RATE_HZ
from firmware.note_tracker import N_INPUTS, NoteConfig, note_inputs
from firmware.pitch import PitchConfig, track
from firmware.voice import REPO_ROOT, EnvelopeModel, VoiceConfig, bundle_folder
from training.voice.dataset import build_inputs, voiced_runs
from training.voice.evaluate import ONSET_MS, segment_masks, snr_db
from training.voice.phrases import PhraseConfig, make_phrase, peak_db, pickup_signal

BANK = REPO_ROOT / "firmware" / "patches" / "hitar.syx"
PATCHES = read_syx(BANK)
HOP = PitchConfig().hop_samples
FRAME_RATE_HZ = SAMPLE_RATE_HZ / HOP
TFLITE_RUNTIME_PYTHON = REPO_ROOT / "build" / "tflite-runtime" / "bin" / "python"


@pytest.fixture(scope="module")
def small_set():
    return build_inputs(
        6, 11, PhraseConfig(), PitchConfig(), NoteConfig(), SAMPLE_RATE_HZ, progress=False
    )


def test_phrases_are_a_function_of_their_seed_and_stay_in_range() -> None:
    config = PhraseConfig()
    for index in range(20):
        a = make_phrase(np.random.default_rng([3, index]), config, HOP, SAMPLE_RATE_HZ)
        b = make_phrase(np.random.default_rng([3, index]), config, HOP, SAMPLE_RATE_HZ)
        assert a.notes == b.notes
        np.testing.assert_array_equal(a.rms, b.rms)
        assert a.notes[0].start_frame == 0
        assert a.f0_hz.shape == a.rms.shape == (a.n_frames * HOP,)
        for note in a.notes:
            assert config.keys[0] <= note.key <= config.keys[1]
            assert config.velocities[0] <= note.velocity <= config.velocities[1]
        loudest_db = 20 * np.log10(a.rms.max())
        top = max(peak_db(n.velocity, config) for n in a.notes)
        assert loudest_db <= top + max(config.swell_db) + 1e-9
        assert a.rms[-round(config.tail_ms * 1e-3 * SAMPLE_RATE_HZ) :].max() == 0.0


def test_pickup_tone_has_the_phrase_pitch_and_level() -> None:
    config = PhraseConfig(
        notes_per_phrase=(1, 1),
        hold_s=(1.0, 1.0),
        decay_share=0.0,
        swell_share=0.0,
        vibrato_share=0.0,
    )
    rng = np.random.default_rng(5)
    phrase = make_phrase(rng, config, HOP, SAMPLE_RATE_HZ)
    signal = pickup_signal(phrase, rng, config, SAMPLE_RATE_HZ)
    middle = slice(SAMPLE_RATE_HZ // 4, SAMPLE_RATE_HZ // 2)
    rms_db = 10 * np.log10(np.mean(signal[middle].astype(np.float64) ** 2))
    assert rms_db == pytest.approx(peak_db(phrase.notes[0].velocity, config), abs=0.2)
    f0_hz, _ = track(signal, PitchConfig(), SAMPLE_RATE_HZ)
    key_hz = 440 * 2 ** ((phrase.notes[0].key - 69) / 12)
    cents = 1200 * np.log2(np.median(f0_hz[100:300]) / key_hz)
    assert abs(cents) <= config.detune_cents + 1


def test_inputs_are_exactly_what_the_firmware_trackers_report(small_set) -> None:
    config = PhraseConfig()
    for phrase_index in range(3):
        rng = np.random.default_rng([11, phrase_index])
        phrase = make_phrase(rng, config, HOP, SAMPLE_RATE_HZ)
        f0_hz, loudness = track(
            pickup_signal(phrase, rng, config, SAMPLE_RATE_HZ), PitchConfig(), SAMPLE_RATE_HZ
        )
        for index in np.flatnonzero(small_set.phrase_of == phrase_index):
            rows = small_set.rows(int(index))
            first = int(small_set.first_frame[index])
            frames = slice(first, first + rows.stop - rows.start)
            np.testing.assert_array_equal(small_set.f0_hz[rows], f0_hz[frames])
            np.testing.assert_array_equal(small_set.loudness[rows], loudness[frames])
            board = note_inputs(f0_hz[frames], loudness[frames], NoteConfig(), FRAME_RATE_HZ)
            np.testing.assert_array_equal(small_set.inputs[rows], board)


def test_sequences_are_the_runs_between_silences(small_set) -> None:
    for index in range(small_set.n_sequences):
        inputs = small_set.inputs[small_set.rows(index)]
        assert np.all(np.any(inputs != 0.0, axis=1)), "no silent hop inside a sequence"
    f0 = np.array([0, 0, 100, 0, 100, 0, 0, 0, 100], np.float32)
    loudness = np.array([0, 0.1, 0.2, 0.2, 0.2, 0, 0, 0.1, 0.1], np.float32)
    assert voiced_runs(f0, loudness) == [(1, 5), (7, 9)]


def test_targets_are_the_patch_envelopes_of_the_phrase(small_set) -> None:
    patch = PATCHES[0]
    targets = small_set.targets(patch, FRAME_RATE_HZ)
    for index in range(small_set.n_sequences):
        phrase = int(small_set.phrase_of[index])
        levels = operator_levels(
            patch,
            small_set.phrase_notes(phrase),
            int(small_set.phrase_frames[phrase]),
            FRAME_RATE_HZ,
        )
        rows = small_set.rows(index)
        first = int(small_set.first_frame[index])
        np.testing.assert_array_equal(targets[rows], levels[first : first + rows.stop - rows.start])


def test_segments_split_each_note_into_onset_middle_and_end(small_set) -> None:
    masks = segment_masks(small_set, FRAME_RATE_HZ)
    assert not (masks["onset"] & masks["middle"]).any()
    assert not (masks["middle"] & masks["end"]).any()
    onset_frames = round(ONSET_MS * 1e-3 * FRAME_RATE_HZ)
    notes = small_set.notes
    longest_first = notes[(notes[:, 0] == 0)][0]
    if longest_first[4] - longest_first[3] > onset_frames:
        index = int(np.flatnonzero(small_set.phrase_of == 0)[0])
        rows = small_set.rows(index)
        start = rows.start + int(longest_first[3]) - int(small_set.first_frame[index])
        first_onset = np.flatnonzero(masks["onset"][rows])[0]
        assert first_onset == max(0, start - rows.start)
    assert snr_db(1.0, 0.01) == pytest.approx(20.0)


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory, small_set):
    """A tiny untrained model (H = 8) exported as a float bundle for the EP patch."""
    import keras

    from deploy.export import to_tflite
    from deploy.voice import voice_manifest
    from firmware.bundle import write_bundle
    from training.voice.model import build_sequence_model, step_model

    keras.utils.set_random_seed(1)
    active = small_set.inputs[np.any(small_set.inputs != 0, axis=1)]
    model = build_sequence_model(8, active.mean(axis=0), active.std(axis=0))
    manifest = voice_manifest(
        PATCHES[0], 1, BANK, PitchConfig(), NoteConfig(), PhraseConfig(), 8, SAMPLE_RATE_HZ
    )
    folder = tmp_path_factory.mktemp("voice") / "bundle"
    write_bundle(folder, to_tflite(step_model(model)), {**manifest, "quantization": "float"})
    return model, folder


def test_step_model_threads_its_state_like_the_sequence_model(tiny_export, small_set) -> None:
    model, folder = tiny_export
    envelope = EnvelopeModel(folder, SAMPLE_RATE_HZ, PATCHES[0])
    for index in range(min(3, small_set.n_sequences)):
        rows = small_set.rows(index)
        inputs = small_set.inputs[rows][:300]
        stepped = envelope.run(small_set.f0_hz[rows][:300], small_set.loudness[rows][:300])
        whole = model([inputs[None], np.zeros((1, 8), np.float32)])["levels"]
        np.testing.assert_allclose(stepped, np.asarray(whole)[0], rtol=1e-4, atol=1e-6)


def test_chunked_state_threading_equals_the_whole_sequence(tiny_export, small_set) -> None:
    model, _ = tiny_export
    inputs = small_set.inputs[small_set.rows(0)][None, :300]
    whole = np.asarray(model([inputs, np.zeros((1, 8), np.float32)])["levels"])
    state = np.zeros((1, 8), np.float32)
    parts = []
    for first in range(0, inputs.shape[1], 100):
        outputs = model([inputs[:, first : first + 100], state])
        parts.append(np.asarray(outputs["levels"]))
        state = np.asarray(outputs["state_out"])
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("loss", ["l1", "render"])
def test_a_short_training_lowers_its_loss_and_plots_it(small_set, loss, tmp_path) -> None:
    from training.voice.loss import render_weights
    from training.voice.plots import plot_history
    from training.voice.train import TrainConfig, train_envelope_model

    targets = small_set.targets(PATCHES[0], SAMPLE_RATE_HZ / PitchConfig().hop_samples)
    weights = render_weights(PATCHES[0], targets)
    config = TrainConfig(state_size=8, epochs=3, batch_size=4, loss=loss, patience=3)
    result = train_envelope_model(
        small_set, targets, small_set, targets, config, progress=False,
        train_weights=weights, validation_weights=weights,
    )  # fmt: skip
    history = result.history
    assert len(history["train_loss"]) == 3 and history["train_loss"][-1] < history["train_loss"][0]
    assert (history["val_l1"] == history["val_loss"]) == (loss == "l1")
    plot_history(history, tmp_path / "history.png")
    assert (tmp_path / "history.png").stat().st_size > 1000


def test_shipped_bundles_load_in_tflite_runtime_2_14() -> None:
    if not TFLITE_RUNTIME_PYTHON.is_file():
        pytest.skip(
            f"no {TFLITE_RUNTIME_PYTHON}: make it with `python3 -m venv build/tflite-runtime && "
            "build/tflite-runtime/bin/pip install 'tflite-runtime==2.14.*' 'numpy<2'`"
        )
    rule = VoiceConfig().bundles
    folders = [
        str(bundle_folder(rule, slot, patch))
        for slot, patch in enumerate(PATCHES, start=1)
        if (bundle_folder(rule, slot, patch) / "manifest.json").is_file()
    ]
    if not folders:
        pytest.skip("no voice bundle in deploy/bundles/")
    script = (
        "import json, sys, numpy as np\n"
        "from firmware.inference import TfliteModel\n"
        "for folder in sys.argv[1:]:\n"
        "    m = TfliteModel(folder + '/model.tflite')\n"
        "    size = m.inputs['state'].shape[1]\n"
        f"    out = m.run(inputs=np.full((1, 1, {N_INPUTS}), 0.5, np.float32),\n"
        "                state=np.zeros((1, size), np.float32))\n"
        "    print(json.dumps([m.runtime, out['levels'][0].tolist()]))\n"
    )
    result = subprocess.run(
        [str(TFLITE_RUNTIME_PYTHON), "-c", script, *folders],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    from firmware.inference import TfliteModel

    for folder, line in zip(folders, result.stdout.strip().splitlines(), strict=True):
        runtime, levels = json.loads(line)
        assert runtime == "tflite-runtime"
        model = TfliteModel(Path(folder) / "model.tflite")
        size = model.inputs["state"].shape[1]
        expected = model.run(
            inputs=np.full((1, 1, N_INPUTS), 0.5, np.float32), state=np.zeros((1, size), np.float32)
        )["levels"][0]
        np.testing.assert_allclose(levels, expected, rtol=1e-5, atol=1e-6)
