"""Where a training or evaluation command's hits come from: a sessions folder, a single-hit
corpus folder or a saved dataset (.npz), each built by training.data's own builders, so that
every check they make (labels, levels, rates, class counts) stops a command the same way.
"""

from dataclasses import replace
from pathlib import Path
from typing import Any

from firmware.errors import InputFileError
from training.data.corpus import CorpusSettings, build_corpus
from training.data.dataset import HitDataset
from training.data.sessions import DATASET_FILE, build_sessions, read_settings
from training.data.settings import settings_from_file

GROUP_KEYS = ("session", "kit", "source")
"""Grouping keys tried in order for splits when none is named: sessions' recordings, kits,
a corpus's source folders."""


def load_dataset(
    path: Path, settings: Path | None = None, min_hits_per_class: int | None = None
) -> tuple[HitDataset, dict[str, Any]]:
    """Build or read the dataset at path.

    A .npz file is a saved dataset; a folder holding session files (*.toml other than
    dataset.toml) is a sessions dataset; any other folder is a single-hit corpus.

    Args:
        settings: corpus settings TOML ([corpus], [levels], ...); sessions folders take theirs
            from their own dataset.toml, saved datasets need none.
        min_hits_per_class: overrides the settings' minimum for folders: a calibration take
            holds a few hits per class, far fewer than training needs, and checks its own.

    Returns:
        (the dataset, a JSON-able summary of how it was made).

    Raises:
        HitarError subclasses: one line naming the file and the problem.
    """
    path = Path(path)
    if path.suffix == ".npz":
        dataset = HitDataset.load(path)
        return dataset, {"source": str(path), "kind": "saved dataset", **dataset.summary()}
    if not path.is_dir():
        raise InputFileError(f"{path}: no such dataset (a sessions folder, corpus folder or .npz)")
    if any(p.name != DATASET_FILE for p in path.rglob("*.toml")):
        session_settings = read_settings(path)
        if min_hits_per_class is not None:
            sessions = replace(session_settings.sessions, min_hits_per_class=min_hits_per_class)
            session_settings = replace(session_settings, sessions=sessions)
        dataset, summary = build_sessions(path, session_settings)
        return dataset, {"source": str(path), "kind": "sessions", **summary}
    corpus_settings = settings_from_file(CorpusSettings, settings) if settings else CorpusSettings()
    if min_hits_per_class is not None:
        corpus = replace(corpus_settings.corpus, min_hits_per_class=min_hits_per_class)
        corpus_settings = replace(corpus_settings, corpus=corpus)
    dataset, report = build_corpus(path, corpus_settings)
    return dataset, {
        "source": str(path),
        "kind": "corpus",
        **dataset.summary(),
        "skipped": len(report.skipped),
        "fallbacks": len(report.fallbacks),
    }


def default_group_key(dataset: HitDataset) -> str:
    """The first of GROUP_KEYS the dataset has, else its first grouping key.

    Raises:
        InputFileError: the dataset has no grouping key at all.
    """
    for key in (*GROUP_KEYS, *dataset.groups):
        if key in dataset.groups:
            return key
    raise InputFileError("dataset: no grouping key (session, kit, ...) to split by")
