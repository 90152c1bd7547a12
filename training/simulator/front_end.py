"""The electrical side: sensor sensitivities and mismatch, crosstalk, noise, hum, and the ADC.

Each instrument's installation (seeded by its id) has its own per-channel gain mismatch and
crosstalk; every session adds its own white noise. Mains hum (fundamental and odd harmonics)
keeps its phase from sample 0, so a session cut into pieces hums continuously.
"""

from dataclasses import dataclass

import numpy as np
from scipy import signal

from firmware.layout import N_CHANNELS, PICKUP_CHANNEL, PIEZO_CHANNELS


@dataclass(frozen=True)
class FrontEndConfig:
    """Sensitivities map physical signals to full scale (1.0 is the ADC's clipping level)."""

    piezo_full_scale_m_s: float = 5.0
    """Plate velocity under a piezo that reads full scale."""
    pickup_full_scale_m_s: float = 60.0
    """String velocity over the pickup that reads full scale."""
    gain_mismatch_db: float = 1.5
    """Standard deviation of each channel's gain error."""
    crosstalk_db: float = -45.0
    """Electrical leakage between neighbouring channels (further ones 15 dB less)."""
    noise_dbfs: float = -78.0
    """White noise RMS per channel."""
    hum_dbfs: float = -72.0
    """Mains hum RMS (fundamental) per channel; harmonics 3 and 5 are 10 and 20 dB lower."""
    mains_hz: float = 50.0
    coupling_hz: float = 20.0
    """First-order high-pass of the preamps' input coupling."""


class FrontEnd:
    """One instrument's sensor electronics."""

    def __init__(self, config: FrontEndConfig, instrument: int, sample_rate_hz: int) -> None:
        rng = np.random.default_rng([instrument, 0xFE])
        self.config = config
        self.sample_rate_hz = sample_rate_hz
        scale = np.empty(N_CHANNELS)
        scale[PIEZO_CHANNELS] = 1.0 / config.piezo_full_scale_m_s
        scale[PICKUP_CHANNEL] = 1.0 / config.pickup_full_scale_m_s
        self.gains = scale * 10.0 ** (rng.normal(0.0, config.gain_mismatch_db, N_CHANNELS) / 20)
        """Full-scale units per m/s per channel, shape [6]."""
        distance = np.abs(np.subtract.outer(np.arange(N_CHANNELS), np.arange(N_CHANNELS)))
        leak_db = config.crosstalk_db - 15.0 * (distance - 1) + rng.normal(0, 2.0, distance.shape)
        self.crosstalk = np.where(distance == 0, 1.0, 10.0 ** (leak_db / 20.0))
        """Mixing matrix, shape [6, 6]: out = in @ crosstalk.T."""
        self.hum_phases = rng.uniform(0.0, 2.0 * np.pi, (3, N_CHANNELS))
        self.coupling = signal.butter(1, config.coupling_hz, "highpass", fs=sample_rate_hz)

    def convert(
        self, physical: np.ndarray, rng: np.random.Generator, start_frame: int
    ) -> np.ndarray:
        """Sensor velocities to what the interface records.

        Args:
            physical: shape [frames, 6], m/s: plate velocity under piezo1..5, then the
                string velocity over the pickup (body motion included).
            rng: draws this buffer's noise.
            start_frame: absolute index of the first frame (hum phase).

        Returns:
            float32 samples in [-1, 1], shape [frames, 6].
        """
        config = self.config
        n_frames = physical.shape[0]
        mixed = (physical * self.gains) @ self.crosstalk.T
        mixed = signal.lfilter(*self.coupling, mixed, axis=0)
        t = (start_frame + np.arange(n_frames))[:, None] / self.sample_rate_hz
        hum_rms = 10.0 ** (config.hum_dbfs / 20.0)
        for k, (harmonic, level_db) in enumerate(((1, 0.0), (3, -10.0), (5, -20.0))):
            amplitude = np.sqrt(2.0) * hum_rms * 10.0 ** (level_db / 20.0)
            mixed += amplitude * np.sin(
                2.0 * np.pi * harmonic * config.mains_hz * t + self.hum_phases[k]
            )
        mixed += rng.normal(0.0, 10.0 ** (config.noise_dbfs / 20.0), mixed.shape)
        return np.clip(mixed, -1.0, 1.0).astype(np.float32)
