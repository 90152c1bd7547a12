"""Hot reload of the hit model: a new bundle deployed while the instrument plays takes over
between two periods; a bad one is refused and the old model keeps playing.

On a board the service runs with `--model .../bundles/hits/current`, a symlink that the bundle
store swaps atomically (firmware/bundle_store.py). A watcher thread notices the change (the
resolved path, or the manifest or model file rewritten in place), loads and validates the new
bundle off the audio thread (manifest, checksum, feature parameters, the interpreter), and only
then hands it over; the audio thread only ever swaps one reference. Whatever a bad bundle makes
the loader raise is counted as a refusal: the watcher itself must outlive every bundle, or
every later deploy would be ignored without a word.
"""

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from firmware.bundle import MANIFEST_NAME, MODEL_NAME
from firmware.errors import HitarError
from firmware.hit_model import HitModel

log = logging.getLogger(__name__)

Fingerprint = tuple[str, int, int]


def bundle_fingerprint(path: Path) -> Fingerprint:
    """What changes when a bundle is replaced: its resolved folder and its files' mtimes."""
    folder = path.resolve()
    try:
        manifest = (folder / MANIFEST_NAME).stat().st_mtime_ns
        model = (folder / MODEL_NAME).stat().st_mtime_ns
    except OSError:
        manifest = model = -1
    return str(folder), manifest, model


class BundleWatcher:
    """Polls a bundle path on its own thread; loads a changed bundle and hands it on."""

    def __init__(
        self,
        path: Path,
        load: Callable[[Path], HitModel],
        on_loaded: Callable[[HitModel], None],
        interval_s: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self.reloads = 0
        self.failures = 0
        self.last_error: str | None = None
        self._load = load
        self._on_loaded = on_loaded
        self._interval_s = interval_s
        self._seen = bundle_fingerprint(self.path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bundle-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.check()

    def check(self) -> bool:
        """Look once; returns whether a new model was handed over."""
        fingerprint = bundle_fingerprint(self.path)
        if fingerprint == self._seen:
            return False
        self._seen = fingerprint
        try:
            model = self._load(self.path)
        except Exception as error:  # any bad bundle is refused; the watch goes on
            self.failures += 1
            self.last_error = str(error) if isinstance(error, HitarError) else repr(error)
            log.warning(
                "new hit model refused, the previous one keeps playing: %s", self.last_error
            )
            return False
        self._on_loaded(model)
        self.reloads += 1
        log.info("hit model reloaded: %s", model.bundle.path)
        return True

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
