"""Benchmark of the FM voice (firmware/voice.py and the shipped voice bundles).

`python -m bench voice` (or `python -m bench.voice`) measures:

- CPU: VoicePath.process per 64-frame period at 48 kHz on a seeded pickup phrase set
  (training.voice.phrases), for every shipped patch: median and p99 of the wall time, against
  the 10 % share of real time (133 µs) allowed; and each stage alone (pitch tracker, model
  step with its note tracker, synth) on the same hops, and the note tracker alone.
- Delay, pickup to output, ALSA buffering excluded. The path adds no buffering for periods that
  are a multiple of the hop: a hop's controls drive the output block of the same period, ramped
  across it. The *pipeline delay* is what the path adds to the tracker: hops between the
  tracker's first report of a note and the output block where the synth first sounds (0 by
  design, measured), plus that block's ramp (one hop) and the median processing time of a
  period. The *note-onset delay* (silence to a note) adds the tracker's detection latency, at
  least one period of the note plus the YIN window (bench/pitch.py): measured from the note's
  first sample to the first output sample and to the output's RMS reaching half its steady
  value, on the organ patch (instant envelopes).
- Quality: each shipped bundle evaluated on the held-out phrases (training.voice.evaluate, the
  board's own EnvelopeModel and render_offline): L1, SNR of onset, middle and end, model size,
  float or int8.
"""

import json
import os
import time
from pathlib import Path

import numpy as np

from bench.common import describe_machine, machine, timing_stats
from firmware.dx7 import read_syx
from firmware.layout import SAMPLE_RATE_HZ
from firmware.note_tracker import NoteConfig, NoteTracker
from firmware.pitch import PitchConfig, track
from firmware.voice import HOP_SAMPLES, VoiceConfig, VoicePath, bundle_folder, load_voice
from training.voice.phrases import PhraseConfig, make_phrase, pickup_signal

REPO_ROOT = Path(__file__).resolve().parents[1]
BANK = "firmware/patches/hitar.syx"
CPU_SECONDS = 20.0
CPU_BUDGET_SHARE = 0.10
DELAY_BUDGET_MS = 3.0
PROBE_SLOT = 7
"""The organ: envelopes at rate 99, so its output follows its controls at once."""
SEED = 7


def shipped_slots() -> list[int]:
    """Bank slots whose bundle is in deploy/bundles/."""
    patches = read_syx(REPO_ROOT / BANK)
    rule = VoiceConfig().bundles
    return [
        slot
        for slot, patch in enumerate(patches, start=1)
        if (bundle_folder(rule, slot, patch) / "manifest.json").is_file()
    ]


def phrase_signal(seconds: float, seed: int) -> np.ndarray:
    """Seeded phrases with 0.2 s of silence between them, float32 [samples]."""
    config = PhraseConfig()
    parts, total = [], 0
    index = 0
    while total < seconds * SAMPLE_RATE_HZ:
        rng = np.random.default_rng([seed, index])
        phrase = make_phrase(rng, config, HOP_SAMPLES, SAMPLE_RATE_HZ)
        parts += [pickup_signal(phrase, rng, config, SAMPLE_RATE_HZ), np.zeros(9600, np.float32)]
        total += parts[-2].shape[0] + 9600
        index += 1
    return np.concatenate(parts)


def cpu(slot: int, signal: np.ndarray) -> dict:
    """Wall time per 64-frame period of VoicePath.process, and of each stage alone, in µs."""
    path = VoicePath(VoiceConfig(enabled=True, patch=slot), SAMPLE_RATE_HZ, HOP_SAMPLES)
    n_hops = signal.shape[0] // HOP_SAMPLES
    hops = signal[: n_hops * HOP_SAMPLES].reshape(n_hops, HOP_SAMPLES)
    out = np.zeros(HOP_SAMPLES, np.float32)
    total = np.zeros(n_hops)
    load = os.getloadavg()[0]
    for index, hop in enumerate(hops):
        start = time.perf_counter_ns()
        path.process(hop, out)
        total[index] = time.perf_counter_ns() - start
    path.close()
    voice = load_voice(path.config, slot, SAMPLE_RATE_HZ)
    notes = NoteTracker(voice.model.note_config, SAMPLE_RATE_HZ / HOP_SAMPLES)
    stages = {name: np.zeros(n_hops) for name in ("tracker", "notes", "model", "synth")}
    for index, hop in enumerate(hops):
        t0 = time.perf_counter_ns()
        f0_hz, loudness = voice.tracker.process(hop)
        t1 = time.perf_counter_ns()
        levels = voice.model.step(f0_hz, loudness)
        t2 = time.perf_counter_ns()
        voice.synth.set_controls(f0_hz, levels)
        voice.synth.render(out)
        t3 = time.perf_counter_ns()
        notes.process(f0_hz, loudness)
        t4 = time.perf_counter_ns()
        stages["tracker"][index], stages["model"][index], stages["synth"][index] = (
            t1 - t0, t2 - t1, t3 - t2,
        )  # fmt: skip
        stages["notes"][index] = t4 - t3
    return {
        "hops": n_hops,
        "period_us": {k: v / 1e3 for k, v in timing_stats(total).items() if k != "count"},
        "stages_median_us": {name: float(np.median(v)) / 1e3 for name, v in stages.items()},
        "load_average": max(load, os.getloadavg()[0]),
    }


def harmonic(f0_hz: float, n_samples: int, rms: float) -> np.ndarray:
    """A steady tone of 6 partials (amplitude 1/k), RMS rms, float64 [n_samples]."""
    t = np.arange(n_samples) / SAMPLE_RATE_HZ
    k = np.arange(1, 7)[:, None]
    tone = np.sum(np.sin(2 * np.pi * f0_hz * k * t) / k, axis=0)
    return tone * rms / np.sqrt(np.mean(tone**2))


def run_path(slot: int, signal: np.ndarray) -> np.ndarray:
    """The voice's output for a whole signal, period 64, float32 [samples]."""
    path = VoicePath(VoiceConfig(enabled=True, patch=slot), SAMPLE_RATE_HZ, HOP_SAMPLES)
    out = np.zeros_like(signal, dtype=np.float32)
    for start in range(0, signal.shape[0] - HOP_SAMPLES + 1, HOP_SAMPLES):
        path.process(signal[start : start + HOP_SAMPLES], out[start : start + HOP_SAMPLES])
    path.close()
    return out


def pipeline_delay_ms(slot: int, processing_us: float) -> dict:
    """What the path adds to the tracker: the hop at which the tracker first reports a new
    note (A4 from silence, by firmware.pitch.track on the same signal) against the output block
    in which the synth first sounds; plus that block's level ramp and the processing time."""
    lead = 20 * HOP_SAMPLES
    signal = np.zeros(lead + 100 * HOP_SAMPLES, np.float32)
    signal[lead:] = harmonic(440.0, signal.shape[0] - lead, 10 ** (-20 / 20))
    f0_hz, _ = track(signal, PitchConfig(), SAMPLE_RATE_HZ)
    reported_hop = int(np.argmax(f0_hz > 0))
    out = run_path(slot, signal)
    sounding_hop = int(np.flatnonzero(out)[0]) // HOP_SAMPLES
    hop_ms = 1e3 * HOP_SAMPLES / SAMPLE_RATE_HZ
    added_ms = (sounding_hop - reported_hop) * hop_ms
    return {
        "added_hops": sounding_hop - reported_hop,
        "ramp_ms": hop_ms,
        "processing_ms": processing_us / 1e3,
        "total_ms": added_ms + hop_ms + processing_us / 1e3,
    }


def onset_delays_ms(slot: int) -> list[dict]:
    """Silence to a note, and a legato step to another note: from the step to the output's RMS
    per hop reaching half its steady value (onset) or its pitch changing (step)."""
    results = []
    for f0_hz in (82.41, 110.0, 220.0, 440.0, 880.0):
        lead = 20 * HOP_SAMPLES
        n = lead + 300 * HOP_SAMPLES
        signal = np.zeros(n, np.float32)
        signal[lead:] = harmonic(f0_hz, n - lead, 10 ** (-20 / 20))
        out = run_path(slot, signal)
        rms = np.sqrt(np.mean(out.reshape(-1, HOP_SAMPLES) ** 2, axis=1))
        steady = float(np.median(rms[-100:]))
        hop = int(np.argmax(rms >= 0.5 * steady))
        samples = np.flatnonzero(np.abs(out[hop * HOP_SAMPLES : (hop + 1) * HOP_SAMPLES]) > 0)
        first_sound = hop * HOP_SAMPLES + (int(samples[0]) if samples.size else 0)
        results.append(
            {
                "f0_hz": f0_hz,
                "first_sound_ms": (first_sound - lead) * 1e3 / SAMPLE_RATE_HZ,
                "half_rms_ms": ((hop + 1) * HOP_SAMPLES - lead) * 1e3 / SAMPLE_RATE_HZ,
            }
        )
    return results


def quality(slots: list[int]) -> dict:
    """Each shipped bundle on the held-out phrases, through the board's EnvelopeModel."""
    from firmware.voice import EnvelopeModel
    from training.voice.cli import held_out, load_patch
    from training.voice.evaluate import evaluate

    table = {}
    for slot in slots:
        patch = load_patch(REPO_ROOT / BANK, slot)
        folder = bundle_folder(VoiceConfig().bundles, slot, patch)
        model = EnvelopeModel(folder, SAMPLE_RATE_HZ, patch)
        test = held_out(model.pitch_config, model.note_config, progress=False)
        hop = model.pitch_config.hop_samples
        targets = test.targets(patch, SAMPLE_RATE_HZ / hop)
        figures = evaluate(model, patch, test, targets, SAMPLE_RATE_HZ, hop)
        figures["quantization"] = model.bundle.manifest["quantization"]
        figures["model_bytes"] = model.bundle.model_path.stat().st_size
        figures["parameters"] = model.bundle.manifest["training"]["parameters"]
        table[patch.display_name] = figures
    return table


def level_error_sensitivity(sequences: int = 30, errors: tuple = (0.01, 0.03)) -> dict:
    """What the 30 dB goal asks of a model: middle SNR of each patch's true levels with a
    random relative error (normal, per operator, constant over each held-out sequence)."""
    import dataclasses

    from training.voice.cli import held_out
    from training.voice.evaluate import block_energies, segment_masks, snr_db

    test = held_out(PitchConfig(), NoteConfig(), progress=False)
    end = int(test.offsets[sequences])
    part = dataclasses.replace(
        test,
        inputs=test.inputs[:end],
        f0_hz=test.f0_hz[:end],
        offsets=test.offsets[: sequences + 1],
        phrase_of=test.phrase_of[:sequences],
        first_frame=test.first_frame[:sequences],
    )
    middle = segment_masks(part, SAMPLE_RATE_HZ / HOP_SAMPLES)["middle"]
    table = {}
    for patch in read_syx(REPO_ROOT / BANK)[:7]:
        targets = part.targets(patch, SAMPLE_RATE_HZ / HOP_SAMPLES)
        row = {}
        for error in errors:
            rng = np.random.default_rng(0)
            levels = targets.copy()
            for index in range(part.n_sequences):
                levels[part.rows(index)] *= (1 + error * rng.standard_normal(6)).astype(np.float32)
            true, difference = block_energies(
                patch, part, levels, targets, SAMPLE_RATE_HZ, HOP_SAMPLES
            )
            row[f"{error:.0%}"] = snr_db(float(true[middle].sum()), float(difference[middle].sum()))
        table[patch.display_name] = row
    return table


def measure() -> dict:
    slots = shipped_slots()
    results: dict = {"machine": machine(), "shipped_slots": slots}
    if not slots:
        results["error"] = "no voice bundle in deploy/bundles/"
        return results
    signal = phrase_signal(CPU_SECONDS, SEED)
    names = {slot: p.display_name for slot, p in enumerate(read_syx(REPO_ROOT / BANK), 1)}
    results["cpu"] = {names[slot]: cpu(slot, signal) for slot in slots}
    probe = PROBE_SLOT if PROBE_SLOT in slots else slots[0]
    processing_us = results["cpu"][names[probe]]["period_us"]["median"]
    results["delay_probe"] = names[probe]
    results["pipeline_delay"] = pipeline_delay_ms(probe, processing_us)
    results["onset_delays"] = onset_delays_ms(probe)
    results["quality"] = quality(slots)
    results["sensitivity"] = level_error_sensitivity()
    results["pitch_config"] = PitchConfig().__dict__
    return results


def report(results: dict) -> str:
    """A Markdown section with the command, the figures, the machine and the date."""
    lines = [
        "## FM voice path (`firmware/voice.py`) and envelope models",
        "",
        f"Command: `python -m bench voice`. Machine: {describe_machine(results['machine'])}.",
        "",
    ]
    if "error" in results:
        return "\n".join([*lines, results["error"], ""])
    budget_us = CPU_BUDGET_SHARE * 1e6 * HOP_SAMPLES / SAMPLE_RATE_HZ
    lines += [
        f"CPU per {HOP_SAMPLES}-frame period at {SAMPLE_RATE_HZ} Hz ({CPU_SECONDS:.0f} s of "
        f"seeded pickup phrases), budget {budget_us:.0f} µs (10 % of real time):",
        "",
        "| patch | median µs | p99 µs | pitch tracker µs | model step µs (note tracker µs) "
        "| synth µs | load |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, c in results["cpu"].items():
        s = c["stages_median_us"]
        lines.append(
            f"| {name} | {c['period_us']['median']:.0f} | {c['period_us']['p99']:.0f} "
            f"| {s['tracker']:.0f} | {s['model']:.0f} ({s['notes']:.0f}) | {s['synth']:.0f} "
            f"| {c['load_average']:.1f} |"
        )
    d = results["pipeline_delay"]
    lines += [
        "",
        f"Pipeline delay ({results['delay_probe']}; ALSA buffering and the tracker's "
        f"detection excluded; budget {DELAY_BUDGET_MS:.0f} ms): the synth sounds in the output "
        f"block of the very hop in which the tracker reports the note ({d['added_hops']} hops "
        f"added); the levels then ramp across that block ({d['ramp_ms']:.2f} ms) and the "
        f"period takes a median {d['processing_ms']:.2f} ms to compute: "
        f"{d['total_ms']:.2f} ms in all.",
        "",
        "Note-onset delay (silence to a -20 dBFS harmonic tone; includes the tracker's "
        "detection, about a period of the note plus the 7.5 ms window):",
        "",
        "| f0 | first sound | half steady RMS |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {o['f0_hz']:.0f} Hz | {o['first_sound_ms']:.1f} ms | {o['half_rms_ms']:.1f} ms |"
        for o in results["onset_delays"]
    ]
    lines += [
        "",
        "Envelope models on held-out phrases (training.voice: 100 phrases, seed 2), TFLite "
        "through firmware.voice.EnvelopeModel, renders by firmware.dx7.render_offline; onset = "
        "first 50 ms of a note, middle = to note-off, end = release (500 ms at most); goal: "
        "middle SNR >= 30 dB:",
        "",
        "| patch | L1 | SNR onset | SNR middle | SNR end | model | parameters |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, q in results["quality"].items():
        s = q["segments"]
        lines.append(
            f"| {name} | {q['l1']:.2e} | {s['onset']['snr_db']:.1f} dB "
            f"| {s['middle']['snr_db']:.1f} dB | {s['end']['snr_db']:.1f} dB "
            f"| {q['quantization']}, {q['model_bytes'] / 1024:.0f} KiB | {q['parameters']} |"
        )
    sensitivity = results["sensitivity"]
    errors = list(next(iter(sensitivity.values())))
    lines += [
        "",
        "What the goal asks: middle SNR of each patch's own levels with a random relative "
        "error per operator (constant over each of 30 held-out sequences):",
        "",
        "| patch | " + " | ".join(f"{e} level error" for e in errors) + " |",
        "| --- | " + " | ".join("---" for _ in errors) + " |",
    ]
    lines += [
        f"| {name} | " + " | ".join(f"{row[e]:.1f} dB" for e in errors) + " |"
        for name, row in sensitivity.items()
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    measured = measure()
    out = REPO_ROOT / "build" / "bench" / "voice.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(measured, indent=2))
    print(report(measured))
