"""Five face landmarks per image, stored next to a dataset: ``landmarks.csv``.

One row per image, ``path,x1,y1,x2,y2,x3,y3,x4,y4,x5,y5``: the image's path relative to the
dataset's root with forward slashes (as
[`Dataset.relpaths`][fakezoo.data.dataset.Dataset.relpaths] gives it), then the left eye,
right eye, nose tip, left and right mouth corner (MTCNN's order, as
[`Face.landmarks`][fakezoo.faces.finder.Face]), each as fractions of the image's width and
height measured from its left and top edges: the centre of pixel column ``i`` of a ``W`` pixel
wide image is ``(i + 0.5) / W``. Fractions hold at any decode size, since fakezoo decodes an
image by resizing the whole of it to a square. They may lie a little outside the image (a face
at its edge), within [-0.5, 1.5].

``fakezoo crop`` writes the file for its crops; [`self_blend`][fakezoo.synth.blend.self_blend]
takes the landmarks, in pixels, to blend inside the face.

Example:
    ```python
    from fakezoo import load_dataset
    from fakezoo.faces import read_landmarks
    from fakezoo.faces.landmarks import landmarks_to_pixels

    ds = load_dataset("faces/")
    fractions = read_landmarks(ds)  # (N, 5, 2), NaN rows for unlisted images; None: no file
    points = landmarks_to_pixels(fractions[0], 256, 256)  # in the image decoded at 256 px
    ```
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._io import atomic_write_text
from ..errors import DatasetError

if TYPE_CHECKING:
    from ..data.dataset import Dataset

__all__ = [
    "LANDMARKS_FILE",
    "LANDMARK_COLUMNS",
    "landmarks_row",
    "landmarks_to_fractions",
    "landmarks_to_pixels",
    "read_landmarks",
    "write_landmarks",
]

LANDMARKS_FILE = "landmarks.csv"
"""The landmarks file of a dataset, in its root (``fakezoo crop`` writes it at DST)."""

LANDMARK_COLUMNS = ("path", "x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4", "x5", "y5")
"""The columns of a landmarks file, in order."""

_LOW, _HIGH = -0.5, 1.5


def landmarks_to_pixels(fractions: Any, width: int, height: int) -> np.ndarray:
    """Fractions of an image's width and height (a landmarks file's) as pixel coordinates
    (pixel centres at integers, as a face finder gives them) in a `width` x `height` image.

    Example:
        ```python
        landmarks_to_pixels([[0.5, 0.25]] * 5, 256, 256)[0]  # [127.5, 63.5]
        ```
    """
    return np.asarray(fractions, np.float64) * (width, height) - 0.5


def landmarks_to_fractions(points: Any, width: int, height: int) -> np.ndarray:
    """The inverse of [`landmarks_to_pixels`][fakezoo.faces.landmarks.landmarks_to_pixels]."""
    return (np.asarray(points, np.float64) + 0.5) / (width, height)


def _check_points(points: Any) -> np.ndarray | None:
    """`points` as a `(5, 2)` float64 array, or `None` if they are not five finite in-range
    `(x, y)` fractions; a wrong shape is `None` too."""
    try:
        array = np.asarray(points, np.float64)
    except (TypeError, ValueError):
        return None
    if array.shape != (5, 2) or not np.isfinite(array).all():
        return None
    if array.min() < _LOW or array.max() > _HIGH:
        return None
    return array


def landmarks_row(path: str, points: Any) -> list[str] | None:
    """One row of a landmarks file, `[path, x1, y1, ..., y5]` as text; `None` when `points` are
    not five finite `(x, y)` fractions within [-0.5, 1.5] (or are `None`).

    Example:
        ```python
        landmarks_row("real/a.png", [[0.3, 0.4]] * 5)  # ['real/a.png', '0.300000', ...]
        ```
    """
    array = None if points is None else _check_points(points)
    if array is None:
        return None
    return [_normal(str(path)), *(f"{v:.6f}" for v in array.ravel())]


def write_landmarks(
    path: str | os.PathLike[str],
    rows: Mapping[str, Any] | Iterable[tuple[str, Any]],
) -> Path:
    """Write a landmarks file atomically: one row per `(relative path, (5, 2) fractions)`.

    Rows whose landmarks are `None` (a face without them) are left out.

    Args:
        path: The file to write, usually ``dataset_root / LANDMARKS_FILE``.
        rows: A mapping or pairs of an image path relative to the dataset's root and its five
            `(x, y)` points as fractions of the width and height.

    Returns:
        The path written.

    Raises:
        ValueError: a path is empty or listed twice, or a row is not five finite `(x, y)`
            fractions within [-0.5, 1.5].

    Example:
        ```python
        write_landmarks("faces/landmarks.csv", {"real/a.png": points})
        ```
    """
    path = Path(path)
    items = rows.items() if isinstance(rows, Mapping) else rows
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LANDMARK_COLUMNS)
    seen: set[str] = set()
    for rel, points in items:
        if points is None:
            continue
        name = _normal(str(rel))
        if not name or name in seen:
            raise ValueError(
                f"landmarks for {path}: the image path {rel!r} is "
                f"{'listed twice' if name else 'empty'}; give each image once"
            )
        seen.add(name)
        row = landmarks_row(name, points)
        if row is None:
            raise ValueError(
                f"landmarks for {path}: {name} needs five finite (x, y) fractions of the image's "
                f"width and height within [{_LOW}, {_HIGH}], got {np.asarray(points).tolist()}"
            )
        writer.writerow(row)
    atomic_write_text(path, buffer.getvalue())
    return path


def _normal(rel: str) -> str:
    name = rel.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def read_landmarks(
    dataset: Dataset, path: str | os.PathLike[str] | None = None
) -> np.ndarray | None:
    """The five landmarks of each image of `dataset`, from a landmarks file.

    Args:
        dataset: A [`Dataset`][fakezoo.data.Dataset]; its `relpaths()` are matched against the
            file's paths.
        path: The landmarks file; `None` looks for ``dataset.root / "landmarks.csv"``.

    Returns:
        A `(len(dataset), 5, 2)` float64 array of fractions of each image's width and height, in
        the dataset's order, with NaN rows for images the file does not list; `None` when
        `path` is `None` and the dataset has no landmarks file. Rows for images not in the
        dataset (a subsample's) are ignored.

    Raises:
        fakezoo.errors.DatasetError: the given file does not exist, or a line of it is not a
            path and ten numbers within [-0.5, 1.5], or lists an image twice. The message names
            the file and the line.

    Example:
        ```python
        fractions = read_landmarks(load_dataset("faces/"))
        ```
    """
    if path is None:
        file = Path(dataset.root) / LANDMARKS_FILE
        if not file.is_file():
            return None
    else:
        file = Path(path)
        if not file.is_file():
            raise DatasetError(
                f"landmarks file {file} does not exist; give the {LANDMARKS_FILE} that "
                "`fakezoo crop` wrote, or leave the landmarks out"
            )
    index: dict[str, list[int]] = {}
    for i, rel in enumerate(dataset.relpaths()):
        index.setdefault(rel, []).append(i)
    out = np.full((len(dataset), 5, 2), np.nan)
    fix = f"fix or remove that line (columns: {','.join(LANDMARK_COLUMNS)})"
    seen: set[str] = set()
    with file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [c.strip() for c in header] != list(LANDMARK_COLUMNS):
            raise DatasetError(
                f"{file}, line 1: the header is {','.join(header or []) or 'missing'}, not "
                f"{','.join(LANDMARK_COLUMNS)}; write the file with write_landmarks or fakezoo crop"
            )
        for fields in reader:
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != len(LANDMARK_COLUMNS):
                raise DatasetError(
                    f"{file}, line {line}: {len(fields)} columns, not {len(LANDMARK_COLUMNS)}; "
                    f"{fix}"
                )
            name = _normal(fields[0].strip())
            if not name:
                raise DatasetError(f"{file}, line {line}: the path is empty; {fix}")
            if name in seen:
                raise DatasetError(f"{file}, line {line}: {name} is listed twice; {fix}")
            seen.add(name)
            values = []
            for text in fields[1:]:
                try:
                    value = float(text)
                except ValueError:
                    raise DatasetError(
                        f"{file}, line {line}: {text.strip()!r} is not a number; {fix}"
                    ) from None
                if not (math.isfinite(value) and _LOW <= value <= _HIGH):
                    raise DatasetError(
                        f"{file}, line {line}: {text.strip()} is not a fraction of the image "
                        f"within [{_LOW}, {_HIGH}]; {fix}"
                    )
                values.append(value)
            out[index.get(name, [])] = np.reshape(values, (5, 2))
    return out
