"""Agreement of the DX7 core (firmware.dx7) with Dexed, an independent DX7 engine (dexed-py).

Two figures per patch, note and velocity:

- envelopes: every operator of the patch is made a plain carrier (algorithm 32, ratio 1, no
  feedback), so that Dexed's per-operator output is OL(t) * sin(...) / 2; its envelope (Hilbert
  magnitude at the end of each 64-sample block) is compared in dB with operator_levels() over
  the frames where both are above -40 dB re full scale (OL 0.02);
- audio: the patch itself, rendered by Dexed and by render_offline(operator_levels(...)): SNR
  of ours against Dexed's waveform, and the mean absolute difference of their log magnitude
  spectra (100 ms Hann frames, bins within 60 dB of the loudest).

What the voice does not model is switched off in both (LFO depths and amp mod sensitivities 0,
pitch EG levels 50), and
Dexed's feedback is "normalised" (the same scaling in every algorithm; Dexed proper reduces it
in algorithms 4, 6 and 32). Exact agreement is not expected: Dexed computes in fixed point with
log-sine tables and ramps levels in the log domain within a block.

Run: ``python -m bench.dx7_agreement`` (prints the Markdown section).
"""

import dataclasses
from pathlib import Path

import dexed
import numpy as np
import scipy.signal

from bench.common import describe_machine, machine
from firmware.dx7.envelope import operator_levels
from firmware.dx7.notes import NoteEvent, pitch_track_hz
from firmware.dx7.patch import Patch
from firmware.dx7.synth import render_offline
from firmware.dx7.sysex import bank_message, encode_voice, parse_syx, read_syx

HOP = 64
HOLD_S = 1.0
TOTAL_S = 2.0
FLOOR_OL = 0.02
"""Envelope frames below this OL (-40 dB re OL 2) in either engine are not compared."""
HITAR_BANK = Path(__file__).resolve().parents[1] / "firmware" / "patches" / "hitar.syx"
FACTORY_ROMS = Path("/usr/share/hexter/dx7_roms.dx7")
"""DX7 factory ROM voices from Debian's hexter package (ROM1A = first 4096 bytes)."""
FACTORY_SLOTS = (0, 3, 7, 10, 11, 14, 18, 21, 23, 25)
"""ROM1A voices compared: BRASS 1, STRINGS 1, PIANO 1, E.PIANO 1, GUITAR 1, BASS 1, HARPSICH 1,
MARIMBA, FLUTE 1, TUB BELLS."""
NOTES = ((48, 100), (60, 64), (72, 127))
"""(key, velocity) pairs played for every patch."""


def without_modulation(patch: Patch) -> Patch:
    """The patch without what the voice leaves out: LFO depths 0, flat pitch EG, and amp mod
    sensitivity 0 (dexed-py leaves its EG-bias controller at 0, which attenuates every operator
    with amp mod sensitivity even when no LFO or wheel modulates it)."""
    ops = tuple(dataclasses.replace(op, amp_mod_sensitivity=0) for op in patch.operators)
    return dataclasses.replace(
        patch,
        lfo_pitch_mod_depth=0,
        lfo_amp_mod_depth=0,
        pitch_eg_levels=(50, 50, 50, 50),
        operators=ops,
    )


def as_carriers(patch: Patch) -> Patch:
    """Every operator a ratio-1 carrier of its own (algorithm 32, no feedback), EGs kept."""
    plain = without_modulation(patch)
    ops = tuple(
        dataclasses.replace(op, fixed_frequency=False, coarse=1, fine=0, detune=0)
        for op in plain.operators
    )
    return dataclasses.replace(plain, algorithm=32, feedback=0, operators=ops)


def _dexed(patch: Patch, sample_rate_hz: int) -> dexed.DexedSynth:
    synth = dexed.DexedSynth(sample_rate_hz)
    synth.normalize_feedback = True
    synth.load_patch(dexed.Patch.from_sysex(encode_voice(patch)))
    return synth


def _note(sample_rate_hz: int, key: int, velocity: int) -> tuple[list[NoteEvent], int]:
    """The note as Dexed plays it (release at the block after HOLD_S) and the frame count."""
    stop_frame = int(np.ceil(round(HOLD_S * sample_rate_hz) / HOP))
    n_frames = round(TOTAL_S * sample_rate_hz) // HOP
    return [NoteEvent(key, velocity, 0, stop_frame)], n_frames


def dexed_envelopes(patch: Patch, key: int, velocity: int, sample_rate_hz: int) -> np.ndarray:
    """OL of each operator in Dexed at the end of each block, shape [frames, 6], OP1 first."""
    carriers = as_carriers(patch)
    ops = _dexed(carriers, sample_rate_hz).render_all_ops(key, velocity, HOLD_S, TOTAL_S)
    n_frames = _note(sample_rate_hz, key, velocity)[1]
    magnitude = np.abs(scipy.signal.hilbert(ops[:6].astype(np.float64), axis=1))
    return 2.0 * magnitude[:, HOP - 1 :: HOP][:, :n_frames].T


def envelope_errors_db(patch: Patch, key: int, velocity: int, sample_rate_hz: int) -> np.ndarray:
    """|ours - Dexed's| in dB for every operator frame where both exceed FLOOR_OL."""
    notes, n_frames = _note(sample_rate_hz, key, velocity)
    ours = operator_levels(as_carriers(patch), notes, n_frames, sample_rate_hz / HOP)
    theirs = dexed_envelopes(patch, key, velocity, sample_rate_hz)
    both = (ours > FLOOR_OL) & (theirs > FLOOR_OL)
    return np.abs(20.0 * np.log10(theirs[both] / ours[both]))


def renders(
    patch: Patch, key: int, velocity: int, sample_rate_hz: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ours, Dexed's) audio of one note, float32, the same length."""
    patch = without_modulation(patch)
    notes, n_frames = _note(sample_rate_hz, key, velocity)
    levels = operator_levels(patch, notes, n_frames, sample_rate_hz / HOP)
    ours = render_offline(patch, levels, pitch_track_hz(notes, n_frames), sample_rate_hz, HOP)
    theirs = _dexed(patch, sample_rate_hz).render(key, velocity, HOLD_S, TOTAL_S)
    return ours, theirs[: len(ours)]


def snr_db(reference: np.ndarray, signal: np.ndarray) -> float:
    """Reference power over error power, in dB."""
    error = np.sum((reference.astype(np.float64) - signal) ** 2)
    return float(10.0 * np.log10(np.sum(reference.astype(np.float64) ** 2) / error))


def log_spectral_distance_db(
    reference: np.ndarray, signal: np.ndarray, sample_rate_hz: int, range_db: float = 60.0
) -> float:
    """Mean |difference| of log magnitude spectra over 100 ms Hann frames, in dB, over the bins
    within range_db of the loudest bin of the whole reference (both floored there)."""
    frame = sample_rate_hz // 10
    starts = range(0, len(reference) - frame + 1, frame)
    window = np.hanning(frame)
    spectra = [
        20.0
        * np.log10(np.abs(np.fft.rfft([x[s : s + frame] * window for s in starts], axis=1)) + 1e-12)
        for x in (reference, signal)
    ]
    floor = spectra[0].max() - range_db
    keep = (spectra[0] > floor) | (spectra[1] > floor)
    difference = np.maximum(spectra[0], floor) - np.maximum(spectra[1], floor)
    return float(np.mean(np.abs(difference[keep])))


def compared_patches() -> list[Patch]:
    """The project's voices, and ten DX7 factory voices when hexter is installed."""
    patches = [p for p in read_syx(HITAR_BANK) if p.display_name != "INIT VOICE"]
    if FACTORY_ROMS.exists():
        rom1a = parse_syx(bank_message(FACTORY_ROMS.read_bytes()[:4096]), str(FACTORY_ROMS))
        patches += [rom1a[slot] for slot in FACTORY_SLOTS]
    return patches


def measure(sample_rates_hz: tuple[int, ...] = (48_000, 44_100)) -> dict:
    """Envelope and audio agreement per patch (over NOTES) at each sample rate."""
    results: dict = {"rates": {}, "notes": [list(n) for n in NOTES], "floor_ol": FLOOR_OL}
    for rate in sample_rates_hz:
        rows = []
        for patch in compared_patches():
            errors = np.concatenate([envelope_errors_db(patch, k, v, rate) for k, v in NOTES])
            snrs, lsds = [], []
            for key, velocity in NOTES:
                ours, theirs = renders(patch, key, velocity, rate)
                snrs.append(snr_db(theirs, ours))
                lsds.append(log_spectral_distance_db(theirs, ours, rate))
            rows.append(
                {
                    "patch": patch.display_name,
                    "algorithm": patch.algorithm,
                    "feedback": patch.feedback,
                    "envelope_median_db": float(np.median(errors)),
                    "envelope_p90_db": float(np.percentile(errors, 90)),
                    "snr_median_db": float(np.median(snrs)),
                    "snr_min_db": float(np.min(snrs)),
                    "spectral_distance_db": float(np.mean(lsds)),
                }
            )
        results["rates"][str(rate)] = rows
    results["machine"] = machine()
    return results


def report(results: dict) -> str:
    """Markdown section: command, one table per sample rate, machine and date."""
    lines = [
        "## DX7 core against Dexed",
        "",
        "`python -m bench.dx7_agreement` "
        f"({describe_machine(results['machine'])}). Notes (key, velocity): "
        f"{', '.join(f'({k}, {v})' for k, v in results['notes'])}, held {HOLD_S} s of "
        f"{TOTAL_S} s. Envelope error: |dB| per operator frame above OL "
        f"{results['floor_ol']}. SNR: ours against Dexed's waveform. Spectral distance: mean "
        "|dB| between log spectra (100 ms frames, 60 dB range). LFO, amp mod sensitivity and pitch "
        "EG off in both; Dexed's feedback normalised.",
    ]
    for rate, rows in results["rates"].items():
        lines += [
            "",
            f"### {int(rate) / 1000:g} kHz",
            "",
            "| patch | alg | fb | env. median dB | env. p90 dB | SNR median dB | SNR min dB "
            "| spectral dist. dB |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in rows:
            lines.append(
                f"| {row['patch']} | {row['algorithm']} | {row['feedback']} "
                f"| {row['envelope_median_db']:.3f} | {row['envelope_p90_db']:.2f} "
                f"| {row['snr_median_db']:.1f} | {row['snr_min_db']:.1f} "
                f"| {row['spectral_distance_db']:.2f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(measure()))
