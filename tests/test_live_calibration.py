"""Player calibration on the board: hits labelled over OSC while playing are fitted off the
audio thread, the instrument plays on the offsets from then on, and a model loaded from a
bundle store gets its calibrated bundle installed there. Real parts throughout: the shipped
bundle in the real interpreter, the firmware's engine, detector and hit path on a simulated
player's recording (replayed by the benchmark's own helpers, bench/calibration.py), the bundle
store on disk, a python-osc peer on loopback."""

import json
import shutil

import numpy as np
import pytest
import soundfile
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from bench.calibration import (
    calibration_schedule,
    hand_accuracy,
    matched_hits,
    play_through_firmware,
)
from firmware.bundle_store import BundleStore, store_of
from firmware.calibration import MIN_HITS_PER_CLASS
from firmware.cli import DEFAULT_MODEL
from firmware.controls import Control, ControlError, parse_control
from firmware.features import FeatureConfig
from firmware.gesture import Gesture
from firmware.hit_model import HitModel
from firmware.live_calibration import LiveCalibration
from firmware.osc import OscConfig, OscControlServer, OscSender
from tests.osc_peers import Receiver, free_udp_port, wait_for
from training.simulator import SessionConfig, simulate_session

FEATURES = FeatureConfig()
HANDS = ("heel", "thumb", "fingers", "nails")
CLASS_NAMES = (*HANDS, "piezo1", "piezo2", "piezo3", "piezo4", "piezo5")
LABELLED_PER_HAND = 6
"""Under the calibration's prior, 4 per hand part moved player 102 by 0.029 here."""


def test_calibrate_takes_a_command_or_a_class_of_the_model_and_nothing_else():
    def parse(*args):
        return parse_control("/hitar/control/calibrate", list(args), "/hitar", CLASS_NAMES)

    assert parse("thumb") == Control("calibrate", "thumb")
    assert parse("fit") == Control("calibrate", "fit")
    for args, expected in (
        (("palm",), r"got 'palm' \(a string\)"),
        ((1,), r"got 1 \(an int\)"),
        (("thumb", "heel"), "got 2 arguments"),
    ):
        with pytest.raises(ControlError, match=expected) as caught:
            parse(*args)
        message = str(caught.value)
        assert message.startswith("/hitar/control/calibrate: expected one argument, s, one of: fit")
        assert "thumb" in message and "\n" not in message


def test_a_calibrate_message_from_a_real_client_reaches_poll_and_a_bad_one_is_answered():
    server = OscControlServer(OscConfig(control_port=free_udp_port()), class_names=CLASS_NAMES)
    receiver = Receiver()
    try:
        client = SimpleUDPClient("127.0.0.1", server.port)
        client.send_message("/hitar/control/calibrate", "nails")
        assert wait_for(lambda: server.accepted == 1)
        assert server.poll() == Control("calibrate", "nails")
        # a bad one, sent from the receiver's own socket so that the reply comes back to it
        bad = OscMessageBuilder("/hitar/control/calibrate")
        bad.add_arg("palm")
        receiver.server.socket.sendto(bad.build().dgram, ("127.0.0.1", server.port))
        assert wait_for(lambda: receiver.messages)
    finally:
        server.close()
        receiver.close()
    address, (reason,) = receiver.messages[0]
    assert address == "/hitar/error" and "got 'palm'" in reason
    assert server.rejected == 1


@pytest.fixture(scope="module")
def player_recording(tmp_path_factory):
    """40 s of a player the shipped model never heard (simulated player 102, whose thumbs it
    reads as heels), and the ground truth of every hit."""
    audio, hits, rate = simulate_session(SessionConfig(seconds=40.0, players=(102,)), seed=11)
    path = tmp_path_factory.mktemp("player") / "player102.wav"
    soundfile.write(path, audio, rate, subtype="FLOAT")
    onsets = np.array([hit.onset_sample for hit in hits])
    return path, rate, onsets, [hit.hand for hit in hits]


@pytest.fixture(scope="module")
def store_run(player_recording, tmp_path_factory):
    """The player labels LABELLED_PER_HAND hits of each hand part and fits while playing the
    recording (the firmware started on a bundle store's current bundle, as on the board), then
    plays it again: the gestures of the second time, and what the first left behind."""
    path, rate, onsets, hands = player_recording
    store = BundleStore(tmp_path_factory.mktemp("store"), "hits")
    store.install(DEFAULT_MODEL)
    assert store_of(store.current_link) is not None
    schedule, labelled = calibration_schedule(onsets, hands, rate, LABELLED_PER_HAND)
    receiver = Receiver()
    sender = OscSender(OscConfig(port=receiver.port))
    try:
        first, calibration, model = play_through_firmware(
            path, rate, HitModel(store.current_link, FEATURES), schedule,
            lambda event, detail: sender.send("/hitar/calibration", event, detail),
            store_of(store.current_link),
        )  # fmt: skip
        assert wait_for(lambda: any(a[0] == "fitted" for _, a in receiver.messages))
    finally:
        sender.close()
        receiver.close()
    truth = set(matched_hits(first, onsets, rate).tolist())
    found = {hand: sum(i in truth for i in labelled if hands[i] == hand) for hand in HANDS}
    again, _, _ = play_through_firmware(path, rate, model)
    return again, calibration, model, store, labelled, found, receiver.messages


def test_hits_labelled_while_playing_calibrate_what_is_played_next(player_recording, store_run):
    path, rate, onsets, hands = player_recording
    gestures, calibration, model, _, labelled, _, _ = store_run
    assert calibration.fits == 1 and calibration.failures == 0
    assert set(model.offsets) == {"hand"} and abs(float(model.offsets["hand"].sum())) < 1e-5
    plain = play_through_firmware(path, rate, HitModel(DEFAULT_MODEL, FEATURES))[0]
    before, n = hand_accuracy(plain, onsets, hands, rate, set(labelled))
    after, n_after = hand_accuracy(gestures, onsets, hands, rate, set(labelled))
    assert n == n_after > 80
    assert after > before + 0.03, (before, after)


def test_the_calibration_is_reported_over_osc(store_run):
    *_, found, messages = store_run
    events = [args for address, args in messages if address == "/hitar/calibration"]
    assert [e for e, _ in events].count("labelling") == LABELLED_PER_HAND * len(HANDS)
    counts = [d for e, d in events if e == "hit"]
    assert len(counts) == sum(found.values()), "one report per labelled hit detected"
    assert any(d.startswith(f"thumb {found['thumb']} (played ") for d in counts)
    fitted = next(d for e, d in events if e == "fitted")
    assert fitted.startswith("hand: heel ") and "saved as " in fitted


def test_a_model_from_a_bundle_store_gets_its_calibration_installed_there(store_run):
    _, _, model, store, _, found, _ = store_run
    manifest = json.loads((store.current() / "manifest.json").read_text())
    assert manifest["calibration"]["hand"]["hits"] == found
    assert len(store.entries()) == 2
    reloaded = HitModel(store.current_link, FEATURES)
    np.testing.assert_allclose(reloaded.offsets["hand"], model.offsets["hand"], atol=1e-6)


class Recorder:
    def __init__(self):
        self.events = []

    def __call__(self, event, detail):
        self.events.append((event, detail))


def gesture(hand: str, hand_p: dict[str, float]) -> Gesture:
    location_p = dict.fromkeys(CLASS_NAMES[len(HANDS) :], 0.2)
    return Gesture(0, 480, 48_000, hand, hand_p, "piezo1", location_p, (0.0, 0.0), 0.5)


def a_calibration(tmp_path, store=None):
    """A LiveCalibration of a copy of the shipped bundle, and what it reports."""
    bundle = tmp_path / "bundle"
    shutil.copytree(DEFAULT_MODEL, bundle)
    playing = [HitModel(bundle, FEATURES)]
    report = Recorder()
    live = LiveCalibration(lambda: playing[-1], playing.append, report, store)
    return live, playing, report


def label(live, hand, n):
    live.command(hand)
    for _ in range(n):
        live.observe(gesture(hand, {"heel": 0.7, "thumb": 0.1, "fingers": 0.1, "nails": 0.1}))


def test_too_few_hits_of_a_class_stop_the_fit_and_keep_the_hits(tmp_path):
    live, playing, report = a_calibration(tmp_path)
    for hand in HANDS[:-1]:
        label(live, hand, MIN_HITS_PER_CLASS)
    label(live, "nails", MIN_HITS_PER_CLASS - 1)
    live.command("fit")
    live.close()
    assert report.events[-1] == (
        "error",
        "not fitted, labelled hits kept: task 'hand': class 'nails' has 2 labelled hits; "
        "calibration needs at least 3 of each class",
    )
    assert len(playing) == 1 and live.labelled_hits == 4 * MIN_HITS_PER_CLASS - 1
    label(live, "nails", 1)
    live.command("fit")
    live.close()
    assert report.events[-1][0] == "fitted" and len(playing) == 2
    assert "not in a bundle store" in report.events[-1][1]
    offsets = playing[-1].offsets["hand"]
    assert offsets[0] < 0 < offsets[1], "heel-leaning hits of every hand lower heel's offset"
    assert live.labelled_hits == 0


def test_unknown_classes_and_fits_without_hits_are_refused_in_one_line(tmp_path):
    live, playing, report = a_calibration(tmp_path)
    live.command("palm")
    assert (
        report.events[-1][0] == "error"
        and "'palm' is not a class of this model" in (report.events[-1][1])
    )
    live.command("fit")
    assert report.events[-1] == (
        "error", "no labelled hits to fit: name a class, play it, then send fit"
    )  # fmt: skip
    assert live.failures == 2 and len(playing) == 1


def test_stop_clear_and_a_model_change_leave_hits_unlabelled(tmp_path):
    live, playing, report = a_calibration(tmp_path)
    label(live, "thumb", 2)
    live.command("stop")
    assert report.events[-1] == ("stopped", "thumb 2")
    live.observe(gesture("heel", {"heel": 1.0, "thumb": 0.0, "fingers": 0.0, "nails": 0.0}))
    assert live.labelled_hits == 2
    live.command("clear")
    assert live.labelled_hits == 0
    label(live, "thumb", 2)
    playing.append(HitModel(playing[0].bundle.path, FEATURES))  # a hot reload
    label(live, "thumb", 1)
    assert live.labelled_hits == 1
    assert ("error", "the model changed; 2 labelled hits dropped") in report.events


def test_reset_plays_and_installs_the_model_without_calibration(tmp_path):
    store = BundleStore(tmp_path / "store", "hits")
    live, playing, report = a_calibration(tmp_path, store)
    for hand in HANDS:
        label(live, hand, MIN_HITS_PER_CLASS)
    live.command("fit")
    live.close()
    assert "calibration" in json.loads((store.current() / "manifest.json").read_text())
    live.command("reset")
    live.close()
    assert report.events[-1][0] == "reset" and "saved as" in report.events[-1][1]
    assert playing[-1].offsets == {}
    assert "calibration" not in json.loads((store.current() / "manifest.json").read_text())
    assert HitModel(store.current_link, FEATURES).offsets == {}


def test_a_fit_that_fails_on_its_worker_is_reported_and_changes_nothing(tmp_path):
    model, report = HitModel(DEFAULT_MODEL, FEATURES), Recorder()

    def refuse(model):
        raise RuntimeError("no room for another model")

    live = LiveCalibration(lambda: model, refuse, report)
    for hand in HANDS:
        label(live, hand, MIN_HITS_PER_CLASS)
    live.command("fit")
    live.close()
    assert report.events[-1] == (
        "error",
        "fit failed, the model playing is unchanged: RuntimeError('no room for another model')",
    )
    assert live.fits == 0 and live.failures == 1
