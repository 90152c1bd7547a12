"""deploy flash against a real OpenSSH server on 127.0.0.1 (a free port, a throwaway key, a
target folder): rsync, remote setup, atomic bundle install on the "board". systemd cannot run
here, so the service step is replaced by --no-service (see docs/BOARDS.md)."""

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.__main__ import main as deploy_main
from deploy.flash import FlashError, Remote, flash, service_state
from firmware.bundle import MODEL_NAME
from firmware.errors import BundleError, ConfigError
from tests.test_bundle_store import make_hits_bundle, model_bytes

REPO = Path(__file__).resolve().parents[1]
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hitar-test", "-f", str(path)],
        check=True,
    )
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    """A real sshd on a free loopback port that lets this user in with a throwaway key."""
    missing = [tool for tool in ("ssh", "ssh-keygen", "rsync") if not shutil.which(tool)]
    if not os.path.exists(SSHD) or missing:
        pytest.skip(f"needs OpenSSH's sshd, ssh, ssh-keygen and rsync (missing: {missing or SSHD})")
    if not os.path.isdir("/run/sshd"):
        if os.geteuid() != 0:
            pytest.skip("sshd needs its privilege separation folder /run/sshd (create it as root)")
        os.makedirs("/run/sshd", mode=0o755)
    folder = tmp_path_factory.mktemp("sshd")
    host_public = keygen(folder / "host_key")
    (folder / "authorized_keys").write_text(keygen(folder / "client_key") + "\n")
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder}/host_key\n"
        f"PidFile {folder}/sshd.pid\nAuthorizedKeysFile {folder}/authorized_keys\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPermitRootLogin prohibit-password\nLogLevel ERROR\n"
    )
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_public}\n")
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.skip(f"sshd did not start: {server.stderr.read().decode().strip()}")
            time.sleep(0.05)
    yield Remote(
        f"{getpass.getuser()}@127.0.0.1",
        port=port,
        identity=folder / "client_key",
        known_hosts=folder / "known_hosts",
    )
    server.terminate()
    server.wait(timeout=10)


def test_the_board_is_reached_over_real_ssh(board: Remote) -> None:
    assert board.run("echo $((6 * 7))", "arithmetic").strip() == "42"


def test_an_unknown_host_key_stops_the_flash_in_one_line(board: Remote, tmp_path: Path) -> None:
    (tmp_path / "known_hosts").write_text("")
    stranger = Remote(board.host, board.port, board.identity, tmp_path / "known_hosts")
    with pytest.raises(FlashError) as caught:
        flash(stranger, "desktop", str(tmp_path / "board"), bundles=[], service=False, say=print)
    message = str(caught.value)
    assert message.startswith(f"{board.host}: mkdir failed (")
    assert "Host key verification failed" in message
    assert "\n" not in message


def test_a_closed_port_is_reported_not_hung(tmp_path: Path) -> None:
    nobody_home = Remote("user@127.0.0.1", port=free_port(), known_hosts=tmp_path / "kh")
    start = time.monotonic()
    with pytest.raises(FlashError, match="Connection refused"):
        flash(nobody_home, "desktop", "hitar", bundles=[], service=False)
    assert time.monotonic() - start < 15


def test_bad_profiles_and_bundles_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    unreachable = Remote("user@192.0.2.1", known_hosts=tmp_path / "kh")  # TEST-NET: never used
    with pytest.raises(ConfigError, match=r"no board/profiles/pi9\.toml"):
        flash(unreachable, "pi9", bundles=[])
    bundle = make_hits_bundle(tmp_path / "bundle")
    (bundle / MODEL_NAME).write_bytes(b"x")
    with pytest.raises(BundleError, match="checksum differs"):
        flash(unreachable, "desktop", bundles=[bundle])


def test_systemctl_show_is_read_into_state_and_status() -> None:
    shown = "ActiveState=active\nSubState=running\nStatusText=load 12 %, 0 xruns\n"
    assert service_state(shown) == (True, "active (running): load 12 %, 0 xruns")
    assert service_state("ActiveState=failed\nSubState=failed\nStatusText=\n") == (
        False,
        "failed (failed)",
    )


@pytest.mark.slow
def test_flash_installs_firmware_and_bundles_and_refuses_a_corrupt_one(
    board: Remote, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    target = tmp_path / "board"
    first = make_hits_bundle(tmp_path / "first", version="1")
    args = ["flash", "--host", board.host, "--port", str(board.port), "--board", "pi4-octo"]
    args += ["--identity", str(board.identity), "--known-hosts", str(board.known_hosts)]
    args += ["--target", str(target), "--no-service"]
    assert deploy_main([*args, "--bundle", str(first)]) == 0, capsys.readouterr().err
    output = capsys.readouterr().out
    assert "hits: installed " in output
    current = target / "bundles" / "hits" / "current"
    assert (current / MODEL_NAME).read_bytes() == model_bytes()
    assert (target / "src" / "firmware" / "board.py").read_bytes() == (
        REPO / "firmware" / "board.py"
    ).read_bytes()
    assert not (target / "src" / "tests").exists()
    assert not (target / "incoming").exists()
    check = [target / "venv" / "bin" / "python", "-m", "firmware.board", "pi4-octo"]
    assert "pi4-octo" in subprocess.run(check, capture_output=True, text=True, check=True).stdout
    installed = os.readlink(current)

    assert deploy_main([*args, "--bundle", str(first)]) == 0
    assert "hits: already current" in capsys.readouterr().out

    # Manifest and checksum agree (so it passes the checks made before sending), but the board's
    # interpreter cannot load it: refused there, the first bundle stays current.
    broken = make_hits_bundle(tmp_path / "broken", version="2", model=b"not a tflite model")
    assert deploy_main([*args, "--bundle", str(broken)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {board.host}: installing bundles failed (")
    assert "not a usable TFLite model" in error and f"still using {installed}" in error
    assert error.count("\n") == 1
    assert os.readlink(current) == installed
