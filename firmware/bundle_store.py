"""Model bundles on the board, deployed atomically and kept for rollback.

Layout under a store root (``<prefix>/bundles`` on the board)::

    hits/20250101T120000123456Z-3f2a9c1b0d4e/   one folder per installed bundle (UTC, sha256)
    hits/current -> 20250101T120000123456Z-...   what the firmware loads

A new bundle is copied into a hidden folder beside the others, validated there exactly as the
firmware will use it (manifest, checksum, parameters, the real TFLite interpreter running one
inference on zeros), renamed into place, and only then made current by replacing the
``current`` symlink with rename(2), which is atomic: a reader (or a restarting firmware) sees
the old bundle or the new one, never neither. A bundle that fails validation is deleted and the
previous one stays current; the error says why in one line. The last ``keep`` bundles stay on
disk, so ``rollback`` can go back without the workstation.

Runs on the board: numpy and the TFLite runtime only, never TensorFlow.
"""

import argparse
import fcntl
import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from firmware.bundle import KINDS, MANIFEST_NAME, Bundle, check_parameters, load_bundle
from firmware.errors import BundleError, HitarError
from firmware.features import FeatureConfig
from firmware.inference import TfliteModel

CURRENT = "current"
DEFAULT_KEEP = 3


def firmware_parameters(kind: str) -> dict[str, dict[str, Any]]:
    """The manifest sections this firmware checks for a bundle kind, with its own values.

    Hit models must match the firmware's feature parameters. The voice path adds its section
    here when it has parameters a voice bundle must match.
    """
    if kind == "hits":
        return {"features": FeatureConfig().to_dict()}
    return {}


def validate_bundle(path: Path, kind: str) -> Bundle:
    """Check a bundle folder as the firmware will use it; BundleError (one line) if unusable.

    Loads the manifest and checksum (firmware.bundle), checks parameters, then loads the model
    in the real interpreter and runs it once on zeros: every output must be finite.
    """
    bundle = load_bundle(path, kind)
    for section, expected in firmware_parameters(kind).items():
        check_parameters(bundle, section, expected)
    model = TfliteModel(bundle.model_path)
    for name, spec in model.inputs.items():
        model.set_input(name, np.zeros(spec.shape, np.float32))
    model.invoke()
    for name in model.outputs:
        if not np.isfinite(model.output(name)).all():
            raise BundleError(f"{bundle.model_path}: output '{name}' is not finite on zeros")
    return bundle


def bundle_kind(path: Path) -> str:
    """The kind a bundle declares in its manifest: chooses the store before validation."""
    manifest_path = Path(path) / MANIFEST_NAME
    try:
        kind = json.loads(manifest_path.read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        kind = None
    if kind not in KINDS:
        raise BundleError(f"{manifest_path}: no readable 'kind' (expected one of {list(KINDS)})")
    return kind


class BundleStore:
    """The installed bundles of one kind: install, roll back, list.

    Args:
        root: the store root; this kind's bundles live in root/kind (created on install).
        kind: "hits" or "voice".
        keep: bundles kept on disk, the current one always among them.
    """

    def __init__(self, root: Path, kind: str, keep: int = DEFAULT_KEEP) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.folder = Path(root) / kind
        self.kind = kind
        self.keep = keep

    @property
    def current_link(self) -> Path:
        """The path the firmware loads: root/kind/current."""
        return self.folder / CURRENT

    def current(self) -> Path | None:
        """The folder ``current`` points to, or None before the first install."""
        try:
            return self.folder / os.readlink(self.current_link)
        except FileNotFoundError:
            return None

    def entries(self) -> list[Path]:
        """Installed bundle folders, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.is_dir() and p.name[0].isdigit())

    def install(self, source: Path) -> tuple[Path, bool]:
        """Copy, validate and make current the bundle folder source.

        Returns:
            The installed folder, and False when source was identical to the current bundle
            (nothing changed).

        Raises:
            BundleError: one line naming the source and why; the previous bundle stays current.
        """
        source = Path(source)
        with self._locked():
            current = self.current()
            if current is not None and _same_bundle(source, current):
                return current, False
            incoming = self.folder / f".incoming-{os.getpid()}"
            shutil.rmtree(incoming, ignore_errors=True)
            try:
                shutil.copytree(source, incoming)
                bundle = validate_bundle(incoming, self.kind)
                _sync_tree(incoming)
            except (HitarError, OSError) as error:
                shutil.rmtree(incoming, ignore_errors=True)
                reason = str(error) if isinstance(error, HitarError) else error.strerror or error
                reason = str(reason).replace(str(incoming), str(source))
                keeping = f"still using {current.name}" if current else "nothing installed"
                raise BundleError(f"{source}: not installed ({reason}); {keeping}") from None
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            installed = self.folder / f"{stamp}-{bundle.manifest['sha256'][:12]}"
            incoming.rename(installed)
            self._point_current_at(installed)
            self._prune()
            return installed, True

    def rollback(self) -> Path:
        """Make current the newest bundle older than the current one; returns it."""
        with self._locked():
            current = self.current()
            older = [entry for entry in self.entries() if current and entry.name < current.name]
            if not older:
                where = current.name if current else "no bundle installed"
                raise BundleError(f"{self.folder}: nothing older to roll back to ({where})")
            self._point_current_at(older[-1])
            return older[-1]

    def _point_current_at(self, folder: Path) -> None:
        temporary = self.folder / f".{CURRENT}-{os.getpid()}"
        temporary.unlink(missing_ok=True)
        os.symlink(folder.name, temporary)
        os.replace(temporary, self.current_link)
        _sync_directory(self.folder)

    def _prune(self) -> None:
        current = self.current()
        entries = self.entries()
        for entry in entries[: max(0, len(entries) - self.keep)]:
            if entry != current:
                shutil.rmtree(entry)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One install or rollback at a time, across processes."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


def store_of(path: Path) -> BundleStore | None:
    """The store whose ``current`` link path is (how the board's service names its model), or
    None for a plain bundle folder."""
    path = Path(path)
    if path.name != CURRENT or not path.is_symlink() or path.parent.name not in KINDS:
        return None
    return BundleStore(path.parent.parent, path.parent.name)


def _same_bundle(source: Path, installed: Path) -> bool:
    try:
        return (source / MANIFEST_NAME).read_bytes() == (installed / MANIFEST_NAME).read_bytes()
    except OSError:
        return False


def _sync_tree(folder: Path) -> None:
    """fsync every file and the folder, so a power cut after the swap finds whole files."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as file:
                os.fsync(file.fileno())
    _sync_directory(folder)


def _sync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def main(argv: list[str] | None = None) -> int:
    """``python -m firmware.bundle_store install|rollback|list``: what deploy runs on the board."""
    parser = argparse.ArgumentParser(
        prog="python -m firmware.bundle_store", description="Model bundles on the board."
    )
    parser.add_argument("--store", type=Path, required=True, help="store root (PREFIX/bundles)")
    parser.add_argument("--keep", type=int, default=DEFAULT_KEEP, help="bundles kept per kind")
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install", help="validate bundle folders and make them current")
    install.add_argument("bundles", type=Path, nargs="+")
    rollback = commands.add_parser("rollback", help="go back to the previous bundle of a kind")
    rollback.add_argument("--kind", choices=KINDS, default="hits")
    commands.add_parser("list", help="show the current and kept bundles of every kind")
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            for source in args.bundles:
                store = BundleStore(args.store, bundle_kind(source), args.keep)
                installed, changed = store.install(source)
                state = "installed" if changed else "already current"
                print(f"{store.kind}: {state} {installed.name} (from {source})")
        elif args.command == "rollback":
            store = BundleStore(args.store, args.kind, args.keep)
            print(f"{args.kind}: rolled back to {store.rollback().name}")
        else:
            for kind in KINDS:
                store = BundleStore(args.store, kind, args.keep)
                current = store.current()
                kept = ", ".join(entry.name for entry in store.entries()) or "none"
                print(f"{kind}: current {current.name if current else 'none'}; kept: {kept}")
    except HitarError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
