"""Command line: `python -m firmware run ...` plays the instrument; `boards` lists profiles.

Every user-facing failure is a HitarError printed as one line (`error: ...`, exit status 2).
Logging goes through a queue to a listener thread, so nothing the engine logs can block it.
"""

import argparse
import logging
import logging.handlers
import queue
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from firmware import app
from firmware.app import RunSettings, StopRequest
from firmware.audio_io import list_devices, validate_audio_config
from firmware.board import load_board_profile
from firmware.board import main as board_main
from firmware.errors import ConfigError, HitarError
from firmware.voice import VoiceConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO_ROOT / "deploy" / "bundles" / "hits-default"
DEFAULT_BOARD = "desktop"

log = logging.getLogger("hitar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m firmware",
        description="Firmware of the augmented acoustic guitar: detects and classifies body "
        "hits on five piezos and sends each gesture over OSC.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="play: read the sensors (ALSA or a WAV), send gestures over OSC",
        description="Run the instrument on ALSA capture (default) or a recording (--input). "
        "Settings come from the board profile; flags override them.",
    )
    source = run.add_argument_group("source")
    source.add_argument(
        "--board",
        default=DEFAULT_BOARD,
        help=f"board profile name or TOML path (default: {DEFAULT_BOARD}; "
        "`python -m firmware boards` lists them)",
    )
    source.add_argument(
        "--input", type=Path, metavar="WAV", help="replay a 6-channel recording instead of ALSA"
    )
    source.add_argument(
        "--fast", action="store_true", help="with --input: as fast as possible, not real time"
    )
    source.add_argument("--device", metavar="PCM", help="ALSA capture device")
    source.add_argument("--playback-device", metavar="PCM", help="ALSA playback device")
    source.add_argument("--rate", type=int, metavar="HZ", help="sample rate")
    source.add_argument(
        "--channels", type=int, metavar="N", help="capture channels the interface delivers"
    )
    source.add_argument(
        "--period-frames", type=int, metavar="N", help="frames per period (64 = 1.33 ms)"
    )
    source.add_argument("--periods", type=int, metavar="N", help="periods in the ALSA buffer")
    source.add_argument("--list-devices", action="store_true", help="list ALSA devices, exit")
    out = run.add_argument_group("outputs")
    out.add_argument("--osc", metavar="HOST:PORT", help="where gestures and status go")
    out.add_argument("--osc-prefix", metavar="PREFIX", help="OSC address prefix (/hitar)")
    out.add_argument(
        "--control-port", type=int, metavar="N", help="UDP port for OSC controls; 0 disables"
    )
    out.add_argument("--events", type=Path, metavar="FILE", help="write a JSON-lines event log")
    out.add_argument(
        "--print", action="store_true", dest="print_gestures", help="print each gesture"
    )
    model = run.add_argument_group("model")
    model.add_argument(
        "--model",
        type=Path,
        default=DEFAULT_MODEL,
        metavar="BUNDLE",
        help=f"hit model bundle folder (default: {DEFAULT_MODEL.relative_to(REPO_ROOT)})",
    )
    voice = run.add_argument_group("FM voice (docs/FM_VOICE.md)")
    voice.add_argument(
        "--voice", action="store_true", help="play the FM voice from the pickup (or [voice])"
    )
    voice.add_argument("--patch", type=int, metavar="SLOT", help="bank slot 1..32")
    voice.add_argument("--bank", metavar="SYX", help="DX7 bank (default: firmware/patches)")
    voice.add_argument(
        "--output", type=Path, metavar="WAV", help="write the voice to a WAV, not ALSA playback"
    )
    control = run.add_argument_group("run")
    control.add_argument("--seconds", type=float, metavar="S", help="stop after S s of audio")
    control.add_argument(
        "--dry-run", action="store_true", help="check profile and model, open nothing, exit"
    )
    control.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    commands.add_parser("boards", help="list the board profiles")
    return parser


def main(argv: list[str] | None = None) -> int:
    stop = StopRequest()
    stop.install()
    args = build_parser().parse_args(argv)
    with logging_to_queue(quiet=getattr(args, "quiet", False)):
        try:
            if args.command == "boards":
                return board_main([])
            return _run(args, stop)
        except HitarError as error:
            log.error("error: %s", error)
            return 2


def parse_host_port(text: str) -> tuple[str, int]:
    """'HOST:PORT' -> (host, port), with a one-line error naming what is wrong."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--osc: expected HOST:PORT with a port in 1..65535, got '{text}'")
    return host, int(port)


def settings_from_args(args: argparse.Namespace):
    """The board profile with the command line's overrides applied, validated."""
    if args.fast and args.input is None:
        raise ConfigError("--fast needs --input: ALSA capture runs at the interface's pace")
    profile = load_board_profile(args.board)
    audio_overrides = {
        "capture_device": args.device,
        "playback_device": args.playback_device,
        "sample_rate_hz": args.rate,
        "capture_channels": args.channels,
        "period_frames": args.period_frames,
        "periods": args.periods,
    }
    audio = replace(profile.audio, **{k: v for k, v in audio_overrides.items() if v is not None})
    validate_audio_config(audio, "command line")
    osc_overrides: dict = {"prefix": args.osc_prefix, "control_port": args.control_port}
    if args.osc:
        osc_overrides["host"], osc_overrides["port"] = parse_host_port(args.osc)
    osc = replace(profile.osc, **{k: v for k, v in osc_overrides.items() if v is not None})
    return RunSettings(
        voice=_voice_settings(args, profile.voice),
        output=args.output,
        profile=profile,
        audio=audio,
        osc=osc,
        model=args.model,
        input=args.input,
        realtime=not args.fast,
        events=args.events,
        print_gestures=args.print_gestures,
        max_seconds=args.seconds,
    )


def _voice_settings(args: argparse.Namespace, profile_voice: VoiceConfig) -> VoiceConfig | None:
    """The profile's [voice] with the flags applied; None when no voice plays."""
    if not (args.voice or profile_voice.enabled):
        for flag, value in (
            ("--patch", args.patch),
            ("--bank", args.bank),
            ("--output", args.output),
        ):
            if value is not None:
                raise ConfigError(f"{flag} needs --voice (or enabled = true in [voice])")
        return None
    if args.fast and args.output is None:
        raise ConfigError(
            "--fast with the voice needs --output WAV: ALSA playback runs in real time"
        )
    overrides = {"enabled": True, "patch": args.patch, "bank": args.bank}
    try:
        return replace(profile_voice, **{k: v for k, v in overrides.items() if v is not None})
    except ValueError as error:
        raise ConfigError(f"--patch/--bank: {error}") from None


def _run(args: argparse.Namespace, stop) -> int:
    if args.list_devices:
        print("\n".join(list_devices()))
        return 0
    settings = settings_from_args(args)
    if args.dry_run:
        _, model = app.load_model(settings)
        log.info(
            "dry run: profile %s and model %s are valid", settings.profile.name, model.bundle.path
        )
        return 0
    app.run(settings, stop)
    return 0


@contextmanager
def logging_to_queue(quiet: bool) -> Iterator[None]:
    """Route all logging through a queue to a listener thread (stderr; gestures on stdout)."""
    records: queue.SimpleQueue = queue.SimpleQueue()
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setFormatter(logging.Formatter("%(message)s"))
    to_stderr.addFilter(lambda record: record.name != "hitar.gestures")
    to_stdout = logging.StreamHandler(sys.stdout)
    to_stdout.addFilter(lambda record: record.name == "hitar.gestures")
    listener = logging.handlers.QueueListener(
        records, to_stderr, to_stdout, respect_handler_level=True
    )
    root = logging.getLogger()
    handler = logging.handlers.QueueHandler(records)
    root.addHandler(handler)
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    logging.getLogger("hitar.gestures").setLevel(logging.INFO)
    listener.start()
    try:
        yield
    finally:
        listener.stop()
        root.removeHandler(handler)
