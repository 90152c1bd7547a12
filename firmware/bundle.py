"""Model bundles: a .tflite file and the manifest that is its contract with the firmware.

A bundle is a folder holding ``model.tflite`` and ``manifest.json``. The manifest records what
the model expects (feature parameters, sample rate, class names, tensor names and
quantisation) and what it was measured to do (training data summary, metrics), with a checksum
of the model file. The firmware checks all of it before it plays a note with the model.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware.errors import BundleError

MANIFEST_NAME = "manifest.json"
MODEL_NAME = "model.tflite"
FORMAT = "hitar-bundle"
FORMAT_VERSION = 1
KINDS = ("hits", "voice")
REQUIRED_KEYS = ("format", "format_version", "kind", "model_file", "sha256", "sample_rate_hz")


@dataclass(frozen=True)
class Bundle:
    """A validated bundle on disk."""

    path: Path
    manifest: dict[str, Any]

    @property
    def model_path(self) -> Path:
        return self.path / self.manifest["model_file"]

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    @property
    def sample_rate_hz(self) -> int:
        return int(self.manifest["sample_rate_hz"])


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_bundle(path: Path, kind: str) -> Bundle:
    """Read and validate a bundle folder (or its manifest file).

    Raises:
        BundleError: one line naming the file and what is wrong with it.
    """
    path = Path(path)
    if path.name == MANIFEST_NAME:
        path = path.parent
    manifest_path = path / MANIFEST_NAME
    if not path.is_dir():
        raise BundleError(f"{path}: no such bundle folder")
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise BundleError(f"{manifest_path}: missing (a bundle holds {MANIFEST_NAME})") from None
    except json.JSONDecodeError as error:
        raise BundleError(f"{manifest_path}: not valid JSON (line {error.lineno})") from None
    except UnicodeDecodeError as error:
        raise BundleError(
            f"{manifest_path}: not UTF-8 text (byte {error.start}: corrupt or not a manifest)"
        ) from None
    except OSError as error:
        raise BundleError(f"{manifest_path}: cannot read ({error.strerror or error})") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{manifest_path}: expected a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        raise BundleError(f"{manifest_path}: missing field '{missing[0]}'")
    if manifest["format"] != FORMAT or manifest["format_version"] != FORMAT_VERSION:
        raise BundleError(
            f"{manifest_path}: format {manifest['format']!r} v{manifest['format_version']}, "
            f"this firmware reads {FORMAT!r} v{FORMAT_VERSION}"
        )
    if manifest["kind"] != kind:
        raise BundleError(f"{manifest_path}: a '{manifest['kind']}' bundle, expected '{kind}'")
    bundle = Bundle(path=path, manifest=manifest)
    if not bundle.model_path.is_file():
        raise BundleError(f"{bundle.model_path}: missing (named by {manifest_path})")
    if sha256_file(bundle.model_path) != manifest["sha256"]:
        raise BundleError(
            f"{bundle.model_path}: checksum differs from {manifest_path} (corrupt or replaced)"
        )
    return bundle


def check_parameters(bundle: Bundle, section: str, expected: dict[str, Any]) -> None:
    """Refuse a bundle built for other parameters than the firmware's own.

    Args:
        section: the manifest key holding the parameters, e.g. "features".
        expected: the firmware's parameters, e.g. FeatureConfig().to_dict().
    """
    recorded = bundle.manifest.get(section)
    where = bundle.path / MANIFEST_NAME
    if not isinstance(recorded, dict):
        raise BundleError(f"{where}: missing '{section}' parameters")
    for key, value in expected.items():
        if key not in recorded:
            raise BundleError(f"{where}: {section}.{key} missing, firmware uses {value}")
        if recorded[key] != value:
            raise BundleError(
                f"{where}: {section}.{key} is {recorded[key]}, firmware uses {value}; "
                "retrain or re-export the model for these parameters"
            )


def write_bundle(path: Path, model_bytes: bytes, manifest: dict[str, Any]) -> Bundle:
    """Write model and manifest into folder path (created), adding format fields and checksum.

    Each file is written beside its final name, then renamed, so that neither is ever seen half
    written. Replacing a bundle that is in use is deploy's job (a new folder, then a swap).
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **manifest,
        "model_file": MODEL_NAME,
        "sha256": hashlib.sha256(model_bytes).hexdigest(),
    }
    for name, data in ((MODEL_NAME, model_bytes), (MANIFEST_NAME, _dump(manifest))):
        temporary = path / f".{name}.tmp"
        temporary.write_bytes(data)
        temporary.replace(path / name)
    return load_bundle(path, manifest["kind"])


def _dump(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode()
