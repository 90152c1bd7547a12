"""Board profiles (every shipped one, and broken ones) and board/setup.sh run for real into a
folder, unprivileged steps only, twice."""

import getpass
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from firmware.audio_io import AudioConfig
from firmware.board import (
    PROFILES_DIR,
    BoardProfile,
    list_board_profiles,
    load_board_profile,
    main,
)
from firmware.errors import ConfigError
from firmware.layout import N_CHANNELS, SAMPLE_RATE_HZ
from firmware.realtime import RealtimeConfig

REPO = Path(__file__).resolve().parents[1]
SETUP = REPO / "board" / "setup.sh"
MINIMAL = 'description = "test board"\n'


def write_profile(tmp_path: Path, text: str) -> str:
    path = tmp_path / "board.toml"
    path.write_text(text)
    return str(path)


def test_the_shipped_profiles_are_listed() -> None:
    names = list_board_profiles()
    assert {"pi4-octo", "pi-umc1820", "bela-ctag-beast", "desktop"} <= set(names)
    assert names == sorted(path.stem for path in PROFILES_DIR.glob("*.toml"))


@pytest.mark.parametrize("name", list_board_profiles())
def test_every_shipped_profile_loads_and_is_consistent(name: str) -> None:
    profile = load_board_profile(name)
    assert isinstance(profile, BoardProfile)
    assert profile.name == name
    assert profile.description and "\n" not in profile.description
    assert profile.audio.sample_rate_hz == SAMPLE_RATE_HZ
    assert len(profile.audio.channel_map) == N_CHANNELS
    assert max(profile.audio.channel_map) < profile.audio.capture_channels
    assert profile.audio.period_frames >= 16


def test_the_octo_profile_opens_the_eight_channel_stream_its_driver_demands() -> None:
    audio = load_board_profile("pi4-octo").audio
    assert audio.capture_device == "hw:CARD=audioinjectoroc,DEV=0"
    assert (audio.capture_channels, audio.playback_channels) == (8, 8)
    assert audio.channel_map == (0, 1, 2, 3, 4, 5)


def test_a_profile_by_path_with_no_tables_takes_every_default(tmp_path: Path) -> None:
    profile = load_board_profile(write_profile(tmp_path, MINIMAL))
    assert profile.name == "board"
    assert profile.audio == AudioConfig()
    assert profile.realtime == RealtimeConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MINIMAL + "[audoi]\n", "unknown table or key 'audoi'"),
        (MINIMAL + "[audio]\nperiod_frame = 64\n", "[audio]: unknown key 'period_frame'"),
        (MINIMAL + "[audio]\nperiod_frames = '64'\n", "[audio] period_frames: expected int"),
        (MINIMAL + "[audio]\nsample_rate_hz = 44100\n", "sample_rate_hz: expected 48000"),
        (MINIMAL + "[audio]\nchannel_map = [0, 1, 2, 3, 4, 4]\n", "[audio] channel_map"),
        (MINIMAL + "[audio]\ncapture_channels = 4\n", "below capture_channels = 4"),
        (MINIMAL + "[realtime]\nrt_priority = 120\n", "[realtime]: rt_priority must be in"),
        (MINIMAL + "[osc]\nport = 70000\n", "[osc] port"),
        ("[audio]\n", "description: expected a one-line text"),
        (MINIMAL + "[audio\n", "not valid TOML"),
    ],
)
def test_a_broken_profile_is_one_line_naming_file_table_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write_profile(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_board_profile(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith(path)
    assert "\n" not in str(caught.value)


def test_an_unknown_name_lists_the_profiles_there_are() -> None:
    with pytest.raises(ConfigError, match=r"no board/profiles/pi9\.toml \(profiles: .*pi4-octo"):
        load_board_profile("pi9")


def test_the_command_line_lists_shows_and_refuses(capsys: pytest.CaptureFixture) -> None:
    assert main([]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in listing] == list_board_profiles()
    assert main(["pi4-octo"]) == 0
    shown = capsys.readouterr().out
    assert "realtime.rt_priority = 80" in shown
    assert 'audio.capture_device = "hw:CARD=audioinjectoroc,DEV=0"' in shown
    assert main(["pi9"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


# --- board/setup.sh ---------------------------------------------------------------------------


def run_setup(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SETUP), *args], capture_output=True, text=True, timeout=900, check=False
    )


def snapshot(*folders: Path) -> dict[str, tuple]:
    """Every file and link under the folders: type, mode, mtime and content hash."""
    state = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            info = path.lstat()
            if path.is_symlink():
                content = os.readlink(path)
            elif path.is_file():
                content = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                content = ""
            state[str(path)] = (info.st_mode, info.st_mtime_ns, content)
    return state


def test_setup_refuses_a_missing_or_unknown_board_before_doing_anything(tmp_path: Path) -> None:
    missing = run_setup("--prefix", str(tmp_path / "p"), "--no-root")
    assert missing.returncode == 2
    assert "--board PROFILE is required (one of: " in missing.stderr
    assert "pi4-octo" in missing.stderr
    unknown = run_setup("--prefix", str(tmp_path / "p"), "--board", "pi9", "--no-root")
    assert unknown.returncode == 2
    assert "no board/profiles/pi9.toml" in unknown.stderr
    assert not (tmp_path / "p").exists()


@pytest.mark.slow
def test_setup_installs_into_a_folder_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    prefix, sysroot = tmp_path / "hitar", tmp_path / "sysroot"
    args = ("--prefix", str(prefix), "--sysroot", str(sysroot), "--board", "pi4-octo")
    first = run_setup(*args, "--user", getpass.getuser(), "--no-root")
    assert first.returncode == 0, first.stderr
    python = prefix / "venv" / "bin" / "python"
    probe = (
        "import firmware.board, alsaaudio, pythonosc, soundfile, scipy; print(firmware.__file__)"
    )
    imported = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == str(REPO / "firmware" / "__init__.py")
    assert "TFLite runtime ai-edge-litert" in first.stdout

    unit = (sysroot / "etc/systemd/system/hitar.service").read_text()
    assert f"ExecStart={python} -m firmware run --board pi4-octo" in unit
    assert f"--model {prefix}/bundles/hits/current" in unit
    assert f"User={getpass.getuser()}" in unit and "Type=notify" in unit and "WatchdogSec=" in unit
    assert "@" not in unit.replace("@PREFIX@", "")
    limits = (sysroot / "etc/security/limits.d/95-hitar.conf").read_text()
    assert "@audio  -  rtprio   95" in limits
    assert (sysroot / "etc/systemd/system/hitar-cpufreq.service").is_file()
    if shutil.which("systemd-analyze"):
        for name in ("hitar.service", "hitar-cpufreq.service"):
            verified = subprocess.run(
                ["systemd-analyze", "verify", str(sysroot / "etc/systemd/system" / name)],
                capture_output=True,
                text=True,
                check=False,
            )
            assert (verified.returncode, verified.stderr) == (0, "")

    before = snapshot(prefix, sysroot)
    second = run_setup(*args, "--user", getpass.getuser(), "--no-root")
    assert second.returncode == 0, second.stderr
    assert "writing" not in second.stdout and "installing" not in second.stdout
    assert snapshot(prefix, sysroot) == before
