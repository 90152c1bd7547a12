"""`python -m bench --rebuild`: the page is rebuilt from stored results, nothing measured."""

import shutil
from pathlib import Path

from bench.__main__ import main

STORED = Path(__file__).parent.parent / "docs" / "bench" / "io.json"


def test_rebuild_writes_the_page_from_stored_results_only(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(STORED, results / "io.json")
    before = (results / "io.json").read_bytes()
    page = tmp_path / "BENCHMARKS.md"
    assert main(["--rebuild", "--results", str(results), "--out", str(page)]) == 0
    text = page.read_text()
    assert "## I/O edges" in text
    assert "Not measured yet: `python -m bench onsets`." in text
    assert (results / "io.json").read_bytes() == before
    assert sorted(path.name for path in results.iterdir()) == ["io.json"]
