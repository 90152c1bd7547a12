"""Shared fixtures: a simulated recording with ground truth, and the shipped hit bundle."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile

from firmware.cli import DEFAULT_MODEL
from training.simulator import SessionConfig, simulate_session

SESSION_SECONDS = 8.0


@dataclass(frozen=True)
class Recording:
    """A 6-channel float WAV of a simulated session and its ground truth."""

    path: Path
    audio: np.ndarray
    """float32 [frames, 6]."""
    onsets: np.ndarray
    """int [n_hits]: ground-truth onset samples."""
    hands: list[str]
    locations: list[str]
    sample_rate_hz: int


@pytest.fixture(scope="session")
def recording(tmp_path_factory) -> Recording:
    """Eight seconds of two players hitting the body, strings ringing in the first half."""
    audio, hits, fs = simulate_session(
        SessionConfig(seconds=SESSION_SECONDS, players=(104, 105), string_span=(0.0, 0.5)),
        seed=2024,
    )
    path = tmp_path_factory.mktemp("recording") / "session.wav"
    soundfile.write(path, audio, fs, subtype="FLOAT")
    return Recording(
        path=path,
        audio=audio,
        onsets=np.array([hit.onset_sample for hit in hits]),
        hands=[hit.hand for hit in hits],
        locations=[hit.location for hit in hits],
        sample_rate_hz=fs,
    )


@pytest.fixture(scope="session")
def hit_bundle() -> Path:
    """The shipped default hit bundle (committed; rebuilt by `make hit-model`)."""
    assert (DEFAULT_MODEL / "manifest.json").is_file(), f"{DEFAULT_MODEL} is missing"
    return DEFAULT_MODEL
