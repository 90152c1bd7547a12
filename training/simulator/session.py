"""Whole sessions and isolated hits: scheduling, rendering and mixing, with exact ground truth.

A hit's ``onset_sample`` is the first sample with contact force (contact.py). Its sound reaches
each sensor after the bending wave's travel time (body.py), the pickup through the strings, and
the front end adds the electronics (front_end.py). The same seed gives bit-identical audio.
"""

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import signal

from firmware.layout import HAND_PARTS, LOCATIONS, N_CHANNELS, PICKUP_CHANNEL, SAMPLE_RATE_HZ
from training.simulator.body import Body, BodyConfig
from training.simulator.contact import hand_force
from training.simulator.front_end import FrontEnd, FrontEndConfig
from training.simulator.players import Player, make_player
from training.simulator.strings import StringConfig, render_strings, schedule_plucks

SCHEDULES = ("groove", "tour")
TOUR_DYNAMICS = (0.2, 0.5, 0.8)


@dataclass(frozen=True)
class Hit:
    """Ground truth of one body hit."""

    onset_sample: int
    """First sample with contact force, absolute in its recording (or buffer)."""
    hand: str
    location: str
    dynamics: float
    """In [0, 1], two decimals; sets the hand's speed (players.Player.speed_m_s)."""
    player: int
    instrument: int


@dataclass(frozen=True)
class SessionConfig:
    """One recording session on one instrument, played by one or more players in turn."""

    seconds: float = 60.0
    players: tuple[int, ...] = (0,)
    """Players take equal consecutive shares of the session."""
    instrument: int = 0
    hit_span: tuple[float, float] = (0.0, 1.0)
    """Part of the session (fractions of its length) in which the body is hit."""
    string_span: tuple[float, float] = (0.0, 1.0)
    """Part of the session in which strings are played; (0, 0) for none."""
    schedule: str = "groove"
    """'groove': each player's own rhythm and habits; 'tour': every hand part at every location
    at dynamics 0.2, 0.5 and 0.8, evenly spaced (the demo)."""
    min_gap_ms: float = 60.0
    """Shortest time between two hits of the groove schedule."""
    sample_rate_hz: int = SAMPLE_RATE_HZ
    body: BodyConfig = field(default_factory=BodyConfig)
    strings: StringConfig = field(default_factory=StringConfig)
    front_end: FrontEndConfig = field(default_factory=FrontEndConfig)

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"seconds must be > 0, got {self.seconds}")
        if not self.players or min(self.players) < 0:
            raise ValueError(f"players must be one or more ids >= 0, got {self.players}")
        for name in ("hit_span", "string_span"):
            low, high = getattr(self, name)
            if not 0.0 <= low <= high <= 1.0:
                raise ValueError(f"{name} must satisfy 0 <= start <= end <= 1, got {(low, high)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")


@dataclass(frozen=True)
class HitSetConfig:
    """Isolated hits for dataset building: each in its own short buffer."""

    n_hits: int = 1000
    players: tuple[int, ...] = (0, 1, 2, 3)
    instruments: tuple[int, ...] = (0,)
    buffer_ms: float = 100.0
    onset_ms: float = 20.0
    """Where the onset lies in each buffer."""
    string_probability: float = 0.5
    """Share of buffers in which strings ring under the hit."""
    sample_rate_hz: int = SAMPLE_RATE_HZ
    body: BodyConfig = field(default_factory=BodyConfig)
    strings: StringConfig = field(default_factory=StringConfig)
    front_end: FrontEndConfig = field(default_factory=FrontEndConfig)

    def __post_init__(self) -> None:
        if self.n_hits < 1:
            raise ValueError(f"n_hits must be >= 1, got {self.n_hits}")
        if not self.players or not self.instruments:
            raise ValueError("players and instruments must not be empty")
        if not 0.0 <= self.onset_ms < self.buffer_ms:
            raise ValueError(f"onset_ms must be in [0, buffer_ms), got {self.onset_ms}")
        if not 0.0 <= self.string_probability <= 1.0:
            raise ValueError(f"string_probability must be in [0, 1], got {self.string_probability}")


@dataclass(frozen=True)
class HitSet:
    """Isolated hits and their truth."""

    audio: np.ndarray
    """float32, shape [n_hits, frames, 6]."""
    hits: list[Hit]
    """One per buffer; onset_sample counts from the buffer's start."""
    sample_rate_hz: int


@lru_cache(maxsize=8)
def _instrument(
    body: BodyConfig, front_end: FrontEndConfig, instrument: int, sample_rate_hz: int
) -> tuple[Body, FrontEnd]:
    return Body(body, instrument, sample_rate_hz), FrontEnd(front_end, instrument, sample_rate_hz)


def render_hit(
    body: Body,
    strings: StringConfig,
    player: Player,
    hit: Hit,
    point_xy_m: np.ndarray,
    n_frames: int,
) -> np.ndarray:
    """Sensor velocities of one hit from its onset on.

    Args:
        n_frames: the most frames wanted (the rest of a session or buffer).

    Returns:
        float64 m/s, shape [min(n_frames, the hit's length), 6]: plate velocity under
        piezo1..5, and the string velocity over the pickup caused by the bridge's motion.
    """
    fs = body.sample_rate_hz
    model = player.hand_model(hit.hand)
    speed = player.speed_m_s(hit.dynamics)
    force = hand_force(model, speed, body.point_mobility_m_s_n, fs)
    responses = body.responses(point_xy_m, min(n_frames, body.ir_frames))
    velocity = signal.oaconvolve(force[:, None] / fs, responses, axes=0)[:n_frames]
    velocity[:, PICKUP_CHANNEL] *= strings.bridge_to_pickup
    return velocity


def aim_point(body: Body, player: Player, location: str, rng: np.random.Generator) -> np.ndarray:
    """Where a player's hit at a sensor area lands: uniform in the player's aim disc."""
    radius = player.aim_radius_m * np.sqrt(rng.random())
    angle = rng.uniform(0.0, 2.0 * np.pi)
    centre = body.sensor_xy_m[LOCATIONS.index(location)]
    point = centre + radius * np.array([np.cos(angle), np.sin(angle)])
    return np.clip(point, 0.01, body.size_m - 0.01)


def simulate_session(config: SessionConfig, seed: int) -> tuple[np.ndarray, list[Hit], int]:
    """Simulate one session.

    Returns:
        (audio float32 [frames, 6] in firmware.layout channel order, hits sorted by onset,
        sample rate in Hz).
    """
    fs = config.sample_rate_hz
    n_frames = round(config.seconds * fs)
    body, front_end = _instrument(config.body, config.front_end, config.instrument, fs)
    schedule_rng, point_rng, string_rng, noise_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    players = {p: make_player(p) for p in config.players}
    span = (int(config.hit_span[0] * n_frames), int(config.hit_span[1] * n_frames))
    if config.schedule == "tour":
        hits = _tour(config, span, fs)
    else:
        hits = _groove(config, players, span, schedule_rng, fs)

    physical = np.zeros((n_frames, N_CHANNELS))
    for hit in hits:
        player = players[hit.player]
        point = aim_point(body, player, hit.location, point_rng)
        sound = render_hit(body, config.strings, player, hit, point, n_frames - hit.onset_sample)
        physical[hit.onset_sample : hit.onset_sample + sound.shape[0]] += sound

    first, last = (int(x * n_frames) for x in config.string_span)
    if last > first:
        plucks = schedule_plucks(string_rng, [(first, last)], config.strings, fs)
        _add_strings(physical, body, config.strings, plucks)
    return front_end.convert(physical, noise_rng, 0), hits, fs


def simulate_hits(config: HitSetConfig, seed: int) -> HitSet:
    """Simulate isolated hits, balanced over hand parts and locations, each in its own buffer.

    Players and instruments take turns; hand part and location cycle through every pair in a
    shuffled order; dynamics follow each player's habit.
    """
    fs = config.sample_rate_hz
    n_frames = round(config.buffer_ms * 1e-3 * fs)
    onset = round(config.onset_ms * 1e-3 * fs)
    pre_frames = int(0.3 * fs)  # strings start up to this long before a buffer, ringing into it
    rng = np.random.default_rng(seed)
    pairs = [(hand, location) for hand in HAND_PARTS for location in LOCATIONS]
    order = np.concatenate(
        [rng.permutation(len(pairs)) for _ in range(-(-config.n_hits // len(pairs)))]
    )
    audio = np.empty((config.n_hits, n_frames, N_CHANNELS), dtype=np.float32)
    hits = []
    for i in range(config.n_hits):
        instrument = config.instruments[i % len(config.instruments)]
        player = make_player(config.players[i % len(config.players)])
        body, front_end = _instrument(config.body, config.front_end, instrument, fs)
        hand, location = pairs[order[i]]
        hit = Hit(onset, hand, location, player.draw_dynamics(rng), player.player, instrument)
        strings = rng.random() < config.string_probability
        pre = pre_frames if strings else 0
        physical = np.zeros((pre + n_frames, N_CHANNELS))
        point = aim_point(body, player, location, rng)
        sound = render_hit(body, config.strings, player, hit, point, n_frames - onset)
        physical[pre + onset : pre + onset + sound.shape[0]] = sound
        if strings:
            plucks = schedule_plucks(rng, [(0, pre + onset)], config.strings, fs)
            _add_strings(physical, body, config.strings, plucks)
        audio[i] = front_end.convert(physical, rng, 0)[pre:]
        hits.append(hit)
    return HitSet(audio, hits, fs)


def _add_strings(physical: np.ndarray, body: Body, strings: StringConfig, plucks: list) -> None:
    """Add the plucks' pickup signal and, through the body from the bridge, their piezo signal."""
    fs = body.sample_rate_hz
    n_frames = physical.shape[0]
    velocity, force = render_strings(plucks, strings, n_frames, fs)
    responses = body.responses(body.bridge_xy_m, min(n_frames, body.ir_frames))
    piezo = signal.oaconvolve(force[:, None] / fs, responses[:, :PICKUP_CHANNEL], axes=0)
    physical[:, :PICKUP_CHANNEL] += piezo[:n_frames]
    physical[:, PICKUP_CHANNEL] += velocity


def _tour(config: SessionConfig, span: tuple[int, int], fs: int) -> list[Hit]:
    """Every hand part at every location at three dynamics, evenly spaced over the span."""
    combos = [
        (hand, location, dynamics)
        for hand in HAND_PARTS
        for location in LOCATIONS
        for dynamics in TOUR_DYNAMICS
    ]
    step = (span[1] - span[0]) / (len(combos) + 1)
    return [
        Hit(
            int(span[0] + (k + 1) * step),
            hand,
            location,
            dynamics,
            config.players[k % len(config.players)],
            config.instrument,
        )
        for k, (hand, location, dynamics) in enumerate(combos)
    ]


def _groove(
    config: SessionConfig,
    players: dict[int, Player],
    span: tuple[int, int],
    rng: np.random.Generator,
    fs: int,
) -> list[Hit]:
    """Each player's rhythm in their share of the session: sixteenth-note slots filled with
    the player's density, swing and timing jitter; accents on the beats."""
    n_frames = round(config.seconds * fs)
    share = n_frames / len(config.players)
    min_gap = config.min_gap_ms * 1e-3 * fs
    hits: list[Hit] = []
    for k, player_id in enumerate(config.players):
        player = players[player_id]
        slot = 60.0 / player.tempo_bpm / 4.0 * fs
        start, stop = max(k * share, span[0]), min((k + 1) * share, span[1])
        n_slots = int((stop - start) / slot)
        for s in range(n_slots):
            if rng.random() >= player.density:
                continue
            t = start + (s + (player.swing if s % 2 else 0.0)) * slot
            onset = round(t + rng.normal(0.0, player.timing_jitter_ms * 1e-3 * fs))
            dynamics = player.draw_dynamics(rng)
            if s % 4 == 0:
                dynamics = min(1.0, round(dynamics + 0.15, 2))
            hand = HAND_PARTS[rng.choice(len(HAND_PARTS), p=player.hand_weights)]
            location = LOCATIONS[rng.choice(len(LOCATIONS), p=player.location_weights)]
            if start <= onset < stop and (not hits or onset - hits[-1].onset_sample >= min_gap):
                hits.append(Hit(onset, hand, location, dynamics, player_id, config.instrument))
    return hits
