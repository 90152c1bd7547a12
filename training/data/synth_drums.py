"""Drum kits synthesised from physical models, as more extra training kits for the drum models.

Every recorded source Debian packages is in use (soundfont_drums, library_drums), and more
kits recorded apart are what has helped the real-drum models most. A synthesised kit is not a
recording, but its parameters can be drawn as widely as drums are built, and what tells the
classes apart in the first 10 ms is physics a few lines of DSP hold:

- a membrane (kick, tom, snare) rings at the ratios of the zeros of Bessel functions
  (Fletcher and Rossing, *The Physics of Musical Instruments*, ch. 18), its pitch falling
  just after a hard stroke as the head's tension relaxes (deep for a kick, shallow for a tom);
- a snare adds its wires' rattle: band-limited noise that starts with the head;
- a cymbal or hi-hat is a plate with hundreds of inharmonic modes (ch. 20): a hi-hat's mass
  sits high and dies fast, a cymbal's reaches down to a few hundred Hz and rings on;
- the stick, beater or hand is a contact pulse whose length sets how bright the attack is
  (shorter for harder strokes, as for a Hertzian contact), with a little contact noise;
- a quarter of the kits are electronic (a drum machine's sine sweeps and the TR-808's six
  square oscillators), as two of the benchmark's kits are.

Each kit draws its drums once (one kick, one snare, three toms, a hi-hat and three cymbals)
and plays each at several dynamics, as a sample kit records them. Synthesised hits cannot
repeat a recording, so no leak or duplicate check applies. They only ever train.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
from scipy import signal, special

from firmware.layout import SAMPLE_RATE_HZ
from training.data.corpus import CorpusReport, CorpusSettings, HitFile, build_hits
from training.data.dataset import HitDataset
from training.data.drumkits import CLASSES

DEFAULT_FOLDER = Path("build") / "data" / "synth-drums"
"""Where the synthesised files go: <folder>/<class>/<kit>/<drum>_<n>.wav."""

KITS = 32
"""Kits synthesised by default: 30 hits each (3 dynamics of 1 kick, 1 snare, 3 toms, 2 hi-hat
strokes and 3 cymbals). 32 rather than 16: the held-out hydrogen kits gained about 0.01
macro-F1 from the second 16 (docs/HIT_MODELS.md, Results)."""
SEED = 0
ELECTRONIC_SHARE = 0.25
DYNAMICS = (0.3, 0.6, 0.95)
"""How hard each drum is played (the hit's dynamics): soft, medium, hard."""
PRE_ROLL_S = 0.02
FILE_LENGTH_S = 0.5
PEAK = 0.5
"""Peak level of every file: level carries no class (the drum recipe removes it anyway)."""


def _membrane_ratios(highest: float = 12.0) -> np.ndarray:
    zeros = np.sort(np.concatenate([special.jn_zeros(order, 8) for order in range(12)]))
    ratios = zeros / zeros[0]
    return ratios[ratios <= highest]


MEMBRANE_RATIOS = _membrane_ratios()
"""Frequencies of an ideal circular membrane's modes over its fundamental (the zeros of the
Bessel functions J_m over the first zero of J_0), up to 12 times the fundamental."""
TR808_SQUARES_HZ = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)
"""The six square oscillators of the TR-808's hi-hats and cymbal."""


@dataclass(frozen=True)
class SynthHit:
    """One synthesised hit, at 48 kHz, PRE_ROLL_S of silence before it."""

    kit: str
    class_name: str
    drum: str
    dynamics: float
    samples: np.ndarray

    @property
    def relative_path(self) -> Path:
        level = round(100 * self.dynamics)
        return Path(self.class_name, self.kit, f"{self.drum}_{level}.wav")


def _time(seconds: float = FILE_LENGTH_S - PRE_ROLL_S) -> np.ndarray:
    return np.arange(round(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ


def contact_pulse(duration_s: float) -> np.ndarray:
    """A stroke's force: half a sine of duration_s, unit area. Its spectrum falls off above
    about 0.6 / duration_s (its first null is at 1.5 / duration_s), so a shorter contact
    gives a brighter attack."""
    n = max(2, round(duration_s * SAMPLE_RATE_HZ))
    pulse = np.sin(np.pi * (np.arange(n) + 0.5) / n)
    return pulse / pulse.sum()


def ringing_modes(
    frequencies_hz: np.ndarray,
    decays_s: np.ndarray,
    amplitudes: np.ndarray,
    rng: np.random.Generator,
    glide: tuple[float, float] = (0.0, 0.01),
) -> np.ndarray:
    """Sum of exponentially decaying sinusoids (a modal impulse response), every frequency
    raised by a factor 1 + depth * exp(-t / time) that relaxes to 1 (glide: depth, time s)."""
    t = _time()
    depth, time_s = glide
    # phase of f * (1 + depth exp(-t/T)): f (t + depth T (1 - exp(-t/T)))
    warped = t + depth * time_s * (1.0 - np.exp(-t / time_s))
    phases = rng.uniform(0.0, 2 * np.pi, len(frequencies_hz))
    out = np.zeros_like(t)
    for frequency, decay, amplitude, phase in zip(
        frequencies_hz, decays_s, amplitudes, phases, strict=True
    ):
        if frequency * (1 + depth) < 0.45 * SAMPLE_RATE_HZ:
            out += amplitude * np.exp(-t / decay) * np.sin(2 * np.pi * frequency * warped + phase)
    return out


def band_noise(
    rng: np.random.Generator, low_hz: float, high_hz: float, decay_s: float, attack_s: float = 0.0
) -> np.ndarray:
    """White noise band-passed (4th-order Butterworth) under an attack-decay envelope."""
    t = _time()
    sos = signal.butter(2, (low_hz, min(high_hz, 0.45 * SAMPLE_RATE_HZ)), "bandpass",
                        fs=SAMPLE_RATE_HZ, output="sos")  # fmt: skip
    noise = signal.sosfilt(sos, rng.standard_normal(len(t)))
    envelope = np.exp(-t / decay_s) * (1.0 - np.exp(-t / attack_s) if attack_s > 0 else 1.0)
    return noise * envelope / (np.abs(noise).max() + 1e-12)


def _struck(response: np.ndarray, contact_s: float, dynamics: float) -> np.ndarray:
    """response driven by a stroke whose contact shortens as it is played harder (Hertz:
    duration ~ speed^-1/5)."""
    pulse = contact_pulse(contact_s * (dynamics / 0.6) ** -0.2)
    return signal.fftconvolve(response, pulse)[: len(response)]


def _membrane(rng: np.random.Generator, fundamental_hz: float, decay_s: float, modes: int):
    """Frequencies, decays and amplitudes of a struck head's first modes (how much each is
    excited depends on where the head is struck: drawn per hit)."""
    modes = min(modes, len(MEMBRANE_RATIOS))
    ratios = MEMBRANE_RATIOS[:modes] * rng.uniform(0.97, 1.03, modes)
    ratios[0] = 1.0
    decays = decay_s / ratios
    amplitudes = rng.uniform(0.1, 1.0, modes) / ratios
    amplitudes[0] = 1.0
    return fundamental_hz * ratios, decays, amplitudes


def _plate(rng: np.random.Generator, low_hz: float, count: int, decay_s: float):
    """Frequencies, decays and amplitudes of a cymbal's dense inharmonic modes from low_hz to
    16 kHz, as dense at every frequency (a plate's modal density does not depend on
    frequency); higher modes die sooner."""
    frequencies = rng.uniform(low_hz, 16_000.0, count)
    decays = decay_s * (frequencies / 1_000.0) ** -0.4
    amplitudes = rng.uniform(0.2, 1.0, count) / np.sqrt(count)
    return frequencies, decays, amplitudes


def _squares(rng: np.random.Generator, scale: float, decay_s: float) -> np.ndarray:
    """The TR-808's metal: six detuned square waves, decaying."""
    t = _time()
    phases = rng.uniform(0, 1, len(TR808_SQUARES_HZ))
    squares = sum(
        np.sign(np.sin(2 * np.pi * (f * scale * t + p)))
        for f, p in zip(TR808_SQUARES_HZ, phases, strict=True)
    )
    return squares * np.exp(-t / decay_s)


def _highpass(samples: np.ndarray, cutoff_hz: float, order: int = 2) -> np.ndarray:
    sos = signal.butter(order, cutoff_hz, "highpass", fs=SAMPLE_RATE_HZ, output="sos")
    return signal.sosfilt(sos, samples)


class _Kit:
    """One kit's drums: parameters drawn once, each drum then played at any dynamics."""

    def __init__(self, rng: np.random.Generator, electronic: bool) -> None:
        self.rng = rng
        self.electronic = electronic
        self.kick_hz = rng.uniform(40, 80)
        self.snare_hz = rng.uniform(150, 330)
        self.tom_hz = np.sort(np.exp(rng.uniform(np.log(75), np.log(280), 3)))
        self.drums: list[tuple[str, str, dict]] = [
            ("kick", "kick", {"glide": rng.uniform(0.1, 0.9 if electronic else 0.5),
                              "decay": rng.uniform(0.08, 0.5), "contact": rng.uniform(0.8, 6.0)}),
            ("snare", "snare", {"decay": rng.uniform(0.08, 0.3), "wires": rng.uniform(0.3, 1.5),
                                "wire_decay": rng.uniform(0.05, 0.25),
                                "wire_band": (rng.uniform(1e3, 3e3), rng.uniform(6e3, 14e3))}),
            *(("tom", f"tom{k}", {"hz": hz, "decay": rng.uniform(0.2, 0.9)})
              for k, hz in enumerate(self.tom_hz)),
            ("hihat", "closed", {"decay": rng.uniform(0.015, 0.06)}),
            ("hihat", "open", {"decay": rng.uniform(0.15, 0.6)}),
            ("cymbal", "crash", {"low": rng.uniform(150, 500), "decay": rng.uniform(0.8, 2.5),
                                 "build": rng.uniform(0.005, 0.03)}),
            ("cymbal", "ride", {"low": rng.uniform(200, 600), "decay": rng.uniform(1.0, 3.0),
                                "build": 0.0}),
            ("cymbal", "splash", {"low": rng.uniform(300, 1000), "decay": rng.uniform(0.4, 1.2),
                                  "build": rng.uniform(0.002, 0.01)}),
        ]  # fmt: skip
        self.hat = {"low": rng.uniform(500, 2_000), "count": int(rng.integers(30, 80)),
                    "noise": rng.uniform(0.1, 0.8), "scale": rng.uniform(0.8, 1.6)}  # fmt: skip
        self.stick_s = rng.uniform(0.3, 1.2) * 1e-3
        self.impact = rng.uniform(0.3, 1.5)
        """The stick's impact on metal, broadband, relative to the ringing."""
        self.brightness_hz = rng.uniform(8_000, 20_000)
        """The kit's recording chain: one low-pass for all its drums."""

    def play(self, class_name: str, params: dict, dynamics: float) -> np.ndarray:
        sound = getattr(self, f"_{class_name}")(params, dynamics)
        sos = signal.butter(2, self.brightness_hz, fs=SAMPLE_RATE_HZ, output="sos")
        return signal.sosfilt(sos, sound)

    def _click(self, dynamics: float, level: float, low_hz: float = 1_500) -> np.ndarray:
        """The contact's own noise (stick on head or metal, beater on head)."""
        decay_s = self.rng.uniform(1e-3, 4e-3)
        return level * dynamics * band_noise(self.rng, low_hz, 16_000, decay_s)

    def _kick(self, p: dict, dynamics: float) -> np.ndarray:
        modes = 1 if self.electronic else len(MEMBRANE_RATIOS)
        glide = (p["glide"] * dynamics, self.rng.uniform(0.005, 0.04))
        body = ringing_modes(*_membrane(self.rng, self.kick_hz, p["decay"], modes), self.rng, glide)
        click = self._click(dynamics, self.rng.uniform(0.1, 1.0), 500)
        return _struck(body, p["contact"] * 1e-3, dynamics) + click

    def _snare(self, p: dict, dynamics: float) -> np.ndarray:
        modes = 2 if self.electronic else len(MEMBRANE_RATIOS)
        head = ringing_modes(*_membrane(self.rng, self.snare_hz, p["decay"], modes), self.rng)
        head = _struck(head, self.stick_s, dynamics)
        wires = (
            p["wires"]
            * np.abs(head).max()
            * band_noise(self.rng, *p["wire_band"], p["wire_decay"], self.rng.uniform(2e-4, 2e-3))
        )
        return head + wires + self._click(dynamics, self.rng.uniform(0.1, 0.6), 500)

    def _tom(self, p: dict, dynamics: float) -> np.ndarray:
        modes = 1 if self.electronic else len(MEMBRANE_RATIOS)
        glide = (self.rng.uniform(0.0, 0.5 if self.electronic else 0.12), 0.05)
        head = ringing_modes(*_membrane(self.rng, p["hz"], p["decay"], modes), self.rng, glide)
        return _struck(head, self.stick_s, dynamics) + self._click(
            dynamics, self.rng.uniform(0.1, 0.8), 500
        )

    def _metal(self, low_hz: float, count: int, decay_s: float) -> np.ndarray:
        if self.electronic:
            return _squares(self.rng, self.hat["scale"], decay_s)
        return ringing_modes(*_plate(self.rng, low_hz, count, decay_s), self.rng)

    def _hihat(self, p: dict, dynamics: float) -> np.ndarray:
        hat = self.hat
        metal = self._metal(hat["low"], hat["count"], p["decay"])
        noise = hat["noise"] * np.abs(metal).max() * band_noise(self.rng, 5e3, 16e3, p["decay"])
        sound = _struck(metal + noise, self.stick_s * 0.6, dynamics)
        return sound + self._click(dynamics, self.impact * np.abs(sound).max(), 50)

    def _cymbal(self, p: dict, dynamics: float) -> np.ndarray:
        count = int(self.rng.integers(100, 250))
        plate = self._metal(p["low"], count, p["decay"])
        if self.electronic:
            plate = _highpass(plate, p["low"] * 3)
        if p["build"] > 0:  # a crash's high modes build up as the plate's energy spreads
            t = _time()
            plate = _highpass(plate, 3_000) * (1 - np.exp(-t / p["build"])) + plate * 0.5
        sound = _struck(plate, self.stick_s * 0.6, dynamics)
        return sound + self._click(dynamics, self.impact * np.abs(sound).max(), 50)


def synth_kit_hits(kit: int, seed: int = SEED) -> Iterator[SynthHit]:
    """Every drum of one synthesised kit at every DYNAMICS (the kit's parameters depend only
    on seed and kit, not on how many kits are made)."""
    rng = np.random.default_rng([seed, kit])
    drums = _Kit(rng, electronic=rng.uniform() < ELECTRONIC_SHARE)
    name = f"synth{kit:02d}{'-electronic' if drums.electronic else ''}"
    pre_roll = np.zeros(round(PRE_ROLL_S * SAMPLE_RATE_HZ))
    for class_name, drum, params in drums.drums:
        for dynamics in DYNAMICS:
            sound = drums.play(class_name, params, dynamics)
            fade = np.minimum(1.0, (len(sound) - np.arange(len(sound))) / (0.02 * SAMPLE_RATE_HZ))
            sound = sound * fade
            sound = PEAK * sound / np.abs(sound).max()
            samples = np.concatenate([pre_roll, sound]).astype(np.float32)
            yield SynthHit(name, class_name, drum, dynamics, samples)


def synth_drum_files(
    folder: Path = DEFAULT_FOLDER, kits: int = KITS, seed: int = SEED
) -> list[HitFile]:
    """Synthesise kits and write their hits into folder (<class>/<kit>/<drum>_<level>.wav,
    mono float 48 kHz; they stay, to be listened to).

    Returns:
        The written files, with their dynamics.
    """
    files = []
    for kit in range(kits):
        for hit in synth_kit_hits(kit, seed):
            path = folder / hit.relative_path
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, hit.samples, SAMPLE_RATE_HZ, subtype="FLOAT")
            files.append(HitFile(path, hit.class_name, hit.kit, hit.dynamics))
    return files


def build_synth_drums(
    folder: Path = DEFAULT_FOLDER,
    kits: int = KITS,
    seed: int = SEED,
    settings: CorpusSettings | None = None,
) -> tuple[HitDataset, CorpusReport]:
    """The synthesised kits as one dataset: task "class" over drumkits.CLASSES, each kit a
    group under the key "kit"."""
    return build_hits(synth_drum_files(folder, kits, seed), CLASSES, "kit", settings)
