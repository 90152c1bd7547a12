"""The 32 algorithms against the published chart, as transcribed independently by dexed-py."""

import itertools

import dexed
import numpy as np
import pytest

from firmware.dx7.algorithms import ALGORITHMS, algorithm


@pytest.mark.parametrize("number", range(1, 33))
def test_routing_matches_dexed_py_table(number: int) -> None:
    """dexed-py numbers operators 0..5 (OP1..OP6) and algorithms 0..31; its matrix is
    [destination, source] like ours."""
    ours = algorithm(number)
    theirs = dexed.algorithms[number - 1]
    assert tuple(sorted(ours.carriers)) == tuple(op + 1 for op in sorted(theirs.carriers))
    np.testing.assert_array_equal(ours.modulation_matrix, theirs.mod_matrix)
    assert ours.feedback == tuple(op + 1 for op in theirs.feedback_edge)


@pytest.mark.parametrize("number", range(1, 33))
def test_every_operator_is_heard_or_modulates_and_the_graph_has_no_cycle(number: int) -> None:
    algo = algorithm(number)
    sources = {src for src, _ in algo.modulations}
    assert sources | set(algo.carriers) == set(range(1, 7))
    assert not sources & set(algo.carriers)  # a carrier modulates nothing on the DX7
    done: set[int] = set()  # peel operators whose modulators are all done: no cycle stops it
    while len(done) < 6:
        ready = {op for op in range(1, 7) if op not in done and set(algo.modulators_of(op)) <= done}
        assert ready, f"cycle among {set(range(1, 7)) - done}"
        done |= ready
    # the feedback loop starts at an operator nobody modulates and follows the chain down
    chain = algo.feedback_chain
    assert algo.modulators_of(chain[0]) == ()
    assert chain[-1] == algo.feedback[0]
    for upper, lower in itertools.pairwise(chain):
        assert algo.modulators_of(lower) == (upper,)


def test_chart_landmarks() -> None:
    assert algorithm(1).carriers == (1, 3) and algorithm(1).feedback_chain == (6,)
    assert algorithm(2).feedback_chain == (2,)
    assert algorithm(4).feedback_chain == (6, 5, 4)
    assert algorithm(6).feedback_chain == (6, 5)
    assert algorithm(32).carriers == (1, 2, 3, 4, 5, 6) and algorithm(32).modulations == ()
    assert algorithm(16).carriers == (1,) and set(algorithm(16).modulators_of(1)) == {2, 3, 5}
    assert len(ALGORITHMS) == 32
    with pytest.raises(ValueError, match=r"algorithm 33, expected 1\.\.32"):
        algorithm(33)
