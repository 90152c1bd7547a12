"""The event log: every event logged reaches the file, in order, one valid JSON object a line."""

import json
import threading
import time

import numpy as np
import pytest

from firmware.errors import ConfigError, HitarError
from firmware.events import EventLog


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_event_is_in_the_file_after_close_in_order(tmp_path):
    path = tmp_path / "events.jsonl"
    events = [
        {"type": "hit", "onset_sample": 64 * i, "hand": "heel", "p": i / 7} for i in range(2000)
    ]
    log = EventLog(path)
    for event in events:
        log.log(event)
    log.close()
    assert read_lines(path) == events
    assert log.written == len(events)
    assert log.errors == 0


def test_keys_keep_the_order_given(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        log.log({"z": 1, "a": 2, "m": 3})
    assert list(read_lines(path)[0]) == ["z", "a", "m"]


def test_numpy_values_and_non_finite_floats_are_written_as_valid_json(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        log.log(
            {
                "sample": np.int64(48_000),
                "p": np.float32(0.25),
                "embedding": np.array([0.5, -1.0], np.float32),
                "bad": float("nan"),
                "worse": np.float64("-inf"),
                "where": tmp_path,
            }
        )
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert read_lines(path) == [
        {
            "sample": 48_000,
            "p": 0.25,
            "embedding": [0.5, -1.0],
            "bad": None,
            "worse": None,
            "where": str(tmp_path),
        }
    ]


def test_events_logged_from_several_threads_are_all_written(tmp_path):
    path = tmp_path / "events.jsonl"
    log = EventLog(path)

    def producer(thread):
        for i in range(500):
            log.log({"thread": thread, "i": i})

    threads = [threading.Thread(target=producer, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    lines = read_lines(path)
    assert len(lines) == 2000
    for t in range(4):
        assert [line["i"] for line in lines if line["thread"] == t] == list(range(500))


def test_log_returns_at_once(tmp_path):
    log = EventLog(tmp_path / "events.jsonl")
    event = {"type": "hit", "hand_p": {"heel": 0.9, "thumb": 0.1}}
    took_s = []
    for _ in range(1000):
        started = time.perf_counter()
        log.log(event)
        took_s.append(time.perf_counter() - started)
    log.close()
    assert np.median(took_s) < 1e-3


def test_events_reach_the_disk_before_close(tmp_path):
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.log({"i": 1})
    deadline = time.monotonic() + 5.0
    while not path.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert read_lines(path) == [{"i": 1}]
    log.close()


def test_close_twice_is_fine_and_log_after_close_is_refused(tmp_path):
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.log({"i": 1})
    log.close()
    log.close()
    assert read_lines(path) == [{"i": 1}]
    with pytest.raises(RuntimeError):
        log.log({"i": 2})


def test_missing_folders_are_created(tmp_path):
    path = tmp_path / "run" / "demo" / "events.jsonl"
    with EventLog(path) as log:
        log.log({"i": 1})
    assert read_lines(path) == [{"i": 1}]


def test_append_keeps_earlier_events_and_default_truncates(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        log.log({"run": 1})
    with EventLog(path, append=True) as log:
        log.log({"run": 2})
    assert read_lines(path) == [{"run": 1}, {"run": 2}]
    with EventLog(path) as log:
        log.log({"run": 3})
    assert read_lines(path) == [{"run": 3}]


@pytest.mark.parametrize("where", ["folder", "file_as_folder"])
def test_unwritable_path_is_a_one_line_error_at_construction(tmp_path, where):
    if where == "folder":
        path = tmp_path  # a folder, not a file
    else:
        (tmp_path / "plain").write_text("")
        path = tmp_path / "plain" / "events.jsonl"
    with pytest.raises(ConfigError) as caught:
        EventLog(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: cannot write the event log (")
    assert "\n" not in message
    assert isinstance(caught.value, HitarError)
