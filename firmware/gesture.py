"""The Gesture: one recognised hit, and its forms on the wire (OSC) and in the event log."""

from dataclasses import dataclass
from typing import Any

OscMessage = tuple[str, tuple[int | float | str, ...]]


@dataclass(frozen=True)
class Gesture:
    """One hit as the firmware understood it.

    Sample indices count input frames from the start of the run (0-based), so a run on a
    recording can be scored against its ground truth.
    """

    onset_sample: int
    """Where the detector placed the hit's onset."""
    emit_sample: int
    """The input sample at which the gesture was sent: the end of the period that completed
    the analysis window."""
    sample_rate_hz: int
    hand: str
    hand_p: dict[str, float]
    """Probability of every hand part, in the model's class order."""
    location: str
    location_p: dict[str, float]
    embedding: tuple[float, float]
    velocity: float
    """Peak level of the piezos over the window, mapped to [0, 1] (firmware.features)."""

    @property
    def latency_ms(self) -> float:
        """Emission latency in ms of audio: from onset to the period that sent the gesture."""
        return 1000.0 * (self.emit_sample - self.onset_sample) / self.sample_rate_hz

    @property
    def onset_time_s(self) -> float:
        return self.onset_sample / self.sample_rate_hz

    def osc_messages(self, prefix: str) -> list[OscMessage]:
        """The OSC messages of this gesture (address space documented in docs/OSC.md)."""
        return [
            (
                f"{prefix}/hit",
                (
                    self.hand,
                    self.hand_p[self.hand],
                    self.location,
                    self.location_p[self.location],
                    self.embedding[0],
                    self.embedding[1],
                    self.velocity,
                    self.onset_time_s,
                    self.latency_ms,
                ),
            ),
            (f"{prefix}/hit/hand_p", tuple(self.hand_p.values())),
            (f"{prefix}/hit/location_p", tuple(self.location_p.values())),
        ]

    def to_event(self) -> dict[str, Any]:
        """The JSON-lines event log record."""
        return {
            "type": "hit",
            "onset_sample": self.onset_sample,
            "emit_sample": self.emit_sample,
            "onset_time_s": round(self.onset_time_s, 6),
            "latency_ms": round(self.latency_ms, 3),
            "hand": self.hand,
            "hand_p": {name: round(p, 4) for name, p in self.hand_p.items()},
            "location": self.location,
            "location_p": {name: round(p, 4) for name, p in self.location_p.items()},
            "embedding": [round(value, 4) for value in self.embedding],
            "velocity": round(self.velocity, 4),
        }

    def describe(self) -> str:
        """One readable line for the console (`--print`)."""
        return (
            f"{self.onset_time_s:9.3f} s  {self.hand:<7} {self.hand_p[self.hand]:4.0%}  "
            f"{self.location:<6} {self.location_p[self.location]:4.0%}  "
            f"vel {self.velocity:4.2f}  emb ({self.embedding[0]:+.2f}, {self.embedding[1]:+.2f})"
            f"  {self.latency_ms:5.2f} ms"
        )
