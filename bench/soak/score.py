"""Reading what a soak left behind: the event log, detection per loop against ground truth,
the memory samples and the journal (the firmware's stderr).

Pure functions over plain values; bench/soak runs the soak and turns these into checks.
"""

import json
import re
from pathlib import Path

import numpy as np

from bench.soak.source import near_overrun, to_engine_frames
from firmware.engine import Engine
from firmware.features import FeatureConfig
from firmware.hit_model import HitModel
from firmware.hit_path import HitPath
from firmware.onset import HitDetector
from firmware.replay import WavReplay
from training.data.onsets import match_onsets

FAULT_START = re.compile(r"^(\w+): (\d+) at ([\d.]+) s$")
FAULT_STOP = re.compile(r"^(\w+) stopped at ([\d.]+) s \((\d+) in all\)$")
REFUSED = "new hit model refused"
RELOADED = "hit model reloaded"


def read_event_log(path: Path) -> tuple[list[dict], int]:
    """Every line of a JSON-lines event log: (the events, how many lines were not JSON)."""
    events, invalid = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            invalid += 1
    return events, invalid


def log_integrity(events: list[dict], status_interval_s: float, period_s: float) -> dict:
    """Whether the log holds every gesture, in order, and a status line for every interval.

    Every status counts the gestures sent since start, and the engine logs each gesture before
    the next status: so the hits logged before a status line must equal its count.
    """
    hits_seen, mismatches, statuses, hits = 0, 0, [], []
    for event in events:
        if event.get("type") == "hit":
            hits_seen += 1
            hits.append(event)
        elif event.get("type") == "status":
            statuses.append(event)
            mismatches += event["hits"] != hits_seen
    onsets = np.array([hit["onset_sample"] for hit in hits], np.int64)
    emits = np.array([hit["emit_sample"] for hit in hits], np.int64)
    times = np.array([0.0] + [status["time_s"] for status in statuses])
    return {
        "hits_logged": len(hits),
        "status_lines": len(statuses),
        "status_hit_count_mismatches": int(mismatches),
        "hits_out_of_order": int(np.sum(np.diff(onsets) < 0) + np.sum(np.diff(emits) < 0)),
        "last_line_is_status": bool(events) and events[-1].get("type") == "status",
        "longest_status_gap_s": round(float(np.max(np.diff(times))), 3) if statuses else None,
        "status_gap_limit_s": round(status_interval_s + period_s, 6),
    }


class _OnsetLog:
    """An event sink keeping the onset sample of every gesture."""

    def __init__(self) -> None:
        self.samples: list[int] = []

    def log(self, event: dict) -> None:
        if event["type"] == "hit":
            self.samples.append(event["onset_sample"])


def clean_detections(
    session_path: Path,
    detector: HitDetector,
    model: HitModel,
    features: FeatureConfig,
    sample_rate_hz: int,
    period_frames: int,
) -> np.ndarray:
    """Onset samples the hit path finds in one clean pass over the recording (no faults):
    what the detector is known to find, and so to miss. int64 [n_detections]."""
    onsets = _OnsetLog()
    with WavReplay(session_path, period_frames, sample_rate_hz, realtime=False) as source:
        hit_path = HitPath(detector, model, features, sample_rate_hz, period_frames)
        Engine(source, sample_rate_hz, period_frames, hit_path, events=onsets).run()
    return np.array(onsets.samples, np.int64)


def known_misses(truth_onsets: np.ndarray, detected: np.ndarray, tolerance: int) -> np.ndarray:
    """bool [n_truth]: the hits a clean pass did not find within tolerance samples."""
    return match_onsets(truth_onsets, detected, tolerance) < 0


def score_loops(
    truth: dict,
    session_frames: int,
    loops: int,
    schedule: np.ndarray,
    hits: list[dict],
    missed_clean: np.ndarray,
    tolerance: int,
    near: int,
) -> list[dict]:
    """Detection and classification in every loop, hits near overruns left out.

    A detection that matches no hit is a false alarm, unless it lies near lost frames (an
    overrun artefact: the splice of two distant moments can sound like a hit) or at the start of
    a loop after the first (a seam artefact: the recording starts abruptly, strings ringing, a
    discontinuity no instrument makes). Classes are compared with the first loop's for the same
    hit: the model in play (swapped or kept) must classify as it did.

    Args:
        truth: 'onsets' int [n] (samples in the recording), 'hands', 'locations' [n].
        schedule: the overruns, in stream frames (bench/soak/source.py).
        hits: the logged gestures, in engine frames.
        missed_clean: bool [n], the hits a clean pass misses (known misses).
        tolerance: samples between a truth onset and its detection at most.
        near: samples around lost frames within which hits are not scored.
    """
    n = len(truth["onsets"])
    stream = (np.arange(loops)[:, None] * session_frames + truth["onsets"][None, :]).ravel()
    affected = near_overrun(stream, schedule, near, near)
    engine = to_engine_frames(stream, schedule)
    detected = np.array([hit["onset_sample"] for hit in hits], np.int64)
    matched = np.full(len(stream), -1, np.int64)
    matched[~affected] = match_onsets(engine[~affected], detected, tolerance)
    by_onset = {hit["onset_sample"]: hit for hit in hits}
    gaps = to_engine_frames(schedule[:, 0], schedule)
    loop_starts = to_engine_frames(np.arange(loops) * session_frames, schedule)
    unmatched = np.setdiff1d(detected, matched[matched >= 0])
    # A hit near lost frames is not scored, but its detection is a hit, not a splice artefact.
    near_hits = match_onsets(engine[affected], unmatched, tolerance)
    unmatched = np.setdiff1d(unmatched, near_hits[near_hits >= 0])
    near_found = np.zeros(len(stream), bool)
    near_found[affected] = near_hits >= 0
    at_gap = _within(unmatched, gaps, near)
    at_seam = ~at_gap & _within(unmatched, loop_starts[1:], near)
    unmatched_loop = np.searchsorted(loop_starts, unmatched, side="right") - 1
    first_classes: dict[int, tuple[str, str]] = {}
    rows = []
    for loop in range(loops):
        part = slice(loop * n, (loop + 1) * n)
        scored = ~affected[part]
        found = matched[part] >= 0
        classes = {
            i: (by_onset[int(m)]["hand"], by_onset[int(m)]["location"])
            for i, m in enumerate(matched[part])
            if m >= 0
        }
        first_classes = first_classes or classes
        in_loop = unmatched_loop == loop
        false_alarms = int(np.sum(in_loop & ~at_gap & ~at_seam))
        misses = scored & ~found
        rows.append(
            {
                "loop": loop,
                "scored": int(scored.sum()),
                "near_overruns": int((~scored).sum()),
                "near_overruns_detected": int(near_found[part].sum()),
                "detected": int(found.sum()),
                "misses": int(misses.sum()),
                "unknown_misses": int((misses & ~missed_clean).sum()),
                "false_alarms": false_alarms,
                "overrun_artefacts": int(np.sum(in_loop & at_gap)),
                "seam_artefacts": int(np.sum(in_loop & at_seam)),
                "f_measure": _f_measure(int(found.sum()), int(scored.sum()), false_alarms),
                "hand": _share([truth["hands"][i] == c[0] for i, c in classes.items()]),
                "location": _share([truth["locations"][i] == c[1] for i, c in classes.items()]),
                "same_classes_as_first_loop": _share(
                    [first_classes[i] == c for i, c in classes.items() if i in first_classes]
                ),
            }
        )
    return rows


def _within(samples: np.ndarray, points: np.ndarray, distance: int) -> np.ndarray:
    """bool [n]: whether each sample is within distance of one of points (ascending)."""
    if not len(points) or not len(samples):
        return np.zeros(len(samples), bool)
    right = np.searchsorted(points, samples).clip(0, len(points) - 1)
    left = (right - 1).clip(0)
    nearest = np.minimum(np.abs(points[right] - samples), np.abs(points[left] - samples))
    return nearest <= distance


def _f_measure(found: int, scored: int, false_alarms: int) -> float:
    denominator = 2 * found + (scored - found) + false_alarms
    return round(2 * found / denominator, 4) if denominator else 1.0


def _share(flags: list[bool]) -> float | None:
    return round(float(np.mean(flags)), 4) if flags else None


def memory(samples: list[tuple[float, int]], warmup_s: float, trace_points: int = 13) -> dict:
    """Resident memory after warm-up: start, end, max, and growth per hour of audio (the
    slope of a straight line through every sample after warm-up), MiB; and a trace of
    trace_points [audio s, MiB] pairs, evenly spread over the run."""
    after = [(seconds, kib) for seconds, kib in samples if seconds >= warmup_s]
    if len(after) < 2:
        return {"samples": len(samples), "after_warmup": len(after)}
    seconds = np.array([s for s, _ in after])
    mib = np.array([kib for _, kib in after]) / 1024.0
    hours = (seconds - seconds[0]) / 3600.0
    slope = float(np.polyfit(hours, mib, 1)[0]) if hours[-1] > 0 else 0.0
    return {
        "samples": len(samples),
        "after_warmup": len(after),
        "warmup_s": warmup_s,
        "first_mib": round(samples[0][1] / 1024.0, 1),
        "start_mib": round(float(mib[0]), 1),
        "end_mib": round(float(mib[-1]), 1),
        "max_mib": round(float(mib.max()), 1),
        "growth_mib_per_h": round(slope, 2),
        "audio_h_after_warmup": round(float(hours[-1]), 3),
        "trace": [
            [round(samples[i][0]), round(samples[i][1] / 1024.0, 1)]
            for i in np.linspace(0, len(samples) - 1, trace_points).round().astype(int)
        ],
    }


def journal(text: str) -> dict:
    """What the firmware's log says: faults as they start and stop (app.StatusReporter),
    bundles refused and reloaded (model_watch), tracebacks."""
    started: dict[str, int] = {}
    stopped: dict[str, int] = {}
    for line in text.splitlines():
        if match := FAULT_START.match(line):
            started[match[1]] = started.get(match[1], 0) + 1
        elif match := FAULT_STOP.match(line):
            stopped[match[1]] = stopped.get(match[1], 0) + 1
    return {
        "fault_started_lines": started,
        "fault_stopped_lines": stopped,
        "refused_lines": text.count(REFUSED),
        "reloaded_lines": text.count(RELOADED),
        "tracebacks": text.count("Traceback"),
        "error_lines": sum(line.startswith("error:") for line in text.splitlines()),
    }
