"""The drum kits of Debian's soundfonts as extra training kits for the drum models.

The real-drum benchmark tests on hydrogen kits, and a model learns what a kick is from the
other eleven: 456 hits, too few to tell a kit's sound from its class. The General MIDI
soundfonts that Debian packages each hold eight drum kits (Standard, Room, Power, Electronic,
TR-808, Jazz, Brush, Orchestra) built from recorded or sampled drums. Rendered one note at a
time by fluidsynth, they are single-hit files like any sample library's.

They only ever train. Many kits of one soundfont share samples, soundfonts copy from each
other, and a sample could be a hydrogen kit's own recording: a rendered hit whose attack
matches a hit already kept (DUPLICATE_SIMILARITY) is dropped, and so is one whose attack
matches any hit of the benchmark's kits (LEAK_SIMILARITY), so that nothing tested was heard
in training. Debian's AVL drum kits (avldrums.lv2-soundfont) are left out whole: they are
recorded by the author of hydrogen's "The Black Pearl 1.0", one of them is that kit, and the
other's hi-hat attacks are far closer to the Black Pearl's than any soundfont's: the same
instrument, heard in training, would flatter the Black Pearl's score.
"""

import itertools
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import soundfile

from firmware.errors import InputFileError
from firmware.layout import SAMPLE_RATE_HZ
from training.data.audio import read_audio, resample
from training.data.corpus import CorpusReport, CorpusSettings, HitFile, build_hits
from training.data.dataset import HitDataset
from training.data.drumkits import CLASSES
from training.data.midi_render import DRUM_CHANNEL, Note, render_stereo, write_midi

DEFAULT_FOLDER = Path("build") / "data" / "soundfont-drums"
"""Where the rendered single-hit files go: <folder>/<class>/<kit>/<note>_<velocity>.wav."""

GM_DRUM_NOTES: dict[str, tuple[int, ...]] = {
    "kick": (35, 36),
    "snare": (38, 40),
    "tom": (41, 43, 45, 47, 48, 50),
    "hihat": (42, 44, 46),
    "cymbal": (49, 51, 52, 53, 55, 57, 59),
}
"""General MIDI percussion notes per class: bass drums; acoustic and electric snare; the six
toms; closed, pedal and open hi-hat; crashes, rides, ride bell, Chinese and splash. Side
stick, hand clap and the Latin percussion are left out, as the hydrogen rules leave them."""

GM_KITS: tuple[tuple[int, str], ...] = (
    (0, "standard"), (8, "room"), (16, "power"), (24, "electronic"),
    (25, "tr808"), (32, "jazz"), (40, "brush"), (48, "orchestra"),
)  # fmt: skip
"""(program on the percussion channel, name) of General MIDI's eight drum kits."""

VELOCITIES = (40, 80, 120)
"""Every note is played soft, medium and hard: multi-layer kits switch samples, the others
filter and scale one (and the duplicate check drops a layer that is the same sound)."""

NOTE_SPACING_S = 2.0
HIT_LENGTH_S = 1.9
PRE_ROLL_S = 0.02
FILE_LENGTH_S = 0.5
"""Each note sounds alone for HIT_LENGTH_S (then All Sound Off), one every NOTE_SPACING_S; its
file starts PRE_ROLL_S before the note and keeps FILE_LENGTH_S: the peak, the attack compared
and every analysis window (up to the probe's 80 ms) lie well inside."""
SILENT_PEAK = 1e-4
"""A note whose render never reaches this is one the kit does not have."""

DUPLICATE_SIMILARITY = 0.99
LEAK_SIMILARITY = 0.9
"""Thresholds on attack similarity (attack_similarity): above the first, a hit is the same
sound as one already kept (a velocity layer that only scales one sample, a kit copying
another's sample); above the second, it may be the same recording as a benchmark hit. The
second is lower to be safe: distinct drums of one class can have alike attacks (a bass
drum's thump looks like another's), and dropping a few of them costs little."""

ATTACK_SAMPLES = 2400
ATTACK_LEAD_SAMPLES = 48
MAX_LAG_SAMPLES = 48
"""The attack compared: 50 ms from 1 ms before the signal first reaches 3 % of its peak,
aligned within +-1 ms."""


@dataclass(frozen=True)
class SoundfontKit:
    """One General MIDI drum kit of an installed soundfont."""

    package: str
    """The Debian package that installs the soundfont (named in the error when it is missing)."""
    soundfont: Path
    name: str
    """The kit's group name in the dataset, e.g. "fluidr3-jazz"."""
    program: int
    """The kit's program on the percussion channel."""


def _gm_kits(package: str, soundfont: str, prefix: str) -> tuple[SoundfontKit, ...]:
    return tuple(
        SoundfontKit(package, Path(soundfont), f"{prefix}-{name}", program)
        for program, name in GM_KITS
    )


SOUNDFONT_KITS: tuple[SoundfontKit, ...] = (
    *_gm_kits("fluid-soundfont-gm", "/usr/share/sounds/sf2/FluidR3_GM.sf2", "fluidr3"),
    *_gm_kits("timgm6mb-soundfont", "/usr/share/sounds/sf2/TimGM6mb.sf2", "timgm6mb"),
    *_gm_kits(
        "musescore-general-soundfont-small",
        "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3",
        "musescore",
    ),
    *_gm_kits("csound-soundfont", "/usr/share/sounds/sf2/sf_GMbank.sf2", "csound"),
)
"""Every kit rendered, in the order the duplicate check keeps first comers."""


def attack_signature(samples: np.ndarray) -> np.ndarray:
    """A hit's attack as a unit vector: ATTACK_SAMPLES of the channel mean, from
    ATTACK_LEAD_SAMPLES before the signal first reaches 3 % of its peak (zero-padded).

    Args:
        samples: float [frames] or [frames, channels] at 48 kHz.
    """
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    start = max(int(np.argmax(np.abs(mono) >= 0.03 * np.abs(mono).max())) - ATTACK_LEAD_SAMPLES, 0)
    attack = np.zeros(ATTACK_SAMPLES)
    piece = mono[start : start + ATTACK_SAMPLES]
    attack[: len(piece)] = piece
    return attack / (np.linalg.norm(attack) + 1e-12)


def attack_similarity(attack: np.ndarray, others: np.ndarray) -> np.ndarray:
    """The largest normalised cross-correlation (absolute: polarity does not make another
    sound) of one attack signature with each of others, over lags of +-MAX_LAG_SAMPLES.

    Args:
        attack: float [ATTACK_SAMPLES], from attack_signature.
        others: float [n, ATTACK_SAMPLES].

    Returns:
        float [n] in [0, 1].
    """
    size = 2 * ATTACK_SAMPLES
    spectra = np.fft.rfft(others, size, axis=1) * np.conj(np.fft.rfft(attack, size))
    correlation = np.fft.irfft(spectra, size, axis=1)
    lags = np.concatenate(
        [correlation[:, : MAX_LAG_SAMPLES + 1], correlation[:, -MAX_LAG_SAMPLES:]], axis=1
    )
    return np.abs(lags).max(axis=1)


def check_installed(kits: Iterable[SoundfontKit] = SOUNDFONT_KITS) -> None:
    """Stop before rendering anything when a soundfont is missing.

    Raises:
        InputFileError: a kit's soundfont is not there, naming the Debian package to install.
    """
    for kit in kits:
        if not kit.soundfont.is_file():
            raise InputFileError(
                f"{kit.soundfont}: no such soundfont (install Debian's {kit.package})"
            )


@dataclass(frozen=True)
class RenderedHit:
    """One note of a kit, as fluidsynth rendered it."""

    kit: str
    class_name: str
    note: int
    velocity: int
    samples: np.ndarray
    """float32 [frames, 2], from PRE_ROLL_S before the note, FILE_LENGTH_S long."""

    @property
    def relative_path(self) -> Path:
        """Where the hit is written, under the corpus folder: <class>/<kit>/<note>_<velocity>.wav"""
        return Path(self.class_name, self.kit, f"{self.note}_{self.velocity}.wav")

    @property
    def name(self) -> str:
        return str(self.relative_path)


def render_kit(kit: SoundfontKit) -> Iterator[RenderedHit]:
    """Render every note of GM_DRUM_NOTES at every VELOCITIES, one at a time (in a temporary
    folder); notes the kit leaves silent are not yielded."""
    hits = [
        (name, note, vel) for name in CLASSES for note in GM_DRUM_NOTES[name] for vel in VELOCITIES
    ]
    score = [
        Note(note, velocity, PRE_ROLL_S + i * NOTE_SPACING_S, HIT_LENGTH_S / 2)
        for i, (_, note, velocity) in enumerate(hits)
    ]
    with tempfile.TemporaryDirectory(prefix="hitar-soundfont-") as folder:
        midi_path = Path(folder) / f"{kit.name}.mid"
        write_midi(midi_path, kit.program, score, HIT_LENGTH_S / 2, DRUM_CHANNEL)
        wav_path = Path(folder) / f"{kit.name}.wav"
        rendered = render_stereo(midi_path, wav_path, SAMPLE_RATE_HZ, kit.soundfont)
    for (class_name, note, velocity), played in zip(hits, score, strict=True):
        start = round((played.onset_s - PRE_ROLL_S) * SAMPLE_RATE_HZ)
        samples = rendered[start : start + round(FILE_LENGTH_S * SAMPLE_RATE_HZ)]
        if np.abs(samples).max() >= SILENT_PEAK:
            yield RenderedHit(kit.name, class_name, note, velocity, samples)


class CandidateHit(Protocol):
    """A hit that may become a training hit: a rendered note or a library's sample file."""

    class_name: str
    samples: np.ndarray
    """float [frames] or [frames, channels] at 48 kHz."""

    @property
    def name(self) -> str:
        """How the report names it."""
        ...


CandidateT = TypeVar("CandidateT", bound=CandidateHit)


def distinct_hits(
    hits: Iterable[CandidateT],
    benchmark: dict[str, np.ndarray],
    report: CorpusReport,
    kept: dict[str, np.ndarray] | None = None,
) -> Iterator[CandidateT]:
    """The hits whose attack is neither a hit already kept nor a benchmark hit of the same
    class; the others go to report.skipped (by name, not written) with the reason.

    Args:
        benchmark: class name -> float [n, ATTACK_SAMPLES] attack signatures of the hits
            that must not be trained on.
        kept: class name -> attack signatures of hits kept from another source (the
            soundfont kits, when the sample libraries are checked), which count as kept.
    """
    seen = {name: list(attacks) for name, attacks in (kept or {}).items()}
    for hit in hits:
        attack = attack_signature(hit.samples)
        same_class = benchmark.get(hit.class_name, np.zeros((0, ATTACK_SAMPLES)))
        if len(same_class) and attack_similarity(attack, same_class).max() > LEAK_SIMILARITY:
            report.skipped.append((hit.name, "the same recording as a benchmark hit"))
        elif seen.get(hit.class_name) and (
            attack_similarity(attack, np.array(seen[hit.class_name])).max() > DUPLICATE_SIMILARITY
        ):
            report.skipped.append((hit.name, "the same sound as a hit already kept"))
        else:
            seen.setdefault(hit.class_name, []).append(attack)
            yield hit


def benchmark_attacks(files: Iterable[HitFile]) -> dict[str, np.ndarray]:
    """Attack signatures of hits that must never be trained on, by class."""
    attacks: dict[str, list[np.ndarray]] = {}
    for hit in files:
        samples, rate_hz = read_audio(hit.path)
        attacks.setdefault(hit.class_name, []).append(attack_signature(resample(samples, rate_hz)))
    return {name: np.array(signatures) for name, signatures in attacks.items()}


def soundfont_drum_files(
    benchmark: Iterable[HitFile],
    folder: Path = DEFAULT_FOLDER,
    kits: tuple[SoundfontKit, ...] = SOUNDFONT_KITS,
    report: CorpusReport | None = None,
) -> list[HitFile]:
    """Render the kits and write the distinct hits that no benchmark hit matches into folder
    (<class>/<kit>/<note>_<velocity>.wav, stereo float 48 kHz; they stay, to be listened to,
    and datasets built from them name them as their sources).

    Args:
        benchmark: the files of the kits the models are tested on (drumkits.drumkit_files).
        report: collects the hits left out, with the reason.

    Returns:
        The written files, with dynamics velocity / 127.

    Raises:
        InputFileError: a soundfont is not installed (naming its package).
    """
    check_installed(kits)
    signatures = benchmark_attacks(benchmark)
    rendered = itertools.chain.from_iterable(render_kit(kit) for kit in kits)
    files = []
    for hit in distinct_hits(rendered, signatures, CorpusReport() if report is None else report):
        path = folder / hit.relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, hit.samples, SAMPLE_RATE_HZ, subtype="FLOAT")
        files.append(HitFile(path, hit.class_name, hit.kit, hit.velocity / 127))
    return files


def build_soundfont_drums(
    benchmark: Iterable[HitFile],
    folder: Path = DEFAULT_FOLDER,
    kits: tuple[SoundfontKit, ...] = SOUNDFONT_KITS,
    settings: CorpusSettings | None = None,
) -> tuple[HitDataset, CorpusReport]:
    """The soundfonts' drum kits as one dataset (soundfont_drum_files): task "class" over
    drumkits.CLASSES, each kit a group under the key "kit".

    Raises:
        InputFileError: a soundfont is not installed (naming its package).
    """
    report = CorpusReport()
    files = soundfont_drum_files(benchmark, folder, kits, report)
    return build_hits(files, CLASSES, "kit", settings, report)
