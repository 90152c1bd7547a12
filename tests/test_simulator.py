"""The body-hit simulator: reproducible, physically ordered, with truth where the sound starts."""

import csv

import numpy as np
import pytest
import soundfile

from firmware.layout import HAND_PARTS, LOCATIONS, PICKUP_CHANNEL, SAMPLE_RATE_HZ
from training.simulator import HitSetConfig, SessionConfig, simulate_hits, simulate_session
from training.simulator.__main__ import main
from training.simulator.body import Body, BodyConfig
from training.simulator.contact import HAND_PART_MODELS, hand_force
from training.simulator.players import make_player
from training.simulator.session import Hit, render_hit
from training.simulator.strings import StringConfig

FS = SAMPLE_RATE_HZ


@pytest.fixture(scope="module")
def quiet_hits():
    """Hits over noise alone (no strings), several players and instruments."""
    config = HitSetConfig(n_hits=60, players=(0, 1, 2), instruments=(0, 1), string_probability=0.0)
    return simulate_hits(config, seed=11)


def test_same_seed_gives_bit_identical_audio():
    config = SessionConfig(seconds=1.5, players=(0, 1))
    first, hits_1, _ = simulate_session(config, seed=3)
    second, hits_2, _ = simulate_session(config, seed=3)
    other, _, _ = simulate_session(config, seed=4)
    assert first.dtype == np.float32 and first.shape == (int(1.5 * FS), 6)
    assert np.array_equal(first, second) and hits_1 == hits_2
    assert not np.array_equal(first, other)


def test_onset_is_where_energy_starts_on_the_nearest_sensor(quiet_hits):
    for audio, hit in zip(quiet_hits.audio, quiet_hits.hits, strict=True):
        slope = np.diff(audio[:, LOCATIONS.index(hit.location)].astype(np.float64))
        threshold = 6.0 * slope[: hit.onset_sample - 1].std()
        loud = np.flatnonzero(np.abs(slope) > threshold) + 1
        assert loud[0] >= hit.onset_sample, hit
        assert loud[0] - hit.onset_sample <= 0.5e-3 * FS, hit


def test_hit_is_loudest_first_on_its_own_sensor(quiet_hits):
    first_ms = int(1e-3 * FS)
    for audio, hit in zip(quiet_hits.audio, quiet_hits.hits, strict=True):
        window = audio[hit.onset_sample : hit.onset_sample + first_ms, :PICKUP_CHANNEL]
        assert LOCATIONS[int(np.argmax((window**2).sum(axis=0)))] == hit.location, hit


def test_hand_parts_order_by_spectral_centroid_at_equal_dynamics():
    body = Body(BodyConfig(), instrument=0, sample_rate_hz=FS)
    window = int(10e-3 * FS)
    freq_hz = np.fft.rfftfreq(window, 1.0 / FS)
    medians = []
    for hand in HAND_PARTS:
        centroids = []
        for player_id in (0, 1, 2):
            player = make_player(player_id)
            for location, centre in zip(LOCATIONS, body.sensor_xy_m, strict=True):
                hit = Hit(0, hand, location, 0.5, player_id, 0)
                sound = render_hit(body, StringConfig(), player, hit, centre, window)
                power = (np.abs(np.fft.rfft(sound[:, :PICKUP_CHANNEL], axis=0)) ** 2).sum(axis=1)
                centroids.append((power * freq_hz).sum() / power.sum())
        medians.append(np.median(centroids))
    assert np.all(np.diff(medians) > 0), dict(zip(HAND_PARTS, medians, strict=True))


@pytest.mark.parametrize("hand", HAND_PARTS)
def test_harder_strokes_are_stronger_narrower_and_brighter(hand):
    mobility = Body(BodyConfig(), instrument=0, sample_rate_hz=FS).point_mobility_m_s_n
    freq_hz = np.fft.rfftfreq(8192, 1.0 / FS)
    widths, centroids, peaks = [], [], []
    for speed_m_s in (0.5, 3.0):
        force = hand_force(HAND_PART_MODELS[hand], speed_m_s, mobility, FS)
        assert force[0] > 0 and force[-1] == 0
        half = np.flatnonzero(force >= force.max() / 2)
        power = np.abs(np.fft.rfft(force, 8192)) ** 2
        widths.append(half[-1] - half[0])
        centroids.append((power * freq_hz).sum() / power.sum())
        peaks.append(force.max())
    assert peaks[1] > 3.0 * peaks[0]
    assert widths[1] < widths[0] and centroids[1] > centroids[0]


def test_players_are_reproducible_and_distinct():
    assert make_player(7) == make_player(7)
    a, b = make_player(7), make_player(8)
    assert a.speed_range_m_s != b.speed_range_m_s and a.contact_scale != b.contact_scale


def test_strings_sound_mostly_on_the_pickup_and_leak_most_near_the_bridge():
    strings, hits_during_strings, _ = simulate_session(
        SessionConfig(seconds=3.0, hit_span=(0.0, 0.0), instrument=2), seed=5
    )
    hits, _, _ = simulate_session(
        SessionConfig(seconds=3.0, string_span=(0.0, 0.0), instrument=2), 5
    )
    assert hits_during_strings == []
    strings_rms = strings.astype(np.float64).std(axis=0)
    hits_rms = hits.astype(np.float64).std(axis=0)
    assert strings_rms[PICKUP_CHANNEL] > 10.0 * hits_rms[PICKUP_CHANNEL]
    assert hits_rms[:PICKUP_CHANNEL].max() > 5.0 * strings_rms[:PICKUP_CHANNEL].max()
    body = Body(BodyConfig(), instrument=2, sample_rate_hz=FS)
    nearest = np.argmin(np.linalg.norm(body.sensor_xy_m - body.bridge_xy_m, axis=1))
    assert np.argmax(strings_rms[:PICKUP_CHANNEL]) == nearest


def test_body_hits_shake_the_pickup_only_a_little(quiet_hits):
    after = quiet_hits.audio[:, quiet_hits.hits[0].onset_sample :].astype(np.float64)
    piezo_peak = np.abs(after[..., :PICKUP_CHANNEL]).max(axis=(1, 2))
    pickup_peak = np.abs(after[..., PICKUP_CHANNEL]).max(axis=1)
    assert np.all(pickup_peak < 0.1 * piezo_peak)
    noise = quiet_hits.audio[:, :200, PICKUP_CHANNEL].std()
    assert np.median(pickup_peak) > 5.0 * noise


def test_cli_writes_wav_labels_and_truth(tmp_path):
    assert main(["--out", str(tmp_path), "--seconds", "3", "--seed", "2", "--players", "4"]) == 0
    audio, rate = soundfile.read(tmp_path / "sim2.wav", dtype="float32")
    assert rate == FS and audio.shape == (3 * FS, 6)
    with open(tmp_path / "sim2.truth.csv", newline="") as file:
        truth = list(csv.DictReader(file))
    labels = (tmp_path / "sim2.txt").read_text().splitlines()
    assert len(truth) == len(labels) > 0
    for line, row in zip(labels, truth, strict=True):
        start, end, text = line.split("\t")
        hand, location, dynamics = text.split(" ")
        assert start == end and abs(float(start) * FS - int(row["onset_sample"])) < 1
        assert (hand, location) == (row["hand"], row["location"])
        assert hand in HAND_PARTS and location in LOCATIONS and 0 <= float(dynamics) <= 1
        assert float(dynamics) == float(row["dynamics"]) and row["player"] == "4"


def test_demo_tours_every_hand_part_and_location_with_strings_in_its_second_half(tmp_path):
    assert main(["--out", str(tmp_path), "--demo", "--seconds", "6"]) == 0
    with open(tmp_path / "demo.truth.csv", newline="") as file:
        truth = list(csv.DictReader(file))
    assert {(row["hand"], row["location"]) for row in truth} == {
        (hand, location) for hand in HAND_PARTS for location in LOCATIONS
    }
    assert len({row["dynamics"] for row in truth}) == 3
    pickup, _ = soundfile.read(tmp_path / "demo.wav", dtype="float32")
    first, second = pickup[: 3 * FS, PICKUP_CHANNEL], pickup[3 * FS :, PICKUP_CHANNEL]
    assert second.std() > 10.0 * first.std()


def test_bad_value_is_a_one_line_error(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--seconds", "-1"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "seconds" in error
