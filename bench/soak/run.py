"""One soak: the firmware process started on the looped recording, the faults injected while it
plays, and everything it left behind read into plain figures."""

import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import soundfile

from bench.common import machine
from bench.soak.config import (
    MATCH_MS,
    NEAR_OVERRUN_MS,
    PREFIX,
    SESSION_PLAYERS,
    VALID,
    Session,
    SoakConfig,
)
from bench.soak.faults import LiveRun, bundle_copy, plan
from bench.soak.peers import EventTail, NotifyListener, OscPeer, RssSampler, free_udp_port
from bench.soak.score import (
    clean_detections,
    journal,
    known_misses,
    log_integrity,
    memory,
    read_event_log,
    score_loops,
)
from bench.soak.source import overrun_schedule
from firmware.board import load_board_profile
from firmware.bundle_store import BundleStore
from firmware.cli import DEFAULT_MODEL, REPO_ROOT
from firmware.features import FeatureConfig
from firmware.hit_model import HitModel
from firmware.onset import HitDetector
from training.simulator import SessionConfig, simulate_session


def run_soak(config: SoakConfig, session: Session, workdir: Path) -> dict:
    """Play the session config.loops times through the firmware process, inject the faults,
    and return every figure and check (plain JSON)."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    store = BundleStore(workdir / "bundles", "hits")
    store.install(bundle_copy(workdir, 0))
    events = workdir / "events.jsonl"
    notify = NotifyListener()
    first_peer = OscPeer()
    control_port = free_udp_port()
    started_s = time.monotonic()
    with open(workdir / "firmware.log", "w") as log_file:
        process = subprocess.Popen(
            _command(config, session, first_peer.port, control_port, store, events),
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            env={**os.environ, "NOTIFY_SOCKET": notify.name},
        )
    run = LiveRun(config, process, EventTail(events), first_peer.port, control_port, store, workdir)
    run.peers.append(first_peer)
    rss = RssSampler(process.pid, run.tail, config.rss_interval_s)
    try:
        for at_s, kind, inject in plan(config):
            if not run.wait(lambda status, at_s=at_s: float(status.get("time_s", 0)) >= at_s, 3600):
                break
            run.faults.append({"kind": kind, "at_s": run.tail.time_s, **inject(run)})
        # Keep reading the log to the end: the memory samples take their audio time from it.
        run.wait(lambda status: process.poll() is not None, 3600)
        returncode = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        rss.close()
        run.peers[-1].close()
        notify.close()
    wall_s = time.monotonic() - started_s
    return _results(run, session, returncode, wall_s, rss.samples, notify)


def _command(
    config: SoakConfig,
    session: Session,
    osc_port: int,
    control_port: int,
    store: BundleStore,
    events: Path,
) -> list[str]:
    """The firmware process's command line: soak options, '--', `firmware run` options."""
    overruns = config.overruns
    soak = [
        "--loops", config.loops,
        "--overrun-every-s", overruns.mean_interval_s,
        "--max-lost-periods", overruns.max_lost_periods,
        "--overrun-seed", overruns.seed,
    ]  # fmt: skip
    if config.speed is not None:
        soak += ["--speed", config.speed]
    run = [
        "run", "--board", config.board, "--input", session.path, "--fast",
        "--period-frames", config.period_frames, "--osc", f"127.0.0.1:{osc_port}",
        "--control-port", control_port, "--events", events, "--model", store.current_link,
    ]  # fmt: skip
    return [sys.executable, "-m", "bench.soak.run_firmware", *map(str, soak), "--", *map(str, run)]


def _results(
    run: LiveRun,
    session: Session,
    returncode: int,
    wall_s: float,
    rss_samples: list[tuple[float, int]],
    notify: NotifyListener,
) -> dict:
    config = run.config
    rate = session.sample_rate_hz
    profile = load_board_profile(config.board)
    events, invalid = read_event_log(run.tail.path)
    hits = [event for event in events if event.get("type") == "hit"]
    statuses = [event for event in events if event.get("type") == "status"]
    stream_frames = config.loops * session.frames
    schedule = overrun_schedule(config.overruns, stream_frames, config.period_frames, rate)
    features = FeatureConfig(sample_rate_hz=rate)
    clean = clean_detections(
        session.path,
        HitDetector(profile.detector, rate),
        HitModel(DEFAULT_MODEL, features),
        features,
        rate,
        config.period_frames,
    )
    tolerance = round(MATCH_MS * 1e-3 * rate)
    missed_clean = known_misses(session.onsets, clean, tolerance)
    truth = {"onsets": session.onsets, "hands": session.hands, "locations": session.locations}
    near = round(NEAR_OVERRUN_MS * 1e-3 * rate)
    loops = score_loops(
        truth, session.frames, config.loops, schedule, hits, missed_clean, tolerance, near
    )
    for fault in run.faults:
        if fault["kind"].startswith("swap"):
            after = [h for h in hits if fault["seen_at_s"] < h["onset_sample"] / rate]
            fault["hits_in_next_minute"] = sum(
                h["onset_sample"] / rate <= fault["seen_at_s"] + 60.0 for h in after
            )
    loads = np.array([status["load"] for status in statuses] or [0.0])
    peaks = np.array([status["load_peak"] for status in statuses] or [0.0])
    pings = [notify.ready_s, *notify.watchdog_s, notify.stopping_s]
    pings = [ping for ping in pings if ping is not None]
    return {
        "machine": machine(),
        "config": asdict(config),
        "session": {
            "seconds": session.frames / rate,
            "hits": len(session.onsets),
            "period_frames": config.period_frames,
            "board": config.board,
        },
        "audio_s": stream_frames / rate,
        "wall_s": round(wall_s, 1),
        "returncode": returncode,
        "event_log": {
            "invalid_lines": invalid,
            **log_integrity(events, profile.osc.status_interval_s, config.period_frames / rate),
        },
        "final_status": statuses[-1] if statuses else {},
        "expected": {
            "xruns": len(schedule),
            "lost_frames": int(schedule[:, 1].sum()),
            "engine_frames": int(stream_frames - schedule[:, 1].sum()),
            "model_reloads": sum(kind == VALID for _, kind in config.swaps),
            "model_failures": sum(kind != VALID for _, kind in config.swaps),
            "controls_rejected": config.burst_malformed * len(config.bursts_at_s),
            "controls": config.burst_valid * len(config.bursts_at_s),
            "outages": len(config.outages_at_s),
        },
        "faults": run.faults,
        "osc_phases": [
            {"status": peer.counts[f"{PREFIX}/status"], "hits": peer.counts[f"{PREFIX}/hit"]}
            for peer in run.peers
        ],
        "detection": {
            "clean_pass": {
                "truth": len(session.onsets),
                "found": int((~missed_clean).sum()),
                "detections": len(clean),
            },
            "loops": loops,
        },
        "memory": memory(rss_samples, warmup_s=session.frames / rate),
        "load": {
            "median": float(np.median(loads)),
            "p99": float(np.percentile(loads, 99)),
            "peak_median": float(np.median(peaks)),
            "peak_p99": float(np.percentile(peaks, 99)),
            "peak_max": float(peaks.max()),
        },
        "notify": {
            "ready": notify.ready_s is not None,
            "stopping": notify.stopping_s is not None,
            "watchdog_pings": len(notify.watchdog_s),
            "longest_gap_s": round(float(np.max(np.diff(pings))), 3) if len(pings) > 1 else None,
            "faults_named": sorted(
                {name for text in notify.statuses for name in text.split(", ")} - {"none"}
            ),
        },
        "journal": journal((run.workdir / "firmware.log").read_text(errors="replace")),
    }


def simulated_session(folder: Path, seconds: float, seed: int) -> Session:
    """A simulated session with strings and hits (players never used in training), as a
    float WAV in folder, with its ground truth."""
    audio, hits, rate = simulate_session(
        SessionConfig(seconds=seconds, players=SESSION_PLAYERS, string_span=(0.0, 0.6)), seed
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"session-{seconds:g}s-seed{seed}.wav"
    soundfile.write(path, audio, rate, subtype="FLOAT")
    return Session(
        path=path,
        frames=len(audio),
        sample_rate_hz=rate,
        onsets=np.array([hit.onset_sample for hit in hits], np.int64),
        hands=tuple(hit.hand for hit in hits),
        locations=tuple(hit.location for hit in hits),
    )
