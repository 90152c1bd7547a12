"""Cost of the FM synth per 64-frame block at 48 kHz, and of the envelope generators.

The voice's whole per-hop budget (pitch + envelope model + synth) is 10 % of real time, 133 us
per 64-frame hop at 48 kHz; the synth's share is meant to be at most 60 us. Each patch plays a
note with levels changing every block (as the envelope model drives it): one sample is one
``set_controls`` + ``render`` pair, timed with perf_counter_ns. Also timed: the same patches
with feedback off (the per-sample feedback loop's share), the worst case (algorithm 4's
three-operator feedback loop), and the EG's speed at making training targets.

Run: ``python -m bench.fm_synth`` (prints the Markdown section).
"""

import dataclasses
import time

import numpy as np

from bench.common import describe_machine, machine
from firmware.dx7.envelope import operator_levels
from firmware.dx7.make_bank import VOICES
from firmware.dx7.notes import NoteEvent
from firmware.dx7.patch import Patch
from firmware.dx7.synth import FMSynth

RATE_HZ = 48_000
BLOCK = 64
BLOCKS = 3000
"""Timed blocks per case (4 s of audio), after WARMUP untimed ones."""
WARMUP = 200
BUDGET_US = 60.0
HOP_US = 1e6 * BLOCK / RATE_HZ


def time_blocks(patch: Patch) -> np.ndarray:
    """Microseconds of set_controls + render for BLOCKS blocks of a note with moving levels."""
    n_frames = WARMUP + BLOCKS
    levels = operator_levels(patch, [NoteEvent(57, 100, 0, n_frames)], n_frames, RATE_HZ / BLOCK)
    levels = np.maximum(levels, 0.05)  # every operator audible: no early-outs flatter the cost
    synth = FMSynth(patch, RATE_HZ, BLOCK)
    out = np.zeros(BLOCK, dtype=np.float32)
    times_ns = np.zeros(n_frames, dtype=np.int64)
    clock = time.perf_counter_ns
    for frame in range(n_frames):
        start = clock()
        synth.set_controls(220.0, levels[frame])
        synth.render(out)
        times_ns[frame] = clock() - start
    return times_ns[WARMUP:] / 1000.0


def measure() -> dict:
    """Median and p99 block times per case, and EG frames per second."""
    cases: dict[str, Patch] = {patch.display_name: patch for patch, _ in VOICES}
    cases["ALG 4 FB 7 (3-op loop)"] = dataclasses.replace(
        VOICES[0][0], name="ALG4 FB7", algorithm=4, feedback=7
    )
    cases["ALG 32 FB 0 (no loop)"] = dataclasses.replace(VOICES[-1][0], feedback=0)
    rows = []
    for name, patch in cases.items():
        times = time_blocks(patch)
        no_feedback = time_blocks(dataclasses.replace(patch, feedback=0))
        rows.append(
            {
                "case": name,
                "algorithm": patch.algorithm,
                "feedback": patch.feedback,
                "median_us": float(np.median(times)),
                "p99_us": float(np.percentile(times, 99)),
                "median_without_feedback_us": float(np.median(no_feedback)),
            }
        )
    patch = VOICES[0][0]
    start = time.perf_counter()
    operator_levels(patch, [NoteEvent(60, 100, 0, 3000)], 7500, RATE_HZ / BLOCK)
    eg_frames_per_s = 7500 / (time.perf_counter() - start)
    medians = [row["median_us"] for row in rows]
    return {
        "rows": rows,
        "worst_median_us": max(medians),
        "hop_us": HOP_US,
        "budget_us": BUDGET_US,
        "eg_frames_per_s": eg_frames_per_s,
        "machine": machine(),
    }


def report(results: dict) -> str:
    """Markdown section: command, per-case table, summary against the budget."""
    lines = [
        "## FM synth cost per block",
        "",
        f"`python -m bench.fm_synth` ({describe_machine(results['machine'])}). "
        f"One `set_controls` + `render` of a {BLOCK}-frame block at {RATE_HZ // 1000} kHz "
        f"(a hop is {results['hop_us']:.0f} us), {BLOCKS} blocks per case, levels from the "
        "patch's EGs. Machine shared with other jobs: medians are the figure to trust.",
        "",
        "| case | alg | fb | median us | p99 us | % of hop | median, feedback off, us |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in results["rows"]:
        lines.append(
            f"| {row['case']} | {row['algorithm']} | {row['feedback']} "
            f"| {row['median_us']:.1f} | {row['p99_us']:.1f} "
            f"| {100 * row['median_us'] / results['hop_us']:.1f} "
            f"| {row['median_without_feedback_us']:.1f} |"
        )
    verdict = "within" if results["worst_median_us"] <= results["budget_us"] else "OVER"
    lines += [
        "",
        f"Worst median {results['worst_median_us']:.1f} us: {verdict} the synth's "
        f"{results['budget_us']:.0f} us budget. Envelope generators (training targets): "
        f"{results['eg_frames_per_s']:.0f} frames/s, "
        f"{results['eg_frames_per_s'] / (RATE_HZ / BLOCK):.0f} x real time.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(measure()))
