"""OSC out (gestures, status) and in (control messages): the only module that imports pythonosc.

Neither direction may hold up the audio loop. OscSender.send only puts the message on a bounded
queue (a full queue drops and counts); a thread of its own encodes, resolves the host, sends,
and counts what fails. OscControlServer listens on a thread of its own and validates every
message (firmware.controls); the engine polls it once per period without waiting.

A network that is down is a normal condition on stage (a laptop not yet plugged in, a typo in
the host name), so failures are counted and logged, never raised: one warning line per distinct
failure (repeated at most once a minute while it lasts), and a new attempt to resolve and
connect at most once a second. The address space is documented in docs/OSC.md.
"""

import logging
import queue
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from pythonosc.osc_message_builder import BuildError, OscMessageBuilder
from pythonosc.osc_packet import OscPacket, ParseError

from firmware.controls import Control, ControlError, parse_control
from firmware.errors import ConfigError

log = logging.getLogger(__name__)

RETRY_INTERVAL_S = 1.0
"""After a failed resolve, connect or send, messages are counted as errors without a new
attempt for this long: a dead network costs one attempt a second, not one per message."""
FAILURE_REPEAT_S = 60.0
"""A failure that lasts is logged again at most this often."""
REJECT_LOG_INTERVAL_S = 1.0
"""Rejected control messages are logged at most this often (with a count of the others)."""
MAX_CONTROL_PACKETS_PER_S = 2000
"""The control server handles at most this many packets a second, evenly spaced; beyond, it
sleeps and the kernel drops the excess. A flood of messages thus costs the engine (which shares
the GIL with this thread) a bounded share of the CPU, in slices of one packet's handling (tens
of µs); no controller sends that many."""
FLUSH_TIMEOUT_S = 1.0
"""How long close() waits for queued messages to go out."""
_POLL_S = 0.05
"""How often the threads look up from their queue or socket to see whether to stop."""
MAX_STATUS_INTERVAL_S = 2.0
"""The engine's status tick also feeds the service watchdog (WatchdogSec=5s in hitar.service)."""
_OSC_RESERVED = set(" #*,?[]{}")


@dataclass(frozen=True)
class OscConfig:
    """OSC out and in, as a board profile describes it (the `[osc]` table)."""

    host: str = "127.0.0.1"
    """Where gestures and status go: a host name or address (a broadcast address works)."""
    port: int = 9000
    prefix: str = "/hitar"
    """Every address, in and out, starts with it."""
    status_interval_s: float = 1.0
    control_host: str = "0.0.0.0"
    """Interface the control server listens on (0.0.0.0: all)."""
    control_port: int = 9001
    """UDP port for control messages; 0 disables control input."""
    queue_size: int = 256
    """Messages waiting to be sent (and controls waiting to be polled) before more are dropped."""


def validate_osc_config(config: OscConfig, where: str = "osc config") -> None:
    """Check an OscConfig before any socket is opened.

    Raises:
        ConfigError: one line naming where, the field and what is expected.
    """
    prefix = config.prefix
    checks = (
        ("host", bool(config.host), "a host name or address"),
        ("port", 1 <= config.port <= 65535, "a UDP port 1..65535"),
        ("prefix", prefix.startswith("/") and not prefix.endswith("/")
         and not _OSC_RESERVED & set(prefix),
         "an OSC address like /hitar (no trailing /, spaces or #*,?[]{})"),
        (
            "status_interval_s",
            0 < config.status_interval_s <= MAX_STATUS_INTERVAL_S,
            f"seconds in (0, {MAX_STATUS_INTERVAL_S}] (the status tick feeds the service watchdog)",
        ),
        ("control_host", bool(config.control_host), "a host name or address"),
        ("control_port", 0 <= config.control_port <= 65535,
         "a UDP port 1..65535, or 0 to disable"),
        ("queue_size", config.queue_size >= 1, "a positive integer"),
    )  # fmt: skip
    for field, valid, expected in checks:
        if not valid:
            value = getattr(config, field)
            raise ConfigError(f"{where} {field}: expected {expected}, got {value!r}")


class OscSender:
    """Sends OSC messages to config.host:config.port from a thread of its own."""

    def __init__(self, config: OscConfig) -> None:
        """Start the sending thread; nothing here touches the network.

        Raises:
            ConfigError: the config is invalid.
        """
        validate_osc_config(config)
        self.config = config
        self.sent = 0
        """Messages handed to the network (UDP: not proof of arrival)."""
        self.dropped = 0
        """Messages refused by send() because the queue was full (or the sender closed)."""
        self.errors = 0
        """Messages lost to a failure: unresolvable host, unreachable port, unencodable."""
        self.last_error: str | None = None
        self._target = f"{config.host}:{config.port}"
        self._queue: queue.Queue[tuple[str, tuple[Any, ...]]] = queue.Queue(config.queue_size)
        self._socket: socket.socket | None = None
        self._retry_at_s = 0.0
        self._warnings = _Throttled(FAILURE_REPEAT_S)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="osc-sender", daemon=True)
        self._thread.start()

    def send(self, address: str, *args: int | float | str) -> bool:
        """Queue one message; never blocks.

        Args:
            address: the full address, e.g. "/hitar/hit".
            args: int ('i', or 'h' beyond 32 bits), float ('f'), str ('s'), bool ('T'/'F');
                numpy scalars are sent as the python value they hold.

        Returns:
            False if the message was dropped (queue full, or closed), counted in dropped.
        """
        if self._closing.is_set():
            self.dropped += 1
            return False
        try:
            self._queue.put_nowait((address, args))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def close(self) -> None:
        """Send what is queued (waiting at most FLUSH_TIMEOUT_S), then stop the thread; a
        second call does nothing."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._thread.join(FLUSH_TIMEOUT_S)

    def _run(self) -> None:
        while True:
            try:
                address, args = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                if self._closing.is_set():
                    break
                continue
            self._send(address, args)
        if self._socket is not None:
            self._socket.close()

    def _send(self, address: str, args: tuple[Any, ...]) -> None:
        try:
            builder = OscMessageBuilder(address)
            for arg in args:
                builder.add_arg(arg.item() if isinstance(arg, np.generic) else arg)
            datagram = builder.build().dgram
        except (BuildError, ValueError, TypeError) as error:
            text = f"OSC message {address}: cannot encode {args!r} ({error})"
            self._lost(text, key=f"encode {address}")
            return
        sock = self._connected()
        if sock is None:
            self.errors += 1
            return
        try:
            sock.send(datagram)
        except OSError as error:
            sock.close()
            self._socket = None
            self._retry_at_s = time.monotonic() + RETRY_INTERVAL_S
            self._lost(f"OSC to {self._target}: cannot send ({_reason(error)})")
            return
        self.sent += 1

    def _connected(self) -> socket.socket | None:
        """The socket to send on: resolved and connected, or None (failure reported) while
        the host cannot be reached and until the next retry is due."""
        if self._socket is not None:
            return self._socket
        now_s = time.monotonic()
        if now_s < self._retry_at_s:
            return None
        self._retry_at_s = now_s + RETRY_INTERVAL_S
        host, port = self.config.host, self.config.port
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                host, port, type=socket.SOCK_DGRAM
            )[0]
        except OSError as error:
            self._report(f"OSC to {self._target}: cannot resolve the host ({_reason(error)})")
            return None
        sock = socket.socket(family, kind, proto)
        try:
            if family == socket.AF_INET:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.settimeout(FLUSH_TIMEOUT_S)
            # Connected, so that the kernel reports an unreachable port on a later send.
            sock.connect(address)
        except OSError as error:
            sock.close()
            self._report(f"OSC to {self._target}: cannot connect ({_reason(error)})")
            return None
        self._socket = sock
        return sock

    def _lost(self, text: str, key: str | None = None) -> None:
        self.errors += 1
        self._report(text, key)

    def _report(self, text: str, key: str | None = None) -> None:
        """Record a failure; key (default: the text) says which failures are the same one."""
        self.last_error = text
        self._warnings.warning(key or text, text)


class OscControlServer:
    """Receives control messages on config.control_port and hands valid ones to poll().

    Invalid messages are counted, logged (rate-limited) and answered with `{prefix}/error s`
    (the one-line reason) to the address they came from.
    """

    def __init__(
        self,
        config: OscConfig,
        max_packets_per_s: int = MAX_CONTROL_PACKETS_PER_S,
        class_names: tuple[str, ...] = (),
    ) -> None:
        """Bind the port and start listening; with control_port 0, poll() always returns None.

        Args:
            max_packets_per_s: packets read per second at most (see MAX_CONTROL_PACKETS_PER_S).
            class_names: the hit model's class names, which the calibrate control takes.

        Raises:
            ConfigError: the config is invalid, or the port cannot be bound (in use).
        """
        validate_osc_config(config)
        self.config = config
        self.class_names = class_names
        self.accepted = 0
        """Valid control messages queued for the engine."""
        self.rejected = 0
        """Invalid packets and messages: not OSC, unknown address, wrong type, count or range."""
        self.dropped = 0
        """Valid control messages lost because the engine had not polled the queue empty."""
        self.last_error: str | None = None
        self.port = 0
        """The bound UDP port (0: disabled)."""
        self._queue: queue.Queue[Control] = queue.Queue(config.queue_size)
        self._warnings = _Throttled(REJECT_LOG_INTERVAL_S)
        self._closing = threading.Event()
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        if config.control_port == 0:
            return
        self._socket = _bind(config)
        self.port = self._socket.getsockname()[1]
        spacing_s = 1.0 / max_packets_per_s
        self._thread = threading.Thread(
            target=self._run, args=(self._socket, spacing_s), name="osc-control", daemon=True
        )
        self._thread.start()

    def poll(self) -> Control | None:
        """The oldest control not yet polled, or None; never blocks."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def close(self) -> None:
        """Stop listening and free the port; a second call does nothing."""
        if self._closing.is_set():
            return
        self._closing.set()
        if self._thread is not None:
            self._thread.join()
        if self._socket is not None:
            self._socket.close()

    def _run(self, sock: socket.socket, spacing_s: float) -> None:
        """Receive and handle packets, starting one at most every spacing_s: under a flood the
        thread sleeps between packets (leaving the GIL to the engine) and the kernel drops the
        excess."""
        next_s = 0.0
        while not self._closing.is_set():
            try:
                datagram, sender = sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError as error:  # e.g. an ICMP error from a reply: the socket goes on
                log.debug("OSC control socket: %s", error)
                continue
            wait_s = next_s - time.monotonic()
            if wait_s > 0:
                time.sleep(wait_s)
            next_s = time.monotonic() + spacing_s
            self._handle(sock, datagram, sender)

    def _handle(self, sock: socket.socket, datagram: bytes, sender: tuple[Any, ...]) -> None:
        try:
            messages = [timed.message for timed in OscPacket(datagram).messages]
        except ParseError:
            self._reject(sock, sender, f"not an OSC packet ({len(datagram)} bytes)")
            return
        for message in messages:
            try:
                control = parse_control(
                    message.address, message.params, self.config.prefix, self.class_names
                )
            except ControlError as error:
                self._reject(sock, sender, str(error))
                continue
            try:
                self._queue.put_nowait(control)
            except queue.Full:
                self.dropped += 1
                self._reject(sock, sender, f"{message.address}: dropped, the control queue is full")
                continue
            self.accepted += 1
            log.debug("OSC control %s = %s from %s", control.name, control.value, sender[0])

    def _reject(self, sock: socket.socket, sender: tuple[Any, ...], text: str) -> None:
        self.rejected += 1
        self.last_error = text
        self._warnings.warning("rejected", f"OSC control from {sender[0]}:{sender[1]}: {text}")
        builder = OscMessageBuilder(f"{self.config.prefix}/error")
        builder.add_arg(text)
        try:
            sock.sendto(builder.build().dgram, sender)
        except OSError as error:
            log.debug("OSC control: cannot reply to %s (%s)", sender, error)


class _Throttled:
    """Warnings rate-limited per key: one line, then nothing for interval_s (the next line says
    how many were held back)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last_s: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, key: str, text: str) -> None:
        now_s = time.monotonic()
        last_s = self._last_s.get(key)
        if last_s is not None and now_s - last_s < self.interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            return
        held = self._held.pop(key, 0)
        self._last_s[key] = now_s
        log.warning("%s%s", text, f" ({held} more since the last report)" if held else "")


def _bind(config: OscConfig) -> socket.socket:
    """A UDP socket bound to the control host and port, or a one-line ConfigError."""
    where = f"OSC control_host:control_port {config.control_host}:{config.control_port}"
    try:
        host, port, passive = config.control_host, config.control_port, socket.AI_PASSIVE
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_DGRAM, flags=passive
        )[0]
    except OSError as error:
        raise ConfigError(f"{where}: cannot resolve ({_reason(error)})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        raise ConfigError(f"{where}: cannot listen ({_reason(error)})") from None
    sock.settimeout(_POLL_S)
    return sock


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__
