"""The real-recording data layer: what Debian's hydrogen kits give as a dataset, and how close
the firmware's detector puts a session's hits to where they really start.

Run: `.venv/bin/python -m bench.data` (prints the Markdown section). Two parts:

- hydrogen kits: `training.data.drumkits.build_drumkits` over every installed kit: hits per
  kit and class, files skipped (by reason), onsets placed by the fallback, build time.
- session onsets: a recording of real kit samples (The Black Pearl 1.0) placed at known
  times on five piezo channels over a quiet noise floor, labelled with errors uniform in
  +-10 ms as a player clicking in an editor would; each label is moved onto the detector
  onset nearest it (training.data.onsets, as sessions.py does) and compared with the true
  start of the hit (its first sample at 1 % of its peak).
"""

import time
from collections import Counter

import numpy as np

from bench.common import describe_machine, machine
from firmware.layout import N_CHANNELS, SAMPLE_RATE_HZ
from firmware.onset import DetectorConfig
from training.data.audio import read_audio, resample
from training.data.drumkits import CLASSES, DEFAULT_ROOT, build_drumkits, package_kits
from training.data.onsets import detect_onsets, match_onsets
from training.data.sessions import SessionsConfig

SESSION_KIT = DEFAULT_ROOT / "The Black Pearl 1.0"
SESSION_SAMPLES = (
    "PearlSnare-Hard.wav", "PearlSnare-Soft.wav", "PearlTom1-Med.wav", "PearlTom2-Hard.wav",
    "PearlKick-Hard.wav", "PearlKick-Soft.wav", "SabianHatClosed-Med.wav", "PaisteRide-Med.wav",
)  # fmt: skip
SESSION_HITS = 300
LABEL_ERROR_MS = 10.0
SEED = 20250301


def measure() -> dict:
    """Every figure of this bench, as plain JSON-able values."""
    return {"machine": machine(), "drumkits": _drumkits(), "session_onsets": _session_onsets()}


def report(results: dict) -> str:
    """The results as a Markdown section."""
    kits, session = results["drumkits"], results["session_onsets"]
    header = "| kit | " + " | ".join(CLASSES) + " | total |"
    rows = [
        f"| {kit} | " + " | ".join(str(counts.get(c, 0)) for c in CLASSES)
        + f" | {sum(counts.values())} |"
        for kit, counts in kits["per_kit"].items()
    ]  # fmt: skip
    totals = " | ".join(str(kits["per_class"][c]) for c in CLASSES)
    skipped = ", ".join(f"{reason} {count}" for reason, count in kits["skipped"].items())
    errors = session["onset_error_samples"]
    labels = session["label_error_samples"]
    lines = [
        "## Data layer (training/data)",
        "",
        f"Command: `.venv/bin/python -m bench.data` (bench/data.py). "
        f"Machine: {describe_machine(results['machine'])}.",
        "",
        f"Debian hydrogen-drumkits as a dataset (`python -m training.data drumkits`): "
        f"{kits['hits']} hits from {kits['kits']} kits, built in {kits['build_s']:.1f} s "
        f"({kits['files_per_s']:.0f} files/s, one run). Files left out: {skipped or 'none'}. "
        f"Onsets placed by the fallback (no detector onset in reach): {kits['fallbacks']}.",
        "",
        header,
        "|---" * (len(CLASSES) + 2) + "|",
        *rows,
        f"| **all** | {totals} | **{kits['hits']}** |",
        "",
        f"Session onsets: {session['hits']} real kit hits, labels off by up to "
        f"±{LABEL_ERROR_MS:g} ms (uniform), matched within ±"
        f"{session['tolerance_ms']:g} ms: {session['matched']} matched "
        f"({session['matched'] / session['hits']:.1%}). Distance to the hit's true start, in "
        f"samples at 48 kHz (median / p95 / max): labels {labels['median']:.0f} / "
        f"{labels['p95']:.0f} / {labels['max']:.0f}; detector onsets {errors['median']:.0f} / "
        f"{errors['p95']:.0f} / {errors['max']:.0f}. Matched per sample: "
        + ", ".join(
            f"{name.removesuffix('.wav')} {found}/{total}"
            for name, (found, total) in session["matched_per_sample"].items()
        )
        + ".",
    ]
    return "\n".join(lines) + "\n"


def _drumkits() -> dict:
    start_s = time.perf_counter()
    dataset, report = build_drumkits(kits=package_kits())
    build_s = time.perf_counter() - start_s
    per_kit: dict[str, dict[str, int]] = {}
    for (kit, class_name), count in sorted(report.kept.items()):
        per_kit.setdefault(kit, {})[class_name] = count
    reasons = Counter(_reason_kind(reason) for _, reason in report.skipped)
    files = len(dataset) + sum(1 for _, reason in report.skipped if "reuses" not in reason)
    return {
        "hits": len(dataset),
        "kits": len(per_kit),
        "per_kit": per_kit,
        "per_class": dataset.summary()["tasks"]["class"],
        "skipped": dict(reasons),
        "fallbacks": len(report.fallbacks),
        "build_s": build_s,
        "files_per_s": files / build_s,
    }


def _reason_kind(reason: str) -> str:
    for kind in ("reuses", "missing", "clipped", "silent"):
        if kind in reason:
            return {"reuses": "sample reused by another instrument"}.get(kind, kind)
    return "unreadable"


def _session_onsets() -> dict:
    rng = np.random.default_rng(SEED)
    sounds = []
    for name in SESSION_SAMPLES:
        samples, rate_hz = read_audio(SESSION_KIT / name)
        mono = resample(samples, rate_hz)[:, 0]
        start = int(np.argmax(np.abs(mono) >= 0.01 * np.abs(mono).max()))
        sounds.append(mono[start : start + SAMPLE_RATE_HZ // 2])
    gaps = rng.uniform(0.08, 0.4, SESSION_HITS) * SAMPLE_RATE_HZ
    starts = (SAMPLE_RATE_HZ // 2 + np.cumsum(gaps)).astype(int)
    signal = (3e-5 * rng.standard_normal((starts[-1] + SAMPLE_RATE_HZ, N_CHANNELS))).astype(
        np.float32
    )
    kinds = rng.integers(len(sounds), size=SESSION_HITS)
    for start, kind in zip(starts, kinds, strict=True):
        sound = sounds[kind] * rng.uniform(0.05, 0.7)
        gains = rng.uniform(0.1, 1.0, 5)
        signal[start : start + len(sound), :5] += sound[:, None] * gains
    label_error = rng.uniform(-LABEL_ERROR_MS, LABEL_ERROR_MS, SESSION_HITS) * 48
    labels = np.round(starts + label_error).astype(int)
    tolerance_ms = SessionsConfig().onset_tolerance_ms
    onsets = detect_onsets(signal, DetectorConfig(), SAMPLE_RATE_HZ)
    matched = match_onsets(labels, onsets, round(tolerance_ms * 48))
    found = matched >= 0
    return {
        "hits": SESSION_HITS,
        "tolerance_ms": tolerance_ms,
        "matched": int(found.sum()),
        "matched_per_sample": {
            name: [int(found[kinds == k].sum()), int((kinds == k).sum())]
            for k, name in enumerate(SESSION_SAMPLES)
        },
        "label_error_samples": _stats(np.abs(labels - starts)),
        "onset_error_samples": _stats(np.abs(matched[found] - starts[found])),
    }


def _stats(values: np.ndarray) -> dict:
    return {
        "median": float(np.median(values)),
        "p95": float(np.percentile(values, 95)),
        "max": float(values.max()),
    }


if __name__ == "__main__":
    print(report(measure()))
