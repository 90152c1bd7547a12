"""SampleRing: absolute sample addressing across wrap-around, in place."""

import numpy as np
import pytest

from firmware.ring import SampleRing


def ramp(start: int, frames: int, channels: int = 2) -> np.ndarray:
    values = np.arange(start, start + frames, dtype=np.float32)
    return np.repeat(values[:, None], channels, axis=1)


@pytest.mark.parametrize("block_frames", [1, 7, 64, 100])
def test_reads_back_any_recent_span_across_wrap_around(block_frames):
    ring = SampleRing(128, 2)
    for start in range(0, 1000, block_frames):
        ring.write(ramp(start, block_frames))
    out = np.zeros((50, 2), np.float32)
    ring.read(ring.written - 120, out)
    np.testing.assert_array_equal(out, ramp(ring.written - 120, 50))


def test_refuses_overwritten_or_future_frames():
    ring = SampleRing(64, 1)
    ring.write(ramp(0, 50, 1))
    ring.write(ramp(50, 50, 1))
    out = np.zeros((10, 1), np.float32)
    with pytest.raises(ValueError, match="not in the ring"):
        ring.read(30, out)
    with pytest.raises(ValueError, match="not in the ring"):
        ring.read(95, out)


def test_refuses_a_block_that_does_not_fit():
    with pytest.raises(ValueError):
        SampleRing(16, 2).write(np.zeros((17, 2), np.float32))
    with pytest.raises(ValueError):
        SampleRing(16, 2).write(np.zeros((4, 3), np.float32))
