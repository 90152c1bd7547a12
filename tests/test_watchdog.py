"""sd_notify against a real AF_UNIX datagram socket standing in for systemd."""

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware.watchdog import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket, as systemd creates for a Type=notify service."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2.0)
    yield sock, path
    sock.close()


def receive(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_messages_reach_the_service_manager(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("playing, 0 xruns")
    assert receive(sock) == "READY=1\nSTATUS=playing, 0 xruns"
    assert notifier.watchdog()
    assert receive(sock) == "WATCHDOG=1"
    assert notifier.status("load 12 %\nxruns 3")
    assert receive(sock) == "STATUS=load 12 % xruns 3"
    assert notifier.stopping()
    assert receive(sock) == "STOPPING=1"
    assert notifier.send_errors == 0
    notifier.close()


def test_abstract_socket_name_is_understood() -> None:
    name = f"hitar-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert receive(sock) == "READY=1"


def test_without_notify_socket_every_call_is_a_no_op() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert not notifier.ready("x")
    assert not notifier.watchdog()
    assert notifier.send_errors == 0
    assert notifier.watchdog_interval_s is None


def test_a_vanished_manager_is_counted_not_raised(tmp_path: Path) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert not notifier.watchdog()
    assert not notifier.watchdog()
    assert notifier.send_errors == 2


def test_a_full_socket_never_blocks_the_caller(listener: tuple[socket.socket, str]) -> None:
    _, path = listener
    notifier = Notifier({"NOTIFY_SOCKET": path})
    start = time.monotonic()
    sent = sum(notifier.watchdog("x" * 1000) for _ in range(2000))
    assert time.monotonic() - start < 2.0
    assert notifier.send_errors > 0
    assert sent + notifier.send_errors == 2000


def test_watchdog_interval_is_half_the_timeout_for_this_process() -> None:
    pid = str(os.getpid())
    assert Notifier({"WATCHDOG_USEC": "5000000"}).watchdog_interval_s == 2.5
    assert Notifier({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": pid}).watchdog_interval_s == 2.5
    assert Notifier({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "1"}).watchdog_interval_s is None
    assert Notifier({"WATCHDOG_USEC": "soon"}).watchdog_interval_s is None
