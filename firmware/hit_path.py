"""The hit path: detector -> 10 ms window -> features -> model -> Gesture.

Called once per period from the engine. Onsets are queued until the ring holds their whole
window; the window is then copied into a preallocated buffer, and features, inference and the
gesture follow. Per-period cost is the detector and one ring write; the per-hit cost (features,
inference) is paid once per hit and measured by `make bench`.
"""

from collections import deque

import numpy as np

from firmware.features import FeatureConfig, hit_features, peak_velocity, window_start
from firmware.gesture import Gesture
from firmware.hit_model import HitModel
from firmware.layout import N_CHANNELS, PIEZO_CHANNELS
from firmware.onset import HitDetector
from firmware.ring import SampleRing

DISCONTINUITY_MASK_MS = (2.0, 10.0)
"""Onsets this long before and after an input discontinuity are not hits: the detector's
look-back reaches 2 ms before the step, and its confirmation and the step's ringing last less
than 10 ms after it."""


class HitPath:
    """Turns periods of 6-channel input into gestures."""

    def __init__(
        self,
        detector: HitDetector,
        model: HitModel,
        feature_config: FeatureConfig,
        sample_rate_hz: int,
        max_block_frames: int,
    ) -> None:
        self.detector = detector
        self.model = model
        """Replaced whole (never mutated) when a new bundle is hot-loaded: an atomic swap."""
        self.feature_config = feature_config
        self.sample_rate_hz = sample_rate_hz
        history = detector.config.max_lookback_samples + feature_config.window_samples
        self.ring = SampleRing(_power_of_two_at_least(history + 2 * max_block_frames), N_CHANNELS)
        self._window = np.zeros((feature_config.window_samples, N_CHANNELS), np.float32)
        self._pending: deque[int] = deque()
        self._mask = (0, 0)
        self.hits = 0
        self.masked_onsets = 0
        """Onsets dropped because they fell at a discontinuity of the input (an xrun)."""

    def process(self, block: np.ndarray) -> list[Gesture]:
        """Feed one period, float32 [frames, 6]; returns the gestures completed by it."""
        self.ring.write(block)
        for onset in self.detector.process(block):
            if self._mask[0] <= onset < self._mask[1]:
                self.masked_onsets += 1
            else:
                self._pending.append(onset)
        gestures: list[Gesture] = []
        window_samples = self.feature_config.window_samples
        while self._pending:
            start = window_start(self._pending[0], self.feature_config)
            if start + window_samples > self.ring.written:
                break
            gestures.append(self._classify(self._pending.popleft(), start))
        return gestures

    def mark_discontinuity(self) -> None:
        """The input jumps before the next block (frames were lost to an overrun): the step
        sounds like a click to the detector, so onsets found around it are dropped."""
        seam = self.ring.written
        before, after = (round(ms * 1e-3 * self.sample_rate_hz) for ms in DISCONTINUITY_MASK_MS)
        self._mask = (seam - before, seam + after)

    def replace_model(self, model: HitModel) -> None:
        """Take over a new model (from any thread): one reference swap, atomic in CPython;
        a hit already being classified finishes with the model it started with."""
        self.model = model

    def reset(self) -> None:
        self.detector.reset()
        self._pending.clear()

    def _classify(self, onset_sample: int, start: int) -> Gesture:
        lead = max(0, -start)
        self._window[:lead] = 0.0
        self.ring.read(start + lead, self._window[lead:])
        model = self.model
        prediction = model.predict(hit_features(self._window, self.feature_config))
        hand = int(np.argmax(prediction.hand_p))
        location = int(np.argmax(prediction.location_p))
        self.hits += 1
        return Gesture(
            onset_sample=onset_sample,
            emit_sample=self.ring.written,
            sample_rate_hz=self.sample_rate_hz,
            hand=model.hand_classes[hand],
            hand_p=dict(zip(model.hand_classes, prediction.hand_p.tolist(), strict=True)),
            location=model.location_classes[location],
            location_p=dict(
                zip(model.location_classes, prediction.location_p.tolist(), strict=True)
            ),
            embedding=(float(prediction.embedding[0]), float(prediction.embedding[1])),
            velocity=peak_velocity(self._window[:, PIEZO_CHANNELS]),
        )


def _power_of_two_at_least(frames: int) -> int:
    return 1 << max(0, frames - 1).bit_length()
