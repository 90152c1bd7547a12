"""The guitar body: modal synthesis of the top (and, weakly coupled, back and air) seen by sensors.

The top is an orthotropic plate, simply supported, of the lower-bout size. Its modes have the
shapes ``φ_mn(x, y) = sin(mπx/Lx) sin(nπy/Ly)`` and the frequencies of an orthotropic plate,
``f_mn ∝ sqrt(m⁴ + 2β r² m²n² + γ r⁴ n⁴)`` with ``r = Lx/Ly``, ``β = (D12 + 2 D66)/D1`` and
``γ = D2/D1`` (Leissa, *Vibration of Plates*, 1969; Fletcher and Rossing, *The Physics of Musical
Instruments*, 1998, ch. 3 and 9), scaled so the lowest top mode T(1,1) sits where it is measured
on guitars (about 200 Hz; bracing and the clamped rim make it far stiffer than the bare spruce).
The back plate adds a second, weakly coupled family, and the air (Helmholtz) mode A0 one mode
near 100 Hz. Each mode rings with loss factor ``η(f) = η0 (1 + f / f_η)``.

A point force at ``h`` gives at a sensor ``s`` the plate velocity (modal superposition)

    v_s(t) = Σ_m φ_m(h) φ_m(s) / M_m · e^(-σ_m t) [cos ω_m t - (σ_m/ω_m) sin ω_m t],

with modal mass ``M_m = ρh Lx Ly / 4`` and ``σ_m = π f_m η``. A piezo bonded to the top senses
bending strain, which for bending waves is proportional to plate velocity, so the sensor signal is
taken proportional to ``v_s``. Above the highest synthesised mode the response is completed by the
infinite-plate direct wave (point mobility ``1 / (8 sqrt(ρh) (D1 D2)^(1/4))``, Cremer and Heckl,
*Structure-Borne Sound*), high-passed at the modal band's top. A truncated modal sum is not
causal across the plate, so nothing reaches a sensor before the bending wavefront: every path is
delayed by ``distance / c`` (c: the attack's wavefront speed, a few hundred m/s); the direct wave
also spreads (``1/sqrt(r)``, cylindrical) and loses its high frequencies along the path
(amplitude ``exp(-η k r / 4)``, approximated by a one-pole low-pass at its -3 dB frequency).
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import signal

from firmware.layout import N_PIEZOS

SENSOR_POSITIONS: tuple[tuple[float, float], ...] = (
    (0.22, 0.25),  # piezo1: lower bout, treble side
    (0.22, 0.75),  # piezo2: lower bout, bass side
    (0.38, 0.50),  # piezo3: between bridge and sound hole
    (0.75, 0.25),  # piezo4: upper bout, treble side
    (0.75, 0.75),  # piezo5: upper bout, bass side
)
"""Sensor (and sensor-area) centres as fractions of (length, width) of the top; x runs from the
tail block towards the neck."""

BRIDGE_POSITION = (0.28, 0.50)
"""Where the strings drive the top, as a fraction of (length, width)."""


@dataclass(frozen=True)
class BodyConfig:
    """Physical parameters of the body; an instrument id draws its variation around them."""

    top_length_m: float = 0.48
    top_width_m: float = 0.36
    surface_density_kg_m2: float = 1.2
    """ρh of a braced spruce top (about 2.8 mm at 430 kg/m³, plus braces)."""
    top_mode_hz: float = 200.0
    """T(1,1), the lowest top mode."""
    back_mode_hz: float = 240.0
    back_coupling: float = 0.3
    """Amplitude of back-plate modes at the top's points, relative to top modes."""
    air_mode_hz: float = 100.0
    air_coupling: float = 0.5
    shear_ratio: float = 0.12
    """β = (D12 + 2 D66) / D1."""
    cross_grain_ratio: float = 0.08
    """γ = D2 / D1 (cross-grain over along-grain stiffness, braces included)."""
    max_mode_hz: float = 12_000.0
    loss_factor: float = 0.02
    loss_corner_hz: float = 2_000.0
    """f_η: above it the loss factor grows in proportion to frequency."""
    wave_speed_m_s: float = 400.0
    """Speed of the attack's wavefront (group speed of kHz bending waves in the top)."""
    contact_radius_m: float = 0.01
    """Size of the struck and sensing areas: the shortest distance a path can have."""
    ir_seconds: float = 0.6
    """Length of the synthesised responses; a short fade ends them."""
    variation: float = 1.0
    """Scales every per-instrument spread (0: every instrument is the reference one)."""


class Body:
    """One instrument's body: its modes, sensor positions, and responses to point forces."""

    def __init__(self, config: BodyConfig, instrument: int, sample_rate_hz: int) -> None:
        """Draw the instrument's variation (seeded by its id) and lay out its modes."""
        rng = np.random.default_rng([instrument, 0xB0D7])
        spread = config.variation
        self.config = config
        self.sample_rate_hz = sample_rate_hz
        size = np.array([config.top_length_m, config.top_width_m])
        self.size_m = size
        self.ir_frames = round(config.ir_seconds * sample_rate_hz)
        """Length of the synthesised responses."""
        jitter = rng.normal(0.0, 0.008 * spread, (N_PIEZOS, 2))
        self.sensor_xy_m = np.clip(np.array(SENSOR_POSITIONS) * size + jitter, 0.02, size - 0.02)
        """Piezo positions in metres, shape [5, 2]."""
        self.bridge_xy_m = np.array(BRIDGE_POSITION) * size + rng.normal(0.0, 0.005 * spread, 2)
        self.wave_speed_m_s = config.wave_speed_m_s * rng.lognormal(0.0, 0.08 * spread)
        beta = config.shear_ratio * rng.lognormal(0.0, 0.15 * spread)
        gamma = config.cross_grain_ratio * rng.lognormal(0.0, 0.15 * spread)
        top_hz = config.top_mode_hz * rng.lognormal(0.0, 0.06 * spread)
        back_hz = config.back_mode_hz * rng.lognormal(0.0, 0.08 * spread)
        air_hz = config.air_mode_hz * rng.lognormal(0.0, 0.06 * spread)

        top = _plate_modes(top_hz, beta, gamma, size, config.max_mode_hz, 1.0)
        back = _plate_modes(back_hz, beta, gamma, size, config.max_mode_hz, config.back_coupling)
        air = (np.array([air_hz]), np.array([[1, 1]]), np.array([config.air_coupling]))
        freq_hz, self.mode_indices, self.mode_weights = (
            np.concatenate(parts) for parts in zip(top, back, air, strict=True)
        )
        freq_hz = freq_hz * rng.lognormal(0.0, 0.02 * spread, freq_hz.size)
        loss = config.loss_factor * (1.0 + freq_hz / config.loss_corner_hz)
        self.mode_hz = freq_hz
        """Mode frequencies, shape [n_modes]."""
        self.mode_loss = loss * rng.lognormal(0.0, 0.25 * spread, freq_hz.size)
        """Mode loss factors η, shape [n_modes]."""

        rho_h = config.surface_density_kg_m2
        self.modal_mass_kg = rho_h * size[0] * size[1] / 4.0
        # sqrt(D1 / ρh) from T(1,1) = (π/2) sqrt(D1/ρh) sqrt(1/Lx⁴ + 2β/(Lx²Ly²) + γ/Ly⁴).
        lx, ly = size
        self.bending_sqrt_m2_s = (
            2.0 * top_hz / (np.pi * np.sqrt(1 / lx**4 + 2 * beta / (lx * ly) ** 2 + gamma / ly**4))
        )
        self.point_mobility_m_s_n = 1.0 / (8.0 * rho_h * self.bending_sqrt_m2_s * gamma**0.25)
        """Infinite-plate drive-point mobility (m/s per N) with the geometric-mean stiffness."""

    @cached_property
    def _modal_basis(self) -> np.ndarray:
        """Modal velocity impulse responses per unit modal weight, shape [frames, n_modes],
        float32, with a 20 ms fade to zero at the end."""
        n_frames = self.ir_frames
        t = np.arange(n_frames)[:, None] / self.sample_rate_hz
        omega = 2.0 * np.pi * self.mode_hz
        sigma = 0.5 * omega * self.mode_loss
        omega_d = np.sqrt(np.maximum(omega**2 - sigma**2, 1e-9))
        phase = omega_d * t
        basis = np.exp(-sigma * t) * (np.cos(phase) - (sigma / omega_d) * np.sin(phase))
        fade = min(n_frames, int(0.02 * self.sample_rate_hz))
        basis[-fade:] *= np.linspace(1.0, 0.0, fade)[:, None]
        return (basis / self.modal_mass_kg).astype(np.float32)

    def shapes(self, xy_m: np.ndarray) -> np.ndarray:
        """Mode shapes times mode weights at points.

        Args:
            xy_m: positions on the top in metres, shape [n_points, 2].

        Returns:
            shape [n_points, n_modes].
        """
        arg = np.pi * xy_m[:, None, :] / self.size_m * self.mode_indices[None, :, :]
        return np.sin(arg[..., 0]) * np.sin(arg[..., 1]) * self.mode_weights

    def _loss_cutoff_hz(self, distance_m: np.ndarray) -> np.ndarray:
        """-3 dB frequency of the path loss exp(-η(f) k(f) r / 4), shape like distance_m."""
        freq_hz = np.geomspace(100.0, 0.5 * self.sample_rate_hz, 256)
        loss = self.config.loss_factor * (1.0 + freq_hz / self.config.loss_corner_hz)
        wavenumber = np.sqrt(2.0 * np.pi * freq_hz / self.bending_sqrt_m2_s)
        per_metre = loss * wavenumber / 4.0
        # per_metre grows with frequency: invert it where r * per_metre = ln(sqrt(2)).
        return np.interp(0.5 * np.log(2.0) / distance_m, per_metre, freq_hz)

    def responses(self, source_xy_m: np.ndarray, n_frames: int) -> np.ndarray:
        """Plate velocity at the five piezos and the bridge for a unit impulse at a point.

        Args:
            source_xy_m: where the force acts, metres, shape [2].
            n_frames: length of the responses (at most the basis length).

        Returns:
            float32 velocity per unit impulse ((m/s) / (N s) per sample period), shape
            [n_frames, 6]: piezo1..piezo5, then the bridge.
        """
        fs = self.sample_rate_hz
        sensors = np.vstack([self.sensor_xy_m, self.bridge_xy_m])
        weights = self.shapes(source_xy_m[None, :]) * self.shapes(sensors)
        modal = self._modal_basis[:n_frames] @ weights.T.astype(np.float32)
        distance = np.hypot(
            np.linalg.norm(sensors - source_xy_m, axis=1), self.config.contact_radius_m
        )
        delays = np.round(distance / self.wave_speed_m_s * fs).astype(int)

        impulse = np.zeros(n_frames)
        impulse[0] = fs * self.point_mobility_m_s_n
        high_band = signal.butter(2, self.config.max_mode_hz, "highpass", fs=fs, output="sos")
        direct = signal.sosfilt(high_band, impulse)
        cutoff_hz = np.minimum(self._loss_cutoff_hz(distance), 0.45 * fs)
        spreading = np.sqrt(self.config.contact_radius_m / distance)
        out = np.zeros((n_frames, sensors.shape[0]), dtype=np.float32)
        for channel, delay in enumerate(delays):
            if delay >= n_frames:
                continue
            pole = np.exp(-2.0 * np.pi * cutoff_hz[channel] / fs)
            path = signal.lfilter([1.0 - pole], [1.0, -pole], direct[: n_frames - delay])
            out[delay:, channel] = modal[: n_frames - delay, channel] + spreading[channel] * path
        return out


def _plate_modes(
    fundamental_hz: float,
    beta: float,
    gamma: float,
    size_m: np.ndarray,
    max_hz: float,
    weight: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Modes of a simply supported orthotropic plate below max_hz.

    Returns:
        (frequencies Hz [n], mode indices (m, n) [n, 2], weights [n]).
    """
    r = size_m[0] / size_m[1]
    m, n = np.meshgrid(np.arange(1, 64), np.arange(1, 64), indexing="ij")
    stiffness = m**4 + 2 * beta * r**2 * m**2 * n**2 + gamma * r**4 * n**4
    freq_hz = fundamental_hz * np.sqrt(stiffness / (1 + 2 * beta * r**2 + gamma * r**4))
    keep = freq_hz < max_hz
    indices = np.stack([m[keep], n[keep]], axis=1)
    return freq_hz[keep], indices, np.full(indices.shape[0], weight)
