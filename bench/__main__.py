"""`python -m bench [NAME ...]`: run benchmarks, keep their results, rebuild docs/BENCHMARKS.md.

Each benchmark module (bench/NAME.py) exposes measure() -> dict and report(dict) -> str. A run
stores each result as docs/bench/NAME.json; BENCHMARKS.md is then rebuilt from every stored
result, so rerunning one benchmark keeps the others' figures, each with its own machine and date.
"""

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

BENCHMARKS = (
    "onsets",
    "hit_path",
    "data",
    "hits_real",
    "calibration",
    "io",
    "bundle_store",
    "pitch",
    "fm_synth",
    "dx7_agreement",
    "voice",
    "soak",
)
"""In the order they appear in BENCHMARKS.md."""

HEADER = """# Benchmarks

Every figure below comes from a command in this repository; rerun all with `make bench`, or
one with `.venv/bin/python -m bench NAME` (results are kept in docs/bench/NAME.json and this
page is rebuilt from them). Each section names its machine and date. Timings on a shared,
noisy machine: medians and p99, and ratios to the period, never single runs.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all): {BENCHMARKS}")
    parser.add_argument("--results", type=Path, default=Path("docs/bench"))
    parser.add_argument("--out", type=Path, default=Path("docs/BENCHMARKS.md"))
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="measure nothing: rebuild the page from the stored results (after a report change)",
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark '{unknown[0]}' (known: {', '.join(BENCHMARKS)})")
    args.results.mkdir(parents=True, exist_ok=True)
    for name in () if args.rebuild else args.names or BENCHMARKS:
        started = time.monotonic()
        print(f"bench {name} ...", file=sys.stderr, flush=True)
        results = importlib.import_module(f"bench.{name}").measure()
        results.setdefault("bench_seconds", round(time.monotonic() - started, 1))
        (args.results / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    sections = [HEADER]
    for name in BENCHMARKS:
        path = args.results / f"{name}.json"
        if path.is_file():
            module = importlib.import_module(f"bench.{name}")
            sections.append(module.report(json.loads(path.read_text())))
        else:
            sections.append(f"## {name}\n\nNot measured yet: `python -m bench {name}`.\n")
    args.out.write_text("\n".join(section.rstrip() + "\n" for section in sections))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
