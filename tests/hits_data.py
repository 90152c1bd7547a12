"""Small labelled hit datasets for the hit-model tests, made of real drum recordings.

Each hand part is played by one real sample of Debian's hydrogen-drumkits (The Black Pearl 1.0);
the hit's location decides how loud each piezo hears it (halving per sensor of distance), its
dynamics how loud it is played. Numpy only: a few hundred hits in well under a second.
"""

from pathlib import Path

import numpy as np

from firmware.features import FeatureConfig
from firmware.layout import HAND_PARTS, LOCATIONS, N_CHANNELS, N_PIEZOS, SAMPLE_RATE_HZ
from training.data.audio import read_audio, resample
from training.data.dataset import ContextConfig, DatasetBuilder, HitDataset

KIT = Path("/usr/share/hydrogen/data/drumkits/The Black Pearl 1.0")
HAND_SAMPLES = {
    "heel": "PearlKick-Hard.wav",
    "thumb": "PearlTom1-Med.wav",
    "fingers": "PearlSnare-Hard.wav",
    "nails": "SabianHatClosed-Med.wav",
}
ONSET = 200


def hand_sounds() -> dict[str, np.ndarray]:
    """Each hand part's sample, mono float32 at 48 kHz, from its first sample at 1 % of its
    peak on, 20 ms long."""
    sounds = {}
    for hand, name in HAND_SAMPLES.items():
        samples, rate_hz = read_audio(KIT / name)
        mono = resample(samples, rate_hz, SAMPLE_RATE_HZ)[:, 0]
        start = int(np.argmax(np.abs(mono) >= 0.01 * np.abs(mono).max()))
        sound = mono[start : start + SAMPLE_RATE_HZ // 50]
        sounds[hand] = (sound / np.abs(sound).max()).astype(np.float32)
    return sounds


def guitar_like_dataset(
    n_hits: int, groups: tuple[str, ...] = ("s1", "s2", "s3", "s4"), seed: int = 0
) -> HitDataset:
    """Hits with tasks hand and location, cycling through every hand part, random locations
    and dynamics in [0.2, 1]; group "session" changes every round of hand parts."""
    rng = np.random.default_rng(seed)
    sounds = hand_sounds()
    builder = DatasetBuilder(
        {"hand": HAND_PARTS, "location": LOCATIONS}, FeatureConfig(), ContextConfig()
    )
    frames = ONSET + 2 * FeatureConfig().window_samples
    for i in range(n_hits):
        hand, location = HAND_PARTS[i % len(HAND_PARTS)], int(rng.integers(N_PIEZOS))
        dynamics = float(rng.uniform(0.2, 1.0))
        signal = (1e-4 * rng.standard_normal((frames, N_CHANNELS))).astype(np.float32)
        sound = sounds[hand][: frames - ONSET] * 0.8 * dynamics
        for piezo in range(N_PIEZOS):
            signal[ONSET : ONSET + len(sound), piezo] += 0.5 ** abs(piezo - location) * sound
        builder.add(
            signal,
            ONSET,
            {"hand": hand, "location": LOCATIONS[location]},
            dynamics,
            {"session": groups[(i // len(HAND_PARTS)) % len(groups)]},
            f"synthetic:{i}",
        )
    return builder.build()
