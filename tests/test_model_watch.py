"""Hot reload: a new bundle swapped in while playing takes over; a bad one is refused and the
previous model keeps playing (real bundles, the real interpreter, a real symlink swap)."""

import shutil

import pytest

from firmware.bundle import MODEL_NAME
from firmware.features import FeatureConfig
from firmware.hit_model import HitModel
from firmware.model_watch import BundleWatcher
from tests.osc_peers import wait_for

FEATURES = FeatureConfig()


@pytest.fixture
def store(tmp_path, hit_bundle):
    """A 'current' symlink to a copy of the shipped bundle, as the bundle store keeps it."""
    first = tmp_path / "first"
    shutil.copytree(hit_bundle, first)
    current = tmp_path / "current"
    current.symlink_to(first)
    return tmp_path, current


def swap(current, target):
    staged = current.with_name("current.new")
    staged.symlink_to(target)
    staged.replace(current)


def watch(current, loaded):
    return BundleWatcher(current, lambda p: HitModel(p, FEATURES), loaded.append, 3600.0)


def test_a_swapped_bundle_is_loaded_and_handed_over(store, hit_bundle):
    root, current = store
    second = root / "second"
    shutil.copytree(hit_bundle, second)
    loaded = []
    watcher = watch(current, loaded)
    try:
        assert not watcher.check()
        swap(current, second)
        assert watcher.check()
        assert loaded[0].bundle.path == current
        assert (watcher.reloads, watcher.failures) == (1, 0)
        assert not watcher.check()
    finally:
        watcher.close()


def test_a_corrupt_bundle_is_refused_and_counted(store, hit_bundle):
    root, current = store
    broken = root / "broken"
    shutil.copytree(hit_bundle, broken)
    (broken / MODEL_NAME).write_bytes(b"not a model")
    loaded = []
    watcher = watch(current, loaded)
    try:
        swap(current, broken)
        assert not watcher.check()
        assert loaded == []
        assert watcher.failures == 1
        assert "checksum" in watcher.last_error
    finally:
        watcher.close()


def test_a_bundle_the_loader_chokes_on_is_refused_and_the_watch_goes_on(store, hit_bundle):
    """Whatever a bad bundle makes the loader raise, the watcher counts it and keeps watching:
    a dead watcher thread would ignore every later deploy without a word."""
    root, current = store
    second = root / "second"
    shutil.copytree(hit_bundle, second)

    def load(path):
        if path.resolve() == second:
            raise TypeError("manifest field 'model_file' is 5")
        return HitModel(path, FEATURES)

    loaded = []
    watcher = BundleWatcher(current, load, loaded.append, 0.05)
    try:
        swap(current, second)
        assert wait_for(lambda: watcher.failures == 1)
        assert "TypeError" in watcher.last_error
        swap(current, root / "first")
        assert wait_for(lambda: watcher.reloads == 1)
        assert loaded[0].bundle.path == current
    finally:
        watcher.close()
