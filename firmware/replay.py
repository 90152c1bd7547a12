"""Recordings in place of the audio interface: a WAV replay source and a WAV sink.

WavReplay has AlsaCapture's read(out) contract, so the engine runs unchanged on a recording:
for demos without the instrument, for tests, and for benchmarks and scoring, where every onset
and event is stamped in input samples that line up with the recording's ground truth. Paced in
real time it behaves like a capture device (a period becomes available once its last frame has
"arrived"); unpaced it runs as fast as the engine can go.

The file is read in chunks of whole periods (an hour of audio is never in memory at once), into
buffers allocated here; each read(out) then only maps channels from the chunk into out.
"""

import time
from pathlib import Path

import numpy as np
import soundfile

from firmware.audio_io import check_channel_map, check_period_buffer
from firmware.errors import InputFileError

CHUNK_FRAMES = 4096
"""Frames read from the file at a time (rounded up to whole periods): one libsndfile call per
chunk instead of per period makes unpaced replay several times faster."""


class WavReplay:
    """A recording as a source of periods, in logical channel order."""

    def __init__(
        self,
        path: Path,
        period_frames: int,
        expected_rate_hz: int,
        channel_map: tuple[int, ...] = (0, 1, 2, 3, 4, 5),
        realtime: bool = True,
        loops: int = 1,
    ) -> None:
        """Open the recording and check it against what the firmware needs.

        Args:
            path: any file libsndfile reads (WAV, FLAC, ...), with at least the channels
                channel_map names.
            channel_map: file channel (0-based) of piezo1..piezo5 and the pickup.
            realtime: pace reads to the wall clock (period_frames / rate per read), as a
                capture device would; False reads as fast as the caller asks.
            loops: play the recording this many times back to back, as one stream: a period
                that crosses the end of the recording continues with its beginning, so sample
                indices go on counting (hours of input from a short recording: bench/soak.py).

        Raises:
            InputFileError: one line naming the file: missing or unreadable, a sample rate
                other than expected_rate_hz, fewer channels than the channel map needs.
            ConfigError: a malformed channel map.
        """
        check_channel_map(channel_map, "channel_map")
        if period_frames < 1:
            raise ValueError(f"period_frames: expected a positive integer, got {period_frames}")
        if loops < 1:
            raise ValueError(f"loops: expected a positive integer, got {loops}")
        self.path = Path(path)
        self.period_frames = period_frames
        self.realtime = realtime
        self.xruns = 0
        """Always 0: a recording never overruns (kept for the source contract)."""
        self._file = _open(self.path)
        self.sample_rate_hz: int = self._file.samplerate
        self.total_frames: int = self._file.frames
        channels = self._file.channels
        if self.sample_rate_hz != expected_rate_hz:
            self._file.close()
            raise InputFileError(
                f"{self.path}: {self.sample_rate_hz} Hz, the model expects {expected_rate_hz} Hz"
            )
        if max(channel_map) >= channels:
            self._file.close()
            raise InputFileError(
                f"{self.path}: {channels} channel{'s' if channels != 1 else ''}, the channel "
                f"map {list(channel_map)} needs at least {max(channel_map) + 1}"
            )
        self._map = np.asarray(channel_map, dtype=np.intp)
        chunk_frames = -(-CHUNK_FRAMES // period_frames) * period_frames
        self._chunk = np.zeros((chunk_frames, channels), np.float32)
        self._chunk_frames = 0
        self._position = 0
        self._loops_left = loops - 1
        self._period_s = period_frames / self.sample_rate_hz
        self._periods_read = 0
        self._start_s: float | None = None

    def read(self, out: np.ndarray) -> int:
        """Fill out with the next period of the recording.

        Args:
            out: float32 [period_frames, 6], filled in logical order.

        Returns:
            The frames of the recording in out: period_frames, fewer for the last period of
            the last loop (the rest of out is zero), 0 once the recording has ended.

        Raises:
            ValueError: out has the wrong shape or dtype.
        """
        check_period_buffer(out, self.period_frames)
        frames = 0
        while frames < self.period_frames:
            if self._position == self._chunk_frames and not self._next_chunk():
                break
            take = min(self.period_frames - frames, self._chunk_frames - self._position)
            chunk = self._chunk[self._position : self._position + take]
            np.take(chunk, self._map, axis=1, out=out[frames : frames + take], mode="clip")
            self._position += take
            frames += take
        out[frames:] = 0.0
        if frames and self.realtime:
            self._pace()
        return frames

    def _next_chunk(self) -> bool:
        """Read the next chunk, from the recording's start again while loops are left;
        False once the last loop has ended."""
        self._position = 0
        self._chunk_frames = len(self._file.read(out=self._chunk, dtype="float32"))
        if self._chunk_frames == 0 and self._loops_left > 0:
            self._loops_left -= 1
            self._file.seek(0)
            self._chunk_frames = len(self._file.read(out=self._chunk, dtype="float32"))
        return self._chunk_frames > 0

    def _pace(self) -> None:
        """Return once this period would have been captured: its deadlines are counted from
        the first read, so sleeping late never accumulates into drift."""
        now_s = time.monotonic()
        if self._start_s is None:
            self._start_s = now_s
        self._periods_read += 1
        wait_s = self._start_s + self._periods_read * self._period_s - now_s
        if wait_s > 0:
            time.sleep(wait_s)

    def close(self) -> None:
        """Close the file; a second call does nothing."""
        self._file.close()

    def __enter__(self) -> "WavReplay":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class WavSink:
    """Float blocks into a 32-bit float WAV (no clipping): e.g. the voice rendered from a
    recording's pickup channel."""

    def __init__(self, path: Path, sample_rate_hz: int, channels: int) -> None:
        """Create (or replace) path, creating its folder.

        Raises:
            InputFileError: one line naming the file when it cannot be created.
        """
        if channels < 1:
            raise ValueError(f"channels: expected a positive integer, got {channels}")
        self.path = Path(path)
        self.channels = channels
        self.frames_written = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "wb"):
                pass  # the OS's reason for a path it refuses reads better than libsndfile's
            self._file = soundfile.SoundFile(
                self.path, "w", samplerate=sample_rate_hz, channels=channels, subtype="FLOAT"
            )
        except (OSError, soundfile.SoundFileError) as error:
            raise InputFileError(f"{self.path}: cannot write ({_reason(error)})") from None

    def write(self, block: np.ndarray) -> None:
        """Append one block.

        Args:
            block: float [frames, channels]; a mono sink also takes [frames].

        Raises:
            ValueError: the block's channel count differs from the sink's.
        """
        mono = self.channels == 1 and block.ndim == 1
        if not mono and (block.ndim != 2 or block.shape[1] != self.channels):
            raise ValueError(
                f"block: expected [frames, {self.channels}]"
                f"{' or [frames]' if self.channels == 1 else ''}, got {list(block.shape)}"
            )
        self._file.write(block)
        self.frames_written += block.shape[0]

    def close(self) -> None:
        """Finish the file (its header holds the length); a second call does nothing."""
        self._file.close()

    def __enter__(self) -> "WavSink":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _open(path: Path) -> soundfile.SoundFile:
    """Open a recording for reading, or a one-line InputFileError naming it."""
    try:
        with open(path, "rb"):
            pass  # the OS's reason (missing, a folder, no access) reads better than libsndfile's
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except OSError as error:
        raise InputFileError(f"{path}: cannot read ({_reason(error)})") from None
    try:
        return soundfile.SoundFile(path)
    except (OSError, soundfile.SoundFileError) as error:
        raise InputFileError(f"{path}: not a readable audio file ({_reason(error)})") from None


def _reason(error: Exception) -> str:
    """libsndfile's or the OS's reason, on one line, without the path it may repeat."""
    reason = getattr(error, "error_string", None) or getattr(error, "strerror", None)
    return (reason or str(error)).strip().splitlines()[0]
