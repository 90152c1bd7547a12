"""bench.common.in_fresh_process: the benchmark's trainings run in a new interpreter, so that
no state of the bench's process (a seeded generator, a trained model) reaches them, and keep
their freed memory as `python -m training` does."""

import faulthandler
import multiprocessing
import os

import pytest

from bench.common import in_fresh_process
from tests.test_resources import refault_share


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


def test_the_child_keeps_its_freed_memory_as_the_training_command_does(monkeypatch):
    # 4 kB pages, so that the fault count measures the pages touched afresh.
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "0")
    with multiprocessing.get_context("spawn").Pool(1) as plain:
        control = plain.apply(refault_share)
    assert control > 0.9
    assert in_fresh_process(refault_share) < 0.1
