"""`python -m bench.soak.run_firmware [soak options] -- run [firmware run options]`: the firmware,
built and run exactly as `python -m firmware run` builds it (board profile, flags, logging,
signals, event log, OSC, hot reload, watchdog), except that its input is the recording named
by `--input` looped `--loops` times, losing periods now and then as an overrunning capture
device does (bench/soak/source.py).

Why a second entry point: three of the soak's four faults come from outside the process (the
OSC receiver going away, control floods, bundle swaps), but an overrun cannot: ALSA's file and
null plugins never overrun and this machine has no sound card. So the soak runs this, a real
process of its own (its RSS read from /proc, its exit status and signals real), with the one
part that cannot be driven from outside, the source, handed to firmware.app.run.

Exit status as `python -m firmware`: 0 after a clean stop (end of input, SIGTERM, SIGINT), 2
with one `error:` line for a HitarError, 1 with a traceback for anything else (a crash).
"""

import argparse
import logging
import sys

from bench.soak.source import FAILURES, OverrunConfig, OverrunSource, overrun_schedule
from firmware import app, cli
from firmware.errors import ConfigError, HitarError
from firmware.replay import WavReplay

log = logging.getLogger("hitar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak.run_firmware",
        description="The firmware on a looped recording with injected overruns. Options after "
        "'--' are `python -m firmware run`'s (--input is the recording to loop).",
    )
    parser.add_argument("--loops", type=int, default=1, help="times the recording is played")
    parser.add_argument(
        "--overrun-every-s",
        type=float,
        default=OverrunConfig.mean_interval_s,
        metavar="S",
        help="mean seconds of audio between overruns",
    )
    parser.add_argument(
        "--max-lost-periods",
        type=int,
        default=OverrunConfig.max_lost_periods,
        metavar="N",
        help="each overrun loses 1..N periods",
    )
    parser.add_argument("--overrun-seed", type=int, default=OverrunConfig.seed, metavar="N")
    parser.add_argument("--speed", type=float, metavar="X", help="at most X times real time")
    parser.add_argument("--fail-at-s", type=float, metavar="S", help="inject a failure at S s")
    parser.add_argument("--failure", choices=FAILURES, default="crash")
    return parser


def open_source(args: argparse.Namespace, settings: app.RunSettings) -> OverrunSource:
    """The looped recording with its overruns, as the soak (bench/soak) computes them."""
    if settings.input is None:
        raise ConfigError("bench.soak.run_firmware: the firmware options need --input WAV")
    audio = settings.audio
    replay = WavReplay(
        settings.input, audio.period_frames, audio.sample_rate_hz, realtime=False, loops=args.loops
    )
    overruns = OverrunConfig(args.overrun_every_s, args.max_lost_periods, args.overrun_seed)
    schedule = overrun_schedule(
        overruns, args.loops * replay.total_frames, audio.period_frames, audio.sample_rate_hz
    )
    fail_at = None if args.fail_at_s is None else round(args.fail_at_s * audio.sample_rate_hz)
    return OverrunSource(replay, schedule, args.speed, fail_at, args.failure)


def main(argv: list[str] | None = None) -> int:
    stop = app.StopRequest()
    stop.install()
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    args = build_parser().parse_args(argv[:split])
    run_args = cli.build_parser().parse_args(argv[split + 1 :])
    with cli.logging_to_queue(quiet=run_args.quiet):
        try:
            settings = cli.settings_from_args(run_args)
            app.run(settings, stop, open_source(args, settings))
        except HitarError as error:
            log.error("error: %s", error)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
