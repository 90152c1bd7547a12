"""Players: each has their own hands, dynamics habits, aim and timing, drawn from their id.

Held-out players are players whose ids were never used for training: their hand parts have
other masses and contact times, they hit harder or softer, aim less precisely, and groove at
another tempo. Everything is drawn from the id alone, so player 7 is the same in every session.
"""

from dataclasses import dataclass

import numpy as np

from firmware.layout import HAND_PARTS, LOCATIONS
from training.simulator.contact import HAND_PART_MODELS, HandPartModel


@dataclass(frozen=True)
class Player:
    """One player's habits; all spreads relative to the reference hand in contact.py."""

    player: int
    contact_scale: tuple[float, ...]
    """Contact-time factor per hand part (HAND_PARTS order): softer or firmer tissue."""
    mass_scale: tuple[float, ...]
    """Effective-mass factor per hand part: how much arm goes into the stroke."""
    speed_range_m_s: tuple[float, float]
    """Hand speed at dynamics 0 and 1; speed is geometric in between."""
    dynamics_mean: float
    dynamics_concentration: float
    """Beta-distribution concentration of the player's dynamics around the mean."""
    hand_weights: tuple[float, ...]
    location_weights: tuple[float, ...]
    aim_radius_m: float
    """Hits land uniformly within this radius of the sensor area's centre."""
    tempo_bpm: float
    swing: float
    """Delay of off-beat sixteenths, as a fraction of a sixteenth."""
    timing_jitter_ms: float
    density: float
    """Probability that a sixteenth-note slot holds a hit."""

    def hand_model(self, hand: str) -> HandPartModel:
        """The reference hand-part model scaled to this player's hand."""
        i = HAND_PARTS.index(hand)
        model = HAND_PART_MODELS[hand]
        main = model.main.scaled(self.mass_scale[i], self.contact_scale[i])
        return HandPartModel(main, model.click, model.click_gap_m)

    def speed_m_s(self, dynamics: float) -> float:
        """Hand speed for a dynamics value in [0, 1]."""
        low, high = self.speed_range_m_s
        return float(low * (high / low) ** dynamics)

    def draw_dynamics(self, rng: np.random.Generator) -> float:
        """A dynamics value from the player's habit, rounded to the 0.01 the labels carry."""
        a = self.dynamics_mean * self.dynamics_concentration
        b = (1.0 - self.dynamics_mean) * self.dynamics_concentration
        return round(float(rng.beta(a, b)), 2)


def make_player(player: int) -> Player:
    """The player with this id (any int >= 0)."""
    rng = np.random.default_rng([player, 0x9A7E])
    n_hands, n_locations = len(HAND_PARTS), len(LOCATIONS)
    top_speed = 3.5 * rng.lognormal(0.0, 0.15)
    return Player(
        player=player,
        contact_scale=tuple(float(x) for x in rng.lognormal(0.0, 0.12, n_hands)),
        mass_scale=tuple(float(x) for x in rng.lognormal(0.0, 0.15, n_hands)),
        speed_range_m_s=(top_speed / rng.uniform(10.0, 16.0), top_speed),
        dynamics_mean=float(rng.uniform(0.35, 0.65)),
        dynamics_concentration=float(rng.uniform(2.0, 5.0)),
        hand_weights=tuple(float(x) for x in rng.dirichlet(np.full(n_hands, 6.0))),
        location_weights=tuple(float(x) for x in rng.dirichlet(np.full(n_locations, 6.0))),
        aim_radius_m=float(rng.uniform(0.02, 0.045)),
        tempo_bpm=float(rng.uniform(80.0, 140.0)),
        swing=float(rng.uniform(0.0, 0.25)),
        timing_jitter_ms=float(rng.uniform(3.0, 12.0)),
        density=float(rng.uniform(0.3, 0.6)),
    )
