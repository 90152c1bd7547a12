"""The soak's input: a recording looped for hours that loses periods now and then, as an
overrunning capture device does, plus the arithmetic that maps its ground truth onto the
engine's sample indices.

On the board an overrun happens when the engine falls behind by more than the ALSA buffer: the
frames the buffer could not hold are lost, the stream restarts, and AlsaCapture counts one xrun.
Here overruns come on a seeded schedule instead (`overrun_schedule`), so the soak knows exactly
which frames were lost. Positions are counted in two ways:

- stream frames: frames of the looped recording (loop k of a recording of L frames starts at
  k * L), whether the engine saw them or not;
- engine frames: what the engine read, which is what every onset and status is stamped in
  (docs/ARCHITECTURE.md): stream frames minus the frames lost before them.

The engine is not told: it sees a source with the AlsaCapture contract (read(out), xruns).
"""

import time
from dataclasses import dataclass

import numpy as np

from firmware.errors import AudioDeviceError
from firmware.replay import WavReplay

FAILURES = ("crash", "device")
"""Injected failures: 'crash', an unexpected exception (a bug) in the per-period path;
'device', the capture device gone (AudioDeviceError, as AlsaCapture raises)."""


@dataclass(frozen=True)
class OverrunConfig:
    """When overruns come and how many frames each loses."""

    mean_interval_s: float = 30.0
    """Mean audio time between two overruns; the gaps are exponential (a Poisson process)."""
    max_lost_periods: int = 3
    """Each overrun loses 1..max_lost_periods whole periods, equally likely (an ALSA buffer of
    that many periods overflowing)."""
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.mean_interval_s > 0:
            raise ValueError(f"mean_interval_s must be > 0, got {self.mean_interval_s}")
        if self.max_lost_periods < 1:
            raise ValueError(f"max_lost_periods must be >= 1, got {self.max_lost_periods}")


def overrun_schedule(
    config: OverrunConfig, stream_frames: int, period_frames: int, sample_rate_hz: int
) -> np.ndarray:
    """The overruns of a stream, drawn from config.seed.

    Returns:
        int64 [n_overruns, 2]: (stream frame of the first lost frame, frames lost), ascending,
        on period boundaries, never touching each other, all within stream_frames, none at 0.
    """
    rng = np.random.default_rng(config.seed)
    mean_periods = config.mean_interval_s * sample_rate_hz / period_frames
    rows = []
    position = 0
    while True:
        position += max(1, round(rng.exponential(mean_periods))) * period_frames
        lost = int(rng.integers(1, config.max_lost_periods + 1)) * period_frames
        if position + lost > stream_frames:
            return np.array(rows, np.int64).reshape(-1, 2)
        rows.append((position, lost))
        position += lost


def to_engine_frames(stream_samples: np.ndarray, schedule: np.ndarray) -> np.ndarray:
    """Stream positions as the engine counts them: minus the frames lost before them.

    Args:
        stream_samples: int [n], stream frames.
        schedule: overrun_schedule's [n_overruns, 2].

    Returns:
        int64 [n]: engine frames; a lost sample maps to the engine frame that followed its gap.
    """
    stream_samples = np.asarray(stream_samples, np.int64)
    if not len(schedule):
        return stream_samples.copy()
    starts, lost = schedule[:, 0], schedule[:, 1]
    begun = np.searchsorted(starts, stream_samples, side="right")
    lost_by_then = np.concatenate([[0], np.cumsum(lost)])[begun]
    last = np.maximum(begun - 1, 0)
    not_yet_lost = np.where(begun > 0, np.maximum(starts[last] + lost[last] - stream_samples, 0), 0)
    return stream_samples - lost_by_then + not_yet_lost


def near_overrun(
    stream_samples: np.ndarray, schedule: np.ndarray, before: int, after: int
) -> np.ndarray:
    """bool [n]: whether [sample - before, sample + after] touches frames an overrun lost
    (a hit there lost part of its onset or of its analysis window)."""
    stream_samples = np.asarray(stream_samples, np.int64)
    if not len(schedule):
        return np.zeros(stream_samples.shape, bool)
    starts, ends = schedule[:, 0], schedule[:, 0] + schedule[:, 1]
    # The first overrun ending after the span's start, and whether it starts before its end.
    first = np.searchsorted(ends, stream_samples - before, side="right")
    index = np.minimum(first, len(starts) - 1)
    return (first < len(starts)) & (starts[index] <= stream_samples + after)


class OverrunSource:
    """A looped WavReplay with the scheduled overruns applied; the engine's source.

    Args:
        replay: the looped recording, unpaced (realtime=False).
        schedule: overrun_schedule for its stream.
        speed: at most this many times real time (None: as fast as the engine goes); pacing
            that lets a short test run last long enough for its faults, never counted as load.
        fail_at_frame: raise the failure once the engine has read this many frames.
        failure: one of FAILURES.
    """

    def __init__(
        self,
        replay: WavReplay,
        schedule: np.ndarray,
        speed: float | None = None,
        fail_at_frame: int | None = None,
        failure: str = "crash",
    ) -> None:
        if failure not in FAILURES:
            raise ValueError(f"failure must be one of {FAILURES}, got {failure!r}")
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.replay = replay
        self.xruns = 0
        """Overruns so far, as AlsaCapture counts them."""
        self.stream_frames = 0
        """Frames taken from the recording, the lost ones included."""
        self.engine_frames = 0
        """Frames handed to the engine."""
        self._starts = schedule[:, 0].tolist()
        self._lost = schedule[:, 1].tolist()
        self._next = 0
        self._seconds_per_frame = None if speed is None else 1.0 / (speed * replay.sample_rate_hz)
        self._start_s: float | None = None
        self._fail_at_frame = fail_at_frame
        self._failure = failure

    def read(self, out: np.ndarray) -> int:
        """Fill out, float32 [period_frames, 6], with the next period the engine gets to see.

        Returns:
            The frames in out (fewer at the end of the last loop, 0 after it).

        Raises:
            RuntimeError, AudioDeviceError: the injected failure, once it is due.
        """
        if self._next < len(self._starts) and self.stream_frames == self._starts[self._next]:
            self._lose(self._lost[self._next], out)
        frames = self.replay.read(out)
        self.stream_frames += frames
        self.engine_frames += frames
        if self._fail_at_frame is not None and self.engine_frames >= self._fail_at_frame:
            self._fail()
        if self._seconds_per_frame is not None:
            self._pace()
        return frames

    def _lose(self, frames: int, out: np.ndarray) -> None:
        """One overrun: frames of the stream go by unseen (read into out, then overwritten)."""
        self._next += 1
        self.xruns += 1
        while frames > 0:
            read = self.replay.read(out)
            if read == 0:
                return
            self.stream_frames += read
            frames -= read

    def _fail(self) -> None:
        where = f"after {self.engine_frames} frames (injected by bench/soak/source.py)"
        if self._failure == "device":
            raise AudioDeviceError(f"soak capture device: gone {where}")
        raise RuntimeError(f"injected crash {where}")

    def _pace(self) -> None:
        """Sleep when more than 10 ms ahead of speed x real time: pacing in coarse steps."""
        now_s = time.monotonic()
        if self._start_s is None:
            self._start_s = now_s
        ahead_s = self._start_s + self.engine_frames * self._seconds_per_frame - now_s
        if ahead_s > 0.01:
            time.sleep(ahead_s)

    def close(self) -> None:
        self.replay.close()
