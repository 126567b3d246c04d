"""The Deepfake Detection Challenge (DFDC) and its preview (DFDCP) as distributed.

DFDC (the full release; videos may also sit in a ``videos/`` sub-folder)::

    DFDC/
      dfdc_train_part_0/metadata.json, *.mp4   # or train/dfdc_train_part_0/...
      ...                                      # {"x.mp4": {"label": "FAKE", "split": "train",
      validation/labels.csv, *.mp4             #            "original": "y.mp4"}, ...}
      test/labels.csv, *.mp4                   # filename,label with 1 = fake

DFDCP (the preview)::

    DFDCP/
      dataset.json           # {"method_A/643049/643049_A/1955231.mp4": {"label": "fake",
      method_A/ method_B/ original_videos/   #  "set": "train"}, ...}
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from .index import Problem, Video, VideoIndex, absent_note

__all__ = ["read_dfdc", "read_dfdcp"]

_SPLITS = {"train": "train", "val": "validation", "validation": "validation", "test": "test"}
_LABELS = {"real": 0, "fake": 1, "0": 0, "1": 1}


def _video(*candidates: Path) -> Path | None:
    """The first candidate that is a non-empty file (a video may sit in a ``videos/`` level)."""
    return next((p for p in candidates if p.is_file() and p.stat().st_size > 0), None)


def _in_folder(folder: Path, name: str) -> Path | None:
    return _video(folder / name, folder / "videos" / name)


def _note_left_out(
    problems: list[Problem], where: Path, absent: list, bad: list, what: str
) -> None:
    """One problem line for the listed videos that are absent, one for the unusable entries."""
    if absent:
        problems.append(Problem(where, absent_note(absent)))
    if bad:
        problems.append(Problem(where, f"{len(bad)} {what}, e.g. {bad[0]}; left out"))


def _listed(
    meta: dict,
    split_key: str,
    default_split: str,
    locate: Callable[[str], Path | None],
    meta_path: Path,
    problems: list[Problem],
    what: str,
) -> list[tuple[str, Path, int, str]]:
    """``(name, path, label, split)`` of a metadata object's entries (``{name: {"label": ...,
    split_key: ...}}``) whose label and split are known and whose video ``locate`` finds; the
    others are left out with one problem line per kind (``what`` says what a bad entry lacks)."""
    found, absent, bad = [], [], []
    for name, entry in sorted(meta.items()):
        fields: dict[str, Any] = entry if isinstance(entry, dict) else {}
        label = _LABELS.get(str(fields.get("label", "")).lower())
        split = _SPLITS.get(str(fields.get(split_key, default_split)).lower())
        if label is None or split is None:
            bad.append(name)
        elif (path := locate(name)) is None:
            absent.append(name)
        else:
            found.append((name, path, label, split))
    _note_left_out(problems, meta_path, absent, bad, what)
    return found


def _train_parts(root: Path) -> list[Path]:
    parts = [*root.glob("dfdc_train_part_*"), *(root / "train").glob("dfdc_train_part_*")]
    return sorted((p for p in parts if p.is_dir()), key=lambda p: (len(p.name), p.name))


def _read_part(part: Path, problems: list[Problem]) -> list[Video]:
    meta_path = part / "metadata.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("expected an object of filename: {label, split, original}")
    except FileNotFoundError:
        problems.append(Problem(meta_path, "missing: the videos of this part are left out"))
        return []
    except (ValueError, UnicodeDecodeError) as exc:
        problems.append(Problem(meta_path, f"unreadable ({exc}): this part is left out"))
        return []
    entries = _listed(
        meta,
        "split",
        "train",
        lambda name: _in_folder(part, name),
        meta_path,
        problems,
        "entries have no REAL/FAKE label or a split fakezoo does not know",
    )
    videos = [
        Video(f"{part.name}/{Path(name).stem}", path, label, split, "DFDC" if label else None)
        for name, path, label, split in entries
    ]
    listed = {Path(n).stem for n in meta}
    stray = sorted(p.name for p in part.glob("*.mp4") if p.stem not in listed)
    if stray:
        problems.append(
            Problem(
                meta_path,
                f"does not list {len(stray)} videos of its folder, e.g. {stray[0]}; left out",
            )
        )
    return videos


def _read_labelled(folder: Path, split: str, problems: list[Problem]) -> list[Video]:
    """A ``labels.csv`` (``filename,label``; 1 = fake) and its videos."""
    csv_path = next(
        (folder / n for n in ("labels.csv", "label.csv") if (folder / n).is_file()), None
    )
    if csv_path is None:
        problems.append(Problem(folder / "labels.csv", f"missing: no {split} labels, left out"))
        return []
    videos, absent, bad = [], [], []
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {c.strip().lower(): c for c in reader.fieldnames or []}
        if "filename" not in columns or "label" not in columns:
            problems.append(Problem(csv_path, "has no filename and label columns: left out"))
            return []
        for row in reader:
            name = row[columns["filename"]].strip()
            label = _LABELS.get(row[columns["label"]].strip().lower())
            if not name or label is None:
                bad.append(name or f"line {reader.line_num}")
                continue
            path = _in_folder(folder, name)
            if path is None:
                absent.append(name)
                continue
            method = "DFDC" if label else None
            videos.append(Video(f"{folder.name}/{Path(name).stem}", path, label, split, method))
    _note_left_out(
        problems, csv_path, absent, bad, "rows have no filename or a label other than 0/1"
    )
    return videos


def read_dfdc(root: str | Path) -> VideoIndex:
    """Read the DFDC release: every training part's ``metadata.json`` (label, split,
    original), and the ``labels.csv`` of ``validation/`` and ``test/`` where present.

    Args:
        root: The DFDC folder (the training parts directly in it or in ``train/``).

    Returns:
        A [`VideoIndex`][fakezoo.datasets.index.VideoIndex]; fakes have the method ``"DFDC"`` (the
        release does not name one per video). A missing or unreadable list, listed videos that
        are absent, and unlisted videos each give one problem line.

    Example:
        ```python
        # needs: DFDC as distributed
        from fakezoo.datasets import read_dfdc
        read_dfdc("/data/DFDC").split("test")  # the 5,000 test videos
        ```
    """
    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise DatasetError(f"DFDC folder not found: {root}")
    problems: list[Problem] = []
    videos = [v for part in _train_parts(root) for v in _read_part(part, problems)]
    for split, name in (("validation", "validation"), ("test", "test")):
        if (root / name).is_dir():
            videos += _read_labelled(root / name, split, problems)
    if not (root / "test").is_dir():
        if (root / "labels.csv").is_file():  # SBI's layout: DFDC/labels.csv, DFDC/videos/
            videos += _read_labelled(root, "test", problems)
        else:
            problems.append(Problem(root / "test", "missing: no test split"))
    if not videos:
        raise DatasetError(
            f"found no DFDC videos under {root} (expected dfdc_train_part_*/metadata.json or "
            f"test/labels.csv; {'; '.join(str(p) for p in problems[:2])})"
        )
    index = VideoIndex("dfdc", root, videos, problems)
    index.log_problems()
    return index


def read_dfdcp(root: str | Path) -> VideoIndex:
    """Read the DFDC preview from its ``dataset.json`` (``label`` real/fake, ``set``
    train/test; DFDCP has no validation split).

    Args:
        root: The DFDCP folder, holding ``dataset.json``, ``method_A/``, ``method_B/`` and
            ``original_videos/`` (a ``videos/`` level below each of them, as SBI's scripts
            arrange it, is found too).

    Returns:
        A [`VideoIndex`][fakezoo.datasets.index.VideoIndex]; each fake's method is its folder
        (``method_A`` or ``method_B``).

    Example:
        ```python
        # needs: DFDCP as distributed
        from fakezoo.datasets import read_dfdcp
        read_dfdcp("/data/DFDCP").counts()
        ```
    """
    root = Path(root).expanduser().absolute()
    meta_path = root / "dataset.json"
    if not meta_path.is_file():
        raise DatasetError(
            f"{meta_path} not found: DFDCP's labels and splits are in its dataset.json"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("expected an object of path: {label, set}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{meta_path} is not DFDCP's dataset.json ({exc})") from exc

    def locate(key: str) -> Path | None:
        first, _, rest = key.partition("/")
        return _video(root / key, root / first / "videos" / rest)

    problems: list[Problem] = []
    entries = _listed(
        meta,
        "set",
        "",
        locate,
        meta_path,
        problems,
        "entries have no real/fake label or no train/test set",
    )
    videos = [
        Video(
            key.removesuffix(".mp4"), path, label, split, key.partition("/")[0] if label else None
        )
        for key, path, label, split in entries
    ]
    if not videos:
        raise DatasetError(f"none of the {len(meta)} videos of {meta_path} was found")
    index = VideoIndex("dfdcp", root, videos, problems)
    index.log_problems()
    return index
