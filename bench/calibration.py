"""Player calibration of the shipped hit model on held-out simulated players.

Two routes, as a player would take them:

- from a labelled take (`python -m training hits calibrate`): the held-out players of the
  hit-model benchmark (bench/hits_real.py: players 100-107, the default's test split, cached
  in build/sim-cache) each give ENROLMENT hits per hand part, drawn at random; per-class
  offsets are fitted on what the shipped int8 bundle outputs for those hits
  (firmware.calibration.fit_offsets), and the player's other hits are scored with and without
  them. DRAWS draws per player and size; the figures are means over players and draws;
- on the board, while playing (`{prefix}/control/calibrate`, firmware/live_calibration.py):
  each session of the same test split is played through the firmware's engine (detector,
  features, interpreter, the live calibration's worker) with the calibrate controls a
  player would send around the first LIVE_HITS lone hits of each hand part, then fit. The
  session is then played again on the calibrated model and on the shipped one, and every
  hit but the labelled ones is scored: a 30 s session needs most of its length to give
  LIVE_HITS lone hits of every hand part, so the hits after the fit would be too few.

The calibration's one setting, its ridge (firmware.calibration.RIDGE), is chosen on players
and guitars of its own (RIDGE_PLAYERS), never on the test's: the take route is run there for
each ridge of RIDGE_GRID, and the report says which scored best and whether the firmware uses
it.

Run: `.venv/bin/python -m bench calibration`.
"""

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from bench.common import describe_machine, machine
from firmware.bundle import Bundle, load_bundle
from firmware.bundle_store import BundleStore
from firmware.calibration import RIDGE, calibrated, fit_offsets
from firmware.cli import DEFAULT_MODEL
from firmware.controls import CALIBRATE, Control
from firmware.engine import Engine
from firmware.features import FeatureConfig
from firmware.gesture import Gesture
from firmware.hit_model import HitModel
from firmware.hit_path import HitPath
from firmware.inference import TfliteModel
from firmware.live_calibration import LiveCalibration, Report
from firmware.onset import DetectorConfig, HitDetector
from firmware.replay import WavReplay
from training.data.dataset import HitDataset
from training.hits.evaluate import bundle_labels, evaluate_model
from training.hits.simulated import SimulatedData, SimulatedSplit, cached_split, session_recording

ENROLMENT = (3, 5, 10)
"""Labelled hits per hand part taken from each player."""
DRAWS = 20
SEED = 0
RIDGE_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
"""Calibration ridges (firmware.calibration.RIDGE) tried on RIDGE_PLAYERS."""
CACHE = Path("build") / "sim-cache"
RIDGE_PLAYERS = SimulatedSplit(
    tuple(range(200, 208)), tuple(range(35, 43)), 30.0, seed=4, instruments_per_player=2
)
"""What the ridge is chosen on: 8 players on 8 guitars, 30 s on 2 each, like the test, that
neither training, early stopping nor the test ever heard. The 3 early-stopping players of the
hit-model data are too few to tell ridges apart, and the model was selected on them."""
TASK = "hand"
LIVE_HITS = 5
"""Hits per hand part labelled over OSC in each session of the live route."""
LABEL_LEAD_S = 0.05
LABEL_HOLD_S = 0.02
"""A class is named this long before a labelled hit's onset, and stop is sent this long after
it (its gesture is out 10-12 ms after the onset); only hits with no other hit in that span
are labelled, as a player calibrating plays one stroke at a time."""
PERIOD_FRAMES = 64
MATCH_MS = 5.0
"""A gesture is the ground-truth hit whose onset lies within this of its own."""


def measure() -> dict[str, Any]:
    data = SimulatedData()
    bundle = load_bundle(DEFAULT_MODEL, "hits")
    validation = _ridge_on_validation(bundle)
    test, _ = cached_split("test", data.test, FeatureConfig(), CACHE)
    report, probabilities, truth = _hand_outputs(bundle, test)
    return {
        "machine": machine(),
        "live": _live(data),
        "bundle": bundle.path.name,
        "sha256": bundle.manifest["sha256"],
        "ridge": RIDGE,
        "ridge_on_validation": validation,
        "test_players": list(data.test.players),
        "test_hits": len(test),
        "uncalibrated_accuracy_all_hits": report["tasks"][TASK]["accuracy"],
        "draws": DRAWS,
        "enrolment": _take_route(probabilities, truth, test.groups["player"], RIDGE),
    }


def _hand_outputs(bundle: Bundle, hits: HitDataset) -> tuple[dict, np.ndarray, np.ndarray]:
    """(the bundle's evaluation report, its TASK probabilities, the true class indices) on hits."""
    report, outputs = evaluate_model(TfliteModel(bundle.model_path), bundle.manifest, hits)
    return report, outputs[TASK], bundle_labels(hits, TASK, tuple(bundle.manifest["classes"][TASK]))


def _ridge_on_validation(bundle: Bundle) -> dict[str, Any]:
    """The take route on RIDGE_PLAYERS (never the test's) for each ridge of RIDGE_GRID: what
    firmware.calibration.RIDGE is chosen by."""
    validation, _ = cached_split("ridge", RIDGE_PLAYERS, FeatureConfig(), CACHE)
    _, probabilities, truth = _hand_outputs(bundle, validation)
    players = validation.groups["player"]
    by_ridge = {}
    for ridge in RIDGE_GRID:
        sizes = _take_route(probabilities, truth, players, ridge)
        by_ridge[str(ridge)] = {
            "mean_over_sizes": float(np.mean([s["calibrated"] for s in sizes.values()])),
            **{size: s["calibrated"] for size, s in sizes.items()},
            "worst_player_change": min(
                p["calibrated"] - p["uncalibrated"]
                for s in sizes.values()
                for p in s["per_player"].values()
            ),
        }
    return {
        "players": list(RIDGE_PLAYERS.players),
        "instruments": list(RIDGE_PLAYERS.instruments),
        "hits": len(validation),
        "by_ridge": by_ridge,
        "best": float(max(RIDGE_GRID, key=lambda r: by_ridge[str(r)]["mean_over_sizes"])),
    }


def _take_route(
    probabilities: np.ndarray, truth: np.ndarray, players: np.ndarray, ridge: float
) -> dict[str, Any]:
    """Calibration from labelled takes of ENROLMENT hits per hand part: DRAWS per player and
    size, the same draws for every ridge. Per size: means per player and over players."""
    rng = np.random.default_rng(SEED)
    sizes = {}
    for size in ENROLMENT:
        per_player = {}
        for player in np.unique(players):
            scores = [
                _draw(probabilities, truth, players == player, size, rng, ridge)
                for _ in range(DRAWS)
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
    return sizes


def _draw(
    probabilities: np.ndarray,
    truth: np.ndarray,
    player: np.ndarray,
    size: int,
    rng: np.random.Generator,
    ridge: float,
) -> dict[str, float]:
    """One enrolment of size hits per class from the player's hits; the rest are scored."""
    hits = np.flatnonzero(player)
    enrolled = np.concatenate(
        [rng.choice(hits[truth[hits] == c], size, replace=False) for c in np.unique(truth)]
    )
    rest = np.setdiff1d(hits, enrolled)
    offsets = fit_offsets(probabilities[enrolled], truth[enrolled], ridge=ridge)
    return {
        "calibrated": float(
            np.mean(calibrated(probabilities[rest], offsets).argmax(axis=1) == truth[rest])
        ),
        "uncalibrated": float(np.mean(probabilities[rest].argmax(axis=1) == truth[rest])),
    }


def calibration_schedule(
    onsets: np.ndarray, hands: list[str], rate_hz: int, per_hand: int
) -> tuple[list[tuple[int, str]], list[int]]:
    """The calibrate controls a player would send: the hand part named before each of the
    first per_hand lone hits of every hand part, stop after it, fit after the last.

    Returns:
        ((input frame, control value) in time order, indices of the labelled hits).
    """
    lead, hold = round(LABEL_LEAD_S * rate_hz), round(LABEL_HOLD_S * rate_hz)
    labelled: list[int] = []
    schedule: list[tuple[int, str]] = []
    for index, hand in enumerate(hands):
        alone = np.sum(np.abs(onsets - onsets[index]) <= lead + hold) == 1
        if alone and sum(hands[i] == hand for i in labelled) < per_hand:
            labelled.append(index)
            schedule += [(int(onsets[index]) - lead, hand), (int(onsets[index]) + hold, "stop")]
        if len(labelled) == per_hand * len(set(hands)):
            break
    schedule.append((int(onsets[labelled[-1]]) + 2 * lead, "fit"))
    return schedule, labelled


class ScriptedControls:
    """The engine's ControlSource, giving calibrate controls at set input frames: what an OSC
    client sends at those moments (the real control server is tested on its own). The poll
    after fit waits for the fit's worker, so that the hits after it are the calibrated
    model's: a fast replay reaches the next hit long before a player would."""

    def __init__(
        self,
        schedule: list[tuple[int, str]],
        frames: Callable[[], int],
        calibration: LiveCalibration,
    ) -> None:
        self.schedule, self.frames, self.calibration = list(schedule), frames, calibration
        self.rejected = 0
        self._waiting = False

    def poll(self) -> Control | None:
        if self._waiting:
            self.calibration.close()
            self._waiting = False
        if self.schedule and self.frames() >= self.schedule[0][0]:
            value = self.schedule.pop(0)[1]
            self._waiting = value == "fit"
            return Control(CALIBRATE, value)
        return None


def play_through_firmware(
    path: Path,
    rate_hz: int,
    model: HitModel,
    schedule: list[tuple[int, str]] = (),
    report: Report = lambda event, detail: None,
    store: BundleStore | None = None,
) -> tuple[list[Gesture], LiveCalibration, HitModel]:
    """Replay a recording (fast) through the firmware's engine with its live calibration and
    the scheduled calibrate controls.

    Returns:
        (the gestures, the calibration, the model playing at the end).
    """
    features = FeatureConfig()
    source = WavReplay(path, PERIOD_FRAMES, rate_hz, realtime=False)
    hit_path = HitPath(
        HitDetector(DetectorConfig(), rate_hz), model, features, rate_hz, PERIOD_FRAMES
    )
    calibration = LiveCalibration(lambda: hit_path.model, hit_path.replace_model, report, store)
    gestures: list[Gesture] = []
    engine = Engine(source, rate_hz, PERIOD_FRAMES, hit_path, on_gesture=gestures.append,
                    calibration=calibration)  # fmt: skip
    engine.controls = ScriptedControls(schedule, lambda: engine.stats.frames, calibration)
    try:
        engine.run()
    finally:
        calibration.close()
        source.close()
    return gestures, calibration, hit_path.model


def matched_hits(gestures: list[Gesture], onsets: np.ndarray, rate_hz: int) -> np.ndarray:
    """Ground-truth index of each gesture, -1 where no hit lies within MATCH_MS."""
    if not gestures:
        return np.zeros(0, dtype=int)
    distance = np.abs(onsets[None, :] - np.array([g.onset_sample for g in gestures])[:, None])
    return np.where(distance.min(axis=1) <= MATCH_MS * 1e-3 * rate_hz, distance.argmin(axis=1), -1)


def hand_accuracy(
    gestures: list[Gesture], onsets: np.ndarray, hands: list[str], rate_hz: int, skip: set[int]
) -> tuple[float, int]:
    """(hand-part accuracy, hits scored) over the gestures of hits not in skip."""
    truth = matched_hits(gestures, onsets, rate_hz)
    scored = [
        gesture.hand == hands[t]
        for gesture, t in zip(gestures, truth, strict=True)
        if t >= 0 and t not in skip
    ]
    return float(np.mean(scored)), len(scored)


def _live(data: SimulatedData) -> dict[str, Any]:
    """The live route on every session of the test split (see the module docstring)."""
    sessions = {}
    with tempfile.TemporaryDirectory(prefix="hitar-bench-calibration-") as folder:
        for player, instrument in data.test.sessions:
            rate = FeatureConfig().sample_rate_hz
            audio, hits, rate = session_recording(data.test, player, instrument, rate)
            path = Path(folder) / f"p{player}-i{instrument}.wav"
            soundfile.write(path, audio, rate, subtype="FLOAT")
            onsets, hands = np.array([h.onset_sample for h in hits]), [h.hand for h in hits]
            schedule, labelled = calibration_schedule(onsets, hands, rate, LIVE_HITS)
            shipped = HitModel(DEFAULT_MODEL, FeatureConfig())
            _, calibration, fitted = play_through_firmware(path, rate, shipped, schedule)
            plain, _, _ = play_through_firmware(path, rate, shipped)
            live, _, _ = play_through_firmware(path, rate, fitted)
            before, n = hand_accuracy(plain, onsets, hands, rate, set(labelled))
            after, _ = hand_accuracy(live, onsets, hands, rate, set(labelled))
            sessions[f"p{player}-i{instrument}"] = {
                "player": player,
                "hits": len(hits),
                "labelled": len(labelled),
                "scored": n,
                "fits": calibration.fits,
                "fit_ms": calibration.last_fit_ms,
                "calibrated": after,
                "uncalibrated": before,
            }
    by_player = {
        str(player): {
            key: float(np.mean([s[key] for s in sessions.values() if s["player"] == player]))
            for key in ("calibrated", "uncalibrated")
        }
        for player in data.test.players
    }
    return {
        "hits_per_hand_part": LIVE_HITS,
        "sessions": sessions,
        "per_player": by_player,
        **{
            key: float(np.mean([s[key] for s in sessions.values()]))
            for key in ("calibrated", "uncalibrated")
        },
        "fit_ms_median": float(np.median([s["fit_ms"] for s in sessions.values()])),
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
            "## Player calibration of the hit model (`firmware/calibration.py`, "
            "`firmware/live_calibration.py`)",
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
            *_ridge_report(results["ridge_on_validation"], results["ridge"]),
            "",
            f"Per player, {ENROLMENT[1]} hits per hand part:",
            "",
            "| player | calibrated | uncalibrated |",
            "| --- | --- | --- |",
            *players,
            "",
            *_live_report(results["live"]),
        ]
    )


def _ridge_report(validation: dict[str, Any], ridge: float) -> list[str]:
    rows = [
        f"| {r} | {v['mean_over_sizes']:.4f} | "
        + " | ".join(f"{v[str(size)]:.3f}" for size in ENROLMENT)
        + f" | {v['worst_player_change']:+.3f} |"
        for r, v in validation["by_ridge"].items()
    ]
    verdict = (
        "the firmware's RIDGE"
        if validation["best"] == ridge
        else f"**not the firmware's RIDGE ({ridge:g})**"
    )
    return [
        f"The ridge is chosen on players {tuple(validation['players'])} on guitars "
        f"{tuple(validation['instruments'])} ({validation['hits']} hits), whom neither "
        "training, early stopping nor the test heard: the take route as above at each ridge, "
        f"best by the mean over sizes **{validation['best']:g}**, {verdict}.",
        "",
        "| ridge | mean over sizes | "
        + " | ".join(f"{size} per part" for size in ENROLMENT)
        + " | worst change of a player |",
        "| --- | --- | " + " | ".join("---" for _ in ENROLMENT) + " | --- |",
        *rows,
    ]


def _live_report(live: dict[str, Any]) -> list[str]:
    sessions = live["sessions"].values()
    players = [
        f"| {player} | {p['calibrated']:.3f} | {p['uncalibrated']:.3f} |"
        for player, p in live["per_player"].items()
    ]
    return [
        "**On the board, while playing** (`{prefix}/control/calibrate`, "
        "firmware/live_calibration.py): each of the "
        f"{len(sessions)} sessions of those players (30 s each, "
        f"{sum(s['hits'] for s in sessions)} hits) is played through the firmware's engine "
        f"with the controls a player would send around the first {live['hits_per_hand_part']} "
        "lone hits of each hand part (the class named 50 ms before the hit, stop 20 ms after "
        "it), then fit; the session is then played again on the calibrated model and on the "
        f"shipped one, and the {sum(s['scored'] for s in sessions)} detected hits that were "
        "not labelled are scored (means over each player's sessions, then over players). Hand "
        f"accuracy **{live['calibrated']:.3f}** calibrated, {live['uncalibrated']:.3f} "
        f"uncalibrated. The fit took {live['fit_ms_median']:.1f} ms (median over sessions) on "
        "the calibration's own thread, never between two periods.",
        "",
        "| player | calibrated on the board | uncalibrated |",
        "| --- | --- | --- |",
        *players,
    ]
