"""Hydrogen drum kits (Debian's hydrogen-drumkits) as a single-hit corpus.

Each kit folder holds a drumkit.xml listing instruments, each with velocity layers (a sample
file and the velocity range [min, max] it plays for). Instrument names are mapped to the
classes kick, snare, tom, hihat, cymbal by the keyword rules below; each layer is one hit whose
dynamics is the middle of its velocity range, and each kit is a group, so that splits test on
kits never heard in training. docs/DATA.md lists what maps where, per kit (from
``python -m training.data drumkits --markdown``).
"""

import re
import subprocess
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from firmware.errors import InputFileError
from training.data.corpus import CorpusReport, CorpusSettings, HitFile, build_hits
from training.data.dataset import HitDataset

DEFAULT_ROOT = Path("/usr/share/hydrogen/data/drumkits")
"""Where Debian's hydrogen-drumkits package installs the kits."""
BENCHMARK_PACKAGE = "hydrogen-drumkits"
"""The Debian package whose kits the real-drum benchmark uses. Other packages (hydrogen-data:
GMRockKit, TR808EmulationKit) install kits into the same folder; a benchmark that took
whatever is there would change with what else is installed."""

CLASSES: tuple[str, ...] = ("kick", "snare", "tom", "hihat", "cymbal")

CLASS_RULES: tuple[tuple[str | None, str], ...] = (
    (None, r"stick|rim ?click|clap|roll"),
    ("hihat", r"hi[- ]?hat|\bhat\b|hh\b|\bhh"),
    ("cymbal", r"crash|\bride|china|splash|cymbal"),
    ("kick", r"kick|bass ?drum|\bbd\b"),
    ("snare", r"snare"),
    ("tom", r"\btom"),
)
"""(class or None for skipped, regular expression) tried in order on the lower-case
instrument name; the first match decides, no match skips. Side sticks, rim clicks and claps
are skipped before 'snare' can claim them, and so are rolls (many hits, not one); hi-hats are
tried before cymbals."""


@dataclass(frozen=True)
class Layer:
    """One velocity layer: a sample file and the velocities it plays for, in [0, 1]."""

    path: Path
    min_velocity: float
    max_velocity: float

    @property
    def dynamics(self) -> float:
        """The middle of the layer's velocity range."""
        return (self.min_velocity + self.max_velocity) / 2


@dataclass(frozen=True)
class Instrument:
    name: str
    layers: tuple[Layer, ...]


@dataclass(frozen=True)
class Drumkit:
    folder: Path
    name: str
    instruments: tuple[Instrument, ...]


def instrument_class(name: str) -> str | None:
    """The class of an instrument name by CLASS_RULES, or None (skipped)."""
    lowered = name.lower()
    for class_name, pattern in CLASS_RULES:
        if re.search(pattern, lowered):
            return class_name
    return None


def _tag(element: ElementTree.Element) -> str:
    """The tag without its namespace (newer kits declare one, older kits none)."""
    return element.tag.rsplit("}", 1)[-1]


def _child_text(element: ElementTree.Element, tag: str) -> str | None:
    for child in element:
        if _tag(child) == tag:
            return (child.text or "").strip()
    return None


def read_drumkit(folder: Path) -> Drumkit:
    """Read a kit's drumkit.xml: instruments, their layers (files and velocity ranges).

    Old-format instruments with a single <filename> and no layers become one layer
    playing for every velocity.

    Raises:
        InputFileError: missing or malformed drumkit.xml, or a layer with a bad velocity.
    """
    xml_path = Path(folder) / "drumkit.xml"
    try:
        root = ElementTree.parse(xml_path).getroot()
    except FileNotFoundError:
        raise InputFileError(f"{xml_path}: no such file") from None
    except ElementTree.ParseError as error:
        raise InputFileError(f"{xml_path}: not valid XML ({error})") from None
    instruments = []
    for element in root.iter():
        if _tag(element) != "instrument":
            continue
        name = _child_text(element, "name") or ""
        layers = []
        for layer in element.iter():
            if _tag(layer) == "layer" and _child_text(layer, "filename"):
                layers.append(_layer(layer, Path(folder), xml_path, name))
        filename = _child_text(element, "filename")
        if not layers and filename:
            layers.append(Layer(Path(folder) / filename, 0.0, 1.0))
        instruments.append(Instrument(name, tuple(layers)))
    return Drumkit(Path(folder), _child_text(root, "name") or Path(folder).name, tuple(instruments))


def _layer(element: ElementTree.Element, folder: Path, xml_path: Path, name: str) -> Layer:
    try:
        low = float(_child_text(element, "min") or 0.0)
        high = float(_child_text(element, "max") or 1.0)
    except ValueError:
        raise InputFileError(f"{xml_path}: instrument '{name}': velocity is not a number") from None
    if not 0.0 <= low <= high <= 1.0:
        raise InputFileError(
            f"{xml_path}: instrument '{name}': velocity range [{low}, {high}] not in [0, 1]"
        )
    return Layer(folder / (_child_text(element, "filename") or ""), low, high)


def find_drumkits(root: Path = DEFAULT_ROOT) -> list[Path]:
    """Kit folders (those holding a drumkit.xml) under root, sorted.

    Raises:
        InputFileError: root holds no kit (package not installed?).
    """
    kits = sorted(path.parent for path in Path(root).glob("*/drumkit.xml"))
    if not kits:
        raise InputFileError(
            f"{root}: no drum kits (install Debian's hydrogen-drumkits, or give --root)"
        )
    return kits


def package_kits(package: str = BENCHMARK_PACKAGE) -> tuple[str, ...]:
    """Names of the kit folders (with a drumkit.xml) that a Debian package installed, sorted.

    Raises:
        InputFileError: dpkg does not know the package, or it installed no kit.
    """
    try:
        listed = subprocess.run(
            ["dpkg-query", "-L", package], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        raise InputFileError(
            f"{package}: not an installed Debian package (dpkg-query -L {package} failed)"
        ) from None
    kits = sorted(
        Path(line).parent.name for line in listed.splitlines() if line.endswith("/drumkit.xml")
    )
    if not kits:
        raise InputFileError(f"{package}: installed no drum kit (no drumkit.xml in its files)")
    return tuple(kits)


def kit_files(kit: Drumkit, report: CorpusReport) -> Iterator[HitFile]:
    """The hits of one kit: every layer of every mapped instrument, each sample file once.

    Layers whose file is missing, and files that an earlier instrument already used, go to
    report.skipped.
    """
    first_user: dict[Path, str] = {}
    for instrument in kit.instruments:
        class_name = instrument_class(instrument.name)
        if class_name is None:
            continue
        for layer in instrument.layers:
            if layer.path in first_user:
                reason = f"'{instrument.name}' reuses the sample of '{first_user[layer.path]}'"
                report.skipped.append((str(layer.path), reason))
            elif not layer.path.is_file():
                report.skipped.append((str(layer.path), "missing sample file"))
            else:
                first_user[layer.path] = instrument.name
                yield HitFile(layer.path, class_name, kit.folder.name, layer.dynamics)


def drumkit_files(
    root: Path = DEFAULT_ROOT,
    kits: tuple[str, ...] | None = None,
    report: CorpusReport | None = None,
) -> list[HitFile]:
    """The hits of the named kits under root (default: all), as kit_files gives them.

    Raises:
        InputFileError: no kits, an unknown kit name, or a malformed drumkit.xml.
    """
    folders = find_drumkits(root)
    if kits is not None:
        known = {folder.name: folder for folder in folders}
        unknown = [kit for kit in kits if kit not in known]
        if unknown:
            raise InputFileError(
                f"{root}: no kit '{unknown[0]}' (kits: {', '.join(sorted(known))})"
            )
        folders = [known[kit] for kit in kits]
    report = CorpusReport() if report is None else report
    return [hit for folder in folders for hit in kit_files(read_drumkit(folder), report)]


def build_drumkits(
    root: Path = DEFAULT_ROOT,
    kits: tuple[str, ...] | None = None,
    settings: CorpusSettings | None = None,
) -> tuple[HitDataset, CorpusReport]:
    """Hydrogen kits as one dataset: task "class" over CLASSES, grouping key "kit".

    Args:
        root: the folder of kit folders.
        kits: kit folder names to use (default: all).

    Raises:
        InputFileError: no kits, an unknown kit name, or a malformed drumkit.xml.
        DatasetError: a class with fewer than min_hits_per_class usable samples.
    """
    report = CorpusReport()
    files = drumkit_files(root, kits, report)
    dataset, report = build_hits(files, CLASSES, "kit", settings, report)
    dataset.check_min_per_class((settings or CorpusSettings()).corpus.min_hits_per_class)
    return dataset, report


def mapping_markdown(root: Path = DEFAULT_ROOT) -> str:
    """A Markdown table, per kit, of which instruments map to which class and which are
    skipped (for docs/DATA.md)."""
    lines = ["| kit | " + " | ".join(CLASSES) + " | skipped |", "|---" * (len(CLASSES) + 2) + "|"]
    for folder in find_drumkits(root):
        kit = read_drumkit(folder)
        cells: dict[str | None, list[str]] = {}
        for instrument in kit.instruments:
            if not instrument.layers:
                continue
            label = f"{instrument.name} ({len(instrument.layers)})"
            cells.setdefault(instrument_class(instrument.name), []).append(label)
        row = [", ".join(cells.get(class_name, [])) for class_name in (*CLASSES, None)]
        lines.append(f"| {folder.name} | " + " | ".join(row) + " |")
    return "\n".join(lines)
