"""Train/test splits by group (session, player, kit), never by hit.

Hits of one session share a microphone position, a tuning, a player's touch; hits of one kit
share its drums and its recording chain. Splitting hit by hit would test a model on near-copies
of its training data and report accuracy it will not have on a new session. So splits keep every
group whole, on one side only.
"""

from collections.abc import Iterator

import numpy as np

from training.data.dataset import DatasetError


def group_split(
    groups: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split hits into train and test with whole groups on each side.

    Groups are drawn in random order into the test side until it holds at least
    test_fraction of the hits; at least one group always stays on each side.

    Args:
        groups: str [n], each hit's group (e.g. HitDataset.groups["session"]).
        test_fraction: wanted share of hits in test, in (0, 1).
        rng: the source of the random order.

    Returns:
        (train indices int [n_train], test indices int [n_test]), each sorted.

    Raises:
        DatasetError: fewer than two groups, so no split keeps groups whole.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    names, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    if len(names) < 2:
        raise DatasetError(
            f"dataset: {len(names)} group(s) {list(names)}; a split by group needs at least two"
        )
    order = rng.permutation(len(names))
    test_groups = []
    test_hits = 0
    for group in order[:-1]:
        if test_hits >= test_fraction * len(groups):
            break
        test_groups.append(group)
        test_hits += counts[group]
    in_test = np.isin(inverse, test_groups)
    return np.flatnonzero(~in_test), np.flatnonzero(in_test)


def leave_one_group_out(groups: np.ndarray) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """One fold per group: that group is the test set, all others train.

    Args:
        groups: str [n], each hit's group.

    Yields:
        (group name, train indices int [n_train], test indices int [n_test]), groups in
        sorted order.

    Raises:
        DatasetError: fewer than two groups.
    """
    names = np.unique(groups)
    if len(names) < 2:
        raise DatasetError(
            f"dataset: {len(names)} group(s) {list(names)}; leave-one-group-out needs two"
        )
    for name in names:
        in_test = groups == name
        yield str(name), np.flatnonzero(~in_test), np.flatnonzero(in_test)
