"""Bundle manifests: what the firmware refuses, and that each refusal is one clear line."""

import json
import re

import pytest

from firmware.bundle import (
    MANIFEST_NAME,
    MODEL_NAME,
    check_parameters,
    load_bundle,
    write_bundle,
)
from firmware.errors import BundleError
from firmware.features import FeatureConfig

MANIFEST = {"kind": "hits", "sample_rate_hz": 48_000, "features": FeatureConfig().to_dict()}


@pytest.fixture
def bundle_path(tmp_path):
    write_bundle(tmp_path / "b", b"model bytes", MANIFEST)
    return tmp_path / "b"


def test_written_bundle_loads_with_its_checksum(bundle_path):
    bundle = load_bundle(bundle_path, "hits")
    assert bundle.model_path == bundle_path / MODEL_NAME
    assert bundle.sample_rate_hz == 48_000
    assert len(bundle.manifest["sha256"]) == 64
    assert load_bundle(bundle_path / MANIFEST_NAME, "hits").path == bundle_path


def edit_manifest(path, **changes):
    manifest = json.loads((path / MANIFEST_NAME).read_text())
    manifest.update(changes)
    (path / MANIFEST_NAME).write_text(json.dumps(manifest))


def flip_byte(path, index):
    """A bit error on disk: one byte of the file inverted (0x20 -> 0xDF, not UTF-8)."""
    data = bytearray(path.read_bytes())
    data[index] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: (p / MODEL_NAME).write_bytes(b"other bytes"), "checksum differs"),
        (lambda p: (p / MODEL_NAME).unlink(), "model.tflite: missing"),
        (lambda p: (p / MANIFEST_NAME).unlink(), "manifest.json: missing"),
        (lambda p: (p / MANIFEST_NAME).write_text("{\n  nope"), "not valid JSON (line 2)"),
        (lambda p: (p / MANIFEST_NAME).write_text("[]"), "expected a JSON object"),
        (lambda p: flip_byte(p / MANIFEST_NAME, 10), "manifest.json: not UTF-8 text (byte 10"),
        (lambda p: (p / MANIFEST_NAME).write_bytes(b"\0" * 64), "not valid JSON (line 1)"),
        (lambda p: ((p / MANIFEST_NAME).unlink(), (p / MANIFEST_NAME).mkdir()), "cannot read"),
        (lambda p: edit_manifest(p, kind="voice"), "a 'voice' bundle, expected 'hits'"),
        (lambda p: edit_manifest(p, format_version=99), "this firmware reads"),
    ],
)
def test_damaged_bundles_are_refused_in_one_line(bundle_path, damage, message):
    damage(bundle_path)
    with pytest.raises(BundleError, match=re.escape(message)) as error:
        load_bundle(bundle_path, "hits")
    assert "\n" not in str(error.value)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(BundleError, match="no such bundle folder"):
        load_bundle(tmp_path / "nothing", "hits")


def test_feature_parameters_must_match_the_firmware(bundle_path):
    bundle = load_bundle(bundle_path, "hits")
    check_parameters(bundle, "features", FeatureConfig().to_dict())
    other = FeatureConfig(sample_rate_hz=44_100, window_samples=441).to_dict()
    with pytest.raises(
        BundleError, match=re.escape("features.sample_rate_hz is 48000, firmware uses 44100")
    ):
        check_parameters(bundle, "features", other)
    with pytest.raises(BundleError, match="missing 'voice' parameters"):
        check_parameters(bundle, "voice", {"hop_samples": 64})
