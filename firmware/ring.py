"""A multichannel ring buffer of the most recent input, addressed by absolute sample index.

The hit path needs the 10 ms after an onset that the detector may place a little before the
current period; the ring keeps enough history that the window can be copied out once complete,
without ever allocating in the per-period path.
"""

import numpy as np


class SampleRing:
    """The last capacity_frames frames of a stream, float32 [capacity_frames, channels]."""

    def __init__(self, capacity_frames: int, channels: int) -> None:
        self._buffer = np.zeros((capacity_frames, channels), dtype=np.float32)
        self.capacity_frames = capacity_frames
        self.written = 0
        """Frames written so far: the absolute index one past the newest frame."""

    def write(self, block: np.ndarray) -> None:
        """Append a block, float32 [frames, channels] with frames <= capacity_frames."""
        frames = block.shape[0]
        if frames > self.capacity_frames or block.shape[1] != self._buffer.shape[1]:
            raise ValueError(f"block of shape {block.shape} does not fit {self._buffer.shape}")
        start = self.written % self.capacity_frames
        first = min(frames, self.capacity_frames - start)
        self._buffer[start : start + first] = block[:first]
        self._buffer[: frames - first] = block[first:]
        self.written += frames

    def read(self, start_sample: int, out: np.ndarray) -> None:
        """Copy frames [start_sample, start_sample + len(out)) into out, in place.

        Raises:
            ValueError: part of that span is not written yet or already overwritten.
        """
        frames = out.shape[0]
        oldest = self.written - self.capacity_frames
        if start_sample < max(0, oldest) or start_sample + frames > self.written:
            raise ValueError(
                f"frames [{start_sample}, {start_sample + frames}) are not in the ring "
                f"(holds [{max(0, oldest)}, {self.written}))"
            )
        start = start_sample % self.capacity_frames
        first = min(frames, self.capacity_frames - start)
        out[:first] = self._buffer[start : start + first]
        out[first:] = self._buffer[: frames - first]
