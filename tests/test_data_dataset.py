"""HitDataset: building, windows, subsets, concatenation, .npz round trip, class checks."""

import numpy as np
import pytest

from firmware.errors import InputFileError
from firmware.features import FeatureConfig, cut_window, peak_velocity
from firmware.layout import HAND_PARTS, LOCATIONS, PIEZO_CHANNELS
from training.data.dataset import (
    UNLABELLED,
    ContextConfig,
    DatasetBuilder,
    DatasetError,
    HitDataset,
    concatenate,
)

FEATURES = FeatureConfig()
GUITAR = {"hand": HAND_PARTS, "location": LOCATIONS}
DRUMS = {"class": ("kick", "snare", "tom", "hihat", "cymbal")}


@pytest.fixture
def recording():
    """Two seconds of noise with a distinct level per 0.1 s, float32 [96000, 6]."""
    rng = np.random.default_rng(0)
    levels = np.repeat(np.linspace(0.01, 0.9, 20), 4800)[:, None]
    return (rng.uniform(-1, 1, (96000, 6)) * levels).astype(np.float32)


def guitar_dataset(recording, onsets, session="s1"):
    builder = DatasetBuilder(GUITAR, FEATURES, ContextConfig())
    for i, onset in enumerate(onsets):
        builder.add(
            recording,
            onset,
            {"hand": HAND_PARTS[i % 4], "location": LOCATIONS[i % 5]},
            None if i % 2 else 0.5,
            {"session": session, "player": "ann"},
            f"take.txt:{i + 1}",
        )
    return builder.build()


def test_builder_windows_equal_cut_window_on_the_recording(recording):
    onsets = [1000, 20000, 95000 - 600]
    dataset = guitar_dataset(recording, onsets)
    assert dataset.contexts.shape == (3, 480 + 2 * 64, 6)
    assert dataset.onset_offset == FEATURES.pre_roll_samples + 64
    windows = dataset.windows(FEATURES)
    for i, onset in enumerate(onsets):
        expected = cut_window(recording, onset, FEATURES)
        np.testing.assert_array_equal(windows[i], expected)
        assert dataset.velocity[i] == pytest.approx(peak_velocity(expected[:, PIEZO_CHANNELS]))
    shifted = dataset.windows(FEATURES, np.array([5, -7, 0]))
    np.testing.assert_array_equal(shifted[0], cut_window(recording, onsets[0] + 5, FEATURES))
    np.testing.assert_array_equal(shifted[1], cut_window(recording, onsets[1] - 7, FEATURES))


def test_builder_refuses_a_context_outside_the_recording(recording):
    builder = DatasetBuilder(GUITAR, FEATURES, ContextConfig(margin_samples=64))
    with pytest.raises(ValueError, match="outside"):
        builder.add(recording, 70, {}, None, {}, "x:1")
    with pytest.raises(ValueError, match="outside"):
        builder.add(recording, len(recording) - 500, {}, None, {}, "x:2")
    assert len(builder) == 0


def test_labels_dynamics_and_class_names_are_kept(recording):
    dataset = guitar_dataset(recording, [1000, 5000, 9000])
    assert dataset.class_names("hand").tolist() == ["heel", "thumb", "fingers"]
    assert dataset.labels["location"].tolist() == [0, 1, 2]
    assert dataset.dynamics[0] == 0.5 and np.isnan(dataset.dynamics[1])
    assert dataset.source.tolist() == ["take.txt:1", "take.txt:2", "take.txt:3"]


def test_save_and_load_round_trip(recording, tmp_path):
    dataset = guitar_dataset(recording, [1000, 5000, 9000, 30000])
    path = tmp_path / "sub" / "hits.npz"
    dataset.save(path)
    loaded = HitDataset.load(path)
    np.testing.assert_array_equal(loaded.contexts, dataset.contexts)
    assert loaded.tasks == dataset.tasks
    for task in dataset.tasks:
        np.testing.assert_array_equal(loaded.labels[task], dataset.labels[task])
    for key in dataset.groups:
        np.testing.assert_array_equal(loaded.groups[key], dataset.groups[key])
    np.testing.assert_array_equal(loaded.dynamics, dataset.dynamics)
    np.testing.assert_array_equal(loaded.source, dataset.source)
    assert loaded.summary() == dataset.summary()


def test_load_names_a_file_that_is_not_a_dataset(tmp_path):
    with pytest.raises(InputFileError, match="no such dataset file"):
        HitDataset.load(tmp_path / "none.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros(3))
    with pytest.raises(InputFileError, match=rf"^{bad}: not a hit dataset file"):
        HitDataset.load(bad)


def test_subset_keeps_hits_aligned(recording):
    dataset = guitar_dataset(recording, [1000, 5000, 9000, 30000])
    part = dataset.subset([3, 1])
    assert part.source.tolist() == ["take.txt:4", "take.txt:2"]
    np.testing.assert_array_equal(part.contexts[0], dataset.contexts[3])
    assert part.labels["hand"].tolist() == [3, 1]
    assert len(dataset.subset(dataset.labels["hand"] == 0)) == 1


def test_concatenate_merges_tasks_and_groups(recording):
    guitar = guitar_dataset(recording, [1000, 5000])
    builder = DatasetBuilder(DRUMS, FEATURES, ContextConfig())
    builder.add(recording, 40000, {"class": "snare"}, 0.7, {"kit": "K"}, "snare.wav")
    drums = builder.build()
    both = concatenate([guitar, drums])
    assert len(both) == 3
    assert set(both.tasks) == {"hand", "location", "class"}
    assert both.labels["class"].tolist() == [UNLABELLED, UNLABELLED, 1]
    assert both.labels["hand"].tolist() == [0, 1, UNLABELLED]
    assert both.groups["kit"].tolist() == ["", "", "K"]
    assert both.class_names("class").tolist() == ["", "", "snare"]


def test_concatenate_refuses_mismatched_parts(recording):
    guitar = guitar_dataset(recording, [1000])
    renamed = HitDataset(**{**guitar.__dict__, "tasks": {**guitar.tasks, "hand": ("a",) * 4}})
    with pytest.raises(DatasetError, match="task 'hand' has classes"):
        concatenate([guitar, renamed])
    builder = DatasetBuilder(GUITAR, FEATURES, ContextConfig(margin_samples=10))
    builder.add(recording, 1000, {}, None, {}, "x")
    with pytest.raises(DatasetError, match="context length"):
        concatenate([guitar, builder.build()])


def test_too_few_examples_of_a_class_stops_the_run(recording):
    dataset = guitar_dataset(recording, np.arange(1000, 90000, 3000))
    counts = dataset.summary()["tasks"]
    assert [counts["hand"][hand] for hand in HAND_PARTS] == [8, 8, 7, 7]
    dataset.check_min_per_class(6)
    with pytest.raises(DatasetError, match="class 'fingers' of task 'hand' has 7 hits, at least 8"):
        dataset.check_min_per_class(8)


def test_summary_counts_groups(recording):
    both = concatenate(
        [guitar_dataset(recording, [1000, 5000]), guitar_dataset(recording, [9000], "s2")]
    )
    summary = both.summary()
    assert summary["hits"] == 3
    assert summary["groups"]["session"] == {"s1": 2, "s2": 1}
    assert summary["labelled_dynamics"] == 2
