"""HitDataset: the one container every hit dataset is built into, from any source.

Guitar sessions, single-hit sample libraries, hydrogen drum kits and the simulator all produce
this same structure, so splitting, augmentation, training and evaluation are written once.
Each hit keeps a little more signal than the model window (its *context*), so that the window
can be re-cut a few samples early or late at training time, as the detector would place it.
"""

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from firmware.errors import HitarError, InputFileError
from firmware.features import FeatureConfig, cut_window, peak_velocity
from firmware.layout import N_CHANNELS, PIEZO_CHANNELS

FORMAT = "hitar-hits"
FORMAT_VERSION = 1
UNLABELLED = -1
"""Label index of a hit that has no class for a task (e.g. a drum hit in the 'hand' task)."""


class DatasetError(HitarError):
    """A dataset that must not be trained on: too few examples, mismatched parts."""


@dataclass(frozen=True)
class ContextConfig:
    """How much signal to keep around each hit's model window."""

    margin_samples: int = 64
    """Extra samples kept on each side of the model window: the largest onset jitter
    augmentation can apply (64 samples = 1.33 ms, one board period at 48 kHz)."""

    def __post_init__(self) -> None:
        if self.margin_samples < 0:
            raise ValueError(f"margin_samples must be >= 0, got {self.margin_samples}")

    def span(self, features: FeatureConfig) -> tuple[int, int]:
        """(samples kept before the onset, samples kept from the onset on)."""
        before = features.pre_roll_samples + self.margin_samples
        after = features.window_samples - features.pre_roll_samples + self.margin_samples
        return before, after


def cut_context(signal: np.ndarray, onset_sample: int, span: tuple[int, int]) -> np.ndarray:
    """The context of one hit from a whole recording.

    Args:
        signal: float32 [frames, 6].
        onset_sample: index into signal of the hit's onset.
        span: (samples before the onset, samples from the onset on), from ContextConfig.span.

    Returns:
        A view, shape [before + after, 6].

    Raises:
        ValueError: the context does not lie wholly inside the signal.
    """
    start, stop = onset_sample - span[0], onset_sample + span[1]
    if start < 0 or stop > signal.shape[0]:
        raise ValueError(
            f"context [{start}, {stop}) of onset {onset_sample} is outside the signal "
            f"of {signal.shape[0]} frames"
        )
    return signal[start:stop]


def cut_windows(
    contexts: np.ndarray,
    onset_offset: int,
    features: FeatureConfig,
    shifts_samples: np.ndarray | None = None,
) -> np.ndarray:
    """Model windows cut from hit contexts by firmware.features.cut_window.

    Args:
        contexts: float32 [n, context_samples, channels].
        onset_offset: index of the onset within each context.
        features: the model's feature parameters (window length and pre-roll).
        shifts_samples: int [n] or None: move each hit's onset this many samples later
            (positive: the window starts later, as a detector firing late would cut it).

    Returns:
        float32 [n, window_samples, channels].

    Raises:
        ValueError: a shift reaches outside the context.
    """
    n, _, n_channels = contexts.shape
    shifts = np.zeros(n, dtype=int) if shifts_samples is None else np.asarray(shifts_samples)
    out = np.empty((n, features.window_samples, n_channels), dtype=np.float32)
    for shift in np.unique(shifts):
        chosen = np.flatnonzero(shifts == shift)
        frames_first = np.moveaxis(contexts[chosen], 1, 0)
        window = cut_window(frames_first, onset_offset + int(shift), features)
        out[chosen] = np.moveaxis(window, 0, 1)
    return out


@dataclass(frozen=True)
class HitDataset:
    """Hits with their context signal, labels per task, dynamics, groups and sources.

    Every per-hit array has the hits along its first axis, in the same order.
    """

    contexts: np.ndarray
    """float32 [n, context_samples, 6]: signal around each hit, firmware channel order."""
    onset_offset: int
    """Index of the onset within each context; the model window starts pre_roll_samples
    earlier."""
    sample_rate_hz: int
    tasks: Mapping[str, tuple[str, ...]]
    """Task name -> class names, e.g. {"hand": HAND_PARTS, "location": LOCATIONS} for the
    guitar, {"class": ("kick", "snare", ...)} for drum corpora."""
    labels: Mapping[str, np.ndarray]
    """Task name -> int32 [n]: index into tasks[name], or UNLABELLED."""
    dynamics: np.ndarray
    """float32 [n]: played dynamics in [0, 1] as labelled, NaN where unknown."""
    velocity: np.ndarray
    """float32 [n]: firmware.features.peak_velocity of the piezos in the model window."""
    groups: Mapping[str, np.ndarray]
    """Grouping key -> str [n], e.g. "session", "player", "kit", "source": what splits keep
    together. A hit from a source without that key has ""."""
    source: np.ndarray
    """str [n]: where each hit came from, "file:line" or a sample file path."""

    def __post_init__(self) -> None:
        n = len(self.source)
        if self.contexts.ndim != 3 or self.contexts.shape[0] != n:
            raise ValueError(f"contexts shape {self.contexts.shape} does not hold {n} hits")
        if self.contexts.shape[2] != N_CHANNELS:
            raise ValueError(f"contexts have {self.contexts.shape[2]} channels, not {N_CHANNELS}")
        if not 0 <= self.onset_offset < self.contexts.shape[1]:
            raise ValueError(f"onset_offset {self.onset_offset} is outside the context")
        if set(self.labels) != set(self.tasks):
            raise ValueError(f"labels for {sorted(self.labels)}, tasks {sorted(self.tasks)}")
        per_hit = {"dynamics": self.dynamics, "velocity": self.velocity}
        per_hit |= {f"labels[{task}]": labels for task, labels in self.labels.items()}
        per_hit |= {f"groups[{key}]": group for key, group in self.groups.items()}
        for name, array in per_hit.items():
            if array.shape != (n,):
                raise ValueError(f"{name} has shape {array.shape}, expected ({n},)")
        for task, labels in self.labels.items():
            if n and not UNLABELLED <= labels.min() <= labels.max() < len(self.tasks[task]):
                raise ValueError(f"labels[{task}] has an index outside its classes")

    def __len__(self) -> int:
        return len(self.source)

    @property
    def context_samples(self) -> int:
        return self.contexts.shape[1]

    def windows(
        self, features: FeatureConfig, shifts_samples: np.ndarray | None = None
    ) -> np.ndarray:
        """Model windows of every hit: cut_windows over the contexts."""
        return cut_windows(self.contexts, self.onset_offset, features, shifts_samples)

    def subset(self, indices: np.ndarray | Sequence[int]) -> "HitDataset":
        """The hits at indices (int positions or a boolean mask), in that order."""
        indices = np.asarray(indices)
        return HitDataset(
            contexts=self.contexts[indices],
            onset_offset=self.onset_offset,
            sample_rate_hz=self.sample_rate_hz,
            tasks=dict(self.tasks),
            labels={task: labels[indices] for task, labels in self.labels.items()},
            dynamics=self.dynamics[indices],
            velocity=self.velocity[indices],
            groups={key: group[indices] for key, group in self.groups.items()},
            source=self.source[indices],
        )

    def class_names(self, task: str) -> np.ndarray:
        """str [n]: each hit's class name for task ("" where unlabelled)."""
        names = np.array([*self.tasks[task], ""])
        return names[self.labels[task]]

    def summary(self) -> dict[str, Any]:
        """Counts per class of every task and per group of every key (JSON-able)."""
        return {
            "hits": len(self),
            "tasks": {
                task: {
                    name: int(np.count_nonzero(self.labels[task] == index))
                    for index, name in enumerate(names)
                }
                for task, names in self.tasks.items()
            },
            "groups": {
                key: dict(sorted(Counter(group.tolist()).items()))
                for key, group in self.groups.items()
            },
            "labelled_dynamics": int(np.count_nonzero(~np.isnan(self.dynamics))),
        }

    def check_min_per_class(self, min_hits: int) -> None:
        """Stop before training on a task with a class too rare to learn or to test.

        Raises:
            DatasetError: naming the task, the class and its count.
        """
        for task, counts in self.summary()["tasks"].items():
            for name, count in counts.items():
                if count < min_hits:
                    raise DatasetError(
                        f"dataset: class '{name}' of task '{task}' has {count} hits, at least "
                        f"{min_hits} needed (min_hits_per_class)"
                    )

    def save(self, path: Path) -> None:
        """Write the dataset to one .npz file (no pickles: loadable anywhere)."""
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "onset_offset": self.onset_offset,
            "sample_rate_hz": self.sample_rate_hz,
            "tasks": {task: list(names) for task, names in self.tasks.items()},
            "groups": list(self.groups),
        }
        arrays = {
            "meta": np.array(json.dumps(meta)),
            "contexts": self.contexts,
            "dynamics": self.dynamics,
            "velocity": self.velocity,
            "source": self.source.astype(str),
        }
        arrays |= {f"labels.{task}": labels for task, labels in self.labels.items()}
        arrays |= {f"groups.{key}": group.astype(str) for key, group in self.groups.items()}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> "HitDataset":
        """Read a dataset written by save.

        Raises:
            InputFileError: missing, not a dataset file, or another format version.
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
                    raise InputFileError(
                        f"{path}: format {meta.get('format')!r} v{meta.get('format_version')}, "
                        f"expected {FORMAT!r} v{FORMAT_VERSION}"
                    )
                return cls(
                    contexts=data["contexts"],
                    onset_offset=int(meta["onset_offset"]),
                    sample_rate_hz=int(meta["sample_rate_hz"]),
                    tasks={task: tuple(names) for task, names in meta["tasks"].items()},
                    labels={task: data[f"labels.{task}"] for task in meta["tasks"]},
                    dynamics=data["dynamics"],
                    velocity=data["velocity"],
                    groups={key: data[f"groups.{key}"] for key in meta["groups"]},
                    source=data["source"],
                )
        except FileNotFoundError:
            raise InputFileError(f"{path}: no such dataset file") from None
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as error:
            raise InputFileError(f"{path}: not a hit dataset file ({error})") from None


def concatenate(datasets: Sequence[HitDataset]) -> HitDataset:
    """One dataset holding the hits of all, in order.

    Tasks are merged: a task missing from a part gets UNLABELLED for that part's hits, and a
    grouping key missing from a part gets "". A task present in several parts must have the
    same class names in each.

    Raises:
        DatasetError: parts with other rates, context geometry or class names for one task.
    """
    if not datasets:
        raise DatasetError("dataset: nothing to concatenate")
    first = datasets[0]
    tasks: dict[str, tuple[str, ...]] = {}
    for part in datasets:
        if (part.sample_rate_hz, part.onset_offset, part.context_samples) != (
            first.sample_rate_hz,
            first.onset_offset,
            first.context_samples,
        ):
            raise DatasetError(
                "dataset: parts differ in sample rate, onset offset or context length "
                f"({part.sample_rate_hz} Hz, {part.onset_offset}, {part.context_samples} vs "
                f"{first.sample_rate_hz} Hz, {first.onset_offset}, {first.context_samples})"
            )
        for task, names in part.tasks.items():
            if tasks.setdefault(task, names) != names:
                raise DatasetError(
                    f"dataset: task '{task}' has classes {list(names)} in one part and "
                    f"{list(tasks[task])} in another"
                )
    keys = list(dict.fromkeys(key for part in datasets for key in part.groups))

    def labels_of(part: HitDataset, task: str) -> np.ndarray:
        if task in part.labels:
            return part.labels[task]
        return np.full(len(part), UNLABELLED, dtype=np.int32)

    def groups_of(part: HitDataset, key: str) -> np.ndarray:
        return part.groups[key] if key in part.groups else np.full(len(part), "")

    return HitDataset(
        contexts=np.concatenate([part.contexts for part in datasets]),
        onset_offset=first.onset_offset,
        sample_rate_hz=first.sample_rate_hz,
        tasks=tasks,
        labels={task: np.concatenate([labels_of(p, task) for p in datasets]) for task in tasks},
        dynamics=np.concatenate([part.dynamics for part in datasets]),
        velocity=np.concatenate([part.velocity for part in datasets]),
        groups={key: np.concatenate([groups_of(p, key) for p in datasets]) for key in keys},
        source=np.concatenate([part.source for part in datasets]),
    )


class DatasetBuilder:
    """Collects hits one by one (from any source) and builds the HitDataset at the end."""

    def __init__(
        self,
        tasks: Mapping[str, tuple[str, ...]],
        features: FeatureConfig,
        context: ContextConfig,
    ) -> None:
        self.tasks = dict(tasks)
        self.features = features
        self.span = context.span(features)
        self._contexts: list[np.ndarray] = []
        self._labels: dict[str, list[int]] = {task: [] for task in self.tasks}
        self._dynamics: list[float] = []
        self._velocity: list[float] = []
        self._groups: dict[str, list[str]] = {}
        self._source: list[str] = []

    def __len__(self) -> int:
        return len(self._source)

    def add(
        self,
        signal: np.ndarray,
        onset_sample: int,
        classes: Mapping[str, str],
        dynamics: float | None,
        groups: Mapping[str, str],
        source: str,
    ) -> None:
        """Add one hit.

        Args:
            signal: float32 [frames, 6] at the dataset rate, firmware channel order.
            onset_sample: the hit's onset, an index into signal.
            classes: task -> class name, for some or all tasks (the rest stay UNLABELLED).
            dynamics: played dynamics in [0, 1], or None.
            groups: grouping key -> group name; every hit must give the same keys.
            source: "file:line" or the file the hit came from.

        Raises:
            ValueError: the context does not fit in the signal (caller reports the hit), an
                unknown class, or other grouping keys than earlier hits.
        """
        context = cut_context(signal, onset_sample, self.span)
        if self._source and set(groups) != set(self._groups):
            raise ValueError(f"{source}: groups {sorted(groups)}, earlier {sorted(self._groups)}")
        indices = {task: UNLABELLED for task in self.tasks}
        for task, name in classes.items():
            if name not in self.tasks[task]:
                raise ValueError(f"{source}: '{name}' is not a class of task '{task}'")
            indices[task] = self.tasks[task].index(name)
        window = cut_window(context, self.span[0], self.features)
        self._contexts.append(np.array(context, dtype=np.float32))
        for task, index in indices.items():
            self._labels[task].append(index)
        self._dynamics.append(np.nan if dynamics is None else dynamics)
        self._velocity.append(peak_velocity(window[:, PIEZO_CHANNELS]))
        for key, name in groups.items():
            self._groups.setdefault(key, []).append(name)
        self._source.append(source)

    def build(self) -> HitDataset:
        """The dataset of every hit added so far."""
        context_samples = sum(self.span)
        return HitDataset(
            contexts=np.stack(self._contexts)
            if self._contexts
            else np.zeros((0, context_samples, N_CHANNELS), dtype=np.float32),
            onset_offset=self.span[0],
            sample_rate_hz=self.features.sample_rate_hz,
            tasks=self.tasks,
            labels={task: np.array(v, dtype=np.int32) for task, v in self._labels.items()},
            dynamics=np.array(self._dynamics, dtype=np.float32),
            velocity=np.array(self._velocity, dtype=np.float32),
            groups={key: np.array(v, dtype=str) for key, v in self._groups.items()},
            source=np.array(self._source, dtype=str),
        )


def format_summary(summary: Mapping[str, Any], indent: str = "") -> str:
    """A summary dict (HitDataset.summary and the builders' reports) as readable text lines:
    flat mappings on one line ("heel 30, thumb 28"), nested ones indented, lists one item a
    line."""
    lines = []
    for key, value in summary.items():
        nested = isinstance(value, Mapping) and any(
            isinstance(v, Mapping | list) for v in value.values()
        )
        if isinstance(value, Mapping) and not nested:
            flat = ", ".join(f"{name} {count}" for name, count in value.items())
            lines.append(f"{indent}{key}: {flat or '-'}")
        elif isinstance(value, Mapping):
            lines.append(f"{indent}{key}:")
            lines.append(format_summary(value, indent + "  "))
        elif isinstance(value, list):
            lines.append(f"{indent}{key}: {len(value)}")
            for item in value:
                if isinstance(item, Mapping):
                    item = ", ".join(f"{name} {v}" for name, v in item.items())
                lines.append(f"{indent}  - {item}")
        else:
            lines.append(f"{indent}{key}: {value}")
    return "\n".join(line for line in lines if line)
