"""Command line: ``python -m training.simulator --out DIR [...]`` (and ``python -m training
simulate``): simulate one session, or the demo, and write its WAV, labels and truth."""

import argparse
import sys
from pathlib import Path

from firmware.errors import ConfigError, HitarError
from training.simulator.files import write_session
from training.simulator.session import SessionConfig, simulate_session

DEMO_SECONDS = 20.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training simulate",
        description="Simulate body hits (and string playing) on the instrument's six channels.",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--name", help="file name stem (default: sim<seed>, or demo)")
    parser.add_argument("--seconds", type=float, help="session length (default 60, demo 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the session's randomness")
    parser.add_argument("--players", type=int, nargs="+", default=[0], help="player ids, in turn")
    parser.add_argument("--instrument", type=int, default=0, help="instrument id")
    parser.add_argument(
        "--strings",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="play the strings during the session (default: yes)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="the demo session: every hand part at every location at three dynamics, "
        "strings in the second half",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for a bad value)."""
    args = build_parser().parse_args(argv)
    try:
        config = _config(args)
        audio, hits, sample_rate_hz = simulate_session(config, args.seed)
        name = args.name or ("demo" if args.demo else f"sim{args.seed}")
        for path in write_session(args.out, name, audio, hits, sample_rate_hz):
            print(path)
    except HitarError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: {args.out}: cannot write ({error.strerror})", file=sys.stderr)
        return 2
    return 0


def _config(args: argparse.Namespace) -> SessionConfig:
    """The session's config from the arguments; a bad value is a one-line ConfigError."""
    if args.demo:
        seconds = DEMO_SECONDS if args.seconds is None else args.seconds
        strings = (0.5, 1.0) if args.strings else (0.0, 0.0)
        schedule = "tour"
    else:
        seconds = 60.0 if args.seconds is None else args.seconds
        strings = (0.0, 1.0) if args.strings else (0.0, 0.0)
        schedule = "groove"
    try:
        return SessionConfig(
            seconds=seconds,
            players=tuple(args.players),
            instrument=args.instrument,
            string_span=strings,
            schedule=schedule,
        )
    except ValueError as error:
        raise ConfigError(f"command line: {error}") from None


if __name__ == "__main__":
    sys.exit(main())
