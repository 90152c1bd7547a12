"""The event log: every gesture (and whatever else the engine logs) as one JSON object per line.

A run on a recording is scored against its ground truth from this file, so no event may be
lost; the audio loop must not wait on the disk, so the file is written on a thread of its own.
The queue between them is unbounded: events are rare (tens per second at most), and an
unbounded queue is the only kind whose `put` can neither block nor drop.
"""

import json
import logging
import math
import os
import queue
import threading
from pathlib import Path
from typing import Any

import numpy as np

from firmware.errors import ConfigError

log = logging.getLogger(__name__)

_CLOSE = object()
"""Queued by close(): everything logged before it is written, then the thread ends."""


class EventLog:
    """A JSON-lines writer on its own thread.

    Keys are written in the order the event dict gives them. numpy scalars and arrays are
    written as numbers and lists, NaN and infinities as null (every line stays valid JSON), any
    other object JSON cannot hold as its str(): a surprising value never costs the event.
    """

    def __init__(self, path: Path, append: bool = False) -> None:
        """Open (create or, unless append, truncate) path, creating its folder.

        Raises:
            ConfigError: one line naming the path, if it cannot be opened for writing; this
                happens here, before the loop starts, never in log().
        """
        self.path = Path(path)
        self.written = 0
        """Events written to the file so far."""
        self.errors = 0
        """Failed writes or flushes (disk full, I/O error): counted and logged, never raised."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115
        except OSError as error:
            reason = error.strerror or str(error)
            raise ConfigError(f"{self.path}: cannot write the event log ({reason})") from None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="event-log", daemon=True)
        self._thread.start()

    def log(self, event: dict[str, Any]) -> None:
        """Queue one event; returns at once. The dict must not be changed after this call."""
        if self._closed:
            raise RuntimeError(f"{self.path}: event log is closed")
        self._queue.put(event)

    def close(self) -> None:
        """Write everything logged so far, fsync the file and close it; a second call does
        nothing."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_CLOSE)
        self._thread.join()
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as error:
            log.warning("%s: could not flush the event log (%s)", self.path, error.strerror)
        finally:
            self._file.close()

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        """Write events as they come; flush whenever the queue runs empty."""
        while True:
            event = self._queue.get()
            if event is _CLOSE:
                return
            self._write(event)
            if self._queue.empty():
                self._flush()

    def _write(self, event: dict[str, Any]) -> None:
        line = json.dumps(_plain(event), ensure_ascii=False, allow_nan=False)
        try:
            self._file.write(line + "\n")
            self.written += 1
        except OSError as error:
            self._fail(error)

    def _flush(self) -> None:
        try:
            self._file.flush()
        except OSError as error:
            self._fail(error)

    def _fail(self, error: OSError) -> None:
        self.errors += 1
        if self.errors == 1:
            log.warning("%s: cannot write the event log (%s)", self.path, error.strerror)


def _plain(value: Any) -> Any:
    """value with everything JSON cannot hold replaced: numpy values by python numbers and
    lists, NaN and infinities by None, unknown objects by their str()."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray | np.generic):
        return _plain(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int):
        return value
    return str(value)
