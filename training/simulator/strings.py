"""Plucked strings: what the magnetic pickup hears, and the force they put on the bridge.

A string of speaking length L released from rest in a triangle of height h at a fraction β of
its length from the bridge vibrates as ``y(x, t) = Σ b_n sin(nπx/L) cos(ω_n t) e^(-σ_n t)`` with
``b_n = 2h sin(nπβ) / (n²π² β(1-β))`` (Fletcher and Rossing, *The Physics of Musical
Instruments*, 1998, ch. 2). A finger is not a point: a Gaussian of the finger's width smooths the
triangle and rolls off the upper partials. Partials are slightly stretched by stiffness,
``f_n = n f0 sqrt(1 + B n²)``, and decay faster as they rise, ``σ_n = σ_1 + b f_n²`` (air and
internal losses; Valette and Cuesta, *Mécanique de la corde vibrante*, 1993).

- The magnetic pickup senses the string's velocity over it (Faraday), a distance from the
  bridge that lengthens relative to the speaking length as frets shorten the string.
- The bridge is pushed by the string's tension times its slope there,
  ``F(t) = T Σ b_n (nπ/L) cos(ω_n t) e^(-σ_n t)``: this force drives the body (and hence the
  piezos) through the same modal model as a hit, at the bridge. Before the release, the
  player's finger loads the bridge slowly with the static part of that force (a raised-cosine
  ramp), so that the release is continuous in force and its transient is what the strings do.
"""

from dataclasses import dataclass

import numpy as np

OPEN_STRINGS_HZ: tuple[float, ...] = (82.41, 110.0, 146.83, 196.0, 246.94, 329.63)
"""Standard tuning, low E to high E."""


@dataclass(frozen=True)
class StringConfig:
    """String physics and how much a session's player plays them."""

    scale_length_m: float = 0.65
    tension_n: float = 70.0
    pickup_from_bridge_m: float = 0.21
    """A sound-hole pickup at the end of the fingerboard."""
    bridge_to_pickup: float = 0.03
    """Relative string-to-magnet motion per unit of bridge velocity: how much a body hit shakes
    the strings over the pickup."""
    finger_width_m: float = 0.01
    inharmonicity: float = 1e-4
    fundamental_decay_s: float = 4.0
    """T60 of a low partial."""
    high_decay_per_hz2: float = 3e-6
    """b in σ_n = σ_1 + b f_n² (1/s per Hz²): a 5 kHz partial dies in about 0.1 s."""
    max_partial_hz: float = 12_000.0
    preload_ms: float = 80.0
    """How long the finger takes to load the string before releasing it."""
    damp_ms: float = 15.0
    """Time constant of a note stopped by the next pluck on its string."""
    max_note_s: float = 3.0
    notes_per_second: float = 2.5
    strum_probability: float = 0.25
    """Chance that a pluck event is a strum across several strings."""
    max_fret: int = 9


@dataclass(frozen=True)
class Pluck:
    """One released string."""

    onset_sample: int
    string: int
    fret: int
    position: float
    """Pluck point as a fraction of the speaking length, from the bridge."""
    height_m: float
    """Displacement at release."""
    vertical: float
    """Share of the motion perpendicular to the top (drives the body), 0..1."""


def render_pluck(
    pluck: Pluck, config: StringConfig, n_frames: int, sample_rate_hz: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pickup velocity and bridge force of one note from its release.

    Args:
        n_frames: how long the note sounds (until stopped), in samples.

    Returns:
        (velocity over the pickup m/s, bridge force N), each float64 of shape [n_frames].
    """
    length_m = config.scale_length_m / 2.0 ** (pluck.fret / 12.0)
    f0_hz = OPEN_STRINGS_HZ[pluck.string] * 2.0 ** (pluck.fret / 12.0)
    n = np.arange(1, 200)
    freq_hz = n * f0_hz * np.sqrt(1.0 + config.inharmonicity * n**2)
    keep = freq_hz < min(config.max_partial_hz, 0.45 * sample_rate_hz)
    n, freq_hz = n[keep], freq_hz[keep]
    beta = pluck.position
    finger = np.exp(-0.5 * (n * np.pi * config.finger_width_m / length_m) ** 2)
    amplitude_m = (
        2.0 * pluck.height_m * np.sin(n * np.pi * beta) / (n**2 * np.pi**2 * beta * (1 - beta))
    )
    amplitude_m *= finger
    sigma = 6.91 / config.fundamental_decay_s + config.high_decay_per_hz2 * freq_hz**2
    omega = 2.0 * np.pi * freq_hz
    pickup_weight = amplitude_m * omega * np.sin(n * np.pi * config.pickup_from_bridge_m / length_m)
    bridge_weight = pluck.vertical * config.tension_n * amplitude_m * n * np.pi / length_m

    velocity = np.zeros(n_frames)
    force = np.zeros(n_frames)
    t = np.arange(n_frames) / sample_rate_hz
    for k in range(n.size):
        live = min(n_frames, int(11.5 / sigma[k] * sample_rate_hz) + 1)
        envelope = np.exp(-sigma[k] * t[:live])
        phase = omega[k] * t[:live]
        velocity[:live] -= pickup_weight[k] * envelope * np.sin(phase)
        force[:live] += bridge_weight[k] * envelope * np.cos(phase)
    return velocity, force


def render_strings(
    plucks: list[Pluck], config: StringConfig, n_frames: int, sample_rate_hz: int
) -> tuple[np.ndarray, np.ndarray]:
    """All plucks of a session mixed, each stopped by the next pluck on its string.

    Returns:
        (velocity over the pickup m/s, bridge force N), each float64 of shape [n_frames].
    """
    velocity = np.zeros(n_frames)
    force = np.zeros(n_frames)
    max_frames = int(config.max_note_s * sample_rate_hz)
    preload = max(1, int(config.preload_ms * 1e-3 * sample_rate_hz))
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(preload) / preload)
    damp = int(5 * config.damp_ms * 1e-3 * sample_rate_hz)
    ordered = sorted(plucks, key=lambda p: p.onset_sample)
    for i, pluck in enumerate(ordered):
        start = pluck.onset_sample
        if start >= n_frames:
            continue
        following = [p.onset_sample for p in ordered[i + 1 :] if p.string == pluck.string]
        stop = min(start + max_frames, following[0] if following else n_frames, n_frames)
        length = min(stop + damp, n_frames) - start
        note_velocity, note_force = render_pluck(pluck, config, length, sample_rate_hz)
        if stop - start < length:
            fade = np.exp(
                -np.arange(length - (stop - start)) / (config.damp_ms * 1e-3 * sample_rate_hz)
            )
            note_velocity[stop - start :] *= fade
            note_force[stop - start :] *= fade
        velocity[start : start + length] += note_velocity
        force[start : start + length] += note_force
        lead = min(preload, start)
        force[start - lead : start] += note_force[0] * ramp[preload - lead :]
    return velocity, force


def schedule_plucks(
    rng: np.random.Generator,
    spans: list[tuple[int, int]],
    config: StringConfig,
    sample_rate_hz: int,
) -> list[Pluck]:
    """Random single notes and strums within the given sample spans.

    Returns:
        Plucks sorted by onset_sample.
    """
    plucks: list[Pluck] = []
    for first, last in spans:
        t = first + rng.exponential(sample_rate_hz / config.notes_per_second)
        while t < last:
            fret = int(rng.integers(0, config.max_fret + 1))
            if rng.random() < config.strum_probability:
                n_strings = int(rng.integers(3, 7))
                down = rng.random() < 0.5
                strings = range(n_strings) if down else range(5, 5 - n_strings, -1)
                step = rng.uniform(0.006, 0.02) * sample_rate_hz
            else:
                strings = [int(rng.integers(0, 6))]
                step = 0.0
            height = rng.lognormal(np.log(1.5e-3), 0.5)
            for k, string in enumerate(strings):
                plucks.append(
                    Pluck(
                        onset_sample=int(t + k * step),
                        string=string,
                        fret=fret,
                        position=float(rng.uniform(0.08, 0.25)),
                        height_m=float(height * rng.uniform(0.8, 1.2)),
                        vertical=float(rng.uniform(0.3, 1.0)),
                    )
                )
            t += rng.exponential(sample_rate_hz / config.notes_per_second)
    return sorted(plucks, key=lambda p: p.onset_sample)
