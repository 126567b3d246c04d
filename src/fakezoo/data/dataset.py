"""The dataset: labelled image files in a fixed order, with the files left out and why."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DatasetError
from .decode import file_problem

if TYPE_CHECKING:  # torch is imported lazily so that decode worker processes start fast
    pass

__all__ = [
    "IMAGE_EXTENSIONS",
    "LABEL_NAMES",
    "Dataset",
    "SkippedFile",
    "log_skipped",
    "printable_path",
]


logger = logging.getLogger(__name__)

LABEL_NAMES = ("real", "fake")
"""Class names by label index: `0` is real, `1` is fake."""

IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".jfif",
    ".jpe",
    ".png",
    ".bmp",
    ".webp",
    ".gif",
    ".tif",
    ".tiff",
)
"""File extensions (compared case-insensitively) that folder discovery treats as images; any
other file found is reported as skipped."""


def printable_path(path: str | os.PathLike[str]) -> str:
    """``path`` as text that can be printed and written as UTF-8: the bytes of a file name that
    is not valid UTF-8 are shown as ``\\xNN`` escapes.

    Example:
        ```python
        import os
        printable_path(os.fsdecode(b"caf\\xe9.jpg"))  # 'caf\\\\xe9.jpg'
        ```
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace")


SPLIT_ORDER = ("train", "validation", "test")
"""The split folders a layout may have, in the order they are listed."""


def split_rank(name: str) -> int:
    """Sort key of a split name: its place in [`SPLIT_ORDER`][fakezoo.data.dataset.SPLIT_ORDER],
    unknown names last."""
    return SPLIT_ORDER.index(name) if name in SPLIT_ORDER else len(SPLIT_ORDER)


def check_cv(
    labels: np.ndarray, n_splits: int, groups: np.ndarray | None = None, where: str = ""
) -> None:
    """Refuse data that cannot be split into ``n_splits`` stratified folds: too few images of
    a class, one class only, or (with ``groups``) too few groups; ``where`` names the data in
    the message."""
    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")
    if len(labels) == 0:
        raise DatasetError(
            f"the dataset{where} is empty; cross-validation needs real and fake images"
        )
    counts = np.bincount(labels, minlength=2)
    present = [name for name, c in zip(LABEL_NAMES, counts, strict=True) if c]
    if len(present) < 2:
        absent = next(name for name, c in zip(LABEL_NAMES, counts, strict=True) if not c)
        hint = (
            ", or train with fakes='self-blend' (--fakes self-blend), which makes them "
            "from the real ones"
            if absent == "fake"
            else ""
        )
        raise DatasetError(
            f"the dataset{where} has only {present[0]} images ({len(labels)}); "
            f"cross-validation needs both classes: add {absent} images{hint}"
        )
    for name, count in zip(LABEL_NAMES, counts, strict=True):
        if count < n_splits:
            raise DatasetError(
                f"the dataset{where} has only {count} {name} images, fewer than "
                f"n_splits={n_splits}; add {name} images or lower n_splits"
            )
    if groups is not None:
        n_groups = len(np.unique(groups))
        if n_groups < n_splits:
            raise DatasetError(
                f"the dataset{where} has only {n_groups} distinct groups, fewer than "
                f"n_splits={n_splits}; lower n_splits or split the groups"
            )


_SKIPPED_SHOWN = 5


def log_skipped(skipped: Sequence[SkippedFile], what: str) -> None:
    """One warning on the ``"fakezoo"`` logger: how many ``what`` were skipped, the first few
    with their reasons."""
    lines = "\n".join(f"  {printable_path(s.path)}: {s.reason}" for s in skipped[:_SKIPPED_SHOWN])
    more = len(skipped) - _SKIPPED_SHOWN
    tail = f"\n  ... and {more} more (see Dataset.skipped)" if more > 0 else ""
    logger.warning("skipped %d %s:\n%s%s", len(skipped), what, lines, tail)


@dataclass(frozen=True)
class SkippedFile:
    """A file that was left out of a dataset, and why.

    Example:
        ```python
        for item in decoded.dataset.skipped:
            print(f"{item.path}: {item.reason}")
        ```
    """

    path: Path
    reason: str


@dataclass
class Dataset:
    """Image files with binary labels (`0` real, `1` fake), in a fixed order.

    Attributes:
        root: The folder the dataset was loaded from (a CSV file's folder); `relpaths()` are
            relative to it.
        paths: Absolute image paths.
        labels: `int64` labels, `0` for real and `1` for fake.
        groups: Identity or video group of each item (from a CSV `group` column), or `None`.
            Folds keep a group on one side.
        splits: The original split (`"train"`, `"validation"` or `"test"`) of each item when the
            source had split folders, else `None`.
        skipped: Files that were listed or found but left out, each with a reason.
        content: The SHA-256 of each item when it is not a file's bytes (fakes that fakezoo
            made, hashed by their pixels), else `None`: `sha256()` reads the files.

    Example:
        ```python
        ds = load_dataset("faces/")
        print(len(ds), ds.class_counts())  # 1000 {'real': 500, 'fake': 500}
        small = ds.subsample(50, seed=0)
        ```
    """

    root: Path
    paths: list[Path]
    labels: np.ndarray
    groups: np.ndarray | None = None
    splits: list[str] | None = None
    skipped: list[SkippedFile] = field(default_factory=list)
    content: list[str] | None = None

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.paths = [Path(p) for p in self.paths]
        labels = np.asarray(self.labels)
        if labels.ndim != 1 or len(labels) != len(self.paths):
            raise ValueError(
                f"labels must be a 1-D array with one label per path: got shape {labels.shape} "
                f"for {len(self.paths)} paths"
            )
        if labels.size and not np.isin(labels, (0, 1)).all():
            raise ValueError(f"labels must be 0 (real) or 1 (fake), got {np.unique(labels)}")
        self.labels = labels.astype(np.int64)
        if self.groups is not None:
            self.groups = np.asarray(self.groups)
            if self.groups.shape != (len(self.paths),):
                raise ValueError(
                    f"groups must have one entry per path: got shape {self.groups.shape} "
                    f"for {len(self.paths)} paths"
                )
        if self.splits is not None:
            self.splits = list(self.splits)
            if len(self.splits) != len(self.paths):
                raise ValueError(
                    f"splits must have one entry per path: got {len(self.splits)} "
                    f"for {len(self.paths)} paths"
                )
        self.skipped = list(self.skipped)
        if self.content is not None:
            self.content = list(self.content)
            if len(self.content) != len(self.paths):
                raise ValueError(
                    f"content must have one SHA-256 per path: got {len(self.content)} "
                    f"for {len(self.paths)} paths"
                )

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        counts = self.class_counts()
        split_names = sorted(set(self.splits), key=split_rank) if self.splits else None
        return (
            f"Dataset(root='{self.root}', n={len(self)}, real={counts['real']}, "
            f"fake={counts['fake']}, groups={'yes' if self.groups is not None else None}, "
            f"splits={split_names}, skipped={len(self.skipped)})"
        )

    def relpaths(self) -> list[str]:
        """Return each path relative to `root`, with forward slashes.

        Returns:
            One POSIX-style relative path per item (a CSV may list files outside `root`; they
            come out as `../...`).

        Example:
            ```python
            ds.relpaths()[:2]  # ['fake/fake_00000.jpg', 'fake/fake_00001.jpg']
            ```
        """
        return [self._relpath(path) for path in self.paths]

    def _relpath(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            try:
                return Path(os.path.relpath(path, self.root)).as_posix()
            except ValueError:  # another drive on Windows
                return path.as_posix()

    def skipped_records(self) -> list[dict[str, str]]:
        """The files left out, as a run or a report records them: ``{"path", "reason"}``, the
        path relative to `root` and printable (see
        [`printable_path`][fakezoo.data.dataset.printable_path]).

        Example:
            ```python
            ds.skipped_records()  # [{'path': 'real/notes.txt', 'reason': 'not an image ...'}]
            ```
        """
        return [
            {"path": printable_path(self._relpath(s.path)), "reason": s.reason}
            for s in self.skipped
        ]

    def usable(self) -> Dataset:
        """The items a run can read and record; the others move to `skipped` with their reason.

        An item is left out when it is not a regular, non-empty file (a broken symbolic link,
        a link loop, a named pipe that would block a reader, ...; found from its metadata,
        nothing is read) or when its name is not valid UTF-8 (a run records its files' names
        as text).

        Example:
            ```python
            ds = load_dataset("faces/").usable()
            [s.reason for s in ds.skipped]  # ['broken symbolic link (...)', ...]
            ```
        """
        keep, left_out = [], []
        for i, path in enumerate(self.paths):
            reason = file_problem(path)
            if reason is None and printable_path(path) != os.fspath(path):
                reason = (
                    "the file name is not valid UTF-8 (shown with \\x escapes); rename the "
                    "file: a run records the names of its files as text"
                )
            if reason is None:
                keep.append(i)
            else:
                left_out.append(SkippedFile(path, reason))
        if not left_out:
            return self
        log_skipped(left_out, f"files of {printable_path(self.root)} that a run cannot use")
        usable = self.subset(keep)
        usable.skipped = [*self.skipped, *left_out]
        return usable

    def sha256(self) -> list[str]:
        """SHA-256 of each file's bytes, in item order (remembered per file for the process).

        Used for the run fingerprint (the data is its files' content, not their names) and by
        `make_folds(content=...)` to keep identical files in one fold.

        Example:
            ```python
            ds.sha256()[0]  # '9f86d08...'
            ```
        """
        from .._io import file_sha256

        if self.content is not None:
            return list(self.content)
        return [file_sha256(p) for p in self.paths]

    def digest(self) -> str:
        """The data's digest: SHA-256 of the sorted (relative path, file SHA-256, label)
        triples. Renaming, editing, adding, removing or relabelling any file changes it; a
        run's fingerprint records it (as ``data_sha256``).

        Example:
            ```python
            ds.digest()  # '3b1f...' (64 hex digits)
            ```
        """
        triples = sorted(zip(self.relpaths(), self.sha256(), self.labels.tolist(), strict=True))
        text = "".join(f"{p}\t{h}\t{v}\n" for p, h, v in triples)
        return hashlib.sha256(text.encode()).hexdigest()

    def class_counts(self) -> dict[str, int]:
        """Count the images of each class.

        Returns:
            `{"real": n_real, "fake": n_fake}`.

        Example:
            ```python
            ds.class_counts()  # {'real': 500, 'fake': 500}
            ```
        """
        counts = np.bincount(self.labels, minlength=2)
        return {name: int(counts[i]) for i, name in enumerate(LABEL_NAMES)}

    def subset(self, indices: Sequence[int] | np.ndarray) -> Dataset:
        """Return the items at `indices` (integer indices in that order, or a boolean mask).

        The `skipped` list is kept as it is.

        Args:
            indices: Integer positions, or a boolean mask with one entry per item.

        Returns:
            A new `Dataset`.

        Example:
            ```python
            train_idx, val_idx = make_folds(ds.labels)[0]
            val = ds.subset(val_idx)
            ```
        """
        idx = np.asarray(indices)
        n = len(self)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise IndexError(f"a boolean mask must have shape ({n},), got {idx.shape}")
            idx = np.flatnonzero(idx)
        elif idx.size == 0:
            idx = np.zeros(0, dtype=np.int64)
        elif not np.issubdtype(idx.dtype, np.integer):
            raise IndexError(f"indices must be integers or a boolean mask, got dtype {idx.dtype}")
        idx = idx.astype(np.int64).reshape(-1)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"index out of range for a dataset of {n} items")
        return Dataset(
            root=self.root,
            paths=[self.paths[i] for i in idx],
            labels=self.labels[idx],
            groups=None if self.groups is None else self.groups[idx],
            splits=None if self.splits is None else [self.splits[i] for i in idx],
            skipped=list(self.skipped),
            content=None if self.content is None else [self.content[i] for i in idx],
        )

    def subsample(self, n_per_class: int, seed: int = 0) -> Dataset:
        """Draw `n_per_class` images of each class at random (seeded), keeping dataset order.

        Args:
            n_per_class: Images to keep per class.
            seed: Random seed; the same seed always gives the same subset.

        Returns:
            A balanced `Dataset` of `2 * n_per_class` items.

        Raises:
            DatasetError: If a class has fewer than `n_per_class` images.

        Example:
            ```python
            small = ds.subsample(100, seed=0)
            small.class_counts()  # {'real': 100, 'fake': 100}
            ```
        """
        if int(n_per_class) != n_per_class or n_per_class < 1:
            raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
        n_per_class = int(n_per_class)
        rng = np.random.default_rng(seed)
        chosen = []
        for label, name in enumerate(LABEL_NAMES):
            members = np.flatnonzero(self.labels == label)
            if len(members) < n_per_class:
                raise DatasetError(
                    f"cannot draw n_per_class={n_per_class}: there are only {len(members)} "
                    f"{name} images in {self.root}; lower n_per_class or add {name} images"
                )
            chosen.append(rng.choice(members, size=n_per_class, replace=False))
        return self.subset(np.sort(np.concatenate(chosen)))

    def check_for_cv(self, n_splits: int) -> None:
        """Check that the dataset can be split into `n_splits` stratified folds.

        Args:
            n_splits: Number of cross-validation folds.

        Raises:
            DatasetError: If the dataset is empty, has one class only, has a class with fewer
                than `n_splits` images, or has fewer than `n_splits` distinct groups.

        Example:
            ```python
            ds.check_for_cv(3)  # silent when fine
            ```
        """
        check_cv(self.labels, n_splits, self.groups, where=f" in {self.root}")
