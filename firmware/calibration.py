"""Player calibration: per-class offsets added to a hit model's log-probabilities, fitted on a
few labelled hits of one player.

Why offsets and not retraining: on players the model never heard, most hand-part errors are
one player's hand sitting on the wrong side of a class boundary, the same for all of that
player's hits (a heavier thumb read as a heel, hit after hit). Moving each class's boundary by
one number per class fixes that kind of error and cannot learn much else: a handful of labelled
hits per class is enough to fit it, and too few to overfit it. Fitting and applying are a few
lines of numpy, so a calibration can be fitted on the workstation or on the board alike, and
the model itself stays exactly as it was exported and measured.

The offsets live in the bundle manifest ("calibration", per task), so a calibrated bundle is
deployed, checked and hot-swapped like any other. Two routes write one: a labelled take on the
workstation (training/hits/calibrate.py), and hits labelled over OSC while the player plays
(firmware/live_calibration.py).
"""

from typing import Any

import numpy as np

from firmware.errors import BundleError

RIDGE = 1.0
"""Weight of the squared total offsets against the calibration hits' summed negative
log-likelihood: a Gaussian prior on each offset (standard deviation 1/sqrt(2 RIDGE), 0.7 nat)
that a few hits can overrule only when they agree, and many hits outweigh. Chosen by `python
-m bench calibration` on players and guitars of its own, never the test's (its RIDGE_PLAYERS),
from a grid of 0.01 to 3: 1.0 scored best there from a take of 3 to 10 hits per hand part.
Weaker priors let a take of a few hits move the boundaries of players whom the model already
served well, and cost some of them accuracy (docs/HIT_MODELS.md)."""
MIN_HITS_PER_CLASS = 3
"""Fewest labelled hits per class to calibrate from, on either route. On held-out simulated
players 3 per hand part gave nearly what 10 did (`python -m bench calibration`,
docs/HIT_MODELS.md)."""
NEWTON_STEPS = 25
PROBABILITY_FLOOR = 1e-6
"""An int8 model rounds small probabilities to 0; their log is floored here."""


def calibrated(probabilities: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Probabilities with the offsets added to their logs, renormalised.

    Args:
        probabilities: float [..., n_classes], each row summing to about 1.
        offsets: float [n_classes], from fit_offsets.

    Returns:
        float32 [..., n_classes], rows summing to 1.
    """
    logits = np.log(np.maximum(probabilities, PROBABILITY_FLOOR)) + offsets
    return np.exp(_log_softmax(logits)).astype(np.float32)


def fit_offsets(
    probabilities: np.ndarray,
    labels: np.ndarray,
    applied: np.ndarray | None = None,
    ridge: float = RIDGE,
) -> np.ndarray:
    """The offsets that make the labelled hits most likely under a prior (the ridge).

    A regularised multinomial logistic regression with the model's log-probabilities as fixed
    inputs and only the per-class intercepts free: convex, solved by Newton's method with step
    halving (a full step can overshoot when the model is confidently wrong).

    The ridge holds the total offsets (applied + new) near zero, not only the new ones, so the
    model's own boundaries stay the reference however many times a player calibrates: refitting
    a calibrated model on the same hits adds (almost) nothing. A ridge on the new offsets alone
    would push the total further towards the unregularised fit at each round, which runs off
    when the hits are nearly separable.

    Args:
        probabilities: the model's outputs, float [n, n_classes], with `applied` already added
            to their logs (calibrated()).
        labels: int [n], class indices; every class must have at least one hit.
        applied: float [n_classes], offsets already in the probabilities; None for none.
        ridge: weight of the squared total offsets against the hits' summed negative
            log-likelihood (RIDGE unless a benchmark sweeps it).

    Returns:
        float32 [n_classes], summing to 0: the offsets to add to `applied`.

    Raises:
        ValueError: a class without hits, or labels outside the classes.
    """
    n, n_classes = probabilities.shape
    labels = np.asarray(labels)
    if n == 0 or labels.shape != (n,) or labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must be {n} class indices in [0, {n_classes})")
    counts = np.bincount(labels, minlength=n_classes)
    if np.any(counts == 0):
        raise ValueError(f"class {int(np.argmin(counts))} has no calibration hit")
    log_p = np.log(np.maximum(probabilities.astype(np.float64), PROBABILITY_FLOOR))
    target = np.eye(n_classes)[labels]
    applied = np.zeros(n_classes) if applied is None else np.asarray(applied, dtype=np.float64)

    def loss(offsets: np.ndarray) -> float:
        picked = _log_softmax(log_p + offsets)[np.arange(n), labels]
        total = applied + offsets
        return float(-picked.sum() + ridge * total @ total)

    offsets = np.zeros(n_classes)
    for _ in range(NEWTON_STEPS):
        p = np.exp(_log_softmax(log_p + offsets))
        gradient = (p - target).sum(axis=0) + 2 * ridge * (applied + offsets)
        hessian = np.diag(p.sum(axis=0)) - p.T @ p + 2 * ridge * np.eye(n_classes)
        step, before = np.linalg.solve(hessian, gradient), loss(offsets)
        while loss(offsets - step) > before and np.abs(step).max() > 1e-9:
            step /= 2
        offsets -= step
    return (offsets - offsets.mean()).astype(np.float32)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def manifest_offsets(
    calibration: object, classes: dict[str, tuple[str, ...]], where: str
) -> dict[str, np.ndarray]:
    """The offsets per task of a manifest's "calibration" section, checked.

    Args:
        calibration: the section ({task: {"offsets": [...], ...}}), or None when absent.
        classes: task -> class names, from the same manifest.
        where: the manifest's path, for errors.

    Raises:
        BundleError: one line naming the field and what is expected.
    """
    if calibration is None:
        return {}
    if not isinstance(calibration, dict):
        raise BundleError(f"{where}: 'calibration' must be an object of tasks")
    offsets = {}
    for task, section in calibration.items():
        if task not in classes:
            raise BundleError(f"{where}: calibration.{task}: not a task of this model")
        values = section.get("offsets") if isinstance(section, dict) else None
        expected = len(classes[task])
        if (
            not isinstance(values, list)
            or len(values) != expected
            or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)
                for v in values
            )
        ):
            raise BundleError(
                f"{where}: calibration.{task}.offsets must be {expected} finite numbers"
            )
        offsets[task] = np.asarray(values, dtype=np.float32)
    return offsets


def too_few_hits(counts: np.ndarray, classes: tuple[str, ...], task: str) -> str | None:
    """Why a task cannot be calibrated from these labelled hits (one line), or None.

    Args:
        counts: int [n_classes], labelled hits per class.
    """
    short = int(np.argmin(counts))
    if counts[short] >= MIN_HITS_PER_CLASS:
        return None
    return (
        f"task '{task}': class '{classes[short]}' has {counts[short]} labelled hits; "
        f"calibration needs at least {MIN_HITS_PER_CLASS} of each class"
    )


WRITTEN_BY_BUNDLE = ("format", "format_version", "model_file", "sha256")
"""Manifest fields firmware.bundle.write_bundle sets itself."""


def calibrated_manifest(
    manifest: dict[str, Any],
    offsets: dict[str, np.ndarray],
    hits: dict[str, dict[str, int]],
) -> dict[str, Any]:
    """A bundle manifest with its "calibration" section replaced, ready for write_bundle.

    Args:
        manifest: the bundle's manifest (not changed).
        offsets: task -> the offsets to play with (already composed with any earlier ones);
            empty for a bundle without calibration.
        hits: task -> {class name: labelled hits} that the task's offsets were last fitted on.
    """
    out = {k: v for k, v in manifest.items() if k not in WRITTEN_BY_BUNDLE and k != "calibration"}
    if offsets:
        out["calibration"] = {
            task: {
                "offsets": [round(float(v), 6) for v in values],
                "hits": hits.get(task, {}),
            }
            for task, values in offsets.items()
        }
    return out
