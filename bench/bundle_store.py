"""How long a model update takes on the board: bundle_store install (copy, validation with the
real interpreter, fsync, atomic swap) and rollback, with the shipped hit bundle.

Run: .venv/bin/python -m bench bundle_store
"""

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import describe_machine, machine, timing_stats
from firmware.board import REPO_ROOT
from firmware.bundle import MANIFEST_NAME
from firmware.bundle_store import BundleStore, validate_bundle
from firmware.cli import DEFAULT_MODEL as BUNDLE

REPEATS = 20


def measure() -> dict:
    """Install REPEATS versions of the shipped hit bundle into a fresh store, timing each
    install, a validation alone and a rollback; ms."""
    results = {"machine": machine(), "bundle": str(BUNDLE.relative_to(REPO_ROOT))}
    if not (BUNDLE / MANIFEST_NAME).is_file():
        results["skipped"] = f"no {results['bundle']}: build it with `make hit-model`"
        return results
    install_ms, validate_ms, rollback_ms = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        store = BundleStore(Path(folder) / "store", "hits", keep=3)
        manifest = json.loads((BUNDLE / MANIFEST_NAME).read_text())
        for index in range(REPEATS):
            source = Path(folder) / f"source-{index}"
            shutil.copytree(BUNDLE, source)
            # Another version of the same model: not identical to the current one, so installed.
            version = {**manifest, "version": f"{manifest.get('version', '')}-bench{index}"}
            (source / MANIFEST_NAME).write_text(json.dumps(version))
            started = time.perf_counter()
            store.install(source)
            install_ms.append(1e3 * (time.perf_counter() - started))
            started = time.perf_counter()
            validate_bundle(source, "hits")
            validate_ms.append(1e3 * (time.perf_counter() - started))
            if index % 2:
                started = time.perf_counter()
                store.rollback()
                rollback_ms.append(1e3 * (time.perf_counter() - started))
    results["model_bytes"] = (BUNDLE / manifest["model_file"]).stat().st_size
    results["install_ms"] = timing_stats(np.array(install_ms))
    results["validate_ms"] = timing_stats(np.array(validate_ms))
    results["rollback_ms"] = timing_stats(np.array(rollback_ms))
    return results


def report(results: dict) -> str:
    """The Markdown section for BENCHMARKS.md."""
    lines = [
        "## Model bundle deployment on the board (bundle_store)",
        "",
        "Command: `.venv/bin/python -m bench bundle_store`. "
        f"Machine: {describe_machine(results['machine'])}.",
        "",
    ]
    if "skipped" in results:
        return "\n".join([*lines, f"Not measured: {results['skipped']}."]) + "\n"
    lines += [
        f"Bundle `{results['bundle']}` ({results['model_bytes']} bytes of model). An install "
        "copies the bundle, validates it (manifest, checksum, feature parameters, the real "
        "TFLite interpreter loading it and running once on zeros), fsyncs it and swaps the "
        "`current` link; the firmware is never without a bundle meanwhile.",
        "",
        "| step | median ms | p99 ms | max ms | runs |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key, label in (
        ("install_ms", "install (copy, validate, fsync, swap)"),
        ("validate_ms", "validation alone"),
        ("rollback_ms", "rollback (swap only)"),
    ):
        stats = results[key]
        lines.append(
            f"| {label} | {stats['median']:.2f} | {stats['p99']:.2f} | {stats['max']:.2f} "
            f"| {stats['count']} |"
        )
    return "\n".join(lines) + "\n"
