"""Onsets of recorded hits, found by the firmware's own detector.

Training windows must start where the board's detector will start them, not where a player's
mouse click put a label, so every onset in a dataset comes from firmware.onset.HitDetector run
over the recording as the engine runs it, padded to whole periods.
"""

import numpy as np

from firmware.layout import N_CHANNELS, PIEZO_CHANNELS
from firmware.onset import DetectorConfig, HitDetector

BLOCK_FRAMES = 64
"""The board's period (1.33 ms at 48 kHz): a recording is padded to a whole number of them, as
the engine only ever gives the detector whole periods."""


def detect_onsets(signal: np.ndarray, config: DetectorConfig, sample_rate_hz: int) -> np.ndarray:
    """Every onset the firmware's detector reports on a whole recording.

    The detector finds the same onsets for any block size (tests/test_onset.py), so the
    recording goes in as one block: fed period by period, the detector's per-call overhead
    was a fifth of the time to simulate a session for training.

    Args:
        signal: float32 [frames, 6], firmware channel order, at sample_rate_hz.

    Returns:
        int64 [n_onsets], sample indices into signal, ascending.
    """
    if signal.ndim != 2 or signal.shape[1] != N_CHANNELS:
        raise ValueError(f"signal shape {signal.shape}, expected [frames, {N_CHANNELS}]")
    detector = HitDetector(config, sample_rate_hz)
    n_frames = signal.shape[0]
    padded = np.zeros((-(-n_frames // BLOCK_FRAMES) * BLOCK_FRAMES, N_CHANNELS), np.float32)
    padded[:n_frames] = signal
    onsets = detector.process(padded)
    return np.array(sorted(onset for onset in onsets if onset < n_frames), dtype=np.int64)


def match_onsets(
    label_samples: np.ndarray, onset_samples: np.ndarray, tolerance_samples: int
) -> np.ndarray:
    """Pair each label with the detection nearest to it, within a tolerance.

    A detection goes to at most one label: the nearest one; another label that found it
    nearest is left unmatched (and reported by the caller).

    Args:
        label_samples: int [n_labels], labelled hit times in samples.
        onset_samples: int [n_onsets], detections, ascending.
        tolerance_samples: the farthest a detection may be from its label.

    Returns:
        int64 [n_labels]: the matched onset sample of each label, or -1.
    """
    matched = np.full(len(label_samples), -1, dtype=np.int64)
    if not len(onset_samples):
        return matched
    right = np.searchsorted(onset_samples, label_samples).clip(0, len(onset_samples) - 1)
    left = (right - 1).clip(0)
    nearer_right = np.abs(onset_samples[right] - label_samples) < np.abs(
        onset_samples[left] - label_samples
    )
    nearest = np.where(nearer_right, right, left)
    distance = np.abs(onset_samples[nearest] - label_samples)
    taken: set[int] = set()
    for label in np.argsort(distance, kind="stable"):
        if distance[label] <= tolerance_samples and nearest[label] not in taken:
            taken.add(nearest[label])
            matched[label] = onset_samples[nearest[label]]
    return matched


DETECTION_MARGIN_SAMPLES = 4800
"""Signal the detector is given past a single hit's level crossing (100 ms at 48 kHz): enough
for any confirmation delay, without running it over a cymbal's whole tail."""


def single_hit_onset(
    signal: np.ndarray,
    config: DetectorConfig,
    sample_rate_hz: int,
    attack_samples: int,
    peak_fraction: float,
) -> tuple[int, bool]:
    """The onset of a single-hit recording (a sample library file).

    The hit's *crossing* is the first sample whose piezo magnitude reaches peak_fraction of
    the file's peak. Its onset is the last detector onset at most attack_samples before the
    crossing: sample files often start with a little noise before the hit, which the detector
    rightly reports as an onset after the quiet lead-in, but that onset comes earlier. Where
    the detector reports none in that span (a hit too soft or too slow for its thresholds,
    or masked by an onset of noise just before), the crossing itself is the onset (the
    fallback).

    Args:
        signal: float32 [frames, 6], with a quiet lead-in before the hit.
        attack_samples: how long before its crossing a hit's onset may lie.
        peak_fraction: the crossing level, as a fraction of the file's peak, in (0, 1].

    Returns:
        (onset sample, whether the fallback placed it).
    """
    magnitude = np.abs(signal[:, PIEZO_CHANNELS]).max(axis=1)
    crossing = int(np.argmax(magnitude >= peak_fraction * magnitude.max()))
    onsets = detect_onsets(signal[: crossing + DETECTION_MARGIN_SAMPLES], config, sample_rate_hz)
    in_reach = onsets[(onsets >= crossing - attack_samples) & (onsets <= crossing)]
    if in_reach.size:
        return int(in_reach[-1]), False
    return crossing, True
