"""Real OSC peers on loopback for the tests: a python-osc server that records what it gets,
and helpers shared by the OSC and command-line tests."""

import shutil
import socket
import threading
import time

import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer

needs_liblo = pytest.mark.skipif(
    shutil.which("oscdump") is None or shutil.which("oscsend") is None,
    reason="liblo-tools (oscdump, oscsend) not installed",
)


def free_udp_port():
    """A UDP port nothing listens on (bound once by the OS's choice, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class Receiver:
    """A python-osc UDP server on loopback, recording (address, args) of every message."""

    def __init__(self, port=0):
        self.messages = []
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(lambda address, *args: self.messages.append((address, args)))
        self.server = BlockingOSCUDPServer(("127.0.0.1", port), dispatcher)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,))
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
