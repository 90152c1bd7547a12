"""A physically grounded simulator of the instrument's 6-channel recordings, with exact truth.

Hand-part contact forces (contact.py) drive a modal model of the body seen by five piezos
(body.py); plucked strings (strings.py) sound on the pickup and leak through the bridge; players
(players.py) differ in hands, dynamics and timing; the front end (front_end.py) adds sensor
mismatch, crosstalk, noise and hum. See docs/SIMULATOR.md.
"""

from training.simulator.session import (
    Hit,
    HitSet,
    HitSetConfig,
    SessionConfig,
    simulate_hits,
    simulate_session,
)

__all__ = [
    "Hit",
    "HitSet",
    "HitSetConfig",
    "SessionConfig",
    "simulate_hits",
    "simulate_session",
]
