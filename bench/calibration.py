"""Player calibration of the shipped hit model on held-out simulated players.

The held-out players of the hit-model benchmark (bench/hits_real.py: players 100-103, the
default's test split, cached in build/sim-cache) each give ENROLMENT hits per hand part, drawn
at random; per-class offsets are fitted on what the shipped int8 bundle outputs for those hits
(firmware.calibration.fit_offsets, as `python -m training hits calibrate` does), and the
player's other hits are scored with and without them. DRAWS draws per player and size; the
figures are means over players and draws.

Run: `.venv/bin/python -m bench calibration`.
"""

from pathlib import Path
from typing import Any

import numpy as np

from bench.common import describe_machine, machine
from firmware.bundle import load_bundle
from firmware.calibration import calibrated, fit_offsets
from firmware.cli import DEFAULT_MODEL
from firmware.features import FeatureConfig
from firmware.inference import TfliteModel
from training.hits.evaluate import bundle_labels, evaluate_model
from training.hits.simulated import SimulatedData, cached_split

ENROLMENT = (3, 5, 10)
"""Labelled hits per hand part taken from each player."""
DRAWS = 20
SEED = 0
TASK = "hand"


def measure() -> dict[str, Any]:
    data = SimulatedData()
    test, _ = cached_split("test", data.test, FeatureConfig(), Path("build") / "sim-cache")
    bundle = load_bundle(DEFAULT_MODEL, "hits")
    classes = tuple(bundle.manifest["classes"][TASK])
    report, outputs = evaluate_model(TfliteModel(bundle.model_path), bundle.manifest, test)
    truth = bundle_labels(test, TASK, classes)
    players = test.groups["player"]
    rng = np.random.default_rng(SEED)
    sizes = {}
    for size in ENROLMENT:
        per_player = {}
        for player in np.unique(players):
            scores = [
                _draw(outputs[TASK], truth, players == player, size, rng) for _ in range(DRAWS)
            ]
            per_player[str(player)] = {
                key: float(np.mean([score[key] for score in scores]))
                for key in ("calibrated", "uncalibrated")
            }
        sizes[str(size)] = {
            "per_player": per_player,
            **{
                key: float(np.mean([p[key] for p in per_player.values()]))
                for key in ("calibrated", "uncalibrated")
            },
            "worst_player_calibrated": min(p["calibrated"] for p in per_player.values()),
        }
    return {
        "machine": machine(),
        "bundle": bundle.path.name,
        "sha256": bundle.manifest["sha256"],
        "test_players": list(data.test.players),
        "test_hits": len(test),
        "uncalibrated_accuracy_all_hits": report["tasks"][TASK]["accuracy"],
        "draws": DRAWS,
        "enrolment": sizes,
    }


def _draw(
    probabilities: np.ndarray,
    truth: np.ndarray,
    player: np.ndarray,
    size: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """One enrolment of size hits per class from the player's hits; the rest are scored."""
    hits = np.flatnonzero(player)
    enrolled = np.concatenate(
        [rng.choice(hits[truth[hits] == c], size, replace=False) for c in np.unique(truth)]
    )
    rest = np.setdiff1d(hits, enrolled)
    offsets = fit_offsets(probabilities[enrolled], truth[enrolled])
    return {
        "calibrated": float(
            np.mean(calibrated(probabilities[rest], offsets).argmax(axis=1) == truth[rest])
        ),
        "uncalibrated": float(np.mean(probabilities[rest].argmax(axis=1) == truth[rest])),
    }


def report(results: dict[str, Any]) -> str:
    sizes = results["enrolment"]
    rows = [
        f"| {size} | **{s['calibrated']:.3f}** | {s['worst_player_calibrated']:.3f} | "
        f"{s['uncalibrated']:.3f} |"
        for size, s in sizes.items()
    ]
    middle = sizes[str(ENROLMENT[1])]["per_player"]
    players = [
        f"| {player} | {p['calibrated']:.3f} | {p['uncalibrated']:.3f} |"
        for player, p in middle.items()
    ]
    return "\n".join(
        [
            "## Player calibration of the hit model (`firmware/calibration.py`)",
            "",
            f"Command: `.venv/bin/python -m bench calibration` (bench/calibration.py). "
            f"Machine: {describe_machine(results['machine'])}. Bundle `{results['bundle']}` "
            f"(int8, sha256 {results['sha256'][:12]}), on the held-out simulated players "
            f"{tuple(results['test_players'])} of the hit-model benchmark "
            f"({results['test_hits']} hits; hand-part accuracy without calibration "
            f"{results['uncalibrated_accuracy_all_hits']:.3f}). For each player, N labelled "
            f"hits per hand part are drawn at random, per-class offsets are fitted on the "
            f"bundle's outputs for them, and the player's other hits are scored; "
            f"{results['draws']} draws per player, means over players and draws.",
            "",
            "| labelled hits per hand part | hand accuracy, calibrated | worst player "
            "| same hits, uncalibrated |",
            "| --- | --- | --- | --- |",
            *rows,
            "",
            f"Per player, {ENROLMENT[1]} hits per hand part:",
            "",
            "| player | calibrated | uncalibrated |",
            "| --- | --- | --- |",
            *players,
        ]
    )
