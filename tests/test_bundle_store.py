"""Atomic bundle deployment with the real TFLite interpreter: install, refuse, keep, roll back."""

import functools
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from firmware.bundle import MODEL_NAME, write_bundle
from firmware.bundle_store import CURRENT, BundleStore, bundle_kind, main, validate_bundle
from firmware.errors import BundleError
from firmware.features import FeatureConfig

REPO = Path(__file__).resolve().parents[1]


@functools.cache
def model_bytes() -> bytes:
    """A real .tflite: $HITAR_TEST_MODEL (board/arm64-test.sh converts one on the workstation,
    since the board has no TensorFlow), else a shipped hit model, else a tiny one converted
    with TensorFlow here."""
    if os.environ.get("HITAR_TEST_MODEL"):
        return Path(os.environ["HITAR_TEST_MODEL"]).read_bytes()
    for shipped in sorted((REPO / "deploy" / "bundles").glob("*/" + MODEL_NAME)):
        if (shipped.parent / "manifest.json").read_text().find('"hits"') >= 0:
            return shipped.read_bytes()
    tf = pytest.importorskip("tensorflow", reason="no shipped bundle and no TensorFlow")

    class Tiny(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 40, 6], tf.float32, name="features")])
        def __call__(self, features: "tf.Tensor") -> dict:
            return {"probabilities": tf.nn.softmax(tf.reduce_mean(features, axis=1))}

    module = Tiny()
    function = module.__call__.get_concrete_function()
    return tf.lite.TFLiteConverter.from_concrete_functions([function], module).convert()


def make_hits_bundle(
    path: Path, version: str = "1", model: bytes | None = None, **overrides: object
) -> Path:
    """A valid hit bundle folder (model bytes and manifest fields can be replaced)."""
    manifest = {
        "kind": "hits",
        "sample_rate_hz": 48_000,
        "features": FeatureConfig().to_dict(),
        "version": version,
        **overrides,
    }
    write_bundle(path, model_bytes() if model is None else model, manifest)
    return path


@pytest.fixture
def store(tmp_path: Path) -> BundleStore:
    return BundleStore(tmp_path / "store", "hits", keep=2)


def test_a_valid_bundle_becomes_current(tmp_path: Path, store: BundleStore) -> None:
    source = make_hits_bundle(tmp_path / "new")
    installed, changed = store.install(source)
    assert changed
    assert store.current() == installed
    assert (store.current_link / MODEL_NAME).read_bytes() == model_bytes()
    assert validate_bundle(store.current_link, "hits").manifest["version"] == "1"
    assert os.path.islink(store.current_link)
    assert not any(p.name.startswith(".incoming") for p in store.folder.iterdir())


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: (p / MODEL_NAME).write_bytes(b"\0" * 64), "checksum differs"),
        (lambda p: make_hits_bundle(p, model=b"TFL3 but not a flatbuffer"), "not a usable TFLite"),
        (
            lambda p: make_hits_bundle(p, features={**FeatureConfig().to_dict(), "fft_size": 1024}),
            "features.fft_size is 1024",
        ),
        (lambda p: (p / "manifest.json").write_text("{"), "not valid JSON"),
    ],
    ids=["corrupt-model", "not-tflite", "other-features", "broken-manifest"],
)
def test_a_bad_bundle_leaves_the_previous_one_playing(
    tmp_path: Path, store: BundleStore, damage, reason: str
) -> None:
    good, _ = store.install(make_hits_bundle(tmp_path / "good"))
    bad = make_hits_bundle(tmp_path / "bad", version="2")
    damage(bad)
    with pytest.raises(BundleError) as caught:
        store.install(bad)
    message = str(caught.value)
    assert "\n" not in message
    assert reason in message
    assert message.startswith(f"{bad}: not installed")
    assert f"still using {good.name}" in message
    assert ".incoming" not in message
    assert store.current() == good
    assert store.entries() == [good]
    assert not any(p.name.startswith(".incoming") for p in store.folder.iterdir())


def test_reinstalling_the_current_bundle_changes_nothing(
    tmp_path: Path, store: BundleStore
) -> None:
    first, _ = store.install(make_hits_bundle(tmp_path / "a"))
    again, changed = store.install(make_hits_bundle(tmp_path / "b"))
    assert (again, changed) == (first, False)
    assert store.entries() == [first]


def test_only_the_last_bundles_are_kept_and_rollback_walks_back(
    tmp_path: Path, store: BundleStore
) -> None:
    installed = [store.install(make_hits_bundle(tmp_path / v, version=v))[0] for v in "1234"]
    assert store.entries() == installed[-2:]
    assert store.rollback() == installed[2]
    assert store.current() == installed[2]
    with pytest.raises(BundleError, match="nothing older to roll back to"):
        store.rollback()
    newest, _ = store.install(make_hits_bundle(tmp_path / "5", version="5"))
    assert store.entries() == [installed[3], newest]
    assert store.current() == newest


def test_current_never_disappears_while_bundles_are_swapped(
    tmp_path: Path, store: BundleStore
) -> None:
    store.install(make_hits_bundle(tmp_path / "0", version="0"))
    sources = [make_hits_bundle(tmp_path / str(v), version=str(v)) for v in range(1, 6)]
    missing = []
    done = threading.Event()

    def read_current() -> None:
        while not done.is_set():
            try:
                os.stat(store.current_link / MODEL_NAME)
            except FileNotFoundError as error:
                missing.append(error)

    reader = threading.Thread(target=read_current)
    reader.start()
    for source in sources:
        store.install(source)
    done.set()
    reader.join()
    assert missing == []


def test_the_kind_comes_from_the_manifest(tmp_path: Path) -> None:
    assert bundle_kind(make_hits_bundle(tmp_path / "b")) == "hits"
    with pytest.raises(BundleError, match="no readable 'kind'"):
        bundle_kind(tmp_path / "nowhere")


def test_command_line_installs_lists_and_refuses_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root = tmp_path / "store"
    good = make_hits_bundle(tmp_path / "good")
    assert main(["--store", str(root), "install", str(good)]) == 0
    assert capsys.readouterr().out.startswith("hits: installed ")
    assert main(["--store", str(root), "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    current = os.readlink(root / "hits" / CURRENT)
    assert listing[0] == f"hits: current {current}; kept: {current}"
    assert listing[1] == "voice: current none; kept: none"
    bad = make_hits_bundle(tmp_path / "bad", version="2")
    (bad / MODEL_NAME).write_bytes(b"x")
    result = subprocess.run(
        [sys.executable, "-m", "firmware.bundle_store", "--store", str(root), "install", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "checksum differs" in result.stderr
    assert os.readlink(root / "hits" / CURRENT) == current
