"""Simulated datasets: which player plays which guitar, and that no player or guitar is shared
between the default's training, validation and test splits."""

import json

import numpy as np
import pytest

from firmware.cli import DEFAULT_MODEL
from firmware.features import FeatureConfig
from firmware.onset import DetectorConfig
from training.data.dataset import ContextConfig
from training.hits.simulated import SimulatedData, SimulatedSplit, simulate_split


def test_every_player_plays_every_instrument_by_default():
    split = SimulatedSplit((4, 5), (0, 1, 2))
    assert split.sessions == ((4, 0), (4, 1), (4, 2), (5, 0), (5, 1), (5, 2))


def test_players_take_turns_through_a_pool_of_instruments_and_wrap():
    split = SimulatedSplit((7, 8, 9), (10, 11, 12, 13), instruments_per_player=2)
    assert split.sessions == ((7, 10), (7, 11), (8, 12), (8, 13), (9, 10), (9, 11))


def test_more_instruments_per_player_than_the_pool_holds_is_refused():
    with pytest.raises(ValueError, match=r"instruments_per_player must be in \[0, 2\], got 3"):
        SimulatedSplit((0,), (1, 2), instruments_per_player=3)


def test_the_default_splits_share_no_player_and_no_guitar():
    data = SimulatedData()
    splits = (data.train, data.validation, data.test)
    players = [{p for p, _ in split.sessions} for split in splits]
    guitars = [{i for _, i in split.sessions} for split in splits]
    for a in range(3):
        for b in range(a + 1, 3):
            assert not players[a] & players[b]
            assert not guitars[a] & guitars[b]
    assert len(guitars[0]) == 24
    assert len(guitars[2]) == 8, "the test must span several guitars: guitars differ"
    assert len(data.train.sessions) == 3 * len(data.train.players)


def test_simulated_hits_carry_the_instrument_each_player_played():
    split = SimulatedSplit((3, 4), (20, 21, 22), 4.0, seed=9, instruments_per_player=1)
    hits, summary = simulate_split(
        split, FeatureConfig(), DetectorConfig(), ContextConfig(), workers=1
    )
    assert summary["sessions"] == 2
    assert len(hits) > 0
    pairs = set(zip(hits.groups["player"], hits.groups["instrument"], strict=True))
    assert pairs == {("3", "20"), ("4", "21")}
    assert np.all(np.isfinite(hits.contexts))


def test_the_shipped_default_was_tested_on_players_and_guitars_it_never_trained_on():
    manifest = json.loads((DEFAULT_MODEL / "manifest.json").read_text())
    splits = manifest["training"]["splits"]
    for key in ("players", "instruments"):
        trained = set(splits["train"][key]) | set(splits["validation"][key])
        assert trained and splits["test"][key]
        assert not trained & set(splits["test"][key]), key
