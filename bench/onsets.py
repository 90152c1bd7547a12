"""Benchmark of the hit detector (firmware/onset.py) on held-out simulated sessions.

Rerun with `python -m bench onsets` (or `python -m bench.onsets`). Questions and definitions:

- Accuracy: F-measure of detected onsets against the simulator's ground truth (the first sample
  of contact force), 2 ms tolerance (mir_eval.onset.f_measure; counts summed over sessions),
  and the onset error of matched hits (detected minus true, in ms).
- The held-out set: sessions whose seeds, players and instruments were never used to tune the
  detector (tuning used seeds 100-107, players 0-9 and instruments 0-4): seeds 1000-1011, two
  players each from ids 20-39 taking turns, instruments 5-10, string playing throughout (single
  notes and strums, about 2.5 pluck events a second), 60 s each.
- False alarms on string playing alone: four more held-out minutes without hits.
- Recall by hand part and by dynamics, to show where the misses are.
- Report delay: how long after a hit's onset the detector reports it when fed 64-frame periods
  (the onset is refined back in time; the hit path waits for its 10 ms window anyway).
- CPU: wall time of HitDetector.process per 64-frame period over a held-out session, median and
  p99, against the 1.33 ms period; thread CPU time alongside (the machine is shared).
"""

import json
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import mir_eval
import numpy as np

from bench.common import describe_machine, machine, timing_stats
from firmware.layout import HAND_PARTS, SAMPLE_RATE_HZ
from firmware.onset import DetectorConfig, HitDetector
from training.simulator import Hit, SessionConfig, simulate_session

BUILD_DIR = Path(__file__).resolve().parents[1] / "build" / "bench" / "onsets"
SESSION_SECONDS = 60.0
HELD_OUT_SEEDS = tuple(range(1000, 1012))
STRINGS_ONLY_SEEDS = tuple(range(2000, 2004))
TOLERANCE_S = 0.002
PERIOD_FRAMES = 64
DYNAMICS_BINS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.7), (0.7, 1.01))


def held_out_config(seed: int, hits: bool = True) -> SessionConfig:
    """The held-out session of this seed: two players from 20-39, an instrument from 5-10."""
    k = seed % 100
    return SessionConfig(
        seconds=SESSION_SECONDS,
        players=(20 + (2 * k) % 20, 21 + (2 * k) % 20),
        instrument=5 + k % 6,
        hit_span=(0.0, 1.0) if hits else (0.0, 0.0),
    )


def score(truth: list[Hit], onsets: list[int], rate_hz: int) -> dict:
    """Matches, misses and false detections of one session, with the matched errors."""
    reference = np.array([hit.onset_sample for hit in truth]) / rate_hz
    estimated = np.array(onsets) / rate_hz
    matches = mir_eval.util.match_events(reference, estimated, TOLERANCE_S)
    matched = {i for i, _ in matches}
    return {
        "true_positives": len(matches),
        "false_positives": len(estimated) - len(matches),
        "false_negatives": len(reference) - len(matches),
        "errors_ms": [1e3 * (estimated[j] - reference[i]) for i, j in matches],
        "found": [i in matched for i in range(len(truth))],
    }


def report_delays_ms(detector: HitDetector, audio: np.ndarray, rate_hz: int) -> list[float]:
    """For each onset, the time from it to the end of the period that reported it."""
    detector.reset()
    delays = []
    for start in range(0, audio.shape[0], PERIOD_FRAMES):
        end = min(start + PERIOD_FRAMES, audio.shape[0])
        delays += [1e3 * (end - onset) / rate_hz for onset in detector.process(audio[start:end])]
    return delays


def period_timings_us(detector: HitDetector, audio: np.ndarray) -> dict:
    """Wall and thread CPU time of process() per period, in µs."""
    detector.reset()
    periods = [
        np.ascontiguousarray(audio[i : i + PERIOD_FRAMES])
        for i in range(0, audio.shape[0] - PERIOD_FRAMES + 1, PERIOD_FRAMES)
    ]
    wall = np.empty(len(periods))
    cpu = np.empty(len(periods))
    for k, period in enumerate(periods):
        cpu_start, wall_start = time.thread_time_ns(), time.perf_counter_ns()
        detector.process(period)
        wall[k] = (time.perf_counter_ns() - wall_start) / 1e3
        cpu[k] = (time.thread_time_ns() - cpu_start) / 1e3
    return {"wall": timing_stats(wall), "cpu": timing_stats(cpu)}


def measure() -> dict:
    """Simulate the held-out sessions, run the default detector, and score it."""
    config = DetectorConfig()
    rate_hz = SAMPLE_RATE_HZ
    detector = HitDetector(config, rate_hz)
    totals = {"true_positives": 0, "false_positives": 0, "false_negatives": 0}
    errors_ms: list[float] = []
    delays_ms: list[float] = []
    by_hand = {hand: [0, 0] for hand in HAND_PARTS}
    by_dynamics = {f"{low:.1f}-{min(high, 1.0):.1f}": [0, 0] for low, high in DYNAMICS_BINS}
    sessions = []
    timings = None
    for seed in HELD_OUT_SEEDS:
        session_config = held_out_config(seed)
        audio, truth, _ = simulate_session(session_config, seed)
        detector.reset()
        result = score(truth, detector.process(audio), rate_hz)
        for key in totals:
            totals[key] += result[key]
        errors_ms += result["errors_ms"]
        delays_ms += report_delays_ms(detector, audio, rate_hz)
        for hit, found in zip(truth, result["found"], strict=True):
            by_hand[hit.hand][0] += found
            by_hand[hit.hand][1] += 1
            for (low, high), key in zip(DYNAMICS_BINS, by_dynamics, strict=True):
                if low <= hit.dynamics < high:
                    by_dynamics[key][0] += found
                    by_dynamics[key][1] += 1
        sessions.append(
            {
                "seed": seed,
                "players": list(session_config.players),
                "instrument": session_config.instrument,
                "hits": len(truth),
                "false_positives": result["false_positives"],
                "false_negatives": result["false_negatives"],
            }
        )
        if timings is None:
            timings = period_timings_us(detector, audio)
    false_alarms = 0
    for seed in STRINGS_ONLY_SEEDS:
        audio, _, _ = simulate_session(held_out_config(seed, hits=False), seed)
        detector.reset()
        false_alarms += len(detector.process(audio))
    tp, fp, fn = (totals[key] for key in ("true_positives", "false_positives", "false_negatives"))
    errors = np.abs(errors_ms)
    return {
        "config": asdict(config),
        "sample_rate_hz": rate_hz,
        "machine": machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "held_out": {
            "sessions": len(HELD_OUT_SEEDS),
            "seconds_each": SESSION_SECONDS,
            "hits": tp + fn,
            **totals,
            "f_measure": 2 * tp / (2 * tp + fp + fn),
            "precision": tp / (tp + fp),
            "recall": tp / (tp + fn),
            "median_abs_error_ms": float(np.median(errors)),
            "p95_abs_error_ms": float(np.percentile(errors, 95)),
            "median_signed_error_ms": float(np.median(errors_ms)),
            "recall_by_hand": {hand: found / n for hand, (found, n) in by_hand.items()},
            "recall_by_dynamics": {key: [found, n] for key, (found, n) in by_dynamics.items()},
            "per_session": sessions,
        },
        "strings_only": {
            "minutes": len(STRINGS_ONLY_SEEDS) * SESSION_SECONDS / 60.0,
            "false_detections": false_alarms,
        },
        "report_delay_ms": {
            "median": float(np.median(delays_ms)),
            "max": float(np.max(delays_ms)),
        },
        "period_us": {**timings, "period_frames": PERIOD_FRAMES},
    }


def report(results: dict) -> str:
    """A Markdown section with the command, the figures, the machine and the date."""
    held = results["held_out"]
    period = results["period_us"]
    period_us = 1e6 * period["period_frames"] / results["sample_rate_hz"]
    wall, cpu = period["wall"], period["cpu"]
    strings = results["strings_only"]
    dynamics = " · ".join(
        f"{key}: {found}/{n} ({found / n:.1%})" if n else f"{key}: none"
        for key, (found, n) in held["recall_by_dynamics"].items()
    )
    return "\n".join(
        [
            "## Hit detector (`firmware/onset.py`)",
            "",
            "Command: `python -m bench onsets` (simulates the sessions: about 3 CPU-minutes).",
            f"Machine: {describe_machine(results['machine'])}. Measured {results['date']}.",
            "Default `DetectorConfig`, tuned on simulator seeds 100-107 with players 0-9 and "
            "instruments 0-4. Held out: seeds "
            f"{HELD_OUT_SEEDS[0]}-{HELD_OUT_SEEDS[-1]}, players 20-39 (two per session, in "
            f"turn), instruments 5-10, {held['sessions']} sessions of "
            f"{held['seconds_each']:.0f} s with string playing throughout; ground truth is "
            "the first sample of contact force.",
            "",
            "| figure | value |",
            "| --- | --- |",
            f"| hits | {held['hits']} |",
            f"| F-measure at ±2 ms (mir_eval) | {held['f_measure']:.4f} |",
            f"| precision / recall | {held['precision']:.4f} / {held['recall']:.4f} |",
            f"| false / missed detections | {held['false_positives']} / "
            f"{held['false_negatives']} |",
            f"| median absolute onset error | {held['median_abs_error_ms']:.3f} ms |",
            f"| p95 absolute onset error | {held['p95_abs_error_ms']:.3f} ms |",
            f"| median signed error (late > 0) | {held['median_signed_error_ms']:.3f} ms |",
            f"| false detections, string playing alone | {strings['false_detections']} in "
            f"{strings['minutes']:.0f} min |",
            f"| report delay after onset, {period['period_frames']}-frame periods, median / max "
            f"| {results['report_delay_ms']['median']:.2f} / "
            f"{results['report_delay_ms']['max']:.2f} ms |",
            f"| CPU per {period['period_frames']}-frame period, median / p99 (wall) | "
            f"{wall['median']:.1f} / {wall['p99']:.1f} µs ({wall['median'] / period_us:.1%} of "
            f"the {period_us:.0f} µs period) |",
            f"| CPU per period, median / p99 (thread CPU time) | {cpu['median']:.1f} / "
            f"{cpu['p99']:.1f} µs |",
            "",
            "Recall by hand part: "
            + ", ".join(f"{hand} {value:.1%}" for hand, value in held["recall_by_hand"].items())
            + ".",
            f"Recall by dynamics: {dynamics}.",
            "",
        ]
    )


if __name__ == "__main__":
    measured = measure()
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    (BUILD_DIR / "results.json").write_text(json.dumps(measured, indent=2))
    print(report(measured))
