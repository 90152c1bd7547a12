"""The engine and hit path on a simulated recording, with the real detector, the real
interpreter and the shipped bundle: timing of every gesture, onsets against ground truth,
and the parity of the run-time feature path with the training one."""

import mir_eval
import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient

from firmware.engine import Engine
from firmware.features import FeatureConfig, hit_features
from firmware.hit_model import INPUT_NAME, HitModel
from firmware.hit_path import HitPath
from firmware.onset import DetectorConfig, HitDetector
from firmware.osc import OscConfig, OscControlServer
from firmware.replay import WavReplay
from tests.osc_peers import free_udp_port, wait_for
from training.data.dataset import ContextConfig, DatasetBuilder, cut_windows
from training.hits.simulated import TASKS

FEATURES = FeatureConfig()


class Collect:
    """Event sink that keeps what it is given (the engine's EventSink protocol)."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def log(self, event: dict) -> None:
        self.events.append(event)


def run_engine(recording, bundle, period_frames=64, **engine_options):
    source = WavReplay(recording.path, period_frames, recording.sample_rate_hz, realtime=False)
    model = HitModel(bundle, FEATURES)
    path = HitPath(
        HitDetector(DetectorConfig(), recording.sample_rate_hz),
        model,
        FEATURES,
        recording.sample_rate_hz,
        period_frames,
    )
    events = Collect()
    engine = Engine(
        source, recording.sample_rate_hz, period_frames, path, events=events, **engine_options
    )
    engine.run()
    source.close()
    return engine, [e for e in events.events if e["type"] == "hit"], model


@pytest.fixture(scope="module")
def run(recording, hit_bundle):
    return run_engine(recording, hit_bundle)


def test_every_gesture_is_sent_within_the_window_plus_one_period(run):
    _, hits, _ = run
    assert hits
    latency = np.array([h["emit_sample"] - h["onset_sample"] for h in hits])
    window_end = FEATURES.window_samples - FEATURES.pre_roll_samples
    assert latency.min() >= window_end
    assert latency.max() <= FEATURES.window_samples + 64


def test_onsets_match_ground_truth(run, recording):
    _, hits, _ = run
    onsets_s = np.array([h["onset_sample"] for h in hits]) / recording.sample_rate_hz
    truth_s = recording.onsets / recording.sample_rate_hz
    f_measure, _, _ = mir_eval.onset.f_measure(truth_s, onsets_s, window=0.002)
    assert f_measure >= 0.95
    errors = np.abs(onsets_s[:, None] - truth_s[None, :]).min(axis=1)
    assert np.median(errors) <= 0.25e-3


def test_runtime_features_equal_the_training_path(run, recording, hit_bundle):
    """Each gesture's probabilities equal the model run on the window that training code cuts
    from the whole recording at the same onset: one feature implementation, no skew."""
    _, hits, model = run
    builder = DatasetBuilder(TASKS, FEATURES, ContextConfig())
    kept = []
    for hit in hits:
        try:
            builder.add(recording.audio, hit["onset_sample"], {}, None, {}, "test")
            kept.append(hit)
        except ValueError:
            continue
    dataset = builder.build()
    windows = cut_windows(dataset.contexts, dataset.onset_offset, FEATURES)
    outputs = model.model.run_many(**{INPUT_NAME: hit_features(windows, FEATURES)})
    runtime_hand = np.array([list(h["hand_p"].values()) for h in kept])
    runtime_embedding = np.array([h["embedding"] for h in kept])
    np.testing.assert_allclose(runtime_hand, outputs["hand"], atol=1e-4)
    np.testing.assert_allclose(runtime_embedding, outputs["embedding"], atol=1e-3)


@pytest.mark.parametrize("period_frames", [65, 128])
def test_period_size_changes_emission_times_only(run, recording, hit_bundle, period_frames):
    _, hits, _ = run
    _, other, _ = run_engine(recording, hit_bundle, period_frames)
    assert [h["onset_sample"] for h in other] == [h["onset_sample"] for h in hits]
    assert [h["hand_p"] for h in other] == [h["hand_p"] for h in hits]
    latency = np.array([h["emit_sample"] - h["onset_sample"] for h in other])
    assert latency.max() <= FEATURES.window_samples + period_frames


def test_status_reports_load_and_counts(recording, hit_bundle):
    statuses = []
    _, hits, _ = run_engine(recording, hit_bundle, on_status=statuses.append, status_interval_s=1.0)
    assert len(statuses) == int(recording.audio.shape[0] / recording.sample_rate_hz)
    last = statuses[-1]
    assert 0 < last["load"] < 1 and last["xruns"] == 0
    assert last["hits"] == sum(h["emit_sample"] <= last["frame"] for h in hits)


def test_controls_from_a_real_osc_client_reach_the_detector(run, recording, hit_bundle):
    _, hits, _ = run
    server = OscControlServer(OscConfig(control_port=free_udp_port()))
    try:
        client = SimpleUDPClient("127.0.0.1", server.port)
        client.send_message("/hitar/control/threshold", 10.0)  # +10 dB on the novelty threshold
        client.send_message("/hitar/control/retrigger_ms", 60.0)
        client.send_message("/hitar/control/threshold", "loud")  # rejected, counted
        assert wait_for(lambda: server.accepted == 2 and server.rejected == 1)
        statuses = []
        engine, fewer, _ = run_engine(
            recording, hit_bundle, controls=server, on_status=statuses.append
        )
    finally:
        server.close()
    assert engine.stats.controls == 2
    assert 0 < len(fewer) < len(hits)
    assert statuses[-1]["controls_rejected"] == 1


class Overrunning:
    """Replays a recording and loses 256 frames, as an overrun does, after the given frames;
    counts each loss in xruns (the Source protocol)."""

    def __init__(self, audio, period_frames, losses):
        self.audio, self.period_frames, self.losses = audio, period_frames, sorted(losses)
        self.position, self.xruns = 0, 0

    def read(self, out):
        if self.losses and self.position >= self.losses[0]:
            self.losses.pop(0)
            self.position += 256
            self.xruns += 1
        frames = min(self.period_frames, self.audio.shape[0] - self.position)
        if frames <= 0:
            return 0
        out[:frames] = self.audio[self.position : self.position + frames]
        out[frames:] = 0.0
        self.position += frames
        return frames


def test_onsets_at_an_overrun_are_dropped_not_sent(recording, hit_bundle):
    """Lost frames leave a step in the signal that sounds like a click: with strings and body
    ringing after hits, losses 20 ms after each hit would each fire the detector."""
    fs = recording.sample_rate_hz
    losses = [int(onset) + fs // 50 for onset in recording.onsets[:-1:2]]
    source = Overrunning(recording.audio, 64, losses)
    model = HitModel(hit_bundle, FEATURES)
    path = HitPath(HitDetector(DetectorConfig(), fs), model, FEATURES, fs, 64)
    events = Collect()
    Engine(source, fs, 64, path, events=events).run()
    hits = [e["onset_sample"] for e in events.events if e["type"] == "hit"]
    assert source.xruns == len(losses)
    assert path.masked_onsets > 0
    seams, lost = [], 0  # where each loss lands in the engine's own sample count
    for loss in losses:
        seams.append(loss - lost)
        lost += 256
    near_seam = [h for h in hits if any(-96 <= h - seam < 480 for seam in seams)]
    assert near_seam == []
    assert len(hits) >= len(recording.onsets) - 2


def test_max_frames_stops_the_loop(recording, hit_bundle):
    engine, _, _ = run_engine(recording, hit_bundle, max_frames=48_000)
    assert engine.stats.frames == 48_000
