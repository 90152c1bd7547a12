"""Label files: Audacity tracks and REAPER exports, and every error naming file and line."""

import pytest

from firmware.errors import InputFileError
from firmware.layout import HAND_PARTS, LOCATIONS
from training.data.labels import (
    DYNAMICS_WORDS,
    LabelConfig,
    parse_label_text,
    read_labels,
    reaper_time_s,
)

GAP_S = 0.03


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_audacity_point_and_region_labels_are_read_sorted(tmp_path):
    path = write(
        tmp_path,
        "take.txt",
        "2.500000\t2.500000\tthumb piezo3 mf\n"
        "\\\t120.0\t2400.0\n"
        "1.250000\t1.400000\theel piezo1 0.8\n"
        "\n"
        "3.000000\t3.000000\tnails piezo5\n",
    )
    labels = read_labels(path, duration_s=4.0, min_gap_s=GAP_S)
    assert [label.time_s for label in labels] == [1.25, 2.5, 3.0]
    assert [(label.hand, label.location) for label in labels] == [
        ("heel", "piezo1"),
        ("thumb", "piezo3"),
        ("nails", "piezo5"),
    ]
    assert labels[0].dynamics == pytest.approx(0.8)
    assert labels[1].dynamics == pytest.approx(DYNAMICS_WORDS["mf"])
    assert labels[2].dynamics is None
    assert [label.source for label in labels] == [f"{path}:3", f"{path}:1", f"{path}:5"]


def test_every_hand_location_and_dynamics_word_parses():
    for hand in HAND_PARTS:
        for location in LOCATIONS:
            for word, value in DYNAMICS_WORDS.items():
                assert parse_label_text(f"{hand} {location} {word}", "x:1") == (
                    hand,
                    location,
                    value,
                )


def test_dynamics_words_rise_from_pp_to_ff_inside_unit_range():
    values = [DYNAMICS_WORDS[word] for word in ("pp", "p", "mp", "mf", "f", "ff")]
    assert values == sorted(values)
    assert values[0] > 0.0 and values[-1] < 1.0


def test_reaper_export_in_minutes_seconds_reads_markers_and_regions(tmp_path):
    path = write(
        tmp_path,
        "take.csv",
        "#,Name,Start,End,Length,Color\r\n"
        "M1,thumb piezo2 p,0:01.500,,,\r\n"
        'R1,"fingers piezo4 0.25",0:02.250,0:02.400,0:00.150,FF0000\r\n'
        "M2,heel piezo1,1:00:00.125,,,\r\n",
    )
    labels = read_labels(path, duration_s=3700.0, min_gap_s=GAP_S)
    assert [label.time_s for label in labels] == [1.5, 2.25, 3600.125]
    assert [label.source for label in labels] == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert labels[1].hand == "fingers" and labels[1].dynamics == 0.25


def test_reaper_measures_beats_need_and_use_the_tempo(tmp_path):
    path = write(tmp_path, "take.csv", "#,Name,Start,End,Length\nM1,heel piezo1,2.3.50,,\n")
    with pytest.raises(InputFileError, match=rf"^{path}:2: .*measures\.beats.*tempo_bpm"):
        read_labels(path, duration_s=10.0, min_gap_s=GAP_S)
    config = LabelConfig(tempo_bpm=90.0, beats_per_bar=3)
    (label,) = read_labels(path, duration_s=10.0, min_gap_s=GAP_S, config=config)
    assert label.time_s == pytest.approx((3 + 2 + 0.5) * 60.0 / 90.0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("12.5", 12.5), ("0:07.250", 7.25), ("2:03", 123.0), ("1:02:03.5", 3723.5)],
)
def test_reaper_time_formats(text, seconds):
    assert reaper_time_s(text, "x:2", LabelConfig()) == pytest.approx(seconds)


def test_reaper_timecode_is_refused_with_the_line():
    with pytest.raises(InputFileError, match=r"^x:7: time '00:00:01:12' .*not supported"):
        reaper_time_s("00:00:01:12", "x:7", LabelConfig())


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        ("bad.txt", "1.0\t1.0\theel piezo1\n2.0\t2.0\tslap piezo1\n", 2, "unknown hand part"),
        ("bad.txt", "1.0\t1.0\theel piezo9\n", 1, "unknown location 'piezo9'"),
        ("bad.txt", "1.0\t1.0\theel piezo1 fff\n", 1, "unknown dynamics 'fff'"),
        ("bad.txt", "1.0\t1.0\theel piezo1 1.5\n", 1, "unknown dynamics '1.5'"),
        ("bad.txt", "1.0\t1.0\theel\n", 1, "has 1 words"),
        ("bad.txt", "1.0\t1.0\theel piezo1 mf loud\n", 1, "has 4 words"),
        ("bad.txt", "1.0\t1.0\theel piezo1\n2.0\t2.0\t  \n", 2, "empty label"),
        ("bad.txt", "1.0\t1.0\n", 1, "empty label"),
        ("bad.txt", "1.0 1.0 heel piezo1\n", 1, "malformed line"),
        ("bad.txt", "1,5\t1,5\theel piezo1\n", 1, "start '1,5' is not a time"),
        ("bad.txt", "2.0\t1.0\theel piezo1\n", 1, "end 1.0 s is before start"),
        ("bad.txt", "1.0\t1.0\theel piezo1\n9.5\t9.5\theel piezo2\n", 2, "outside the recording"),
        (
            "bad.txt",
            "3.0\t3.0\theel piezo1\n1.0\t1.0\tthumb piezo1\n3.01\t3.01\theel piezo2\n",
            3,
            "10.0 ms after the hit at line 1",
        ),
        ("bad.csv", "#,Name,Start,End,Length\nX1,heel piezo1,1.0,,\n", 2, "malformed row"),
        ("bad.csv", "#,Name,Start,End,Length\nM1,heel piezo1\n", 2, "malformed row"),
        ("bad.csv", "#,Name,Start,End,Length\nM1,,1.0,,\n", 2, "empty label"),
        ("bad.csv", "#,Name,Start,End,Length\nM1,heel piezo1,soon,,\n", 2, "time 'soon'"),
        ("bad.csv", "Name,Position\nheel piezo1,1.0\n", 1, "lacks column '#'"),
    ],
)
def test_label_file_errors_name_file_and_line(tmp_path, name, text, line, message):
    path = write(tmp_path, name, text)
    with pytest.raises(InputFileError) as error:
        read_labels(path, duration_s=5.0, min_gap_s=GAP_S)
    assert str(error.value).startswith(f"{path}:{line}: ")
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_hits_exactly_the_retrigger_window_apart_do_not_overlap(tmp_path):
    path = write(tmp_path, "ok.txt", "1.0\t1.0\theel piezo1\n1.03\t1.03\theel piezo1\n")
    assert len(read_labels(path, duration_s=5.0, min_gap_s=0.029)) == 2
    with pytest.raises(InputFileError, match="overlap"):
        read_labels(path, duration_s=5.0, min_gap_s=0.031)


@pytest.mark.parametrize(
    ("name", "message"),
    [("missing.txt", "no such label file"), ("take.lab", "unknown label file type")],
)
def test_unusable_label_files_are_named(tmp_path, name, message):
    if name.endswith(".lab"):
        write(tmp_path, name, "1.0\t1.0\theel piezo1\n")
    with pytest.raises(InputFileError, match=rf"^{tmp_path / name}: {message}"):
        read_labels(tmp_path / name, duration_s=5.0, min_gap_s=GAP_S)


def test_non_utf8_label_file_is_named(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("1.0\t1.0\theel piezo1 caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputFileError, match=rf"^{path}: not a UTF-8 text file"):
        read_labels(path, duration_s=5.0, min_gap_s=GAP_S)


def test_reaper_rows_may_leave_out_trailing_empty_columns(tmp_path):
    path = write(tmp_path, "take.csv", "#,Name,Start,End,Length,Color\nM1,heel piezo1,1.5\n")
    (label,) = read_labels(path, duration_s=5.0, min_gap_s=GAP_S)
    assert label.time_s == 1.5 and label.hand == "heel"
