"""Contact force of a hand part striking the guitar top: Hertz contact with Hunt–Crossley losses
against a top that gives way.

A hand part is a lumped mass ``m`` (what moves with the striking part: the arm behind the heel,
a finger behind its pad) approaching the top at speed ``v`` and pressing a soft, lossy contact
of stiffness ``k``. Hertz's law gives the elastic contact force ``k δ^(3/2)`` of an indentation
``δ`` (Hertz 1882; Johnson, *Contact Mechanics*, 1985, ch. 4 and 11); Hunt and Crossley
(J. Appl. Mech. 42, 1975) add a loss proportional to the indentation rate. The top is not rigid:
under the contact it moves with velocity ``Y F``, ``Y`` being the plate's drive-point mobility
(a thin plate's point impedance is a pure resistance, Cremer and Heckl, *Structure-Borne Sound*),
as in Zener's analysis of a ball striking a large plate (Phys. Rev. 59, 1941):

    m x'' = -F,   w' = Y F,   δ = x - w,   F = k δ^(3/2) (1 + λ δ'),   x(0) = w(0) = 0, x'(0) = v.

With ``x = v T X``, ``w = v T W`` and ``t = T s``, where ``T = (m / k)^(2/5) v^(-1/5)``, this
becomes ``X'' = -g``, ``W' = ζ g``, ``g = u^(3/2) (1 + α X') / (1 + α ζ u^(3/2))``, ``u = X - W``,
with two numbers only: ``α = λ v`` (losses) and ``ζ = Y m / T`` (how much the top yields: Zener's
parameter). It is solved once per (α, ζ) and scaled. Consequences that follow from the physics
rather than being imposed: a harder hit (larger v) has a larger force and a shorter contact, so it
is brighter; a heavier, softer part (the heel) has a longer pulse, hence a darker spectrum, than a
light hard one (a nail); and no contact can push the top faster than the hand moves.

A nail stroke is two contacts: the hard nail plate first (a short, stiff, light contact: the
click), then the finger pad behind it after the overhang gap closes (``gap / v`` later).
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.integrate import solve_ivp

OVERSAMPLING = 8
"""Force samples averaged per output sample: the pulse is integrated over each sample period
(a causal box anti-alias filter), so a 0.1 ms click is not aliased and nothing precedes onset."""


@dataclass(frozen=True)
class ContactModel:
    """One lumped contact: mass, stiffness (set by its contact time) and Hunt–Crossley loss."""

    mass_kg: float
    contact_ms: float
    """Duration of the lossless Hertz contact at 1 m/s; it sets the stiffness k."""
    loss_s_per_m: float
    """Hunt–Crossley λ; restitution is about 1 - 2/3 λ v for small λ v."""

    @property
    def time_scale_s(self) -> float:
        """T at 1 m/s: the contact time divided by the dimensionless elastic contact time."""
        return 1e-3 * self.contact_ms / elastic_contact_duration()

    def scaled(self, mass: float, contact: float) -> "ContactModel":
        """The same contact with its mass and contact time multiplied (a player's hand)."""
        return ContactModel(self.mass_kg * mass, self.contact_ms * contact, self.loss_s_per_m)


@dataclass(frozen=True)
class HandPartModel:
    """A hand part: its main contact and, for nails, a click contact ahead of it."""

    main: ContactModel
    click: ContactModel | None = None
    click_gap_m: float = 0.0
    """Distance the hand travels between the click's start and the main contact's start."""


HAND_PART_MODELS: dict[str, HandPartModel] = {
    # Palm heel: part of the forearm's mass behind thick soft tissue: several ms.
    "heel": HandPartModel(ContactModel(mass_kg=0.20, contact_ms=3.0, loss_s_per_m=0.6)),
    # Thumb side or pad: a heavier digit and more tissue than a finger pad.
    "thumb": HandPartModel(ContactModel(mass_kg=0.08, contact_ms=2.0, loss_s_per_m=0.5)),
    # Finger pads (one or several fingers together).
    "fingers": HandPartModel(ContactModel(mass_kg=0.03, contact_ms=1.2, loss_s_per_m=0.5)),
    # Nails: a hard, light nail plate (the click), then the pad behind it.
    "nails": HandPartModel(
        main=ContactModel(mass_kg=0.025, contact_ms=1.1, loss_s_per_m=0.5),
        click=ContactModel(mass_kg=0.004, contact_ms=0.12, loss_s_per_m=0.1),
        click_gap_m=0.0006,
    ),
}
"""Reference parameters per hand part (firmware.layout.HAND_PARTS), before a player's variation.
Masses and contact times are of the order measured for finger and palm taps (e.g. Askenfelt and
Jansson on piano-key and finger contacts; Dahl on drum-stick strokes), chosen so the contact
times run from about 0.1 ms (nail click) to several ms (heel)."""


@lru_cache(maxsize=1)
def elastic_contact_duration() -> float:
    """Dimensionless duration of the lossless Hertz contact on a rigid surface (about 3.218)."""
    return float(_dimensionless_pulse(0.0, 0.0)[0][-1])


@lru_cache(maxsize=4096)
def _dimensionless_pulse(alpha: float, zeta: float) -> tuple[np.ndarray, np.ndarray]:
    """Solve X'' = -g, W' = ζ g from X = W = 0, X' = 1 until the contact ends.

    Returns:
        (s, g): dimensionless times, shape [n], and force g, shape [n], ending where the
        indentation u = X - W returns to zero or the force would pull (separation).
    """

    def force(x: np.ndarray, dx: np.ndarray, w: np.ndarray) -> np.ndarray:
        contact = np.maximum(x - w, 0.0) ** 1.5
        return np.maximum(contact * (1.0 + alpha * dx) / (1.0 + alpha * zeta * contact), 0.0)

    def rhs(_s: float, y: np.ndarray) -> list[float]:
        g = float(force(*y))
        return [y[1], -g, zeta * g]

    def indentation_gone(_s: float, y: np.ndarray) -> float:
        return y[0] - y[2]

    def force_gone(_s: float, y: np.ndarray) -> float:
        return 1.0 + alpha * y[1]

    for event in (indentation_gone, force_gone):
        event.terminal = True  # type: ignore[attr-defined]
        event.direction = -1  # type: ignore[attr-defined]
    solution = solve_ivp(
        rhs,
        (0.0, 50.0),
        [0.0, 1.0, 0.0],
        events=[indentation_gone, force_gone],
        dense_output=True,
        rtol=1e-9,
        atol=1e-12,
    )
    s = np.linspace(0.0, float(solution.t[-1]), 2049)
    g = force(*solution.sol(s))
    g[-1] = 0.0
    return s, g


def _scaled_pulse(
    contact: ContactModel, speed_m_s: float, mobility_m_s_n: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """The dimensionless pulse for this contact, its time scale T (s) and force scale (N)."""
    time_scale_s = contact.time_scale_s * speed_m_s ** (-0.2)
    alpha = contact.loss_s_per_m * speed_m_s
    zeta = mobility_m_s_n * contact.mass_kg / time_scale_s
    # Two significant digits: the pulse changes by far less than a sample in between.
    s, shape = _dimensionless_pulse(float(f"{alpha:.2g}"), float(f"{zeta:.2g}"))
    stiffness = contact.mass_kg / contact.time_scale_s**2.5
    return s * time_scale_s, shape, stiffness * (speed_m_s * time_scale_s) ** 1.5


def contact_force(
    contact: ContactModel,
    speed_m_s: float,
    mobility_m_s_n: float,
    start_s: float,
    n_samples: int,
    sample_rate_hz: int,
) -> np.ndarray:
    """Force of one contact, averaged over each sample period.

    Args:
        contact: the contact's mass, stiffness and loss.
        speed_m_s: approach speed.
        mobility_m_s_n: drive-point mobility Y of the struck surface.
        start_s: contact start, seconds after sample 0's start (>= 0).
        n_samples: length of the returned signal.

    Returns:
        Force in newtons, float64, shape [n_samples]; zero before start_s.
    """
    times_s, shape, force_scale_n = _scaled_pulse(contact, speed_m_s, mobility_m_s_n)
    fine_t = (np.arange(n_samples * OVERSAMPLING) + 0.5) / (OVERSAMPLING * sample_rate_hz)
    fine = np.interp(fine_t - start_s, times_s, shape, left=0.0, right=0.0)
    return force_scale_n * fine.reshape(n_samples, OVERSAMPLING).mean(axis=1)


def hand_force(
    part: HandPartModel, speed_m_s: float, mobility_m_s_n: float, sample_rate_hz: int
) -> np.ndarray:
    """Force pulse of one hand-part stroke starting at the start of sample 0.

    Args:
        mobility_m_s_n: drive-point mobility of the top (body.Body.point_mobility_m_s_n).

    Returns:
        Force in newtons, float64, shape [n]: sample 0 is the first with contact, the last
        has none.
    """
    contacts = [(part.main, part.click_gap_m / speed_m_s if part.click else 0.0)]
    if part.click is not None:
        contacts.append((part.click, 0.0))
    end_s = max(
        start_s + _scaled_pulse(contact, speed_m_s, mobility_m_s_n)[0][-1]
        for contact, start_s in contacts
    )
    n_samples = int(np.ceil(end_s * sample_rate_hz)) + 1
    return sum(
        contact_force(contact, speed_m_s, mobility_m_s_n, start_s, n_samples, sample_rate_hz)
        for contact, start_s in contacts
    )
