"""ALSA capture and playback: the only module that imports alsaaudio (pyalsaaudio).

alsaaudio is imported inside the functions that need it, so that the rest of the firmware (and
a laptop without ALSA replaying a recording) imports without it.

Everything here happens once per period, so the per-period methods follow the real-time rules:
the interleaved bytes pyalsaaudio returns are viewed (np.frombuffer), never copied into new
arrays; channel mapping and scaling write into buffers allocated at construction.

How pyalsaaudio 0.11 reports xruns (read from its source, alsaaudio.c): `PCM.read()` returns
`(frames, data)`; on an overrun it returns `(-EPIPE, b"")` after calling snd_pcm_prepare()
itself, so the next read restarts the stream. `PCM.write()` returns the frames written, or
-EPIPE on an underrun, again after snd_pcm_prepare(). -EAGAIN is returned as 0 (non-blocking
mode only, which is not used here). Every other failure raises alsaaudio.ALSAAudioError. The
stream parameters are set "near" what was asked, without error when ALSA picks others: they are
read back from `PCM.info()` and checked here.
"""

import errno
import logging
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from firmware.errors import AudioDeviceError, ConfigError
from firmware.layout import N_CHANNELS, SAMPLE_RATE_HZ

log = logging.getLogger(__name__)

_MAX_ATTEMPTS = 8
"""Consecutive xruns on one read or write before the device is declared not working."""


@dataclass(frozen=True)
class SampleFormat:
    """How one ALSA sample format maps to float samples in [-1, 1].

    Capture: float = (raw << shift) / (full_scale << shift). Playback: raw = clip(float *
    full_scale) to the format's range. S24_LE holds 24 bits in the low three bytes of a 32-bit
    word whose top byte the hardware may leave undefined: shifting by 8 drops it.
    """

    dtype: str
    shift: int
    full_scale: float
    is_float: bool = False

    @property
    def capture_scale(self) -> float:
        return 1.0 / (self.full_scale * 2.0**self.shift)

    @property
    def playback_limits(self) -> tuple[float, float]:
        if self.is_float:
            return -1.0, 1.0
        return -self.full_scale, self.full_scale - 1.0


SAMPLE_FORMATS: dict[str, SampleFormat] = {
    "S16_LE": SampleFormat("<i2", 0, 2.0**15),
    "S24_LE": SampleFormat("<i4", 8, 2.0**23),
    "S32_LE": SampleFormat("<i4", 0, 2.0**31),
    "FLOAT_LE": SampleFormat("<f4", 0, 1.0, is_float=True),
}
"""The sample formats the firmware converts, by ALSA name."""


@dataclass(frozen=True)
class AudioConfig:
    """The audio interface as a board profile describes it (the `[audio]` table)."""

    capture_device: str = "default"
    playback_device: str = "default"
    sample_rate_hz: int = SAMPLE_RATE_HZ
    capture_channels: int = 6
    """Channels the interface delivers (it may have more inputs than the instrument uses)."""
    channel_map: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    """Interface channel (0-based) of piezo1..piezo5 and the pickup, in that order."""
    playback_channels: int = 2
    """The voice is mono, duplicated on every playback channel."""
    period_frames: int = 64
    periods: int = 4
    sample_format: str = "S32_LE"
    """One of SAMPLE_FORMATS: S16_LE, S24_LE (24 bits in 32-bit words), S32_LE, FLOAT_LE."""
    playback_prefill_periods: int = 1
    """Periods of silence written ahead of the first block (and after an underrun): the cushion
    that lets a late period still play in time, at the cost of this much output latency."""


def validate_audio_config(config: AudioConfig, where: str = "audio config") -> None:
    """Check an AudioConfig before any device is opened.

    Args:
        where: what to name in errors, e.g. "board/profiles/pi4.toml [audio]".

    Raises:
        ConfigError: one line naming where, the field and what is expected.
    """
    for name in ("sample_rate_hz", "capture_channels", "playback_channels", "period_frames"):
        if getattr(config, name) < 1:
            _bad(where, name, "a positive integer", getattr(config, name))
    if config.periods < 2:
        _bad(where, "periods", "at least 2", config.periods)
    if not 0 <= config.playback_prefill_periods < config.periods:
        _bad(
            where,
            "playback_prefill_periods",
            f"0..{config.periods - 1} (< periods)",
            config.playback_prefill_periods,
        )
    if config.sample_format not in SAMPLE_FORMATS:
        _bad(where, "sample_format", f"one of {', '.join(SAMPLE_FORMATS)}", config.sample_format)
    for name in ("capture_device", "playback_device"):
        if not getattr(config, name):
            _bad(where, name, "an ALSA device name (see --list-devices)", getattr(config, name))
    check_channel_map(config.channel_map, where)
    highest = max(config.channel_map)
    if highest >= config.capture_channels:
        _bad(
            where,
            "channel_map",
            f"interface channels below capture_channels = {config.capture_channels}",
            config.channel_map,
        )


def check_channel_map(channel_map: tuple[int, ...], where: str) -> None:
    """Check the shape of a channel map: one distinct, non-negative interface channel for each
    logical channel (piezo1..piezo5, pickup). Whether the source has that many channels is the
    caller's check.

    Raises:
        ConfigError: one line naming where and what is expected.
    """
    expected = f"{N_CHANNELS} distinct interface channels >= 0 (piezo1..piezo5, pickup)"
    if (
        len(channel_map) != N_CHANNELS
        or len(set(channel_map)) != N_CHANNELS
        or any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in channel_map)
    ):
        _bad(where, "channel_map", expected, channel_map)


def check_negotiated(
    config: AudioConfig, device: str, stream: str, channels: int, info: dict[str, Any]
) -> str | None:
    """Compare what ALSA set up (PCM.info()) with what the config asked for.

    Returns:
        None, or a one-line note when only the period size or count differ (the firmware
        works with any: capture is re-blocked, playback writes whole blocks).

    Raises:
        AudioDeviceError: when the rate, sample format or channel count differ, which the
            firmware cannot work with.
    """
    name = f"ALSA {stream} device '{device}'"
    if info["rate"] != config.sample_rate_hz:
        raise AudioDeviceError(
            f"{name}: runs at {info['rate']} Hz, not {config.sample_rate_hz} Hz as the models "
            "need (use a plughw: device or set the interface to this rate)"
        )
    if info["format_name"] != config.sample_format:
        raise AudioDeviceError(
            f"{name}: does not take sample format {config.sample_format} (it offered "
            f"{info['format_name']}); set sample_format in the board profile"
        )
    if info["channels"] != channels:
        raise AudioDeviceError(
            f"{name}: opened with {info['channels']} channels, not {channels}; "
            f"set {stream}_channels in the board profile"
        )
    if (info["period_size"], info["periods"]) != (config.period_frames, config.periods):
        return (
            f"{name}: period {info['period_size']} frames x {info['periods']} instead of "
            f"{config.period_frames} x {config.periods}; the firmware still works in "
            f"{config.period_frames}-frame blocks, latency follows ALSA's period"
        )
    return None


class AlsaCapture:
    """The instrument's inputs: reads one period at a time, in logical channel order."""

    def __init__(self, config: AudioConfig) -> None:
        """Open and configure the capture device.

        Raises:
            ConfigError: the config is invalid.
            AudioDeviceError: one line naming the device, when it cannot be opened or does not
                run at the configured rate, format and channel count.
        """
        validate_audio_config(config)
        self.config = config
        self.xruns = 0
        """Overruns recovered so far (each loses the frames ALSA could not hold)."""
        alsaaudio = _alsaaudio()
        self._alsa_error = alsaaudio.ALSAAudioError
        self._device = config.capture_device
        self._pcm, info = _open_pcm(alsaaudio, config, "capture", config.capture_channels)
        self.alsa_period_frames: int = info["period_size"]
        """The period ALSA delivers; reads are re-blocked to config.period_frames."""
        sample_format = SAMPLE_FORMATS[config.sample_format]
        self._dtype = np.dtype(sample_format.dtype)
        self._shift = sample_format.shift
        self._scale = np.float32(sample_format.capture_scale)
        self._map = np.asarray(config.channel_map, dtype=np.intp)
        self._fifo = np.zeros(
            (self.alsa_period_frames + config.period_frames, config.capture_channels),
            self._dtype,
        )
        self._fill = 0
        self._mapped = np.zeros((config.period_frames, N_CHANNELS), self._dtype)

    def read(self, out: np.ndarray) -> int:
        """Fill out with the next period; blocks until ALSA has it.

        Args:
            out: float32 [period_frames, 6], logical order (piezo1..piezo5, pickup), in [-1, 1].

        Returns:
            period_frames. Overruns are recovered (and counted in xruns) inside the call.

        Raises:
            ValueError: out has the wrong shape or dtype.
            AudioDeviceError: the device failed beyond an overrun (unplugged, suspended).
        """
        period_frames = self.config.period_frames
        check_period_buffer(out, period_frames)
        while self._fill < period_frames:
            self._pull()
        np.take(self._fifo[:period_frames], self._map, axis=1, out=self._mapped, mode="clip")
        if self._shift:
            np.left_shift(self._mapped, self._shift, out=self._mapped)
        np.multiply(self._mapped, self._scale, out=out, dtype=np.float32, casting="unsafe")
        rest = self._fill - period_frames
        if rest:
            self._fifo[:rest] = self._fifo[period_frames : self._fill]
        self._fill = rest
        return period_frames

    def _pull(self) -> None:
        """Append one ALSA period to the FIFO, recovering from overruns."""
        for _ in range(_MAX_ATTEMPTS):
            try:
                frames, data = self._pcm.read()
            except self._alsa_error as error:
                raise AudioDeviceError(
                    f"ALSA capture device '{self._device}': read failed ({_reason(error)})"
                ) from None
            if frames > 0:
                raw = np.frombuffer(data, self._dtype).reshape(frames, self.config.capture_channels)
                self._fifo[self._fill : self._fill + frames] = raw
                self._fill += frames
                return
            if frames == -errno.EPIPE:
                self.xruns += 1
        raise AudioDeviceError(
            f"ALSA capture device '{self._device}': {_MAX_ATTEMPTS} failed reads in a row"
        )

    def close(self) -> None:
        """Close the device; a second call does nothing."""
        if self._pcm is not None:
            self._pcm.close()
            self._pcm = None


class AlsaPlayback:
    """The FM voice's output: writes one mono block a period to every playback channel."""

    def __init__(self, config: AudioConfig) -> None:
        """Open and configure the playback device.

        Raises:
            ConfigError: the config is invalid.
            AudioDeviceError: one line naming the device, as for AlsaCapture.
        """
        validate_audio_config(config)
        self.config = config
        self.xruns = 0
        """Underruns recovered so far (each is an audible gap)."""
        alsaaudio = _alsaaudio()
        self._alsa_error = alsaaudio.ALSAAudioError
        self._device = config.playback_device
        self._pcm, info = _open_pcm(alsaaudio, config, "playback", config.playback_channels)
        self.alsa_period_frames: int = info["period_size"]
        """The period ALSA plays; writes stay config.period_frames long whatever it is."""
        sample_format = SAMPLE_FORMATS[config.sample_format]
        self._full_scale = sample_format.full_scale
        self._low, self._high = sample_format.playback_limits
        self._round = not sample_format.is_float
        dtype = np.dtype(sample_format.dtype)
        self._scaled = np.zeros((config.period_frames, 1), np.float64)
        self._frames = np.zeros((config.period_frames, config.playback_channels), dtype)
        prefill_frames = config.playback_prefill_periods * config.period_frames
        self._prefill = np.zeros((prefill_frames, config.playback_channels), dtype)
        self._running = False

    def write(self, block: np.ndarray) -> None:
        """Queue one period for playback; blocks while ALSA's buffer is full.

        Args:
            block: float [period_frames] or [period_frames, 1], nominally in [-1, 1] (clipped).

        Raises:
            ValueError: block has another shape.
            AudioDeviceError: the device failed beyond an underrun.
        """
        period_frames = self.config.period_frames
        if block.shape not in ((period_frames,), (period_frames, 1)):
            raise ValueError(
                f"block: expected shape ({period_frames},) or ({period_frames}, 1), "
                f"got {block.shape}"
            )
        column = block if block.ndim == 2 else block[:, np.newaxis]
        np.multiply(column, self._full_scale, out=self._scaled)
        if self._round:
            np.rint(self._scaled, out=self._scaled)
        np.clip(self._scaled, self._low, self._high, out=self._scaled)
        self._frames[...] = self._scaled
        for _ in range(_MAX_ATTEMPTS):
            if not self._running and len(self._prefill) and not self._put(self._prefill):
                continue
            if self._put(self._frames):
                self._running = True
                return
        raise AudioDeviceError(
            f"ALSA playback device '{self._device}': {_MAX_ATTEMPTS} failed writes in a row"
        )

    def _put(self, frames: np.ndarray) -> bool:
        """Write all of frames; False (and one more xrun) on an underrun."""
        offset = 0
        while offset < len(frames):
            try:
                written = self._pcm.write(frames[offset:])
            except self._alsa_error as error:
                raise AudioDeviceError(
                    f"ALSA playback device '{self._device}': write failed ({_reason(error)})"
                ) from None
            if written == -errno.EPIPE:
                self.xruns += 1
                self._running = False
                return False
            offset += max(written, 0)
        return True

    def close(self) -> None:
        """Play what is queued, then close the device; a second call does nothing."""
        if self._pcm is not None:
            self._pcm.close()
            self._pcm = None


def list_devices() -> list[str]:
    """ALSA's PCM devices, one line each: the name (as capture_device / playback_device take
    it) and the directions it offers, e.g. "hw:CARD=Device,DEV=0 (capture, playback)"."""
    alsaaudio = _alsaaudio()
    directions = {
        "capture": alsaaudio.pcms(alsaaudio.PCM_CAPTURE),
        "playback": alsaaudio.pcms(alsaaudio.PCM_PLAYBACK),
    }
    names = dict.fromkeys(name for found in directions.values() for name in found)
    return [
        f"{name} ({', '.join(d for d, found in directions.items() if name in found)})"
        for name in names
    ]


def _alsaaudio() -> Any:
    """The alsaaudio module, or a one-line error saying how to get it."""
    try:
        import alsaaudio
    except ImportError:
        raise AudioDeviceError(
            "pyalsaaudio is not installed: ALSA audio needs it (pip install pyalsaaudio); "
            "a recording can be replayed without it (--input)"
        ) from None
    return alsaaudio


def _open_pcm(
    alsaaudio: Any, config: AudioConfig, stream: str, channels: int
) -> tuple[Any, dict[str, Any]]:
    """Open and configure a PCM, check what ALSA set up (logging a differing period).

    Returns:
        The PCM and its info() dict.
    """
    device = config.capture_device if stream == "capture" else config.playback_device
    try:
        pcm = alsaaudio.PCM(
            type=alsaaudio.PCM_CAPTURE if stream == "capture" else alsaaudio.PCM_PLAYBACK,
            mode=alsaaudio.PCM_NORMAL,
            device=device,
            rate=config.sample_rate_hz,
            channels=channels,
            format=getattr(alsaaudio, f"PCM_FORMAT_{config.sample_format}"),
            periodsize=config.period_frames,
            periods=config.periods,
        )
    except alsaaudio.ALSAAudioError as error:
        raise AudioDeviceError(
            f"ALSA {stream} device '{device}': cannot open ({_reason(error)}); "
            "--list-devices shows the devices there are"
        ) from None
    info = pcm.info()
    try:
        note = check_negotiated(config, device, stream, channels, info)
    except AudioDeviceError:
        pcm.close()
        raise
    if note:
        log.warning(note)
    return pcm, info


def _reason(error: Exception) -> str:
    """pyalsaaudio's message without the device name it appends ("... [hw:1]")."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return message.rsplit(" [", 1)[0] if message.endswith("]") else message


def check_period_buffer(out: np.ndarray, period_frames: int) -> None:
    """The check every source's read(out) makes: out must be float32 [period_frames, 6].

    Raises:
        ValueError: naming the expected and the given shape and dtype (never reshaped).
    """
    if out.shape != (period_frames, N_CHANNELS) or out.dtype != np.float32:
        raise ValueError(
            f"out: expected float32 [{period_frames}, {N_CHANNELS}], "
            f"got {out.dtype} {list(out.shape)}"
        )


def _bad(where: str, field: str, expected: str, value: object) -> NoReturn:
    raise ConfigError(f"{where} {field}: expected {expected}, got {value!r}")
