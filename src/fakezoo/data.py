"""Find labelled face images, decode them once, split them into folds, and make a demo set.

This module is the upstream end of fakezoo: it imports nothing else from the package, and every
other module consumes what it returns.

* [`load_dataset`][fakezoo.data.load_dataset] finds images in a `real/` + `fake/` folder layout
  (Kaggle-style split folders included) or reads a CSV file of `path,label[,group]`.
* [`decode_image`][fakezoo.data.decode_image] is *the* image transform used for training and for
  prediction: PIL decode, EXIF rotation, RGB conversion and a bilinear resize (identical to
  torchvision's `Resize((S, S))` on a PIL image).
* [`decode_dataset`][fakezoo.data.decode_dataset] decodes a whole dataset once, in parallel, into
  one uint8 tensor, skipping (never crashing on) broken files, with an optional on-disk cache.
* [`make_folds`][fakezoo.data.make_folds], [`save_folds`][fakezoo.data.save_folds] and
  [`load_folds`][fakezoo.data.load_folds] make and store seeded stratified (group) k-fold splits.
* [`make_demo_dataset`][fakezoo.data.make_demo_dataset] writes a small procedural real/fake set,
  where the fakes are made with [`self_blend`][fakezoo.data.self_blend] (Self-Blended Images).

Example:
    ```python
    from fakezoo.data import decode_dataset, load_dataset, make_folds

    ds = load_dataset("faces/")  # faces/real/*.jpg and faces/fake/*.jpg
    decoded = decode_dataset(ds, 224, cache_dir="~/.cache/fakezoo")
    folds = make_folds(decoded.dataset.labels, n_splits=3, seed=0)
    ```
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import os
import re
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps, UnidentifiedImageError
from tqdm.auto import tqdm

from fakezoo import __version__

if TYPE_CHECKING:  # torch is imported lazily so that decode worker processes start fast
    import torch

__all__ = [
    "DECODER_VERSION",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "LABEL_NAMES",
    "Dataset",
    "DatasetError",
    "DecodedImages",
    "ImageDecodeError",
    "SkippedFile",
    "decode_dataset",
    "decode_image",
    "load_dataset",
    "load_folds",
    "make_demo_dataset",
    "make_folds",
    "save_folds",
    "self_blend",
]

logger = logging.getLogger(__name__)

LABEL_NAMES = ("real", "fake")
"""Class names by label index: `0` is real, `1` is fake."""

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")
"""File extensions (compared case-insensitively) that folder discovery treats as images."""

DEFAULT_MAX_PIXELS = 89_478_485
"""Largest `width * height` decoded by default (PIL's own decompression-bomb limit)."""

DECODER_VERSION = 1
"""Version of the decode transform; part of every cache key. Bump it when decoding changes."""

_REAL_DIR_NAMES = frozenset({"real", "0_real", "real_images", "original", "genuine", "authentic"})
_FAKE_DIR_NAMES = frozenset(
    {"fake", "1_fake", "fake_images", "manipulated", "deepfake", "df", "synthetic"}
)
_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "validation",
    "valid": "validation",
    "validation": "validation",
    "test": "test",
    "testing": "test",
}
_SPLIT_ORDER = ("train", "validation", "test")
_LABEL_WORDS = {
    "0": 0,
    "1": 1,
    **dict.fromkeys(_REAL_DIR_NAMES, 0),
    **dict.fromkeys(_FAKE_DIR_NAMES, 1),
}
_LAYOUT_HELP = """\
Expected one of these layouts (folder names are case-insensitive):
  {root}/real/...  and  {root}/fake/...   (images found recursively)
      'real' may also be named 0_real, real_images, original, genuine or authentic;
      'fake' may also be named 1_fake, fake_images, manipulated, deepfake, df or synthetic
  {root}/train/real, {root}/train/fake, {root}/validation/real, ...   (Kaggle style;
      also Train, training, val, valid, test, testing; splits are merged unless split= is given)
  a .csv file with the columns path,label[,group] (label: real/fake or 0/1)"""

_POOL_MIN_FILES = 64  # below this, decode in-process: starting a pool costs more than it saves
_DEMO_POOL_MIN_IMAGES = 32
_SKIPPED_SHOWN = 5
_FOLDS_FORMAT = "fakezoo.folds"
_FOLDS_FORMAT_VERSION = 1
_DEMO_VERSION = 1
_DEMO_FILE_RE = re.compile(r"^(real|fake)_\d+\.jpg$")
_SBI_BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


class DatasetError(ValueError):
    """The dataset cannot be used as given.

    Raised for an unknown folder layout, a malformed CSV file, an empty or single-class dataset,
    a class with too few images for the requested folds or subsample, or a folds file that does
    not match the dataset. The message says what was found and what to do.

    Example:
        ```python
        try:
            ds = load_dataset("photos/")
        except DatasetError as err:
            print(err)  # shows the expected layouts
        ```
    """


class ImageDecodeError(ValueError):
    """One file could not be decoded; `path` names the file and `reason` says why.

    Example:
        ```python
        try:
            decode_image("broken.jpg", 224)
        except ImageDecodeError as err:
            print(err.path, err.reason)
        ```
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot decode {self.path}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.reason))


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

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        counts = self.class_counts()
        split_names = sorted(set(self.splits), key=_split_rank) if self.splits else None
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
        out = []
        for path in self.paths:
            try:
                out.append(path.relative_to(self.root).as_posix())
            except ValueError:
                try:
                    out.append(Path(os.path.relpath(path, self.root)).as_posix())
                except ValueError:  # another drive on Windows
                    out.append(path.as_posix())
        return out

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
        _check_cv(self.labels, n_splits, self.groups, where=f" in {self.root}")


@dataclass
class DecodedImages:
    """A dataset decoded into memory, ready for the model.

    Attributes:
        images: `(N, 3, S, S)` uint8 tensor, channels first, contiguous.
        labels: `(N,)` int64 tensor.
        dataset: The dataset restricted to the images that decoded, in the same order as
            `images`; its `skipped` list also holds the files that failed to decode.
        image_size: The side `S` the images were resized to.
        n_decoded: How many files were decoded in this call (the rest came from the cache).

    Example:
        ```python
        decoded = decode_dataset(load_dataset("faces/"), 224)
        x = decoded.images[:8].float().div(255)  # (8, 3, 224, 224)
        ```
    """

    images: torch.Tensor
    labels: torch.Tensor
    dataset: Dataset
    image_size: int
    n_decoded: int

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return (
            f"DecodedImages(n={len(self)}, image_size={self.image_size}, "
            f"n_decoded={self.n_decoded}, skipped={len(self.dataset.skipped)})"
        )


# --------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------


def load_dataset(
    source: str | os.PathLike[str],
    *,
    n_per_class: int | None = None,
    seed: int = 0,
    split: str | None = None,
) -> Dataset:
    """Find the labelled images of a folder layout or a CSV file.

    Folders: class folders are matched by name, case-insensitively (`real`, `0_real`,
    `real_images`, `original`, `genuine`, `authentic`; `fake`, `1_fake`, `fake_images`,
    `manipulated`, `deepfake`, `df`, `synthetic`), either directly under `source` or under split
    folders (`train`/`training`, `val`/`valid`/`validation`, `test`/`testing`), optionally inside
    one or two wrapper folders. Images are found recursively and sorted; hidden files and files
    without an image extension are ignored. Files that fail to decode are skipped later by
    `decode_dataset`.

    CSV: columns `path` and `label` (headers case-insensitive), optional `group` and `split`.
    Labels are `real`/`fake` or `0`/`1`; paths are relative to the CSV's folder or absolute.
    Missing files are listed in `skipped` with the reason "file not found".

    Args:
        source: A folder or a `.csv` file.
        n_per_class: If given, draw this many images per class at random (see `seed`).
        seed: Seed for `n_per_class`.
        split: Keep only this split (`"train"`, `"validation"`, `"test"` or an alias such as
            `"val"`). By default all splits are merged and each item's split is kept in
            `Dataset.splits`.

    Returns:
        The `Dataset`.

    Raises:
        DatasetError: If the layout is not recognised, no images are found, the CSV is
            malformed, or `split` is not present.

    Example:
        ```python
        ds = load_dataset("Dataset/")  # Dataset/Train/Real, Dataset/Validation/Fake, ...
        train = load_dataset("Dataset/", split="train")
        csv_ds = load_dataset("labels.csv", n_per_class=500, seed=0)
        ```
    """
    path = Path(source).expanduser().absolute()
    wanted = None if split is None else _canonical_split(split)
    if not path.exists():
        raise DatasetError(f"dataset path does not exist: {path}")
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise DatasetError(
                f"{path} is a file but not a .csv file; pass a dataset folder or a CSV file with "
                "the columns path,label[,group]"
            )
        dataset = _load_csv(path, wanted)
    else:
        dataset = _load_folder(path, wanted)
    counts = dataset.class_counts()
    logger.info(
        "found %d images (%d real, %d fake) in %s",
        len(dataset),
        counts["real"],
        counts["fake"],
        path,
    )
    if n_per_class is not None:
        dataset = dataset.subsample(n_per_class, seed=seed)
    return dataset


def _canonical_split(name: str) -> str:
    canonical = _SPLIT_ALIASES.get(str(name).strip().lower())
    if canonical is None:
        raise ValueError(
            f"unknown split {name!r}; use one of {', '.join(_SPLIT_ORDER)} "
            f"(aliases: {', '.join(sorted(_SPLIT_ALIASES))})"
        )
    return canonical


def _split_rank(name: str) -> int:
    return _SPLIT_ORDER.index(name) if name in _SPLIT_ORDER else len(_SPLIT_ORDER)


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _subdirs(folder: Path) -> list[Path]:
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise DatasetError(f"cannot list {folder}: {exc.strerror or exc}") from exc
    return [p for p in entries if not _is_hidden(p.name) and p.is_dir()]


def _class_dirs(folder: Path) -> list[tuple[int, Path]]:
    found = []
    for sub in _subdirs(folder):
        name = sub.name.lower()
        if name in _REAL_DIR_NAMES:
            found.append((0, sub))
        elif name in _FAKE_DIR_NAMES:
            found.append((1, sub))
    return found


def _find_layout(root: Path) -> list[tuple[str | None, int, Path]]:
    """Return `(split or None, label, class folder)` for every class folder of the layout."""
    folder = root
    for _ in range(3):  # the layout itself, or inside up to two single wrapper folders
        classes = _class_dirs(folder)
        splits = [
            (canonical, sub)
            for sub in _subdirs(folder)
            if (canonical := _SPLIT_ALIASES.get(sub.name.lower())) and _class_dirs(sub)
        ]
        if classes and splits:
            raise DatasetError(
                f"{folder} has both class folders ({', '.join(d.name for _, d in classes)}) and "
                f"split folders ({', '.join(d.name for _, d in splits)}); move the class folders "
                "into a split folder or point load_dataset at one of them"
            )
        if classes:
            return [(None, label, sub) for label, sub in classes]
        if splits:
            return [(name, label, cls) for name, sub in splits for label, cls in _class_dirs(sub)]
        subs = _subdirs(folder)
        if len(subs) != 1:
            break
        folder = subs[0]
    found = ", ".join(p.name for p in _subdirs(root)) or "no sub-folders"
    raise DatasetError(
        f"cannot find real/fake class folders in {root} (found: {found}).\n"
        + _LAYOUT_HELP.format(root=root)
    )


def _list_images(folder: Path) -> list[Path]:
    def on_error(exc: OSError) -> None:
        logger.warning("cannot list %s (%s); its images are left out", exc.filename, exc.strerror)

    found = []
    for dirpath, dirnames, filenames in os.walk(folder, onerror=on_error):
        dirnames[:] = sorted(d for d in dirnames if not _is_hidden(d))
        found.extend(
            Path(dirpath, name)
            for name in filenames
            if not _is_hidden(name) and name.lower().endswith(IMAGE_EXTENSIONS)
        )
    return found


def _load_folder(root: Path, split: str | None) -> Dataset:
    entries = _find_layout(root)
    has_splits = entries[0][0] is not None
    if split is not None:
        if not has_splits:
            raise DatasetError(
                f"split={split!r} was given but {root} has no split folders (train, validation, "
                "test); leave split out, or use a layout like root/train/real"
            )
        available = sorted({s for s, _, _ in entries if s is not None}, key=_split_rank)
        if split not in available:
            raise DatasetError(f"{root} has no {split!r} split; found: {', '.join(available)}")
        entries = [e for e in entries if e[0] == split]
    items = []
    for split_name, label, class_dir in entries:
        items.extend((path, label, split_name) for path in _list_images(class_dir))
    if not items:
        folders = ", ".join(str(d.relative_to(root)) for _, _, d in entries)
        raise DatasetError(
            f"found the class folders {folders} in {root} but no images in them "
            f"(looked for {', '.join(IMAGE_EXTENSIONS)})"
        )
    items.sort(key=lambda item: item[0].relative_to(root).as_posix())
    return Dataset(
        root=root,
        paths=[p for p, _, _ in items],
        labels=np.array([label for _, label, _ in items], dtype=np.int64),
        splits=[s for _, _, s in items] if has_splits else None,  # type: ignore[misc]
    )


def _load_csv(csv_path: Path, split: str | None) -> Dataset:
    root = csv_path.parent
    paths: list[Path] = []
    labels: list[int] = []
    groups: list[str] = []
    splits: list[str] = []
    skipped: list[SkippedFile] = []
    first_line: dict[str, int] = {}
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise DatasetError(
                    f"{csv_path} is empty; it needs a header row with the columns path,label"
                )
            columns = {name.strip().lower(): i for i, name in enumerate(header)}
            missing = [c for c in ("path", "label") if c not in columns]
            if missing:
                raise DatasetError(
                    f"{csv_path} has no {' or '.join(missing)} column (header: "
                    f"{', '.join(header)}); the CSV needs the columns path,label[,group]"
                )
            has_group = "group" in columns
            has_split = "split" in columns
            if split is not None and not has_split:
                raise DatasetError(
                    f"split={split!r} was given but {csv_path} has no split column; leave split "
                    "out or add a split column (train/validation/test)"
                )
            for row in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in row):
                    continue

                def cell(name: str, row: list[str] = row) -> str:
                    i = columns.get(name)
                    return row[i].strip() if i is not None and i < len(row) else ""

                raw_path, raw_label = cell("path"), cell("label")
                if not raw_path:
                    raise DatasetError(f"{csv_path}, line {line}: the path is empty")
                label = _LABEL_WORDS.get(raw_label.lower())
                if label is None:
                    raise DatasetError(
                        f"{csv_path}, line {line}: label {raw_label!r} is not one of "
                        "real, fake, 0, 1"
                    )
                row_split = None
                if has_split:
                    raw_split = cell("split")
                    row_split = _SPLIT_ALIASES.get(raw_split.lower())
                    if row_split is None:
                        raise DatasetError(
                            f"{csv_path}, line {line}: split {raw_split!r} is not one of "
                            f"{', '.join(_SPLIT_ORDER)}"
                        )
                    if split is not None and row_split != split:
                        continue
                group = cell("group")
                if has_group and not group:
                    raise DatasetError(
                        f"{csv_path}, line {line}: the group is empty; give every row a group "
                        "or remove the group column"
                    )
                path = Path(raw_path).expanduser()
                path = Path(os.path.normpath(path if path.is_absolute() else root / path))
                key = str(path)
                if key in first_line:
                    raise DatasetError(
                        f"{csv_path}, line {line}: {raw_path} is listed twice (first on line "
                        f"{first_line[key]}); list each file once"
                    )
                first_line[key] = line
                if not path.is_file():
                    reason = "not a file" if path.exists() else "file not found"
                    skipped.append(SkippedFile(path, reason))
                    continue
                paths.append(path)
                labels.append(label)
                groups.append(group)
                if row_split is not None:
                    splits.append(row_split)
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{csv_path} is not UTF-8 text ({exc}); save it as UTF-8 CSV") from exc
    except csv.Error as exc:
        raise DatasetError(f"{csv_path} is not a valid CSV file: {exc}") from exc
    if skipped:
        _log_skipped(skipped, f"files listed in {csv_path}")
    if not paths:
        extra = ""
        if skipped:
            extra = f" ({len(skipped)} listed files are missing, e.g. {skipped[0].path})"
        raise DatasetError(f"{csv_path} lists no existing image files{extra}")
    return Dataset(
        root=root,
        paths=paths,
        labels=np.array(labels, dtype=np.int64),
        groups=np.array(groups) if has_group else None,
        splits=splits if has_split else None,
        skipped=skipped,
    )


def _log_skipped(skipped: Sequence[SkippedFile], what: str) -> None:
    lines = "\n".join(f"  {s.path}: {s.reason}" for s in skipped[:_SKIPPED_SHOWN])
    more = len(skipped) - _SKIPPED_SHOWN
    tail = f"\n  ... and {more} more (see Dataset.skipped)" if more > 0 else ""
    logger.warning("skipped %d %s:\n%s%s", len(skipped), what, lines, tail)


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def decode_image(
    path: str | os.PathLike[str], image_size: int, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode one image file exactly as fakezoo does for training and prediction.

    Steps: open with PIL; refuse images whose declared `width * height` exceeds `max_pixels`
    before any pixel is read (decompression-bomb guard); take the first frame of an animated
    image; load all pixel data (a truncated file is an error, not a grey patch); apply the EXIF
    orientation; convert to RGB; resize to `(image_size, image_size)` with PIL's bilinear filter
    (the same as torchvision's `Resize((S, S))` on a PIL image).

    Colour conversion: alpha is dropped (the colour under a transparent pixel is kept, like
    torchvision's default loader, which calls `convert("RGB")`); palette images with
    transparency go through RGBA; 16-bit images (`I;16*`) keep their top 8 bits (`value >> 8`);
    32-bit integer images (`I`) are treated as 16-bit when their maximum exceeds 255; float
    images (`F`) are scaled by 255 when their values lie in [0, 1], else clipped to [0, 255].

    Args:
        path: The image file.
        image_size: Output side `S` in pixels.
        max_pixels: Largest accepted `width * height`. PIL's global `Image.MAX_IMAGE_PIXELS`
            still applies on top (twice that raises in PIL itself).

    Returns:
        `(S, S, 3)` uint8 array.

    Raises:
        ImageDecodeError: If the file is missing, empty, unreadable, not an image, truncated,
            too large or in an unsupported mode. The message names the file and the reason.

    Example:
        ```python
        arr = decode_image("faces/real/0001.jpg", 224)
        arr.shape, arr.dtype  # ((224, 224, 3), dtype('uint8'))
        ```
    """
    image_size = _check_image_size(image_size)
    file = Path(path)
    _check_readable_file(file)
    return _decode(file, file, image_size, max_pixels)


def _check_image_size(image_size: int) -> int:
    if isinstance(image_size, bool) or int(image_size) != image_size or image_size < 1:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
    return int(image_size)


def _check_readable_file(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageDecodeError(path, "file not found") from None
    except PermissionError:
        raise ImageDecodeError(path, "permission denied; check the file's permissions") from None
    except OSError as exc:
        raise ImageDecodeError(path, f"cannot read the file ({exc.strerror or exc})") from None
    if path.is_dir():
        raise ImageDecodeError(path, "is a directory, not an image file")
    if info.st_size == 0:
        raise ImageDecodeError(path, "empty file (0 bytes)")


def _read_bytes(path: Path) -> bytes:
    _check_readable_file(path)
    try:
        return path.read_bytes()
    except PermissionError:
        raise ImageDecodeError(path, "permission denied; check the file's permissions") from None
    except OSError as exc:
        raise ImageDecodeError(path, f"cannot read the file ({exc.strerror or exc})") from None


def _decode(source: Path | io.BytesIO, path: Path, image_size: int, max_pixels: int) -> np.ndarray:
    """Decode `source` (a path or the file's bytes); `path` is only used in messages."""
    try:
        with warnings.catch_warnings():
            # PIL warns between MAX_IMAGE_PIXELS and twice that; `max_pixels` decides instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise ImageDecodeError(
                        path,
                        f"the image declares {width}x{height} = {width * height:,} pixels, more "
                        f"than max_pixels={max_pixels:,} (possible decompression bomb); pass a "
                        "larger max_pixels if the file is genuine",
                    )
                if img.tell() != 0:  # animated images: always the first frame
                    img.seek(0)
                img.load()
                return image_to_array(img, image_size, path)
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(path, f"{exc} (possible decompression bomb)") from None
    except UnidentifiedImageError:
        raise ImageDecodeError(
            path, "not a recognised image format (the file is corrupt or not an image)"
        ) from None
    except PermissionError:
        raise ImageDecodeError(path, "permission denied; check the file's permissions") from None
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, EOFError, ...
        message = str(exc) or type(exc).__name__
        if "truncated" in message.lower():
            reason = f"truncated image data ({message})"
        else:
            reason = f"corrupt or unsupported image data ({type(exc).__name__}: {message})"
        raise ImageDecodeError(path, reason) from None


def image_to_array(img: Image.Image, image_size: int,
                   path: str | os.PathLike[str] = "<PIL image>") -> np.ndarray:
    """The steps of :func:`decode_image` after a file is open, for an image already in memory.

    EXIF orientation, RGB conversion (see :func:`decode_image`), then a bilinear resize to
    `(image_size, image_size)`; `path` only names the image in messages.

    Example:
        ```python
        from PIL import Image
        from fakezoo.data import image_to_array
        image_to_array(Image.new("L", (40, 30)), 32).shape  # (32, 32, 3)
        ```
    """
    rgb = _to_rgb(_exif_transpose(img, Path(path)))
    return np.array(rgb.resize((image_size, image_size), Image.Resampling.BILINEAR),
                    dtype=np.uint8)


def _exif_transpose(img: Image.Image, path: Path) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img)
    except Exception as exc:  # a broken EXIF block should not lose an otherwise good image
        logger.debug("ignoring unreadable EXIF orientation of %s: %s", path, exc)
        return img


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(img).astype(np.int64)
        if mode.startswith("I;16") or values.max(initial=0) > 255:
            values = np.clip(values, 0, 65535) >> 8
        return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8)).convert("RGB")
    if mode == "F":
        values = np.nan_to_num(np.asarray(img, dtype=np.float64))
        if values.size and values.min() >= 0.0 and values.max() <= 1.0:
            values = values * 255.0
        return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8)).convert("RGB")
    if (mode == "P" and "transparency" in img.info) or mode in ("LA", "La", "PA", "RGBa"):
        img = img.convert("RGBA")
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ValueError(f"unsupported image mode {mode!r}") from exc


def _cache_folder(cache_dir: str | os.PathLike[str], image_size: int) -> Path:
    return Path(cache_dir).expanduser() / f"decoded-v{DECODER_VERSION}-{image_size}px"


def _atomic_write(path: Path, write: Callable[[io.BufferedWriter], None]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _decode_one(
    path: Path, image_size: int, max_pixels: int, cache: Path | None
) -> tuple[np.ndarray | None, str | None, bool]:
    """Return `(array, None, decoded_now)` or `(None, reason, False)`; never raises."""
    try:
        if cache is None:
            _check_readable_file(path)
            return _decode(path, path, image_size, max_pixels), None, True
        data = _read_bytes(path)
        entry = cache / f"{hashlib.sha256(data).hexdigest()}.npy"
        if entry.is_file():
            try:
                arr = np.load(entry, allow_pickle=False)
                if arr.dtype == np.uint8 and arr.shape == (image_size, image_size, 3):
                    return arr, None, False
            except (OSError, ValueError, EOFError):
                pass  # a damaged cache entry is decoded again and overwritten
        arr = _decode(io.BytesIO(data), path, image_size, max_pixels)
        try:
            _atomic_write(entry, lambda handle: np.save(handle, arr, allow_pickle=False))
        except OSError as exc:
            logger.debug("cannot write cache entry %s: %s", entry, exc)
        return arr, None, True
    except ImageDecodeError as exc:
        return None, exc.reason, False
    except Exception as exc:  # never let one file stop a dataset
        return None, f"unexpected error ({type(exc).__name__}: {exc})", False


def _decode_chunk(
    jobs: list[tuple[int, str]], image_size: int, max_pixels: int, cache: str | None
) -> list[tuple[int, np.ndarray | None, str | None, bool]]:
    cache_path = None if cache is None else Path(cache)
    return [(i, *_decode_one(Path(p), image_size, max_pixels, cache_path)) for i, p in jobs]


def _map_chunks(
    fn: Callable[..., Any], chunks: list[Any], args: tuple[Any, ...], workers: int
) -> Iterator[tuple[Any, Any]]:
    """Yield `(chunk, fn(chunk, *args))`, in worker processes when `workers > 1`."""
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            yield chunk, fn(chunk, *args)
        return
    pool = None
    try:
        pool = ProcessPoolExecutor(max_workers=min(workers, len(chunks)))
        futures = {pool.submit(fn, chunk, *args): chunk for chunk in chunks}
    except (OSError, NotImplementedError, RuntimeError) as exc:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        logger.warning("cannot start worker processes (%s); working in this process", exc)
        for chunk in chunks:
            yield chunk, fn(chunk, *args)
        return
    try:
        for future in as_completed(futures):
            chunk = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # a worker died (e.g. killed for memory): redo it here
                logger.warning(
                    "a worker process failed (%s: %s); redoing its %d items in this process",
                    type(exc).__name__,
                    exc,
                    len(chunk),
                )
                result = fn(chunk, *args)
            yield chunk, result
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def show_progress(progress: bool | None) -> bool:
    """Progress bars: on when asked, else per $FAKEZOO_PROGRESS, else only on a terminal."""
    if progress is not None:
        return bool(progress)
    setting = os.environ.get("FAKEZOO_PROGRESS")
    if setting is not None:
        return setting.strip().lower() not in {"0", "false", "no"}
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _resolve_workers(num_workers: int | None) -> int:
    return (os.cpu_count() or 1) if num_workers is None else int(num_workers)


def decode_dataset(
    dataset: Dataset,
    image_size: int,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    num_workers: int | None = None,
    progress: bool | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> DecodedImages:
    """Decode every image of `dataset` once with [`decode_image`][fakezoo.data.decode_image].

    Files are decoded in worker processes (in this process for `num_workers <= 1` or fewer than
    64 files). A file that fails is skipped with its reason and never stops the run; a summary
    of skipped files is logged as a warning. Keep the returned object to reuse the decoded
    images across folds and trials.

    With `cache_dir`, each decoded image is also stored as `.npy` under a key made of the
    SHA-256 of the file's bytes, `image_size` and [`DECODER_VERSION`][fakezoo.data.DECODER_VERSION],
    so a later call (any process, any path to the same bytes) loads instead of decoding; a
    changed file gets a new key and is decoded again.

    Args:
        dataset: The images to decode.
        image_size: Output side `S` in pixels.
        cache_dir: Optional folder for the on-disk cache (created if needed).
        num_workers: Worker processes; default `os.cpu_count()`.
        progress: Show a progress bar; `None` shows one only when stderr is a terminal
            (`$FAKEZOO_PROGRESS=0`/`1` overrides).
        max_pixels: Largest accepted `width * height` (see `decode_image`).

    Returns:
        The decoded images, labels and the dataset restricted to the files that decoded.

    Raises:
        DatasetError: If the dataset is empty or no file could be decoded.

    Example:
        ```python
        decoded = decode_dataset(load_dataset("faces/"), 224, cache_dir="cache/")
        decoded.images.shape  # torch.Size([1000, 3, 224, 224])
        decoded.dataset.skipped  # files that could not be decoded, with reasons
        ```
    """
    import torch

    image_size = _check_image_size(image_size)
    n = len(dataset)
    if n == 0:
        raise DatasetError(f"nothing to decode: the dataset from {dataset.root} is empty")
    cache = None
    if cache_dir is not None:
        cache_path = _cache_folder(cache_dir, image_size)
        try:
            cache_path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(
                f"cannot create cache_dir {cache_path} ({exc.strerror or exc}); pass a writable "
                "folder or cache_dir=None"
            ) from exc
        if not os.access(cache_path, os.W_OK):
            raise ValueError(f"cache_dir {cache_path} is not writable; pass another cache_dir")
        cache = str(cache_path)

    workers = _resolve_workers(num_workers)
    if n < _POOL_MIN_FILES:
        workers = 1
    jobs = [(i, str(p)) for i, p in enumerate(dataset.paths)]
    chunk_size = 16 if workers <= 1 else max(1, min(64, math.ceil(n / (workers * 8))))
    chunks = [jobs[i : i + chunk_size] for i in range(0, n, chunk_size)]

    out = np.empty((n, 3, image_size, image_size), dtype=np.uint8)
    ok = np.zeros(n, dtype=bool)
    reasons: dict[int, str] = {}
    n_decoded = 0
    start = time.perf_counter()
    with tqdm(
        total=n, desc="decode", unit="img", disable=not show_progress(progress), leave=False
    ) as bar:
        args = (image_size, max_pixels, cache)
        for chunk, results in _map_chunks(_decode_chunk, chunks, args, workers):
            for i, arr, reason, fresh in results:
                if arr is None:
                    reasons[i] = reason or "unknown error"
                else:
                    out[i] = arr.transpose(2, 0, 1)
                    ok[i] = True
                    n_decoded += int(fresh)
            bar.update(len(chunk))

    kept = np.flatnonzero(ok)
    new_skipped = [SkippedFile(dataset.paths[i], reasons[i]) for i in sorted(reasons)]
    if new_skipped:
        _log_skipped(new_skipped, f"of {n} files that could not be decoded")
    if kept.size == 0:
        examples = "; ".join(f"{s.path}: {s.reason}" for s in new_skipped[:3])
        raise DatasetError(f"none of the {n} files could be decoded ({examples})")
    for j, i in enumerate(kept):  # compact in place: no second copy of the whole array
        if i != j:
            out[j] = out[i]
    images = torch.from_numpy(out[: kept.size])
    subset = dataset.subset(kept)
    subset.skipped = [*dataset.skipped, *new_skipped]
    logger.info(
        "decoded %d images at %dpx (%d from cache, %d skipped) in %.1fs",
        kept.size,
        image_size,
        kept.size - n_decoded,
        len(new_skipped),
        time.perf_counter() - start,
    )
    return DecodedImages(
        images=images,
        labels=torch.from_numpy(subset.labels.copy()),
        dataset=subset,
        image_size=image_size,
        n_decoded=n_decoded,
    )


# --------------------------------------------------------------------------------------------
# Folds
# --------------------------------------------------------------------------------------------


def _check_cv(
    labels: np.ndarray, n_splits: int, groups: np.ndarray | None = None, where: str = ""
) -> None:
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
        raise DatasetError(
            f"the dataset{where} has only {present[0]} images ({len(labels)}); "
            f"cross-validation needs both classes: add {absent} images"
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


def make_folds(
    labels: Sequence[int] | np.ndarray,
    n_splits: int = 3,
    seed: int = 0,
    groups: Sequence[Any] | np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split items into seeded stratified folds (stratified *group* folds when `groups` given).

    Uses scikit-learn's `StratifiedKFold(n_splits, shuffle=True, random_state=seed)`, or
    `StratifiedGroupKFold` with the same arguments when `groups` is given, so that no group
    (identity, video) is on both sides of a split.

    Args:
        labels: One label (0 real, 1 fake) per item.
        n_splits: Number of folds.
        seed: Shuffling seed; the same seed always gives the same folds.
        groups: Optional group id per item.

    Returns:
        One `(train_idx, val_idx)` pair of sorted int64 index arrays per fold. Every item is in
        exactly one validation set.

    Raises:
        DatasetError: If a class has fewer than `n_splits` items, there is one class only, or
            there are fewer than `n_splits` groups.

    Example:
        ```python
        folds = make_folds(ds.labels, n_splits=3, seed=0)
        for train_idx, val_idx in folds:
            train, val = ds.subset(train_idx), ds.subset(val_idx)
        ```
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be 0 (real) or 1 (fake), got {np.unique(y)}")
    y = y.astype(np.int64)
    g = None
    if groups is not None:
        g = np.asarray(groups)
        if g.shape != y.shape:
            raise ValueError(f"groups must have one entry per label: {g.shape} vs {y.shape}")
    _check_cv(y, n_splits, g)
    x = np.zeros((len(y), 1))
    if g is None:
        splits = StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(x, y)
    else:
        splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
        splits = splitter.split(x, y, g)
    folds = [(np.sort(tr).astype(np.int64), np.sort(va).astype(np.int64)) for tr, va in splits]
    if any(len(va) == 0 or len(tr) == 0 for tr, va in folds):
        raise DatasetError(
            f"the groups are too few or too uneven for n_splits={n_splits} (a fold came out "
            "empty); lower n_splits"
        )
    return folds


def _as_folds(folds: Iterable[tuple[Any, Any]], n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Check that the validation sets partition `range(n)` and train sets are complements."""
    out = []
    seen = np.zeros(n, dtype=np.int64)
    for k, (train, val) in enumerate(folds):
        tr = np.sort(np.asarray(train, dtype=np.int64).reshape(-1))
        va = np.sort(np.asarray(val, dtype=np.int64).reshape(-1))
        if (va.size and (va.min() < 0 or va.max() >= n)) or (
            tr.size and (tr.min() < 0 or tr.max() >= n)
        ):
            raise ValueError(f"fold {k} has indices outside 0..{n - 1}")
        if not np.array_equal(tr, np.setdiff1d(np.arange(n), va)):
            raise ValueError(
                f"fold {k}: the training indices must be exactly the items not in validation "
                "(only validation sets are stored)"
            )
        np.add.at(seen, va, 1)
        out.append((tr, va))
    if len(out) < 2:
        raise ValueError(f"need at least 2 folds, got {len(out)}")
    if not (seen == 1).all():
        raise ValueError(
            "the validation sets must hold every item exactly once: "
            f"{int((seen == 0).sum())} items are in none, {int((seen > 1).sum())} in several"
        )
    return out


def save_folds(
    path: str | os.PathLike[str],
    dataset: Dataset,
    folds: Iterable[tuple[Any, Any]],
    *,
    seed: int | None = None,
) -> None:
    """Write folds to a JSON file as the relative paths of each fold's validation set.

    Storing paths (not indices) lets [`load_folds`][fakezoo.data.load_folds] check that the
    folds still match the dataset.

    Args:
        path: JSON file to write (parent folders are created).
        dataset: The dataset the folds index into.
        folds: `(train_idx, val_idx)` pairs as returned by `make_folds`.
        seed: The seed the folds were made with, recorded for reference.

    Raises:
        ValueError: If the validation sets do not partition the dataset.

    Example:
        ```python
        folds = make_folds(ds.labels, 3, seed=0)
        save_folds("run/folds.json", ds, folds, seed=0)
        ```
    """
    relpaths = dataset.relpaths()
    checked = _as_folds(folds, len(dataset))
    document = {
        "format": _FOLDS_FORMAT,
        "format_version": _FOLDS_FORMAT_VERSION,
        "fakezoo_version": __version__,
        "n_splits": len(checked),
        "seed": seed,
        "n_items": len(dataset),
        "class_counts": dataset.class_counts(),
        "folds": [
            {
                "fold": k,
                "n_val": len(val),
                "val": sorted(relpaths[i] for i in val),
            }
            for k, (_, val) in enumerate(checked)
        ],
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    _atomic_write(target, lambda handle: handle.write(text.encode("utf-8")))


def load_folds(
    path: str | os.PathLike[str], dataset: Dataset
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Read folds written by [`save_folds`][fakezoo.data.save_folds] and map them onto `dataset`.

    Args:
        path: The JSON file.
        dataset: The dataset to index into; it must hold exactly the images of the folds.

    Returns:
        One `(train_idx, val_idx)` pair of sorted int64 index arrays per fold.

    Raises:
        DatasetError: If the file is not a folds file, lists images the dataset does not have,
            or the dataset has images that are in no fold.

    Example:
        ```python
        folds = load_folds("run/folds.json", ds)
        ```
    """
    source = Path(path)
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{source} is not valid JSON ({exc}); re-create it with save_folds"
        ) from exc
    if not isinstance(document, dict) or document.get("format") != _FOLDS_FORMAT:
        raise DatasetError(f"{source} is not a fakezoo folds file (written by save_folds)")
    version = document.get("format_version")
    if version != _FOLDS_FORMAT_VERSION:
        raise DatasetError(
            f"{source} has folds format_version {version!r}; this fakezoo reads version "
            f"{_FOLDS_FORMAT_VERSION}, so upgrade fakezoo or re-create the folds"
        )
    entries = document.get("folds")
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("val"), list) for e in entries
    ):
        raise DatasetError(f"{source} has no valid 'folds' list; re-create it with save_folds")
    relpaths = dataset.relpaths()
    index = {rel: i for i, rel in enumerate(relpaths)}
    if len(index) != len(relpaths):
        raise DatasetError(f"the dataset in {dataset.root} lists some files twice")
    n = len(dataset)
    owner = np.full(n, -1, dtype=np.int64)
    vals = []
    for k, entry in enumerate(entries):
        unknown = [rel for rel in entry["val"] if rel not in index]
        if unknown:
            raise DatasetError(
                f"{source}: fold {k} lists {len(unknown)} images that are not in the dataset "
                f"at {dataset.root} (e.g. {unknown[0]!r}); the folds were made for another "
                "dataset, so load that dataset or make new folds with make_folds"
            )
        val = np.array(sorted(index[rel] for rel in entry["val"]), dtype=np.int64)
        twice = val[owner[val] >= 0]
        if twice.size:
            raise DatasetError(
                f"{source}: {relpaths[twice[0]]!r} is in the validation set of folds "
                f"{owner[twice[0]]} and {k}; re-create the file with save_folds"
            )
        owner[val] = k
        vals.append(val)
    missing = np.flatnonzero(owner < 0)
    if missing.size:
        raise DatasetError(
            f"{source}: {missing.size} images of the dataset at {dataset.root} are in no fold "
            f"(e.g. {relpaths[missing[0]]!r}); the dataset changed since the folds were saved, "
            "so make new folds with make_folds"
        )
    if len(vals) < 2 or document.get("n_splits", len(vals)) != len(vals):
        raise DatasetError(f"{source}: n_splits does not match the number of folds stored")
    everything = np.arange(n, dtype=np.int64)
    return [(np.setdiff1d(everything, val), val) for val in vals]


# --------------------------------------------------------------------------------------------
# Self-Blended Images and the demo dataset
# --------------------------------------------------------------------------------------------

_RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=np.float64
)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def self_blend(
    image: np.ndarray, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Make a fake from a real image by blending it with an altered copy of itself.

    Self-Blended Images (Shiohara & Yamasaki, CVPR 2022), written from the paper's description:
    the image is both target and source. The source gets a colour change (RGB shift, hue,
    saturation and value shift, brightness and contrast jitter), a frequency change (Gaussian
    blur or sharpening) and a small random scale and translation. The mask is the convex hull
    of random points around the centre (where a face usually is), elastically deformed, eroded
    and blurred with random Gaussian kernels, then multiplied by a blend ratio drawn from
    {0.25, 0.5, 0.75, 1, 1, 1}. The result is `mask * source + (1 - mask) * target`: pixels
    where the mask is 0 are exactly the input's.

    Args:
        image: `(H, W, 3)` uint8 RGB image, at least 8x8.
        rng: A NumPy generator, a seed, or `None` for fresh entropy.

    Returns:
        `(fake, mask)`: the `(H, W, 3)` uint8 blended image and the `(H, W)` float32 blend mask
        in [0, 1].

    Example:
        ```python
        fake, mask = self_blend(decode_image("real.jpg", 256), rng=0)
        ```
    """
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(
            f"self_blend expects an (H, W, 3) uint8 RGB image, got shape {img.shape} "
            f"and dtype {img.dtype}"
        )
    height, width = img.shape[:2]
    if min(height, width) < 8:
        raise ValueError(f"self_blend needs an image of at least 8x8 pixels, got {width}x{height}")
    generator = np.random.default_rng(rng)
    source = _sbi_source(img, generator)
    mask = _sbi_mask(height, width, generator)
    mask *= np.float32(generator.choice(_SBI_BLEND_RATIOS))
    target = img.astype(np.float32)
    blended = target + mask[..., None] * (source - target)
    fake = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return fake, mask


def _sbi_source(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The altered copy: colour, frequency and geometry changes. Returns float32 in [0, 255]."""
    height, width = img.shape[:2]
    hue = rng.uniform(-0.2, 0.2)
    saturation = rng.uniform(0.75, 1.25)
    value = rng.uniform(0.9, 1.1)
    rotate = np.array(
        [
            [value, 0.0, 0.0],
            [0.0, saturation * math.cos(hue), -saturation * math.sin(hue)],
            [0.0, saturation * math.sin(hue), saturation * math.cos(hue)],
        ]
    )
    colour = (_YIQ_TO_RGB @ rotate @ _RGB_TO_YIQ).astype(np.float32)
    x = img.astype(np.float32) / 255.0
    x = x @ colour.T + rng.uniform(-0.06, 0.06, 3).astype(np.float32)  # hue/sat/value, RGB shift
    contrast = np.float32(rng.uniform(0.85, 1.15))
    brightness = np.float32(rng.uniform(-0.06, 0.06))
    x = (x - 0.5) * contrast + 0.5 + brightness
    pil = Image.fromarray(np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8))
    scale_px = max(height, width) / 256.0
    if rng.random() < 0.5:
        pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5) * scale_px))
    else:
        pil = pil.filter(
            ImageFilter.UnsharpMask(
                radius=rng.uniform(1.0, 2.0) * scale_px,
                percent=int(rng.integers(60, 160)),
                threshold=0,
            )
        )
    scale = rng.uniform(0.95, 1.05)
    shift_y, shift_x = rng.uniform(-0.03, 0.03, 2) * (height, width)
    return _scale_translate(np.asarray(pil, dtype=np.float32), scale, shift_y, shift_x)


def _scale_translate(x: np.ndarray, scale: float, shift_y: float, shift_x: float) -> np.ndarray:
    """Scale about the centre and translate, bilinear, with edge pixels repeated outside."""

    def taps(n: int, shift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        centre = (n - 1) / 2.0
        coords = np.clip((np.arange(n) - centre - shift) / scale + centre, 0, n - 1)
        lo = np.floor(coords).astype(np.int64)
        hi = np.minimum(lo + 1, n - 1)
        return lo, hi, (coords - lo).astype(np.float32)

    lo, hi, w = taps(x.shape[0], shift_y)
    x = x[lo] * (1 - w)[:, None, None] + x[hi] * w[:, None, None]
    lo, hi, w = taps(x.shape[1], shift_x)
    return x[:, lo] * (1 - w)[None, :, None] + x[:, hi] * w[None, :, None]


def _convex_hull(points: np.ndarray) -> list[tuple[float, float]]:
    """Andrew's monotone chain; returns the hull's corners counter-clockwise."""
    pts = sorted({(float(x), float(y)) for x, y in points})
    if len(pts) < 3:
        return pts

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def _sbi_mask(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Soft blend mask in [0, 1]: a deformed, eroded, blurred convex region near the centre.

    The mask is smooth, so it is built at most 128 pixels a side and resized bilinearly.
    """
    from scipy import ndimage

    factor = max(1, math.ceil(max(height, width) / 128))
    h, w = math.ceil(height / factor), math.ceil(width / factor)
    side = min(h, w)
    cy = h * (0.5 + rng.uniform(-0.06, 0.06))
    cx = w * (0.5 + rng.uniform(-0.06, 0.06))
    ry = h * rng.uniform(0.2, 0.32)
    rx = w * rng.uniform(0.16, 0.27)
    n_points = int(rng.integers(8, 17))
    angle = rng.uniform(0.0, 2.0 * math.pi, n_points)
    radius = rng.uniform(0.7, 1.0, n_points)
    points = np.stack([cx + rx * radius * np.cos(angle), cy + ry * radius * np.sin(angle)], 1)
    canvas = Image.new("L", (w, h), 0)
    ImageDraw.Draw(canvas).polygon(_convex_hull(points), fill=255)
    region = np.asarray(canvas, dtype=np.float32) / 255.0

    # elastic deformation: a smooth random displacement field
    amplitude = rng.uniform(0.01, 0.04) * side
    coarse = rng.standard_normal((2, 4, 4)).astype(np.float32)
    shift = [
        np.asarray(Image.fromarray(c).resize((w, h), Image.Resampling.BICUBIC)) * amplitude
        for c in coarse
    ]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    region = ndimage.map_coordinates(
        region, [yy + shift[0], xx + shift[1]], order=1, mode="constant", cval=0.0
    ).astype(np.float32)

    # erode (blur, keep what is still fully inside), then soften the edge with a second blur
    eroded = ndimage.gaussian_filter(region, max(0.5, rng.uniform(0.01, 0.03) * side))
    eroded = (eroded >= 0.99).astype(np.float32)
    if eroded.any():
        region = eroded
    mask = ndimage.gaussian_filter(region, max(0.5, rng.uniform(0.01, 0.05) * side))
    if factor > 1:
        mask = np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.BILINEAR))
    peak = float(mask.max())
    if peak <= 0.0:  # cannot happen for sane sizes; fall back to a centred ellipse
        yy, xx = np.mgrid[0:height, 0:width]
        inside = ((yy - height / 2) / (height / 4)) ** 2 + ((xx - width / 2) / (width / 4)) ** 2
        mask, peak = (inside <= 1.0).astype(np.float32), 1.0
    mask = (mask / peak).astype(np.float32)
    mask[mask < 1e-3] = 0.0  # the mask's support is exactly the changed region
    return np.clip(mask, 0.0, 1.0)


@lru_cache(maxsize=4)
def _demo_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    coords = ((np.arange(size, dtype=np.float32) + 0.5) / size) * 2.0 - 1.0
    return np.broadcast_to(coords[None, :], (size, size)), np.broadcast_to(
        coords[:, None], (size, size)
    )


@lru_cache(maxsize=4)
def _pink_filter(size: int) -> np.ndarray:
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    freq = np.sqrt(fx * fx + fy * fy)
    freq[0, 0] = 1.0
    gain = 1.0 / freq
    gain[0, 0] = 0.0
    return gain


def _pink_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """Zero-mean, unit-variance 1/f noise (natural-image-like texture)."""
    white = rng.standard_normal((size, size))
    noise = np.fft.irfft2(np.fft.rfft2(white) * _pink_filter(size), s=(size, size))
    return (noise / (noise.std() + 1e-8)).astype(np.float32)


class _Shape(NamedTuple):
    """A soft ellipse: `coverage` in [0, 1] and normalised coordinates `u, v` inside `box`."""

    box: tuple[slice, slice]
    coverage: np.ndarray
    u: np.ndarray
    v: np.ndarray


def _ellipse(
    cx: float, cy: float, ax: float, ay: float, size: int, angle: float = 0.0, soft: float = 0.1
) -> _Shape:
    """Soft ellipse on the [-1, 1] grid, computed only inside its bounding box."""
    reach = max(ax, ay)

    def span(centre: float) -> slice:
        lo = max(0, math.floor((centre - reach + 1.0) / 2.0 * size - 1.0))
        hi = min(size, math.ceil((centre + reach + 1.0) / 2.0 * size + 1.0))
        return slice(lo, max(lo, hi))

    box = (span(cy), span(cx))
    x, y = _demo_grid(size)
    dx, dy = x[box] - np.float32(cx), y[box] - np.float32(cy)
    if angle:
        c, s = np.float32(math.cos(angle)), np.float32(math.sin(angle))
        dx, dy = dx * c + dy * s, dy * c - dx * s
    u = dx / np.float32(ax)
    v = dy / np.float32(ay)
    t = np.clip((1.0 - np.sqrt(u * u + v * v)) / np.float32(soft), 0.0, 1.0)
    return _Shape(box, t * t * (3.0 - 2.0 * t), u, v)


def _paint(canvas: np.ndarray, shape: _Shape, colour: Any, alpha: float = 1.0) -> None:
    region = canvas[shape.box]  # a view: painted in place
    weight = (shape.coverage * np.float32(alpha))[..., None]
    region += weight * (np.asarray(colour, dtype=np.float32) - region)


def _procedural_face(rng: np.random.Generator, size: int) -> np.ndarray:
    """A photo-like synthetic portrait: lit background, head, hair, eyes, mouth, texture, noise."""
    x, y = _demo_grid(size)
    f32 = np.float32

    def colour(low: float, high: float) -> np.ndarray:
        return rng.uniform(low, high, 3).astype(f32)

    # background: two-colour gradient plus out-of-focus blobs
    c0, c1 = colour(0.1, 0.9), colour(0.1, 0.9)
    theta = rng.uniform(0, 2 * math.pi)
    t = (x * f32(math.cos(theta)) + y * f32(math.sin(theta))) * f32(0.5) + f32(0.5)
    img = c0 + (c1 - c0) * t[..., None]
    for _ in range(int(rng.integers(2, 6))):
        (bx, by), (ba, bb) = rng.uniform(-1, 1, 2), rng.uniform(0.15, 0.6, 2)
        blob = _ellipse(bx, by, ba, bb, size, rng.uniform(0, math.pi), rng.uniform(0.3, 0.9))
        _paint(img, blob, colour(0.05, 0.95), alpha=rng.uniform(0.3, 0.8))

    cx, cy = rng.normal(0.0, 0.06), rng.normal(0.02, 0.05)
    fa, fb = rng.uniform(0.30, 0.40), rng.uniform(0.42, 0.52)
    tilt = rng.normal(0.0, 0.08)
    tone = rng.uniform(0.35, 1.0)
    skin = np.clip(np.array([0.93, 0.72, 0.58]) * tone + rng.normal(0, 0.03, 3), 0, 1).astype(f32)
    hair_palette = np.array(
        [
            [0.07, 0.05, 0.04],
            [0.24, 0.14, 0.07],
            [0.45, 0.30, 0.15],
            [0.78, 0.64, 0.38],
            [0.55, 0.55, 0.55],
            [0.50, 0.18, 0.08],
        ]
    )
    hair = np.clip(hair_palette[rng.integers(len(hair_palette))] * rng.uniform(0.8, 1.2), 0, 1)
    light = rng.normal(0, 1, 2)
    lx, ly = light / (np.linalg.norm(light) + 1e-8)

    torso_x, torso_a, torso_b = cx + rng.normal(0, 0.05), *rng.uniform((0.6, 0.3), (0.9, 0.42))
    _paint(img, _ellipse(torso_x, 1.05, torso_a, torso_b, size, soft=0.05), colour(0.05, 0.9))
    _paint(img, _ellipse(cx, cy + fb * 0.9, fa * 0.45, fb * 0.5, size, soft=0.15), skin * 0.8)
    has_hair = rng.random() < 0.85
    if has_hair:
        _paint(img, _ellipse(cx, cy - fb * 0.12, fa * 1.18, fb * 1.08, size, tilt, 0.08), hair)
    face = _ellipse(cx, cy, fa, fb, size, tilt, 0.06)
    shade = 1.0 + f32(0.25) * (face.u * f32(lx) + face.v * f32(ly))
    shade -= f32(0.18) * (face.u * face.u + face.v * face.v)
    _paint(img, face, skin * shade[..., None])
    if has_hair and rng.random() < 0.6:
        fringe_x = cx + rng.normal(0, 0.05)
        fringe = _ellipse(fringe_x, cy - fb * 0.85, fa * 1.02, fb * 0.32, size, tilt, 0.12)
        _paint(img, fringe, hair)

    eye_y = cy - fb * 0.1
    eye_dx = fa * rng.uniform(0.36, 0.46)
    iris = np.array([[0.25, 0.15, 0.08], [0.2, 0.35, 0.55], [0.25, 0.4, 0.25]])[rng.integers(3)]
    gaze = rng.normal(0, 0.01)
    for side in (-1.0, 1.0):
        ex = cx + side * eye_dx
        sclera = np.array([0.92, 0.9, 0.87]) * rng.uniform(0.8, 1.0)
        _paint(img, _ellipse(ex, eye_y, fa * 0.17, fb * 0.065, size, soft=0.3), sclera, 0.9)
        _paint(img, _ellipse(ex + gaze, eye_y, fb * 0.055, fb * 0.055, size, soft=0.3), iris)
        pupil = _ellipse(ex + gaze, eye_y, fb * 0.022, fb * 0.022, size, soft=0.4)
        _paint(img, pupil, (0.02, 0.02, 0.02))
        brow = _ellipse(ex, eye_y - fb * 0.16, fa * 0.2, fb * 0.03, size, side * 0.1, 0.4)
        _paint(img, brow, hair * 0.9, alpha=0.85)
    nose = _ellipse(cx + lx * 0.02, cy + fb * 0.12, fa * 0.09, fb * 0.2, size, soft=0.6)
    _paint(img, nose, skin * f32(0.8), alpha=0.5)
    mouth_a, mouth_b = fa * rng.uniform(0.22, 0.34), fb * rng.uniform(0.04, 0.08)
    mouth = _ellipse(cx, cy + fb * 0.45, mouth_a, mouth_b, size, soft=0.35)
    _paint(img, mouth, skin * np.array([0.85, 0.5, 0.5], dtype=f32), alpha=0.9)

    # texture, illumination fall-off, lens blur and sensor noise
    img *= (1.0 + f32(rng.uniform(0.03, 0.08)) * _pink_noise(rng, size))[..., None]
    lcx, lcy = rng.uniform(-0.5, 0.5, 2)
    falloff = f32(rng.uniform(0.05, 0.2))
    img *= (1.0 - falloff * ((x - f32(lcx)) ** 2 + (y - f32(lcy)) ** 2))[..., None]
    pil = Image.fromarray(np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8))
    pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0) * size / 256.0))
    sigma = f32(rng.uniform(0.5, 3.0))
    noisy = np.asarray(pil, dtype=np.float32)
    noisy = noisy + sigma * rng.standard_normal((size, size, 3), dtype=np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _demo_image(label: int, index: int, seed: int, image_size: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(label, index)))
    base = _procedural_face(rng, image_size)
    return base if label == 0 else self_blend(base, rng)[0]


def _demo_name(label: int, index: int) -> str:
    return f"{LABEL_NAMES[label]}/{LABEL_NAMES[label]}_{index:05d}.jpg"


def _write_demo_chunk(jobs: list[tuple[int, int]], directory: str, seed: int, size: int) -> int:
    for label, index in jobs:
        target = Path(directory, _demo_name(label, index))
        image = Image.fromarray(_demo_image(label, index, seed, size))
        _atomic_write(target, lambda handle, image=image: image.save(handle, "JPEG", quality=95))
    return len(jobs)


def make_demo_dataset(
    directory: str | os.PathLike[str],
    n_per_class: int = 100,
    *,
    seed: int = 0,
    image_size: int = 256,
    num_workers: int | None = None,
    progress: bool | None = None,
) -> Path:
    """Write a small procedural real/fake face dataset (JPEG, quality 95).

    Real images are synthetic portraits with photo-like statistics (lit gradient background,
    soft shaded head, hair, eyes and mouth, 1/f texture, lens blur, sensor noise). Each fake is
    a *different* freshly generated portrait passed through [`self_blend`][fakezoo.data.self_blend].
    Files are `real/real_00000.jpg ...` and `fake/fake_00000.jpg ...`; every image has its own
    seed derived from `seed`, so the output is byte-identical for a seed whatever `num_workers`.
    A `demo.json` records the parameters: a later call with the same parameters returns at once.

    Args:
        directory: Output folder; it must be new, empty, or an earlier demo set (which is
            replaced when the parameters differ).
        n_per_class: Images per class.
        seed: Master seed.
        image_size: Side of the square images.
        num_workers: Worker processes; default `os.cpu_count()`.
        progress: Show a progress bar; `None` shows one only when stderr is a terminal
            (`$FAKEZOO_PROGRESS=0`/`1` overrides).

    Returns:
        `directory`, ready for [`load_dataset`][fakezoo.data.load_dataset].

    Raises:
        FileExistsError: If `directory` holds other files and no `demo.json`.

    Example:
        ```python
        root = make_demo_dataset("demo/", n_per_class=500, seed=0)
        ds = load_dataset(root)  # 500 real + 500 fake, 256x256
        ```
    """
    if isinstance(n_per_class, bool) or int(n_per_class) != n_per_class or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    image_size = _check_image_size(image_size)
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16 for the demo set, got {image_size}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    n_per_class, seed = int(n_per_class), int(seed)
    root = Path(directory).expanduser()
    manifest = root / "demo.json"
    params = {
        "generator": "fakezoo.data.make_demo_dataset",
        "generator_version": _DEMO_VERSION,
        "n_per_class": n_per_class,
        "seed": seed,
        "image_size": image_size,
    }
    names = [_demo_name(label, i) for label in (0, 1) for i in range(n_per_class)]
    if manifest.is_file():
        try:
            previous = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = {}
        if (
            isinstance(previous, dict)
            and previous.get("complete") is True
            and all(previous.get(k) == v for k, v in params.items())
            and all((root / name).is_file() for name in names)
        ):
            logger.info("reusing the demo dataset in %s", root)
            return root
        _remove_demo_files(root)
    elif root.exists() and any(root.iterdir()):
        raise FileExistsError(
            f"{root} already holds files and no demo.json; pass a new or empty folder to "
            "make_demo_dataset"
        )
    for label_name in LABEL_NAMES:
        (root / label_name).mkdir(parents=True, exist_ok=True)
    _write_manifest(manifest, {**params, "complete": False})

    start = time.perf_counter()
    jobs = [(label, i) for label in (0, 1) for i in range(n_per_class)]
    workers = _resolve_workers(num_workers) if len(jobs) >= _DEMO_POOL_MIN_IMAGES else 1
    chunk_size = 8 if workers <= 1 else max(1, min(32, math.ceil(len(jobs) / (workers * 4))))
    chunks = [jobs[i : i + chunk_size] for i in range(0, len(jobs), chunk_size)]
    with tqdm(
        total=len(jobs), desc="demo", unit="img", disable=not show_progress(progress), leave=False
    ) as bar:
        args = (str(root), seed, image_size)
        for chunk, _ in _map_chunks(_write_demo_chunk, chunks, args, workers):
            bar.update(len(chunk))
    _write_manifest(manifest, {**params, "complete": True, "fakezoo_version": __version__})
    logger.info("wrote %d demo images to %s in %.1fs", len(jobs), root, time.perf_counter() - start)
    return root


def _write_manifest(path: Path, content: dict[str, Any]) -> None:
    text = json.dumps(content, indent=1) + "\n"
    _atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def _remove_demo_files(root: Path) -> None:
    for label_name in LABEL_NAMES:
        folder = root / label_name
        if folder.is_dir():
            for entry in folder.iterdir():
                if _DEMO_FILE_RE.match(entry.name) and entry.is_file():
                    entry.unlink()
