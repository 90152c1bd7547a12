"""The drum samples that Debian's music programs ship, as more extra training kits.

More kits recorded apart are what has helped the real-drum models most (docs/HIT_MODELS.md):
the soundfonts' kits (training.data.soundfont_drums) lifted every recipe. LMMS and Sonic Pi
each install a folder of one-shot drum samples, recorded or made apart from the soundfonts
and from hydrogen's kits: LMMS's kicks, snares, toms, hi-hats, crashes and rides, and Sonic
Pi's acoustic kit (drum_*) beside its electronic kicks and snares (bd_*, sn_*, elec_*).

Their files are named, not mapped: each file taken is listed below under its class by name,
as read from the file name and checked by ear, and everything else (claps, rims, shakers,
sound effects, loops) is left out. They only ever train, and go through the same checks as the
soundfont kits, in one pass after them: a sample whose attack matches a benchmark hit is
dropped (LEAK_SIMILARITY), and so is one that repeats a soundfont hit or a sample already kept
(DUPLICATE_SIMILARITY). The files are read where the packages put them; nothing is copied.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmware.errors import InputFileError
from training.data.audio import read_audio, resample
from training.data.corpus import CorpusReport, CorpusSettings, HitFile, build_hits
from training.data.dataset import HitDataset
from training.data.drumkits import CLASSES
from training.data.soundfont_drums import benchmark_attacks, distinct_hits


@dataclass(frozen=True)
class SampleLibrary:
    """A Debian package's folder of one-shot drum samples, and the files taken from it."""

    package: str
    """Named in the error when the folder is missing."""
    folder: Path
    kits: dict[str, dict[str, tuple[str, ...]]]
    """Kit (group) name -> class -> file names in folder."""


def _names(text: str, extension: str) -> tuple[str, ...]:
    return tuple(f"{stem}{extension}" for stem in text.split())


LMMS = SampleLibrary(
    "lmms-common",
    Path("/usr/share/lmms/samples/drums"),
    {
        "lmms": {
            "kick": _names(
                "bassdrum01 bassdrum02 bassdrum03 bassdrum04 bassdrum_acoustic01 "
                "bassdrum_acoustic02 kick01 kick02 kick03 kick04 kick_distorted01 kick_hard01 "
                "kick_hardcore01 kick_hiphop01 kick_long01 kick_soft01 kick_soft02",
                ".ogg",
            ),
            "snare": _names(
                "snare01 snare02 snare03 snare04 snare05 snare06 snare07 snare_acoustic01 "
                "snare_electro01 snare_harsh01 snare_hiphop01 snare_hiphop02 snare_muffled01 "
                "snare_muffled02 snare_rim01 snare_short01 nasty_snare01",
                ".ogg",
            ),
            "tom": _names("tom01 tom02 tom03 tom04 tom05 tom_hi01 tom_low01 tom_mid01", ".ogg"),
            "hihat": _names(
                "hihat_closed01 hihat_closed02 hihat_closed03 hihat_closed04 hihat_closed05 "
                "hihat_foot_pedal01 hihat_opened01 hihat_opened02 hihat_opened03",
                ".ogg",
            ),
            "cymbal": _names("crash01 crash02 ride01 ride02", ".ogg"),
        }
    },
)
"""LMMS's drum folder: every kick, snare, tom, hi-hat, crash and ride (claps, clave, rims,
side stick, shakers, wood and zaps are left out)."""

SONIC_PI = SampleLibrary(
    "sonic-pi-samples",
    Path("/usr/share/sonic-pi/samples"),
    {
        "sonicpi-acoustic": {
            "kick": _names("drum_heavy_kick drum_bass_hard drum_bass_soft", ".flac"),
            "snare": _names("drum_snare_hard drum_snare_soft", ".flac"),
            "tom": _names(
                "drum_tom_mid_soft drum_tom_mid_hard drum_tom_lo_soft drum_tom_lo_hard "
                "drum_tom_hi_soft drum_tom_hi_hard",
                ".flac",
            ),
            "hihat": _names("drum_cymbal_closed drum_cymbal_pedal", ".flac"),
            "cymbal": _names(
                "drum_splash_soft drum_splash_hard drum_cymbal_soft drum_cymbal_hard", ".flac"
            ),
        },
        "sonicpi-electronic": {
            "kick": _names(
                "bd_ada bd_pure bd_808 bd_zum bd_gas bd_sone bd_haus bd_zome bd_boom bd_klub "
                "bd_fat bd_tek bd_mehackit elec_soft_kick elec_hollow_kick",
                ".flac",
            ),
            "snare": _names(
                "sn_dub sn_dolf sn_zome sn_generic elec_snare elec_hi_snare elec_mid_snare "
                "elec_lo_snare elec_filt_snare",
                ".flac",
            ),
            "tom": _names("elec_fuzz_tom", ".flac"),
            "cymbal": _names("elec_cymbal", ".flac"),
        },
    },
)
"""Sonic Pi's samples: its acoustic kit (drum_*; drum_cymbal_closed and _pedal are hi-hats,
drum_cymbal_open is left out, being neither plainly a hi-hat nor a cymbal, and so is the
drum_roll) and its electronic kicks and snares. Loops, bass, percussion and effects are left
out."""

LIBRARIES: tuple[SampleLibrary, ...] = (LMMS, SONIC_PI)


@dataclass(frozen=True)
class LibraryHit:
    """One sample file of a library, read and resampled to 48 kHz."""

    kit: str
    class_name: str
    path: Path
    samples: np.ndarray

    @property
    def name(self) -> str:
        return str(self.path)


def check_installed(libraries: Iterable[SampleLibrary] = LIBRARIES) -> None:
    """Stop before reading anything when a library's folder is missing.

    Raises:
        InputFileError: naming the folder and the Debian package to install.
    """
    for library in libraries:
        if not library.folder.is_dir():
            raise InputFileError(
                f"{library.folder}: no such folder (install Debian's {library.package})"
            )


def library_hits(libraries: Iterable[SampleLibrary], report: CorpusReport) -> Iterator[LibraryHit]:
    """Every listed file, read; a file that is missing or unreadable goes to report.skipped
    (LMMS's kick04.ogg is a WAV file with a malformed header, for one)."""
    for library in libraries:
        for kit, classes in library.kits.items():
            for class_name, names in classes.items():
                for name in names:
                    path = library.folder / name
                    try:
                        samples, rate_hz = read_audio(path)
                    except InputFileError as error:
                        report.skipped.append((str(path), str(error).removeprefix(f"{path}: ")))
                        continue
                    yield LibraryHit(kit, class_name, path, resample(samples, rate_hz))


def library_drum_files(
    benchmark: Iterable[HitFile],
    kept: Iterable[HitFile] = (),
    libraries: tuple[SampleLibrary, ...] = LIBRARIES,
    report: CorpusReport | None = None,
) -> list[HitFile]:
    """The library samples that no benchmark hit matches and that repeat no hit kept.

    Args:
        benchmark: the files of the kits the models are tested on (drumkits.drumkit_files).
        kept: the files of another extra source trained on beside these (the soundfont
            kits): a sample repeating one of them is dropped.
        report: collects the files left out, with the reason.

    Returns:
        The files, with no dynamics (a library does not say how hard each was played).

    Raises:
        InputFileError: a library is not installed (naming its package).
    """
    check_installed(libraries)
    report = CorpusReport() if report is None else report
    hits = library_hits(libraries, report)
    distinct = distinct_hits(hits, benchmark_attacks(benchmark), report, benchmark_attacks(kept))
    return [HitFile(hit.path, hit.class_name, hit.kit) for hit in distinct]


def build_library_drums(
    benchmark: Iterable[HitFile],
    kept: Iterable[HitFile] = (),
    libraries: tuple[SampleLibrary, ...] = LIBRARIES,
    settings: CorpusSettings | None = None,
) -> tuple[HitDataset, CorpusReport]:
    """The libraries' drum samples as one dataset (library_drum_files): task "class" over
    drumkits.CLASSES, each kit a group under the key "kit".

    Raises:
        InputFileError: a library is not installed (naming its package).
    """
    report = CorpusReport()
    files = library_drum_files(benchmark, kept, libraries, report)
    return build_hits(files, CLASSES, "kit", settings, report)
