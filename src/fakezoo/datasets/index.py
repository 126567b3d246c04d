"""What every benchmark reader returns: the videos of one dataset, with their official split,
label, manipulation method and group, plus the problems met while reading (never fatal)."""

from __future__ import annotations

import csv
import io
import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.dataset import LABEL_NAMES, Dataset

__all__ = ["SPLITS", "Problem", "Video", "VideoIndex", "absent_note"]

logger = logging.getLogger("fakezoo")

SPLITS = ("train", "validation", "test")
"""fakezoo's split names (FF++'s ``val.json`` is the ``validation`` split)."""

_SHOWN = 3  # absent names shown in one problem line


@dataclass(frozen=True)
class Video:
    """One video of a benchmark dataset.

    Attributes:
        id: Unique within its dataset, e.g. ``"Deepfakes/000_003"``; also the video's group,
            so that no video's frames land on both sides of a split or fold.
        path: The video file (for DeepfakeBench's preprocessed data: its frame folder).
        label: ``0`` real, ``1`` fake.
        split: ``"train"``, ``"validation"``, ``"test"``, or ``None`` where the dataset has no
            official split for it.
        method: The manipulation method of a fake (``"Deepfakes"``, ``"Celeb-synthesis"``...),
            ``None`` for a real video.
        compression: FaceForensics++'s ``"raw"``, ``"c23"`` or ``"c40"``; else ``None``.
        frames: DeepfakeBench's face crops of the video, in frame order; else empty.
    """

    id: str
    path: Path
    label: int
    split: str | None
    method: str | None = None
    compression: str | None = None
    frames: tuple[Path, ...] = ()

    @property
    def label_name(self) -> str:
        return LABEL_NAMES[self.label]


@dataclass(frozen=True)
class Problem:
    """Something a reader could not use, and what it did instead (it always goes on)."""

    file: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


def absent_note(names: Sequence[str], noun: str = "listed video", state: str = "absent") -> str:
    """``"2 listed videos are absent: a, b; left out"`` (at most three names shown)."""
    shown = ", ".join(names[:_SHOWN])
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    one = len(names) == 1
    counted = f"{len(names)} {noun}{'' if one else 's'} {'is' if one else 'are'}"
    return f"{counted} {state}: {shown}{more}; left out"


@dataclass
class VideoIndex:
    """The videos of one benchmark dataset as read from its distributed layout.

    Attributes:
        name: The dataset and its options, e.g. ``"ff++:c23"``.
        root: The folder it was read from.
        videos: Every usable video, in a fixed order (sorted by id).
        problems: Missing lists, absent or empty files, contradicting labels: one line each,
            also logged as a warning when the reader finishes.

    Example:
        ```python
        # needs: FaceForensics++ as distributed
        from fakezoo.datasets import read_dataset
        index = read_dataset("ff++:c23", "/data/FaceForensics++")
        index.counts()  # {'train': {'real': 720, 'fake': 2880}, 'validation': ...}
        ```
    """

    name: str
    root: Path
    videos: list[Video]
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.videos = sorted(self.videos, key=lambda v: v.id)
        seen = Counter(v.id for v in self.videos)
        twice = [k for k, n in seen.items() if n > 1]
        if twice:
            raise ValueError(f"{self.name}: video ids must be unique, got {twice[:3]} twice")

    def __len__(self) -> int:
        return len(self.videos)

    def __repr__(self) -> str:
        return (
            f"VideoIndex({self.name!r}, root='{self.root}', videos={len(self)}, "
            f"problems={len(self.problems)})"
        )

    def split(self, *names: str) -> list[Video]:
        """The videos of the named splits (``"train"``, ``"validation"``, ``"test"``)."""
        unknown = [n for n in names if n not in SPLITS]
        if unknown:
            raise ValueError(f"unknown split {unknown[0]!r}: use one of {', '.join(SPLITS)}")
        return [v for v in self.videos if v.split in names]

    def methods(self) -> list[str]:
        """The manipulation methods of the fakes, sorted."""
        return sorted({v.method for v in self.videos if v.method})

    def counts(self) -> dict[str, dict[str, int]]:
        """Videos per split (``"none"``: no official split) and class."""
        out: dict[str, dict[str, int]] = {}
        for v in self.videos:
            row = out.setdefault(v.split or "none", {"real": 0, "fake": 0})
            row[v.label_name] += 1
        return out

    def summary(self) -> str:
        """One line: the counts per split and the number of problems."""
        parts = [
            f"{split} {c['real']} real + {c['fake']} fake" for split, c in self.counts().items()
        ]
        return (
            f"{self.name} in {self.root}: {len(self)} videos ({'; '.join(parts) or 'none'}), "
            f"{len(self.problems)} problem(s)"
        )

    def log_problems(self) -> None:
        for problem in self.problems:
            logger.warning("%s: %s", self.name, problem)

    def to_dataset(self, splits: Iterable[str] | None = None) -> Dataset:
        """The videos (or, for DeepfakeBench data, their frames) as a
        [`Dataset`][fakezoo.data.Dataset] rooted at ``root``: groups are the video ids,
        splits the official ones (``None`` when some chosen video has no official split)."""
        chosen = self.videos if splits is None else self.split(*splits)
        paths, labels, groups, split_names = [], [], [], []
        for v in chosen:
            files = v.frames or (v.path,)
            paths.extend(files)
            labels.extend([v.label] * len(files))
            groups.extend([v.id] * len(files))
            split_names.extend([v.split] * len(files))
        has_split = all(s is not None for s in split_names)
        return Dataset(
            root=self.root,
            paths=paths,
            labels=np.asarray(labels, np.int64),
            groups=np.asarray(groups) if groups else None,
            splits=split_names if has_split and split_names else None,
        )

    def to_csv(self) -> str:
        """``id,path,label,split,method,compression,frames``: one row per video, paths
        relative to ``root``."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", "path", "label", "split", "method", "compression", "frames"])
        for v in self.videos:
            writer.writerow(
                [
                    v.id,
                    _rel(v.path, self.root),
                    v.label_name,
                    v.split or "",
                    v.method or "",
                    v.compression or "",
                    len(v.frames) if v.frames else "",
                ]
            )
        return out.getvalue()


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return Path(os.path.relpath(path, root)).as_posix()
