"""OSC out and in over loopback, against real peers: python-osc's server and client, and
liblo's oscdump and oscsend (Debian's liblo-tools)."""

import logging
import socket
import subprocess
import time

import numpy as np
import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import build_msg
from pythonosc.udp_client import SimpleUDPClient

from firmware.controls import Control
from firmware.errors import ConfigError
from firmware.osc import OscConfig, OscControlServer, OscSender, validate_osc_config
from tests.osc_peers import Receiver, free_udp_port, needs_liblo, wait_for


@pytest.fixture
def receiver():
    peer = Receiver()
    yield peer
    peer.close()


def osc_warnings(caplog):
    return [r for r in caplog.records if r.name == "firmware.osc" and r.levelno == logging.WARNING]


def test_sent_messages_arrive_with_their_types(receiver):
    sender = OscSender(OscConfig(port=receiver.port))
    args = ("heel", 0.75, 3, True, np.float32(0.5), np.int64(7), 2**40)
    assert sender.send("/hitar/hit", *args)
    assert wait_for(lambda: receiver.messages)
    sender.close()
    address, got = receiver.messages[0]
    assert address == "/hitar/hit"
    assert got == ("heel", 0.75, 3, True, 0.5, 7, 2**40)
    assert [type(value) for value in got] == [str, float, int, bool, float, int, int]
    assert (sender.sent, sender.dropped, sender.errors) == (1, 0, 0)


def test_close_flushes_what_is_queued_in_order(receiver):
    sender = OscSender(OscConfig(port=receiver.port))
    for i in range(200):
        sender.send("/hitar/status", i)
    sender.close()
    assert wait_for(lambda: len(receiver.messages) == 200)
    assert [args[0] for _, args in receiver.messages] == list(range(200))
    assert sender.sent == 200
    assert not sender.send("/hitar/status", 200)  # closed: dropped and counted
    assert sender.dropped == 1


def test_unencodable_message_is_counted_logged_once_and_the_sender_goes_on(receiver, caplog):
    sender = OscSender(OscConfig(port=receiver.port))
    sender.send("/hitar/hit", {"heel": 0.9})  # a dict has no OSC type
    sender.send("/hitar/hit", {"thumb": 0.8})
    sender.send("/hitar/hit", "heel")
    assert wait_for(lambda: receiver.messages)
    sender.close()
    assert receiver.messages == [("/hitar/hit", ("heel",))]
    assert (sender.sent, sender.errors) == (1, 2)
    assert sender.last_error.startswith("OSC message /hitar/hit: cannot encode ({'thumb': 0.8},)")
    assert len(osc_warnings(caplog)) == 1


@needs_liblo
def test_oscdump_receives_and_prints_the_messages():
    port = free_udp_port()
    dump = subprocess.Popen(["oscdump", "-L", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)  # oscdump binds its port
        sender = OscSender(OscConfig(port=port))
        sender.send("/hitar/hit", "nails", 0.5, 4)
        sender.send("/hitar/status", 0.125, 0)
        sender.close()
        time.sleep(0.3)
    finally:
        dump.terminate()
    output = dump.communicate(timeout=5)[0]
    lines = [line[line.index("/") :] for line in output.splitlines()]  # after the time tag
    assert lines == ['/hitar/hit sfi "nails" 0.500000 4', "/hitar/status fi 0.125000 0"]


def test_unresolvable_host_keeps_send_non_blocking_and_is_counted(caplog):
    sender = OscSender(OscConfig(host="no.such.host.invalid", queue_size=64))
    started = time.perf_counter()
    accepted = sum(sender.send("/hitar/hit", i, 0.5) for i in range(5000))
    burst_s = time.perf_counter() - started
    assert burst_s < 1.0  # 5000 calls: about 10 ms on a laptop; a blocking call would be seconds
    assert wait_for(lambda: sender.errors == accepted)
    sender.close()
    assert sender.sent == 0
    assert sender.dropped == 5000 - accepted
    assert "no.such.host.invalid:9000: cannot resolve the host" in sender.last_error
    assert len(osc_warnings(caplog)) == 1  # one line per distinct failure, not per message


def test_unreachable_port_is_counted_and_logged_once(caplog):
    port = free_udp_port()
    sender = OscSender(OscConfig(port=port))
    for i in range(50):
        assert sender.send("/hitar/hit", i)
        time.sleep(0.005)
    assert wait_for(lambda: sender.sent + sender.errors == 50)
    sender.close()
    assert sender.errors >= 1
    assert sender.last_error == f"OSC to 127.0.0.1:{port}: cannot send (Connection refused)"
    assert len(osc_warnings(caplog)) == 1


def test_sender_reaches_a_receiver_that_starts_late():
    port = free_udp_port()
    sender = OscSender(OscConfig(port=port))
    sender.send("/hitar/hit", 0)
    sender.send("/hitar/hit", 1)
    assert wait_for(lambda: sender.errors >= 1)  # refused: nobody listens yet
    peer = Receiver(port)
    try:

        def arrived():
            sender.send("/hitar/hit", 2)
            time.sleep(0.05)
            return bool(peer.messages)

        assert wait_for(arrived, timeout_s=5.0)  # retried within RETRY_INTERVAL_S
    finally:
        sender.close()
        peer.close()


def test_full_queue_drops_and_counts():
    sender = OscSender(OscConfig(host="no.such.host.invalid", queue_size=1))
    results = [sender.send("/hitar/hit", i) for i in range(2000)]
    sender.close()
    assert results.count(False) == sender.dropped > 0


@pytest.fixture
def control_server():
    server = OscControlServer(OscConfig(control_host="127.0.0.1", control_port=free_udp_port()))
    yield server
    server.close()


def poll_all(server, count, timeout_s=5.0):
    controls = []

    def got_all():
        while (control := server.poll()) is not None:
            controls.append(control)
        return len(controls) >= count

    wait_for(got_all, timeout_s)
    return controls


def test_control_messages_from_python_osc_arrive_as_controls(control_server):
    client = SimpleUDPClient("127.0.0.1", control_server.port)
    client.send_message("/hitar/control/threshold", 2.5)
    client.send_message("/hitar/control/patch", 7)
    client.send_message("/hitar/control/voice", 1)
    client.send_message("/hitar/control/input_gain_db", -6)  # an int for a float control
    assert poll_all(control_server, 4) == [
        Control("threshold", 2.5),
        Control("patch", 7),
        Control("voice", 1),
        Control("input_gain_db", -6.0),
    ]
    assert (control_server.accepted, control_server.rejected) == (4, 0)
    assert control_server.poll() is None


@needs_liblo
def test_control_messages_from_oscsend_arrive_as_controls(control_server):
    port = str(control_server.port)
    for address, types, value in [
        ("/hitar/control/retrigger_ms", "f", "30"),
        ("/hitar/control/voice", "i", "0"),
    ]:
        subprocess.run(["oscsend", "127.0.0.1", port, address, types, value], check=True)
    assert poll_all(control_server, 2) == [Control("retrigger_ms", 30.0), Control("voice", 0)]


def send_and_await_reply(port, datagram):
    """Send one datagram from a socket of our own and return the reply as an OscMessage."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5.0)
        sock.sendto(datagram, ("127.0.0.1", port))
        return OscMessage(sock.recv(65536))


@pytest.mark.parametrize(
    ("datagram", "expected"),
    [
        (build_msg("/hitar/control/threshold", "high").dgram, "got 'high' (a string)"),
        (build_msg("/hitar/control/patch", 33).dgram, "got 33 (out of range)"),
        (build_msg("/hitar/control/patch", 1.0).dgram, "got 1.0 (a float)"),
        (build_msg("/hitar/control/volume", 1.0).dgram, "unknown control address"),
        (build_msg("/hitar/control/voice", [1, 0]).dgram, "got 2 arguments"),
        (build_msg("/hitar/control/voice").dgram, "got 0 arguments"),
        (b"\x00garbage", "not an OSC packet (8 bytes)"),
    ],
    ids=["type", "range", "int-as-float", "address", "two-args", "no-args", "garbage"],
)
def test_malformed_control_is_rejected_with_a_reply_and_the_server_goes_on(
    control_server, datagram, expected
):
    reply = send_and_await_reply(control_server.port, datagram)
    assert reply.address == "/hitar/error"
    assert len(reply.params) == 1 and expected in reply.params[0]
    assert control_server.rejected == 1
    assert expected in control_server.last_error
    assert control_server.poll() is None
    SimpleUDPClient("127.0.0.1", control_server.port).send_message("/hitar/control/voice", 1)
    assert poll_all(control_server, 1) == [Control("voice", 1)]


def test_a_flood_of_bad_messages_neither_floods_the_log_nor_stops_the_server(
    control_server, caplog
):
    client = SimpleUDPClient("127.0.0.1", control_server.port)
    poll_s = []
    for i in range(10_000):
        client.send_message("/hitar/control/nope", i)
        if i % 100 == 0:
            started = time.perf_counter()
            control_server.poll()
            poll_s.append(time.perf_counter() - started)
    assert wait_for(lambda: control_server.rejected > 0)
    time.sleep(1.0)
    client.send_message("/hitar/control/threshold", 0.5)
    assert poll_all(control_server, 1, timeout_s=10.0) == [Control("threshold", 0.5)]
    assert control_server.rejected <= 10_000
    assert len(osc_warnings(caplog)) <= 5  # 1 per REJECT_LOG_INTERVAL_S
    assert np.median(poll_s) < 1e-3


def test_control_port_zero_disables_control_input():
    server = OscControlServer(OscConfig(control_port=0))
    assert server.port == 0
    assert server.poll() is None
    server.close()
    server.close()


def test_busy_control_port_is_a_one_line_config_error(control_server):
    config = OscConfig(control_host="127.0.0.1", control_port=control_server.port)
    with pytest.raises(ConfigError) as caught:
        OscControlServer(config)
    message = str(caught.value)
    assert message.startswith(f"OSC control_host:control_port 127.0.0.1:{control_server.port}")
    assert "cannot listen (Address already in use)" in message


def test_prefix_applies_to_controls_and_replies():
    config = OscConfig(prefix="/gtr", control_host="127.0.0.1", control_port=free_udp_port())
    server = OscControlServer(config)
    try:
        reply = send_and_await_reply(server.port, build_msg("/hitar/control/voice", 1).dgram)
        assert reply.address == "/gtr/error"
        SimpleUDPClient("127.0.0.1", server.port).send_message("/gtr/control/voice", 1)
        assert poll_all(server, 1) == [Control("voice", 1)]
    finally:
        server.close()


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("port", 0, "port: expected a UDP port 1..65535"),
        ("port", 70000, "port: expected a UDP port 1..65535"),
        ("control_port", -1, "control_port: expected a UDP port 1..65535, or 0"),
        ("prefix", "hitar", "prefix: expected an OSC address"),
        ("prefix", "/hitar/", "prefix: expected an OSC address"),
        ("prefix", "/hit ar", "prefix: expected an OSC address"),
        ("host", "", "host: expected a host name"),
        ("status_interval_s", 0.0, "status_interval_s: expected seconds in"),
        ("status_interval_s", 5.0, "status_interval_s: expected seconds in"),
        ("queue_size", 0, "queue_size: expected a positive integer"),
    ],
)
def test_invalid_config_is_a_one_line_error_naming_the_field(field, value, expected):
    config = OscConfig(**{field: value})
    with pytest.raises(ConfigError, match=expected) as caught:
        validate_osc_config(config, "pi4.toml [osc]")
    assert str(caught.value).startswith(f"pi4.toml [osc] {field}: ")
    with pytest.raises(ConfigError, match=expected):
        OscSender(config)


def test_control_server_reads_no_more_packets_a_second_than_its_cap():
    config = OscConfig(control_host="127.0.0.1", control_port=free_udp_port())
    server = OscControlServer(config, max_packets_per_s=200)
    client = SimpleUDPClient("127.0.0.1", server.port)
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < 1.0:
        client.send_message("/hitar/control/nope", sent)
        sent += 1
    elapsed_s = time.monotonic() - started
    server.close()
    assert sent > 1000  # a flood, far above the cap
    assert 0 < server.rejected <= 200 * elapsed_s + 20
