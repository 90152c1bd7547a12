"""The hit path on the board's terms: emission latency, CPU per period and per hit, accuracy.

A held-out simulated session (players and seed never used in training, strings ringing in
half of it) is replayed through the real engine at 48 kHz, 6 channels, 64-frame periods, as
fast as possible; every period's processing time is recorded by the engine itself. Per-hit
costs (features, inference) are timed separately on the same windows. The session is then
replayed once more with the FM voice on (the default patch, its synth output discarded): the
hit and voice paths together, against the issue's 20 % of real time. Accuracy is the
end-to-end one (detected gestures matched to ground truth within 2 ms), next to the held-out
figures the export wrote into the bundle's manifest.

Run: `.venv/bin/python -m bench hit_path`.
"""

import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from bench.common import describe_machine, machine, timing_stats
from firmware.cli import DEFAULT_MODEL
from firmware.engine import Engine
from firmware.features import FeatureConfig, cut_window, hit_features
from firmware.hit_model import HitModel
from firmware.hit_path import HitPath
from firmware.onset import DetectorConfig, HitDetector
from firmware.replay import WavReplay
from firmware.voice import VoiceConfig, VoicePath
from training.data.onsets import match_onsets
from training.simulator import SessionConfig, simulate_session

PERIOD_FRAMES = 64
SECONDS = 60.0
PLAYERS = (200, 201)
SEED = 777
MATCH_MS = 2.0


class _Events:
    def __init__(self) -> None:
        self.hits: list[dict] = []

    def log(self, event: dict) -> None:
        if event["type"] == "hit":
            self.hits.append(event)


def measure() -> dict:
    features = FeatureConfig()
    audio, truth, fs = simulate_session(
        SessionConfig(seconds=SECONDS, players=PLAYERS, instrument=1, string_span=(0.0, 0.5)),
        SEED,
    )
    model = HitModel(DEFAULT_MODEL, features)
    engine, events = _replay(audio, fs, model, features, voice=None)
    with_voice, _ = _replay(audio, fs, model, features, voice=VoiceConfig(enabled=True))
    period_us = 1e6 * PERIOD_FRAMES / fs
    times_us = engine.times.ns[: engine.stats.periods] / 1e3
    voice_us = with_voice.times.ns[: with_voice.stats.periods] / 1e3
    latency_ms = [1e3 * (h["emit_sample"] - h["onset_sample"]) / fs for h in events.hits]
    return {
        "machine": machine(),
        "bundle": str(DEFAULT_MODEL.name),
        "runtime": model.model.runtime,
        "seconds": SECONDS,
        "period_frames": PERIOD_FRAMES,
        "sample_rate_hz": fs,
        "period_us": period_us,
        "period_cost_us": timing_stats(times_us),
        "real_time_fraction": float(times_us.sum() / (1e6 * SECONDS)),
        "with_voice": {
            "patch": VoiceConfig().patch,
            "period_cost_us": timing_stats(voice_us),
            "real_time_fraction": float(voice_us.sum() / (1e6 * SECONDS)),
        },
        "per_hit_us": _per_hit_costs(audio, events.hits, model, features),
        "latency_ms": timing_stats(np.array(latency_ms)),
        "latency_bound_ms": 1e3 * (features.window_samples + PERIOD_FRAMES) / fs,
        "accuracy": _end_to_end_accuracy(truth, events.hits, fs),
        "manifest_metrics": _manifest_metrics(model),
    }


def _replay(
    audio: np.ndarray,
    fs: int,
    model: HitModel,
    features: FeatureConfig,
    voice: VoiceConfig | None,
) -> tuple[Engine, "_Events"]:
    """The session through the real engine as fast as possible (and the voice path, if
    given); the engine keeps each period's processing time."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "held-out.wav"
        soundfile.write(path, audio, fs, subtype="FLOAT")
        source = WavReplay(path, PERIOD_FRAMES, fs, realtime=False)
        hit_path = HitPath(HitDetector(DetectorConfig(), fs), model, features, fs, PERIOD_FRAMES)
        voice_path = None if voice is None else VoicePath(voice, fs, PERIOD_FRAMES)
        events = _Events()
        engine = Engine(source, fs, PERIOD_FRAMES, hit_path, events=events, voice=voice_path)
        engine.run()
        source.close()
        if voice_path is not None:
            voice_path.close()
    return engine, events


def _per_hit_costs(
    audio: np.ndarray, hits: list[dict], model: HitModel, features: FeatureConfig
) -> dict:
    """Features and inference per hit, timed apart on the windows the engine classified."""
    feature_ns, inference_ns = [], []
    for hit in hits:
        try:
            window = np.ascontiguousarray(cut_window(audio, hit["onset_sample"], features))
        except ValueError:
            continue
        started = time.perf_counter_ns()
        values = hit_features(window, features)
        middle = time.perf_counter_ns()
        model.predict(values)
        feature_ns.append(middle - started)
        inference_ns.append(time.perf_counter_ns() - middle)
    return {
        "features": timing_stats(np.array(feature_ns) / 1e3),
        "inference": timing_stats(np.array(inference_ns) / 1e3),
    }


def _end_to_end_accuracy(truth: list, hits: list[dict], fs: int) -> dict:
    truth_onsets = np.array([hit.onset_sample for hit in truth])
    detected = np.array([h["onset_sample"] for h in hits])
    matched = match_onsets(truth_onsets, detected, round(MATCH_MS * 1e-3 * fs))
    by_onset = {h["onset_sample"]: h for h in hits}
    pairs = [(t, by_onset[int(m)]) for t, m in zip(truth, matched, strict=True) if m >= 0]
    return {
        "truth_hits": len(truth),
        "matched": len(pairs),
        "hand": float(np.mean([t.hand == g["hand"] for t, g in pairs])),
        "location": float(np.mean([t.location == g["location"] for t, g in pairs])),
    }


def _manifest_metrics(model: HitModel) -> dict:
    metrics = model.bundle.manifest.get("metrics", {})
    return {
        variant: {task: report["accuracy"] for task, report in metrics.get(variant, {}).items()}
        for variant in ("float", "int8")
    } | {"held_out_hits": metrics.get("held_out_hits")}


def report(results: dict) -> str:
    period_us = results["period_us"]
    cost = results["period_cost_us"]
    per_hit = results["per_hit_us"]
    latency = results["latency_ms"]
    accuracy = results["accuracy"]
    manifest = results["manifest_metrics"]
    return "\n".join(
        [
            "## Hit path: latency, CPU, accuracy",
            "",
            f"Command: `.venv/bin/python -m bench hit_path` (bench/hit_path.py). Machine: "
            f"{describe_machine(results['machine'])}. {results['seconds']:.0f} s held-out "
            f"simulated session (players {PLAYERS}, seed {SEED}, strings in the first half), "
            f"{results['sample_rate_hz']} Hz, 6 channels, {results['period_frames']}-frame "
            f"periods ({period_us:.0f} µs), bundle `{results['bundle']}` on "
            f"{results['runtime']}.",
            "",
            "| figure | median | p99 | max | goal |",
            "| --- | --- | --- | --- | --- |",
            f"| engine time per period, µs | {cost['median']:.1f} | {cost['p99']:.1f} | "
            f"{cost['max']:.1f} | |",
            f"| same, share of the period | {cost['median'] / period_us:.1%} | "
            f"{cost['p99'] / period_us:.1%} | {cost['max'] / period_us:.1%} | |",
            f"| features per hit, µs | {per_hit['features']['median']:.1f} | "
            f"{per_hit['features']['p99']:.1f} | {per_hit['features']['max']:.1f} | |",
            f"| inference per hit (int8), µs | {per_hit['inference']['median']:.1f} | "
            f"{per_hit['inference']['p99']:.1f} | {per_hit['inference']['max']:.1f} | |",
            f"| emission latency (emit - onset), ms | {latency['median']:.2f} | "
            f"{latency['p99']:.2f} | {latency['max']:.2f} | <= "
            f"{results['latency_bound_ms']:.2f} (10 ms window + 1 period) |",
            "",
            f"- Whole hit path: **{results['real_time_fraction']:.1%} of real time** "
            "(sum of engine time over the audio's duration; goal <= 10 %).",
            f"- Hit and voice paths together (FM voice on, patch "
            f"{results['with_voice']['patch']}): **"
            f"{results['with_voice']['real_time_fraction']:.1%} of real time**, "
            f"{results['with_voice']['period_cost_us']['median']:.1f} µs median and "
            f"{results['with_voice']['period_cost_us']['p99']:.1f} µs p99 per period "
            "(goal <= 20 %).",
            f"- End to end, int8, on this held-out session: {accuracy['matched']} of "
            f"{accuracy['truth_hits']} hits detected within {MATCH_MS:.0f} ms; hand part "
            f"{accuracy['hand']:.1%}, location {accuracy['location']:.1%} correct.",
            f"- The bundle's own held-out test ({manifest['held_out_hits']} hits of held-out "
            "players, written by the export): "
            + ", ".join(
                f"{variant} hand {manifest[variant].get('hand', float('nan')):.1%} / location "
                f"{manifest[variant].get('location', float('nan')):.1%}"
                for variant in ("float", "int8")
            )
            + ".",
        ]
    )
