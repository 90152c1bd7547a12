"""Command line: build datasets from sessions, corpora or hydrogen kits, and summarise them.

    python -m training.data sessions FOLDER [--out FILE.npz] [--json]
    python -m training.data corpus FOLDER [--settings FILE.toml] [--out FILE.npz] [--json]
    python -m training.data drumkits [--root DIR] [--kits NAME ...] [--settings FILE.toml]
                                     [--out FILE.npz] [--json] [--markdown]
    python -m training.data soundfont-drums [--folder DIR] [--root DIR] [--settings FILE.toml]
                                            [--out FILE.npz] [--json]
    python -m training.data library-drums [--soundfont-folder DIR] [--root DIR]
                                          [--settings FILE.toml] [--out FILE.npz] [--json]
    python -m training.data synth-drums [--folder DIR] [--kits N] [--seed N]
                                        [--settings FILE.toml] [--out FILE.npz] [--json]
    python -m training.data summary FILE.npz [--json]

A problem with the input prints one line naming the file and exits with status 2.
"""

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from firmware.errors import HitarError
from training.data.corpus import CorpusSettings, build_corpus, corpus_files
from training.data.dataset import HitDataset, format_summary
from training.data.drumkits import (
    DEFAULT_ROOT,
    build_drumkits,
    drumkit_files,
    mapping_markdown,
    package_kits,
)
from training.data.library_drums import build_library_drums
from training.data.sessions import build_sessions
from training.data.settings import settings_from_file
from training.data.soundfont_drums import DEFAULT_FOLDER, build_soundfont_drums
from training.data.synth_drums import DEFAULT_FOLDER as SYNTH_FOLDER
from training.data.synth_drums import KITS, SEED, build_synth_drums


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except HitarError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.data", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    sessions = commands.add_parser("sessions", help="build a dataset from a folder of sessions")
    sessions.add_argument("folder", type=Path, help="session files and optional dataset.toml")
    sessions.set_defaults(run=_sessions)

    corpus = commands.add_parser("corpus", help="build a dataset from a folder per class")
    corpus.add_argument("folder", type=Path, help="<folder>/<class>/[<group>/]<file>")
    corpus.set_defaults(run=_corpus)

    drumkits = commands.add_parser("drumkits", help="build a dataset from hydrogen drum kits")
    drumkits.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="folder of kit folders")
    drumkits.add_argument("--kits", nargs="+", help="kit folder names (default: all)")
    drumkits.add_argument(
        "--markdown", action="store_true", help="print the instrument-to-class table and stop"
    )
    drumkits.set_defaults(run=_drumkits)

    soundfonts = commands.add_parser(
        "soundfont-drums",
        help="render the drum kits of Debian's soundfonts as extra training kits (never those "
        "of hydrogen-drumkits, which the benchmark tests on)",
    )
    soundfonts.add_argument(
        "--folder", type=Path, default=DEFAULT_FOLDER, help="where the rendered files go"
    )
    soundfonts.add_argument(
        "--root", type=Path, default=DEFAULT_ROOT, help="the benchmark's kits, left out"
    )
    soundfonts.set_defaults(run=_soundfont_drums)

    libraries = commands.add_parser(
        "library-drums",
        help="the drum samples of LMMS and Sonic Pi as extra training kits (none matching a "
        "benchmark hit or repeating a soundfont kit's)",
    )
    libraries.add_argument(
        "--soundfont-folder",
        type=Path,
        default=DEFAULT_FOLDER,
        help="the soundfont kits rendered by soundfont-drums, whose repeats are left out",
    )
    libraries.add_argument(
        "--root", type=Path, default=DEFAULT_ROOT, help="the benchmark's kits, left out"
    )
    libraries.set_defaults(run=_library_drums)

    synth = commands.add_parser(
        "synth-drums",
        help="synthesise drum kits from physical models (membranes, plates, a TR-808's metal) "
        "as extra training kits",
    )
    synth.add_argument(
        "--folder", type=Path, default=SYNTH_FOLDER, help="where the synthesised files go"
    )
    synth.add_argument("--kits", type=int, default=KITS, help=f"kits to make (default {KITS})")
    synth.add_argument("--seed", type=int, default=SEED, help=f"(default {SEED})")
    synth.set_defaults(run=_synth_drums)

    extra_sources = (soundfonts, libraries, synth)
    for command in (corpus, drumkits, *extra_sources):
        command.add_argument("--settings", type=Path, help="TOML: [corpus], [levels], ... tables")
    for command in (sessions, corpus, drumkits, *extra_sources):
        command.add_argument("--out", type=Path, help="write the dataset to this .npz file")
    summary = commands.add_parser("summary", help="counts of a saved dataset")
    summary.add_argument("file", type=Path)
    summary.set_defaults(run=_summary)
    for command in (sessions, corpus, drumkits, *extra_sources, summary):
        command.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def _corpus_settings(args: argparse.Namespace) -> CorpusSettings | None:
    return settings_from_file(CorpusSettings, args.settings) if args.settings else None


def _sessions(args: argparse.Namespace) -> int:
    dataset, summary = build_sessions(args.folder)
    return _finish(args, dataset, summary)


def _corpus(args: argparse.Namespace) -> int:
    dataset, report = build_corpus(args.folder, _corpus_settings(args))
    return _finish(args, dataset, {**dataset.summary(), **report.to_dict()})


def _drumkits(args: argparse.Namespace) -> int:
    if args.markdown:
        print(mapping_markdown(args.root))
        return 0
    kits = tuple(args.kits) if args.kits else None
    dataset, report = build_drumkits(args.root, kits, _corpus_settings(args))
    return _finish(args, dataset, {**dataset.summary(), **report.to_dict()})


def _soundfont_drums(args: argparse.Namespace) -> int:
    benchmark = drumkit_files(args.root, package_kits())
    dataset, report = build_soundfont_drums(benchmark, args.folder, settings=_corpus_settings(args))
    reasons = Counter(reason for _, reason in report.skipped)
    return _finish(args, dataset, {**dataset.summary(), "skipped": dict(reasons)})


def _library_drums(args: argparse.Namespace) -> int:
    benchmark = drumkit_files(args.root, package_kits())
    soundfont_hits = corpus_files(args.soundfont_folder)
    dataset, report = build_library_drums(
        benchmark, soundfont_hits, settings=_corpus_settings(args)
    )
    reasons = Counter(reason for _, reason in report.skipped)
    return _finish(args, dataset, {**dataset.summary(), "skipped": dict(reasons)})


def _synth_drums(args: argparse.Namespace) -> int:
    if args.kits < 1:
        print(f"error: --kits: expected at least 1 kit, got {args.kits}", file=sys.stderr)
        return 2
    dataset, report = build_synth_drums(args.folder, args.kits, args.seed, _corpus_settings(args))
    return _finish(args, dataset, {**dataset.summary(), **report.to_dict()})


def _summary(args: argparse.Namespace) -> int:
    dataset = HitDataset.load(args.file)
    return _finish(args, dataset, dataset.summary())


def _finish(args: argparse.Namespace, dataset: HitDataset, summary: dict[str, Any]) -> int:
    if getattr(args, "out", None):
        dataset.save(args.out)
        summary = {**summary, "saved": str(args.out)}
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
