"""Player calibration on the board, driven over OSC while the player plays.

The workstation route (`python -m training hits calibrate`) needs a recorded, labelled take.
On the board the player says what they are about to play instead: `{prefix}/control/calibrate
s thumb`, a few thumb strokes, `... s heel`, a few heel strokes, and so on, then `... s fit`.
Every hit played while a class is named is kept with the probabilities the model gave it; fit
finds the per-class offsets (firmware.calibration) that make those hits most likely, and the
instrument plays on them from the next hit on. Nothing is retrained and nothing is downloaded:
the fit is a few milliseconds of numpy.

Who runs what:
- the engine thread, between periods, calls `command` (a validated control) and `observe`
  (each gesture): both only append to a list or start a thread, never fit or write;
- a worker thread fits, hands the recalibrated model to the hit path (one reference swap, as
  a hot reload does) and, when the model was loaded from a bundle store, installs the
  calibrated bundle there, so that it survives a restart and the store can roll it back.

What happens is reported on `{prefix}/calibration s event s detail` (docs/OSC.md), so a Max or
Pd patch can show the player where they are; the worker's results (fitted, reset) also go to
the log, the engine thread's only at debug level (nothing that may block between periods).
"""

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from firmware.bundle import write_bundle
from firmware.bundle_store import BundleStore
from firmware.calibration import calibrated_manifest, fit_offsets, too_few_hits
from firmware.controls import CALIBRATION_COMMANDS
from firmware.errors import HitarError
from firmware.gesture import Gesture
from firmware.hit_model import HitModel

log = logging.getLogger(__name__)

MAX_LABELLED_HITS = 1000
"""Labelled hits kept at most (about 40 KB); later ones are refused until fit or clear: a
forgotten label must not grow the list for the whole concert."""

Report = Callable[[str, str], None]
"""(event, detail) -> sends `{prefix}/calibration s event s detail`."""


class LiveCalibration:
    """Labelled hits collected while playing, and the fits made from them.

    Args:
        current_model: returns the model playing now (HitPath.model).
        take_over: hands a recalibrated model to the hit path (HitPath.replace_model).
        report: where events go (OSC and log).
        store: the bundle store the model was loaded from, or None (the calibration then
            lasts until the firmware stops).
    """

    def __init__(
        self,
        current_model: Callable[[], HitModel],
        take_over: Callable[[HitModel], None],
        report: Report,
        store: BundleStore | None = None,
    ) -> None:
        self._current_model = current_model
        self._take_over = take_over
        self._report = report
        self._store = store
        self.label: tuple[str, int] | None = None
        """(task, class index) that the next hits are labelled with, or None."""
        self._hits: list[tuple[str, int, np.ndarray]] = []
        self._counts: dict[tuple[str, int], int] = {}
        """Labelled hits per (task, class index), kept as they come: the engine thread never
        walks the list."""
        self._model: HitModel | None = None
        """The model that classified the labelled hits: another one invalidates them."""
        self._worker: threading.Thread | None = None
        self.fits = 0
        """Calibrations fitted and playing."""
        self.failures = 0
        """Commands refused and fits that failed, each reported."""
        self.last_fit_ms = 0.0
        """How long the last fit took on its worker (for the benchmark)."""

    @property
    def labelled_hits(self) -> int:
        return len(self._hits)

    def command(self, value: str) -> None:
        """Apply one calibrate control (engine thread): a class name or a command."""
        if value not in CALIBRATION_COMMANDS:
            self._name(value)
        elif value == "stop":
            self.label = None
            self._say("stopped", self._counts_text())
        elif value == "clear":
            self.label = None
            self._drop_hits()
            self._say("cleared", "no labelled hits")
        elif self._worker is not None and self._worker.is_alive():
            self._fail(f"{value}: the last fit is still running; send it again in a moment")
        elif value == "fit":
            self._start_fit()
        else:
            self.label = None
            self._drop_hits()
            self._start(self._reset, ())

    def observe(self, gesture: Gesture) -> None:
        """Keep a gesture's probabilities under the current label (engine thread, per hit)."""
        if self.label is None:
            return
        model = self._current_model()
        if self._model is not model:
            if self._hits:
                self._fail(f"the model changed; {len(self._hits)} labelled hits dropped")
            self._drop_hits()
            self._model = model
        if len(self._hits) >= MAX_LABELLED_HITS:
            self._fail(f"{MAX_LABELLED_HITS} labelled hits already: send fit or clear")
            self.label = None
            return
        task, index = self.label
        probabilities = gesture.hand_p if task == "hand" else gesture.location_p
        self._hits.append((task, index, np.fromiter(probabilities.values(), np.float64)))
        count = self._counts[task, index] = self._counts.get((task, index), 0) + 1
        name = model.classes[task][index]
        self._say("hit", f"{name} {count} (played {getattr(gesture, task)})")

    def close(self) -> None:
        """Wait for a running fit to finish (its result still reported)."""
        if self._worker is not None:
            self._worker.join()

    def _name(self, class_name: str) -> None:
        model = self._current_model()
        for task, names in model.classes.items():
            if class_name in names:
                self.label = (task, names.index(class_name))
                self._say("labelling", f"{task} {class_name}: play it now")
                return
        every = ", ".join(name for names in model.classes.values() for name in names)
        self._fail(f"'{class_name}' is not a class of this model ({every})")

    def _start_fit(self) -> None:
        """Check the counts per class (a few numbers) and hand the labelled hits to a worker,
        which gathers and fits them."""
        self.label = None
        model = self._current_model()
        tasks = []
        for task, names in model.classes.items():
            counts = np.array([self._counts.get((task, i), 0) for i in range(len(names))])
            if not counts.any():
                continue
            shortfall = too_few_hits(counts, names, task)
            if shortfall is not None:
                self._fail(f"not fitted, labelled hits kept: {shortfall}")
                return
            tasks.append(task)
        if not tasks:
            self._fail("no labelled hits to fit: name a class, play it, then send fit")
            return
        hits = self._hits
        self._drop_hits()
        self._start(self._fit, (model, tasks, hits))

    def _drop_hits(self) -> None:
        self._hits, self._counts = [], {}

    def _start(self, target: Callable[..., None], args: tuple) -> None:
        self._worker = threading.Thread(
            target=self._reporting, args=(target, args), name="live-calibration", daemon=True
        )
        self._worker.start()

    def _reporting(self, target: Callable[..., None], args: tuple) -> None:
        """Run a worker's job; whatever it raises is reported, never lost with the thread."""
        try:
            target(*args)
        except Exception as error:  # the instrument plays on; the player must hear why
            job = target.__name__.lstrip("_")
            self._fail(f"{job} failed, the model playing is unchanged: {error!r}", logging.WARNING)

    def _fit(
        self, model: HitModel, tasks: list[str], labelled: list[tuple[str, int, np.ndarray]]
    ) -> None:
        """Worker: fit each labelled task, play on it, save it. The labelled hits were
        classified with the model's own offsets, so the new ones add to them."""
        started = time.perf_counter()
        offsets = dict(model.offsets)
        hits: dict[str, dict[str, int]] = {}
        texts = []
        for task in tasks:
            names = model.classes[task]
            labels = np.array([index for t, index, _ in labelled if t == task])
            probabilities = np.stack([p for t, _, p in labelled if t == task])
            applied = offsets.get(task, np.zeros(len(names), dtype=np.float32))
            offsets[task] = applied + fit_offsets(probabilities, labels, applied)
            counts = np.bincount(labels, minlength=len(names)).tolist()
            hits[task] = dict(zip(names, counts, strict=True))
            values = " ".join(f"{n} {v:+.2f}" for n, v in zip(names, offsets[task], strict=True))
            texts.append(f"{task}: {values}")
        self.last_fit_ms = 1e3 * (time.perf_counter() - started)
        self._take_over(model.with_offsets(offsets))
        self.fits += 1
        fitted_text = "; ".join(texts)
        self._say("fitted", f"{fitted_text}; {self._save(model, offsets, hits)}", logging.INFO)

    def _reset(self) -> None:
        """Worker: play and save the model without any player calibration."""
        model = self._current_model()
        self._take_over(model.with_offsets({}))
        self._say("reset", f"no player calibration; {self._save(model, {}, {})}", logging.INFO)

    def _save(
        self, model: HitModel, offsets: dict[str, np.ndarray], hits: dict[str, dict[str, int]]
    ) -> str:
        """Install the bundle with these offsets in the store; says where, or why not."""
        if self._store is None:
            return "playing until the firmware stops (the model is not in a bundle store)"
        earlier = model.bundle.manifest.get("calibration") or {}
        hits = {t: hits.get(t, earlier.get(t, {}).get("hits", {})) for t in offsets}
        manifest = calibrated_manifest(model.bundle.manifest, offsets, hits)
        try:
            with tempfile.TemporaryDirectory(prefix="hitar-calibration-") as folder:
                source = write_bundle(Path(folder), model.bundle.model_path.read_bytes(), manifest)
                installed, _ = self._store.install(source.path)
        except (HitarError, OSError) as error:
            self.failures += 1
            return f"not saved ({error})"
        return f"saved as {installed.name}"

    def _counts_text(self) -> str:
        if not self._counts:
            return "no labelled hits"
        classes = self._current_model().classes
        return ", ".join(
            f"{classes[task][index]} {count}" for (task, index), count in self._counts.items()
        )

    def _say(self, event: str, detail: str, level: int = logging.DEBUG) -> None:
        """Report an event; level: the log level, above debug only off the engine thread."""
        log.log(level, "calibration %s: %s", event, detail)
        self._report(event, detail)

    def _fail(self, detail: str, level: int = logging.DEBUG) -> None:
        self.failures += 1
        self._say("error", detail, level)
