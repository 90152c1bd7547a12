"""Flash a board over SSH: copy the firmware, board profiles and model bundles, run the setup,
install the bundles atomically, restart the service and read back that it came up.

    python -m deploy flash --host pi@guitar.local --board pi4-octo [--bundle PATH ...]

Steps, each a plain ssh or rsync command (so any failure names the step and the host):
  1. locally: the profile loads and every bundle's manifest and checksum are right;
  2. rsync firmware/, board/, pyproject.toml (and README.md) to TARGET/src (--delete);
  3. rsync each bundle to TARGET/incoming/;
  4. TARGET/src/board/setup.sh --prefix TARGET --board PROFILE on the board (idempotent);
  5. python -m firmware.bundle_store install on the board: each bundle validated there with the
     board's own interpreter before it becomes current; a bad one leaves the old one playing;
  6. sudo systemctl restart hitar.service (Type=notify: returns once the firmware said READY),
     then systemctl show: ActiveState and the firmware's last STATUS= line.
With --no-service (no systemd, or a board you run by hand) setup skips its root steps and step 6
is replaced by listing the installed bundles; everything else is the same.
"""

import argparse
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from firmware.board import PROFILES_DIR, REPO_ROOT, load_board_profile, profile_path
from firmware.bundle import load_bundle
from firmware.bundle_store import bundle_kind
from firmware.errors import HitarError

SOURCE_PATHS = ("firmware", "board", "pyproject.toml", "README.md")
"""What the board needs of the repository (README.md: pyproject's readme, for pip)."""
SHIPPED_BUNDLES = REPO_ROOT / "deploy" / "bundles"
SERVICE = "hitar.service"


class FlashError(HitarError):
    """A flash step failed on the board or on the way to it."""


@dataclass(frozen=True)
class Remote:
    """How to reach the board: ssh and rsync over ssh, never asking anything (BatchMode)."""

    host: str
    """user@host, or a Host alias from ~/.ssh/config."""
    port: int | None = None
    identity: Path | None = None
    known_hosts: Path | None = None
    """A known_hosts file of its own (boards are re-imaged often); default: ssh's."""

    def ssh_args(self) -> list[str]:
        args = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15"]
        if self.port is not None:
            args += ["-p", str(self.port)]
        if self.identity is not None:
            args += ["-i", str(self.identity), "-o", "IdentitiesOnly=yes"]
        if self.known_hosts is not None:
            args += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        return args

    def run(self, command: str, step: str, say: Callable[[str], None] | None = None) -> str:
        """Run a shell command on the board; its stdout (each line also to say, indented),
        or FlashError naming the step."""
        result = subprocess.run(
            [*self.ssh_args(), self.host, command], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise FlashError(f"{self.host}: {step} failed ({_last_line(result)})")
        if say is not None:
            for line in result.stdout.splitlines():
                say(f"  {line}")
        return result.stdout

    def sync(self, sources: list[str], destination: str, step: str) -> None:
        """rsync sources (relative to the repository) to destination on the board, deleting
        what the sources no longer hold."""
        command = [
            "rsync",
            "-rlptz",
            "--delete",
            "--exclude=__pycache__",
            "--exclude=*.pyc",
            "-e",
            shlex.join(self.ssh_args()),
            *sources,
            f"{self.host}:{destination}",
        ]
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise FlashError(f"{self.host}: {step} failed ({_last_line(result)})")


def flash(
    remote: Remote,
    board: str,
    target: str = "hitar",
    bundles: list[Path] | None = None,
    service: bool = True,
    say: Callable[[str], None] = print,
) -> str:
    """Flash the board; returns the status line read back from it.

    Args:
        board: a profile name or the path of a profile TOML (copied to the board).
        target: the folder on the board (relative: in the ssh user's home).
        bundles: bundle folders to install; default: the shipped ones in deploy/bundles/.
        service: restart hitar.service and read its state; False: --no-service.
        say: where progress lines go.

    Raises:
        ConfigError, BundleError: before anything is sent, for a bad profile or bundle.
        FlashError: a step failed on the way or on the board (one line, naming the step).
    """
    profile = load_board_profile(board)
    if bundles is None:
        bundles = sorted(path.parent for path in SHIPPED_BUNDLES.glob("*/manifest.json"))
    for bundle in bundles:
        load_bundle(bundle, bundle_kind(bundle))
    quoted = shlex.quote(target)

    say(f"flash: {remote.host}: preparing {target}")
    remote.run(f"rm -rf {quoted}/incoming && mkdir -p {quoted}/src {quoted}/incoming", "mkdir")
    sources = [path for path in SOURCE_PATHS if (REPO_ROOT / path).exists()]
    say(f"flash: copying {', '.join(sources)} to {target}/src")
    remote.sync(sources, f"{target}/src/", "copying the firmware")
    custom = profile_path(board).resolve()
    if custom.parent != PROFILES_DIR.resolve():
        say(f"flash: copying profile {board} as board/profiles/{profile.name}.toml")
        destination = f"{target}/src/board/profiles/{profile.name}.toml"
        remote.sync([str(custom)], destination, "copying the profile")
    incoming = []
    for index, bundle in enumerate(bundles):
        name = f"{index}-{bundle.resolve().name}"
        say(f"flash: copying bundle {bundle}")
        remote.sync([f"{bundle.resolve()}/"], f"{target}/incoming/{name}/", "copying a bundle")
        incoming.append(f"{quoted}/incoming/{shlex.quote(name)}")

    say(f"flash: running board/setup.sh on {remote.host}")
    setup = f"{quoted}/src/board/setup.sh --prefix {quoted} --board {shlex.quote(profile.name)}"
    remote.run(setup + ("" if service else " --no-root"), "setup", say)
    store = f"{quoted}/venv/bin/python -m firmware.bundle_store --store {quoted}/bundles"
    if incoming:
        remote.run(f"{store} install {' '.join(incoming)}", "installing bundles", say)
    remote.run(f"rm -rf {quoted}/incoming", "cleaning up")
    if not service:
        status = remote.run(f"{store} list", "listing bundles").strip()
        say(f"flash: done (--no-service): {status}")
        return status
    return restart_service(remote, say)


def restart_service(remote: Remote, say: Callable[[str], None] = print) -> str:
    """Restart hitar.service (Type=notify: returns once the firmware said READY=1) and read
    back its state and the firmware's last STATUS= line."""
    say(f"flash: restarting {SERVICE}")
    restart = f"systemctl restart {SERVICE}"
    try:
        remote.run(f'if [ "$(id -u)" = 0 ]; then {restart}; else sudo -n {restart}; fi', restart)
    except FlashError as error:
        last = remote.run(f"journalctl -u {SERVICE} -n 1 -o cat --no-pager || true", "journal")
        raise FlashError(f"{error}; last journal line: {last.strip() or 'none'}") from None
    show = f"systemctl show {SERVICE} -p ActiveState -p SubState -p StatusText"
    active, status = service_state(remote.run(show, "systemctl show"))
    if not active:
        raise FlashError(f"{remote.host}: {SERVICE} did not stay up ({status})")
    say(f"flash: done: {SERVICE} {status}")
    return status


def service_state(shown: str) -> tuple[bool, str]:
    """Read ``systemctl show -p ActiveState -p SubState -p StatusText`` output.

    Returns:
        Whether the service is active, and "active (running): <the firmware's STATUS= line>".
    """
    fields = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
    state = f"{fields.get('ActiveState', 'unknown')} ({fields.get('SubState', 'unknown')})"
    if fields.get("StatusText"):
        state += f": {fields['StatusText']}"
    return fields.get("ActiveState") == "active", state


def _last_line(result: subprocess.CompletedProcess) -> str:
    lines = (result.stderr or result.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``flash`` subcommand's options."""
    parser.add_argument("--host", required=True, help="user@board (or an ssh config alias)")
    parser.add_argument("--board", required=True, help="profile name (board/profiles) or path")
    parser.add_argument("--port", type=int, help="ssh port")
    parser.add_argument("--identity", type=Path, help="ssh private key")
    parser.add_argument("--known-hosts", type=Path, help="known_hosts file to check the board by")
    parser.add_argument("--target", default="hitar", help="folder on the board (default ~/hitar)")
    parser.add_argument(
        "--bundle",
        type=Path,
        action="append",
        dest="bundles",
        help="bundle folder to install (repeatable; default: the shipped deploy/bundles/*)",
    )
    parser.add_argument(
        "--no-service",
        action="store_true",
        help="no systemd: skip root setup steps and the restart; report the installed bundles",
    )


def run(args: argparse.Namespace) -> int:
    """Run the ``flash`` subcommand."""
    remote = Remote(args.host, args.port, args.identity, args.known_hosts)
    flash(remote, args.board, args.target, args.bundles, service=not args.no_service)
    return 0
