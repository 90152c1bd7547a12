"""Datasets of simulated guitar sessions, cut where the firmware's detector fires.

Each session of the simulator (training.simulator) is replayed through the firmware's own
HitDetector, period by period; each ground-truth hit takes the detection nearest to it, and its
context is cut there. Hits the detector misses are counted, not used: the model learns from
windows placed exactly as the board will place them, detector error included.
"""

import hashlib
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from firmware.features import FeatureConfig
from firmware.layout import HAND_PARTS, LOCATIONS
from firmware.onset import DetectorConfig
from training.data.dataset import ContextConfig, DatasetBuilder, HitDataset, concatenate
from training.data.onsets import detect_onsets, match_onsets
from training.resources import one_blas_thread
from training.simulator.session import Hit, SessionConfig, simulate_session

log = logging.getLogger(__name__)

TASKS = {"hand": HAND_PARTS, "location": LOCATIONS}
WORKERS = os.cpu_count() or 1
"""Sessions are simulated in parallel, one process per core (and one BLAS thread each)."""
MATCH_TOLERANCE_MS = 2.0
"""A ground-truth hit keeps a detection within this distance (the F-measure's tolerance)."""


@dataclass(frozen=True)
class SimulatedSplit:
    """Who plays which instrument for how long, in one split."""

    players: tuple[int, ...]
    instruments: tuple[int, ...]
    seconds_per_session: float = 60.0
    seed: int = 0
    """Sessions are seeded from (seed, player, instrument): splits never share audio."""
    instruments_per_player: int = 0
    """0: every player plays every instrument. n: players take turns through the instruments,
    n each (player k plays instruments k*n to k*n + n - 1, wrapping), so a pool of many guitars
    costs no more sessions than three."""

    def __post_init__(self) -> None:
        if not 0 <= self.instruments_per_player <= len(self.instruments):
            raise ValueError(
                f"instruments_per_player must be in [0, {len(self.instruments)}], "
                f"got {self.instruments_per_player}"
            )

    @property
    def sessions(self) -> tuple[tuple[int, int], ...]:
        """Every (player, instrument) session of the split, in order."""
        if not self.instruments_per_player:
            return tuple((p, i) for p in self.players for i in self.instruments)
        n, pool = self.instruments_per_player, self.instruments
        return tuple(
            (player, pool[(k * n + j) % len(pool)])
            for k, player in enumerate(self.players)
            for j in range(n)
        )


@dataclass(frozen=True)
class SimulatedData:
    """Training, validation and held-out test splits: disjoint players and disjoint guitars.

    Many players playing briefly rather than few playing long: what a model must survive is
    a new player's hands on a new guitar (every board is fitted to a guitar the model never
    heard), so the simulation budget goes into variety: 24 training players, each 20 s on 3 of
    24 instruments (about 5,000 hits). The same sessions on 3 instruments score 0.039 lower
    for the hand part and 0.038 lower for location on unseen guitars (`python -m bench
    hits_real`, docs/HIT_MODELS.md). Validation and test players play instruments of their own.
    The test spreads 8 players over 8 guitars, two each (about 1,500 hits), because guitars
    differ more than three of them show: the model shipped before this test scored 0.860 to
    0.920 for the hand part on three sets of unseen guitars.
    """

    train: SimulatedSplit = field(
        default_factory=lambda: SimulatedSplit(
            tuple(range(24)), tuple(range(3, 27)), 20.0, seed=1, instruments_per_player=3
        )
    )
    validation: SimulatedSplit = field(
        default_factory=lambda: SimulatedSplit((24, 25, 26), (27, 28, 29), 20.0, seed=2)
    )
    test: SimulatedSplit = field(
        default_factory=lambda: SimulatedSplit(
            tuple(range(100, 108)),
            (0, 1, 2, 30, 31, 32, 33, 34),
            30.0,
            seed=3,
            instruments_per_player=2,
        )
    )


@dataclass(frozen=True)
class SessionYield:
    """What one session gave: its dataset and how many hits the detector missed."""

    dataset: HitDataset
    truth_hits: int
    missed: int


def simulate_split(
    split: SimulatedSplit,
    features: FeatureConfig,
    detector: DetectorConfig,
    context: ContextConfig,
    workers: int = WORKERS,
) -> tuple[HitDataset, dict[str, int]]:
    """Simulate every (player, instrument) session of a split and cut its detected hits.

    Returns:
        (the dataset, {"sessions", "truth_hits", "missed"}).
    """
    jobs = [
        (split, player, instrument, features, detector, context)
        for player, instrument in split.sessions
    ]
    with ProcessPoolExecutor(max_workers=workers, initializer=one_blas_thread) as pool:
        results = list(pool.map(_session_dataset, *zip(*jobs, strict=True)))
    summary = {
        "sessions": len(results),
        "truth_hits": sum(r.truth_hits for r in results),
        "missed": sum(r.missed for r in results),
    }
    return concatenate([r.dataset for r in results]), summary


def session_recording(
    split: SimulatedSplit, player: int, instrument: int, sample_rate_hz: int
) -> tuple[np.ndarray, list[Hit], int]:
    """The recording of one (player, instrument) session of a split and its ground truth, as
    simulate_split cuts its hits from (a benchmark can also play it through the firmware).

    Returns:
        (float32 audio [frames, 6], the hits played, the sample rate).
    """
    seed = int(np.random.SeedSequence([split.seed, player, instrument]).generate_state(1)[0])
    config = SessionConfig(
        seconds=split.seconds_per_session,
        players=(player,),
        instrument=instrument,
        string_span=(0.0, 0.6),
        sample_rate_hz=sample_rate_hz,
    )
    return simulate_session(config, seed)


def _session_dataset(
    split: SimulatedSplit,
    player: int,
    instrument: int,
    features: FeatureConfig,
    detector: DetectorConfig,
    context: ContextConfig,
) -> SessionYield:
    audio, hits, fs = session_recording(split, player, instrument, features.sample_rate_hz)
    detected = detect_onsets(audio, detector, fs)
    truth = np.array([hit.onset_sample for hit in hits], dtype=np.int64)
    matched = match_onsets(truth, detected, round(MATCH_TOLERANCE_MS * 1e-3 * fs))
    builder = DatasetBuilder(TASKS, features, context)
    session = f"sim-p{player}-i{instrument}-s{split.seed}"
    for index, (hit, onset) in enumerate(zip(hits, matched, strict=True)):
        if onset < 0:
            continue
        try:
            builder.add(
                audio,
                int(onset),
                {"hand": hit.hand, "location": hit.location},
                hit.dynamics,
                {"session": session, "player": str(player), "instrument": str(instrument)},
                f"{session}:{index}",
            )
        except ValueError:
            continue  # a hit too close to either end of the recording for its context
    return SessionYield(builder.build(), len(hits), int(np.sum(matched < 0)))


def cached_split(
    name: str,
    split: SimulatedSplit,
    features: FeatureConfig,
    cache_dir: Path,
    detector: DetectorConfig | None = None,
    workers: int = WORKERS,
) -> tuple[HitDataset, dict[str, int]]:
    """simulate_split, cached in cache_dir under a hash of everything that shapes the data
    (detector: the firmware's default DetectorConfig when None)."""
    detector = DetectorConfig() if detector is None else detector
    key = json.dumps(
        [asdict(split), features.to_dict(), asdict(detector), _simulator_digest()], sort_keys=True
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = cache_dir / f"{name}-{digest}.npz"
    summary_path = path.with_suffix(".json")
    if path.is_file() and summary_path.is_file():
        return HitDataset.load(path), json.loads(summary_path.read_text())
    log.info("simulating the %s split (%d sessions)", name, len(split.sessions))
    dataset, summary = simulate_split(split, features, detector, ContextConfig(), workers)
    cache_dir.mkdir(parents=True, exist_ok=True)
    dataset.save(path)
    summary_path.write_text(json.dumps(summary))
    return dataset, summary


def _simulator_digest() -> str:
    """A hash of the simulator's and detector's source: a change to either re-simulates."""
    import firmware.onset
    import training.simulator

    files = sorted(Path(training.simulator.__file__).parent.glob("*.py"))
    files.append(Path(firmware.onset.__file__))
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
