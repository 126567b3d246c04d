"""Seeded stratified (group) k-fold splits, and storing them next to a dataset."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._io import atomic_write
from .._version import __version__
from ..errors import DatasetError
from .dataset import Dataset, check_cv

if TYPE_CHECKING:  # torch is imported lazily so that decode worker processes start fast
    pass

__all__ = ["Folds", "load_folds", "make_folds", "save_folds"]


logger = logging.getLogger(__name__)


_FOLDS_FORMAT = "fakezoo.folds"
_FOLDS_FORMAT_VERSION = 1


# --------------------------------------------------------------------------------------------
# Folds
# --------------------------------------------------------------------------------------------


class Folds(list):
    """The ``(train_idx, val_idx)`` pairs of [`make_folds`][fakezoo.data.folds.make_folds], plus
    what it grouped.

    Attributes:
        duplicates: files whose bytes equal another file's, kept in one fold with it (0 when
            no ``content`` was given).
    """

    duplicates: int = 0


def _duplicate_groups(
    y: np.ndarray, content: Sequence[str], names: Sequence[str] | None, groups: np.ndarray | None
) -> tuple[np.ndarray | None, int]:
    """Merge the groups of items with identical bytes; refuse the same bytes under both labels.

    Returns the merged group id per item (``None`` when nothing needs grouping) and how many
    items share their bytes with another.
    """
    digests = list(content)
    if len(digests) != len(y):
        raise ValueError(f"content must have one digest per label: {len(digests)} vs {len(y)}")
    by_digest: dict[str, list[int]] = {}
    for i, digest in enumerate(digests):
        by_digest.setdefault(digest, []).append(i)
    shared = [members for members in by_digest.values() if len(members) > 1]
    label = names if names is not None else [f"item {i}" for i in range(len(y))]
    clashes = [m for m in shared if len(set(y[m].tolist())) > 1]
    if clashes:
        lines = "; ".join(
            " = ".join(f"{label[i]} ({'fake' if y[i] else 'real'})" for i in m) for m in clashes[:5]
        )
        raise DatasetError(
            f"{len(clashes)} image(s) have identical bytes under both labels: {lines}. The "
            "same picture cannot be both real and fake: fix the labels or remove the copies"
        )
    n_dup = sum(len(m) for m in shared)
    if not shared:
        return groups, 0
    # Union of the given groups and the duplicate sets: one id per connected component.
    parent = list(range(len(y)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(members: Sequence[int]) -> None:
        root = find(members[0])
        for j in members[1:]:
            parent[find(j)] = root

    for members in shared:
        union(members)
    if groups is not None:
        first: dict[Any, int] = {}
        for i, g in enumerate(groups.tolist()):
            if g in first:
                union([first[g], i])
            else:
                first[g] = i
    return np.array([find(i) for i in range(len(y))]), n_dup


def make_folds(
    labels: Sequence[int] | np.ndarray,
    n_splits: int = 3,
    seed: int = 0,
    groups: Sequence[Any] | np.ndarray | None = None,
    *,
    content: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
) -> Folds:
    """Split items into seeded stratified folds (stratified *group* folds when `groups` given).

    Uses scikit-learn's `StratifiedKFold(n_splits, shuffle=True, random_state=seed)`, or
    `StratifiedGroupKFold` with the same arguments when `groups` is given, so that no group
    (identity, video) is on both sides of a split.

    With `content` (one digest of each file's bytes, e.g. `Dataset.sha256()`), files with
    identical bytes form a group and always land in the same fold; the same bytes under both
    labels is a `DatasetError` naming the files. The number of files grouped this way is
    logged and kept in `folds.duplicates`. Without duplicates the folds are exactly those
    without `content`.

    Args:
        labels: One label (0 real, 1 fake) per item.
        n_splits: Number of folds.
        seed: Shuffling seed; the same seed always gives the same folds.
        groups: Optional group id per item.
        content: Optional digest of each item's bytes, to keep identical files together.
        names: Names of the items for messages (e.g. `Dataset.relpaths()`).

    Returns:
        A [`Folds`][fakezoo.data.folds.Folds] list: one `(train_idx, val_idx)` pair of sorted int64
        index arrays per fold. Every item is in exactly one validation set.

    Raises:
        DatasetError: If a class has fewer than `n_splits` items, there is one class only,
            there are fewer than `n_splits` groups, or identical bytes carry both labels.

    Example:
        ```python
        folds = make_folds(ds.labels, n_splits=3, seed=0, content=ds.sha256(),
                           names=ds.relpaths())
        folds.duplicates  # files kept in one fold with an identical copy
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
    n_dup = 0
    if content is not None:
        g, n_dup = _duplicate_groups(y, content, names, g)
        if n_dup:
            logger.info(
                "make_folds: %d files have an identical copy; each set of copies is "
                "kept in one fold",
                n_dup,
            )
    check_cv(y, n_splits, g)
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
    out = Folds(folds)
    out.duplicates = n_dup
    return out


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

    Storing paths (not indices) lets [`load_folds`][fakezoo.data.folds.load_folds] check that the
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
    atomic_write(target, lambda handle: handle.write(text.encode("utf-8")))


def load_folds(
    path: str | os.PathLike[str], dataset: Dataset
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Read folds written by [`save_folds`][fakezoo.data.folds.save_folds] and map them onto
    `dataset`.

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
