"""The 32 DX7 algorithms as data: which operator modulates which, which ones are heard, and
where the feedback loop is.

Transcribed from the algorithm chart printed on the DX7 and in its manual. Operators are
numbered 1..6 as on the chart. In every algorithm the feedback loop starts at an operator that
no other operator modulates; in 30 of them it is that operator's own output (self-feedback),
in algorithms 4 and 6 it is the output of the operator at the bottom of its stack (OP4, OP5)
fed back into the top one (OP6), a loop through three or two operators.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np

N_OPERATORS = 6

_CHART: dict[int, tuple[str, str, str]] = {
    # number: (modulations "source>destination", carriers, feedback "source>destination")
    1: ("2>1 4>3 5>4 6>5", "1 3", "6>6"),
    2: ("2>1 4>3 5>4 6>5", "1 3", "2>2"),
    3: ("2>1 3>2 5>4 6>5", "1 4", "6>6"),
    4: ("2>1 3>2 5>4 6>5", "1 4", "4>6"),
    5: ("2>1 4>3 6>5", "1 3 5", "6>6"),
    6: ("2>1 4>3 6>5", "1 3 5", "5>6"),
    7: ("2>1 4>3 5>3 6>5", "1 3", "6>6"),
    8: ("2>1 4>3 5>3 6>5", "1 3", "4>4"),
    9: ("2>1 4>3 5>3 6>5", "1 3", "2>2"),
    10: ("2>1 3>2 5>4 6>4", "1 4", "3>3"),
    11: ("2>1 3>2 5>4 6>4", "1 4", "6>6"),
    12: ("2>1 4>3 5>3 6>3", "1 3", "2>2"),
    13: ("2>1 4>3 5>3 6>3", "1 3", "6>6"),
    14: ("2>1 4>3 5>4 6>4", "1 3", "6>6"),
    15: ("2>1 4>3 5>4 6>4", "1 3", "2>2"),
    16: ("2>1 3>1 4>3 5>1 6>5", "1", "6>6"),
    17: ("2>1 3>1 4>3 5>1 6>5", "1", "2>2"),
    18: ("2>1 3>1 4>1 5>4 6>5", "1", "3>3"),
    19: ("2>1 3>2 6>4 6>5", "1 4 5", "6>6"),
    20: ("3>1 3>2 5>4 6>4", "1 2 4", "3>3"),
    21: ("3>1 3>2 6>4 6>5", "1 2 4 5", "3>3"),
    22: ("2>1 6>3 6>4 6>5", "1 3 4 5", "6>6"),
    23: ("3>2 6>4 6>5", "1 2 4 5", "6>6"),
    24: ("6>3 6>4 6>5", "1 2 3 4 5", "6>6"),
    25: ("6>4 6>5", "1 2 3 4 5", "6>6"),
    26: ("3>2 5>4 6>4", "1 2 4", "6>6"),
    27: ("3>2 5>4 6>4", "1 2 4", "3>3"),
    28: ("2>1 4>3 5>4", "1 3 6", "5>5"),
    29: ("4>3 6>5", "1 2 3 5", "6>6"),
    30: ("4>3 5>4", "1 2 3 6", "5>5"),
    31: ("6>5", "1 2 3 4 5", "6>6"),
    32: ("", "1 2 3 4 5 6", "6>6"),
}


@dataclass(frozen=True)
class Algorithm:
    """One DX7 algorithm. Operators are numbered 1..6 as on the chart."""

    number: int
    """1..32."""
    modulations: tuple[tuple[int, int], ...]
    """(source, destination) pairs: source's output is added to destination's phase."""
    carriers: tuple[int, ...]
    """Operators whose outputs are summed into the audio output."""
    feedback: tuple[int, int]
    """(source, destination) of the feedback path; source == destination for self-feedback."""

    def modulators_of(self, operator: int) -> tuple[int, ...]:
        """The operators that modulate `operator`, feedback excluded."""
        return tuple(src for src, dst in self.modulations if dst == operator)

    @cached_property
    def feedback_chain(self) -> tuple[int, ...]:
        """The operators inside the feedback loop, from the one that receives the feedback
        down to the one whose output is fed back: (6,) for self-feedback on OP6, (6, 5, 4)
        for algorithm 4."""
        source, destination = self.feedback
        chain = [destination]
        while chain[-1] != source:
            chain.append(next(dst for src, dst in self.modulations if src == chain[-1]))
        return tuple(chain)

    @cached_property
    def modulation_matrix(self) -> np.ndarray:
        """[6, 6] float64, [destination - 1, source - 1] = 1 where source modulates destination
        (feedback excluded). Read-only."""
        matrix = np.zeros((N_OPERATORS, N_OPERATORS))
        for source, destination in self.modulations:
            matrix[destination - 1, source - 1] = 1.0
        matrix.flags.writeable = False
        return matrix


def _parse(number: int) -> Algorithm:
    modulations, carriers, feedback = _CHART[number]
    pairs = tuple(tuple(int(op) for op in edge.split(">")) for edge in modulations.split())
    source, destination = (int(op) for op in feedback.split(">"))
    return Algorithm(
        number=number,
        modulations=pairs,  # type: ignore[arg-type]
        carriers=tuple(int(op) for op in carriers.split()),
        feedback=(source, destination),
    )


ALGORITHMS: tuple[Algorithm, ...] = tuple(_parse(number) for number in range(1, 33))
"""ALGORITHMS[n - 1] is algorithm n."""


def algorithm(number: int) -> Algorithm:
    """Algorithm 1..32; ValueError outside that range."""
    if not 1 <= number <= len(ALGORITHMS):
        raise ValueError(f"algorithm {number}, expected 1..{len(ALGORITHMS)}")
    return ALGORITHMS[number - 1]
