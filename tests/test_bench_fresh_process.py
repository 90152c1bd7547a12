"""bench.common.in_fresh_process: the benchmark's trainings run in a new interpreter, so that
no state of the bench's process (a seeded generator, a trained model) reaches them."""

import faulthandler
import os

import pytest

from bench.common import in_fresh_process


def test_runs_in_another_process_and_returns_the_result():
    assert in_fresh_process(os.getpid) != os.getpid()
    assert in_fresh_process(divmod, 17, 5) == (3, 2)


def test_the_child_does_not_inherit_the_parents_interpreter_state():
    faulthandler.enable()
    # A forked child would copy this process's state, faulthandler's switch included.
    assert in_fresh_process(faulthandler.is_enabled) is False


def test_an_error_in_the_child_is_raised_here():
    with pytest.raises(ValueError, match="invalid literal"):
        in_fresh_process(int, "not a number")
