"""What the soak runs beside the firmware process: the real peers it talks to, and the probes
that watch it from outside.

- OscPeer: the gesture receiver, a python-osc UDP server on loopback that counts what arrives
  (closed and reopened on the same port to play a receiver that goes away and comes back);
- control_burst: a controller sending malformed (and some valid) control messages;
- NotifyListener: systemd's side of sd_notify, an AF_UNIX datagram socket: READY, WATCHDOG
  pings and their gaps, STATUS lines, STOPPING;
- EventTail: the event log read as it grows, for the latest status (the soak's clock);
- RssSampler: the process's resident memory from /proc, with the audio time it was taken at.
"""

import json
import os
import socket
import threading
import time
from collections import Counter
from pathlib import Path

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_server import BlockingOSCUDPServer


class OscPeer:
    """A python-osc server on 127.0.0.1:port counting messages by address while it is open."""

    def __init__(self, port: int = 0) -> None:
        self.counts: Counter[str] = Counter()
        self.first_s: float | None = None
        """time.monotonic() of the first message."""
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(self._received)
        self._server = BlockingOSCUDPServer(("127.0.0.1", port), dispatcher)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.01,), name="soak-osc-peer", daemon=True
        )
        self._thread.start()

    def _received(self, address: str, *args: object) -> None:
        if self.first_s is None:
            self.first_s = time.monotonic()
        self.counts[address] += 1

    def close(self) -> None:
        """Stop listening and free the port: from now on the firmware's sends are refused."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def free_udp_port() -> int:
    """A loopback UDP port nothing listens on (the OS's choice, released again)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def osc_datagram(address: str, *args: int | float | str) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


def malformed_controls(prefix: str) -> list[bytes]:
    """One of each kind of bad control packet (docs/OSC.md): not OSC, unknown address, wrong
    type, out of range, wrong argument count, a string where a number belongs."""
    return [
        b"\x00garbage, not an OSC packet",
        osc_datagram(f"{prefix}/control/no_such_control", 1.0),
        osc_datagram(f"{prefix}/control/patch", 1.5),
        osc_datagram(f"{prefix}/control/threshold", 50.0),
        osc_datagram(f"{prefix}/control/threshold"),
        osc_datagram(f"{prefix}/control/voice", "on"),
        osc_datagram("/other/control/threshold", 1.0),
    ]


def valid_controls(prefix: str) -> list[bytes]:
    """Valid controls that leave detection as it is (the soak scores detection): the default
    threshold, and voice settings the hit path does not use."""
    return [
        osc_datagram(f"{prefix}/control/threshold", 1.0),
        osc_datagram(f"{prefix}/control/voice", 0),
        osc_datagram(f"{prefix}/control/patch", 3),
        osc_datagram(f"{prefix}/control/output_gain_db", -6.0),
    ]


def control_burst(port: int, prefix: str, malformed: int, valid: int) -> int:
    """Send malformed bad packets and valid good ones back to back, mixed, to 127.0.0.1:port.

    Returns:
        The `{prefix}/error` replies received within half a second.
    """
    bad, good = malformed_controls(prefix), valid_controls(prefix)
    packets = [bad[i % len(bad)] for i in range(malformed)]
    for i in range(valid):
        packets.insert((i * len(packets)) // max(1, valid), good[i % len(good)])
    replies = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        for packet in packets:
            sock.sendto(packet, ("127.0.0.1", port))
        sock.settimeout(0.5)
        try:
            while True:
                sock.recv(65536)
                replies += 1
        except TimeoutError:
            pass
    return replies


class NotifyListener:
    """The service manager's notify socket (abstract AF_UNIX name), recording every message."""

    def __init__(self) -> None:
        self.name = f"@hitar-soak-{os.getpid()}-{id(self)}"
        """The NOTIFY_SOCKET value for the firmware's environment."""
        self.ready_s: float | None = None
        self.stopping_s: float | None = None
        self.watchdog_s: list[float] = []
        self.statuses: Counter[str] = Counter()
        """The 'faults: ...' part of every STATUS line, counted."""
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._socket.bind("\0" + self.name[1:])
        self._socket.settimeout(0.05)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-notify", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._closing.is_set():
            try:
                datagram = self._socket.recv(4096)
            except TimeoutError:
                continue
            now_s = time.monotonic()
            fields = dict(line.split("=", 1) for line in datagram.decode().splitlines() if line)
            if fields.get("READY") == "1":
                self.ready_s = now_s
            if fields.get("WATCHDOG") == "1":
                self.watchdog_s.append(now_s)
            if fields.get("STOPPING") == "1":
                self.stopping_s = now_s
            status = fields.get("STATUS", "")
            if "faults: " in status:
                self.statuses[status.split("faults: ", 1)[1]] += 1

    def close(self) -> None:
        self._closing.set()
        self._thread.join()
        self._socket.close()


class EventTail:
    """The event log read as the firmware writes it; whole lines only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.status: dict = {}
        """The latest status line (empty before the first)."""
        self._offset = 0

    @property
    def time_s(self) -> float:
        """Seconds of audio the firmware has processed, by its latest status."""
        return float(self.status.get("time_s", 0.0))

    def poll(self) -> dict:
        """Read what was appended since the last call; returns the latest status."""
        try:
            with open(self.path, "rb") as file:
                file.seek(self._offset)
                data = file.read()
        except FileNotFoundError:
            return self.status
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].splitlines():
            if b'"type": "status"' in line:
                self.status = json.loads(line)
        return self.status


def rss_kib(pid: int) -> int | None:
    """VmRSS of a process in KiB, or None once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


class RssSampler:
    """Samples a process's RSS every interval_s on a thread: (audio s, RSS KiB) pairs, the
    audio time read from the tail at that moment."""

    def __init__(self, pid: int, tail: EventTail, interval_s: float) -> None:
        self.samples: list[tuple[float, int]] = []
        self._pid = pid
        self._tail = tail
        self._interval_s = interval_s
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-rss", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._closing.wait(self._interval_s):
            rss = rss_kib(self._pid)
            if rss is None:
                return
            self.samples.append((self._tail.time_s, rss))

    def close(self) -> None:
        self._closing.set()
        self._thread.join()
