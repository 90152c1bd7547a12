"""Splits by group: no group ever on both sides."""

import numpy as np
import pytest

from training.data.dataset import DatasetError
from training.data.splits import group_split, leave_one_group_out


@pytest.fixture
def groups():
    """Uneven groups, interleaved as hits of several sessions would be after concatenation."""
    rng = np.random.default_rng(0)
    names = np.array([f"session{i}" for i in range(7)])
    return names[rng.integers(0, 7, size=500)]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("test_fraction", [0.2, 0.5])
def test_group_split_keeps_every_group_on_one_side(groups, seed, test_fraction):
    train, test = group_split(groups, test_fraction, np.random.default_rng(seed))
    assert not set(groups[train]) & set(groups[test])
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(groups)))
    assert len(test) >= test_fraction * len(groups)
    assert set(groups[train]) and set(groups[test])


def test_group_split_depends_on_the_generator(groups):
    splits = {
        tuple(np.unique(groups[group_split(groups, 0.3, np.random.default_rng(s))[1]]))
        for s in range(10)
    }
    assert len(splits) > 1


def test_leave_one_group_out_tests_each_group_once(groups):
    tested = []
    for name, train, test in leave_one_group_out(groups):
        assert set(groups[test]) == {name}
        assert name not in set(groups[train])
        assert len(train) + len(test) == len(groups)
        tested.extend(test.tolist())
    assert sorted(tested) == list(range(len(groups)))


def test_one_group_cannot_be_split():
    single = np.array(["kitA"] * 10)
    with pytest.raises(DatasetError, match="at least two"):
        group_split(single, 0.2, np.random.default_rng(0))
    with pytest.raises(DatasetError, match="needs two"):
        list(leave_one_group_out(single))
