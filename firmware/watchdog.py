"""systemd's notify protocol (sd_notify) in pure Python: readiness, watchdog and status.

Under the board's service (``board/hitar.service``, Type=notify, WatchdogSec=) systemd waits
for READY=1 before it counts the firmware as started, restarts it when WATCHDOG=1 stops
arriving, and shows the last STATUS= line in ``systemctl status``. Anywhere else (a
workstation, the tests, ``make run``) NOTIFY_SOCKET is unset and every call is a no-op.

The engine calls this from its status tick (a few times per second), never per period. A send
never blocks (MSG_DONTWAIT) and never raises: a failed send is counted in ``send_errors``,
because a lost watchdog ping is the service manager's business, not a reason to stop playing.
"""

import os
import socket
from collections.abc import Mapping

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"
WATCHDOG_USEC_ENV = "WATCHDOG_USEC"
WATCHDOG_PID_ENV = "WATCHDOG_PID"


class Notifier:
    """Sends sd_notify messages to the service manager, if there is one.

    Args:
        environ: where to read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (default: the
            process environment). An abstract socket is written ``@name``, as systemd does.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        address = environ.get(NOTIFY_SOCKET_ENV, "")
        self.send_errors = 0
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._socket: socket.socket | None = None
        if self._address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.watchdog_interval_s = _watchdog_interval_s(environ)

    @property
    def enabled(self) -> bool:
        """True when a service manager listens (NOTIFY_SOCKET was set)."""
        return self._socket is not None

    def ready(self, status: str = "") -> bool:
        """Tell systemd that start-up is complete (audio open, models loaded)."""
        return self.notify("READY=1", status)

    def watchdog(self, status: str = "") -> bool:
        """Keep-alive ping; send at least every ``watchdog_interval_s`` seconds."""
        return self.notify("WATCHDOG=1", status)

    def status(self, text: str) -> bool:
        """A one-line status for ``systemctl status`` and ``systemctl show -p StatusText``."""
        return self.notify("", text)

    def stopping(self, status: str = "") -> bool:
        """Tell systemd that a clean shutdown has begun."""
        return self.notify("STOPPING=1", status)

    def notify(self, state: str, status: str = "") -> bool:
        """Send one datagram of newline-separated assignments; True if it was sent.

        Args:
            state: e.g. "READY=1" or "WATCHDOG=1"; may be empty when only status is sent.
            status: free text for STATUS=, one line (newlines are replaced by spaces).
        """
        if self._socket is None:
            return False
        lines = [state] if state else []
        if status:
            lines.append("STATUS=" + " ".join(status.splitlines()))
        try:
            self._socket.sendto("\n".join(lines).encode(), socket.MSG_DONTWAIT, self._address)
        except OSError:
            self.send_errors += 1
            return False
        return True

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _watchdog_interval_s(environ: Mapping[str, str]) -> float | None:
    """Half the service's watchdog timeout in seconds, as sd_watchdog_enabled advises; None
    when the watchdog is off or meant for another process (WATCHDOG_PID)."""
    try:
        timeout_us = int(environ.get(WATCHDOG_USEC_ENV, "0"))
        pid = int(environ.get(WATCHDOG_PID_ENV, str(os.getpid())))
    except ValueError:
        return None
    if timeout_us <= 0 or pid != os.getpid():
        return None
    return timeout_us / 2e6
