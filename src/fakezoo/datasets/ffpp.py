"""FaceForensics++ as its download script writes it, with the official split.

Layout (``-t videos``; the split files are ``dataset/splits/*.json`` of the FaceForensics
repository, put next to the two sequence folders or in ``splits/``)::

    FaceForensics++/
      train.json  val.json  test.json          # 360 / 70 / 70 pairs ["071", "054"], ...
      original_sequences/youtube/{raw,c23,c40}/videos/000.mp4 ...
      original_sequences/actors/{raw,c23,c40}/videos/01__exit_phone_room.mp4 ...
      manipulated_sequences/<method>/{raw,c23,c40}/videos/000_003.mp4 ...

A pair ``[a, b]`` puts the real videos ``a`` and ``b`` and the fakes ``a_b`` and ``b_a`` of
every method in one split, so no identity crosses splits (720 / 140 / 140 real videos).
DeepFakeDetection (``actors`` and its fakes) has no official split.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DatasetError
from .index import Problem, Video, VideoIndex, absent_note

__all__ = ["COMPRESSIONS", "FF_METHODS", "METHODS", "SPLIT_FILES", "canonical_method", "read_ffpp"]

FF_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
"""The four methods of "FF++" in the field's tables (DeepfakeBench's FF-DF/F2F/FS/NT)."""

METHODS = (*FF_METHODS, "FaceShifter", "DeepFakeDetection")
"""Every manipulation folder of the download."""

COMPRESSIONS = ("raw", "c23", "c40")
"""The download's quality levels (``raw`` is also called ``c0``)."""

SPLIT_FILES = {"train": "train.json", "validation": "val.json", "test": "test.json"}
"""fakezoo's split name: FaceForensics++'s file."""

SPLITS_URL = "https://github.com/ondyari/FaceForensics/tree/master/dataset/splits"


def canonical_method(name: str) -> str:
    """A method name in its folder's spelling (case-insensitive match), e.g. ``"deepfakes"``
    -> ``"Deepfakes"``."""
    for known in METHODS:
        if known.lower() == name.strip().lower():
            return known
    raise ValueError(f"unknown FaceForensics++ method {name!r}: choose from {', '.join(METHODS)}")


def _videos_dir(base: Path, compression: str) -> Path:
    """``base/<compression>/videos`` (``raw`` may be stored as ``c0``)."""
    names = ("raw", "c0") if compression == "raw" else (compression,)
    for name in names:
        folder = base / name / "videos"
        if folder.is_dir():
            return folder
    return base / names[0] / "videos"


def _split_of(
    root: Path, splits_dir: Path | None, problems: list[Problem]
) -> dict[str, str] | None:
    """Video name -> split, from the three pair lists (``None`` if none was found)."""
    folders = [d for d in (splits_dir, root, root / "splits") if d is not None]
    found: dict[str, Path] = {}
    for split, name in SPLIT_FILES.items():
        for folder in folders:
            if (folder / name).is_file():
                found[split] = folder / name
                break
    if not found:
        problems.append(
            Problem(
                root,
                "no train.json, val.json or test.json here or in splits/: the videos keep no "
                f"split; put the official files from {SPLITS_URL} next to original_sequences/",
            )
        )
        return None
    mode: dict[str, str] = {}
    for split, name in SPLIT_FILES.items():
        path = found.get(split)
        if path is None:
            problems.append(
                Problem(root / name, f"missing: no {split} split (get it from {SPLITS_URL})")
            )
            continue
        try:
            pairs = json.loads(path.read_text(encoding="utf-8"))
            if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
                raise ValueError("expected a list of [target, source] pairs")
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(Problem(path, f"unreadable ({exc}): no {split} split"))
            continue
        for a, b in pairs:
            a, b = str(a), str(b)
            for key in (a, b, f"{a}_{b}", f"{b}_{a}"):
                mode[key] = split
    return mode


def _scan(folder: Path, kind: str, what: str, problems: list[Problem]) -> dict[str, Path] | None:
    """``stem -> file`` of the mp4 files in `folder` (an empty file maps to ``None``);
    ``None`` if the folder is missing."""
    if not folder.is_dir():
        problems.append(Problem(folder, f"missing: the {what} videos are left out ({kind})"))
        return None
    files = {p.stem: (p if p.stat().st_size else None) for p in sorted(folder.glob("*.mp4"))}
    empty = [f"{stem}.mp4" for stem, p in files.items() if p is None]
    if empty:
        problems.append(Problem(folder, absent_note(empty, "video file", "empty")))
    return files


def read_ffpp(
    root: str | Path,
    compression: str = "c23",
    methods: tuple[str, ...] | list[str] = FF_METHODS,
    *,
    splits_dir: str | Path | None = None,
) -> VideoIndex:
    """Read FaceForensics++ with its official train/validation/test split.

    Args:
        root: The ``FaceForensics++`` folder (holding ``original_sequences/`` and
            ``manipulated_sequences/``).
        compression: ``"c23"`` (the field's default), ``"c40"`` or ``"raw"``.
        methods: Manipulation methods to include (default: the four of FF++). The real
            videos are the ``youtube`` originals, plus the ``actors`` when
            ``"DeepFakeDetection"`` is chosen.
        splits_dir: Where ``train.json``, ``val.json`` and ``test.json`` are, if not in
            `root` or ``root/splits``.

    Returns:
        A [`VideoIndex`][fakezoo.datasets.index.VideoIndex]; a video named by a split file but
        absent, an empty file, videos in no split and a missing folder each give one problem
        line.

    Example:
        ```python
        # needs: FaceForensics++ as distributed
        from fakezoo.datasets import read_ffpp
        index = read_ffpp("/data/FaceForensics++", "c23")
        len(index.split("train"))  # 720 real + 2880 fake videos
        ```
    """
    root = Path(root).expanduser().absolute()
    if compression not in COMPRESSIONS:
        raise ValueError(
            f"unknown FaceForensics++ compression {compression!r}: use {', '.join(COMPRESSIONS)}"
        )
    chosen = tuple(dict.fromkeys(canonical_method(m) for m in methods))
    if not chosen:
        raise ValueError("choose at least one FaceForensics++ method")
    if not (root / "original_sequences").is_dir() and not (root / "manipulated_sequences").is_dir():
        raise DatasetError(
            f"{root} is not a FaceForensics++ folder: it has neither original_sequences/ nor "
            "manipulated_sequences/ (see docs/benchmarks.md for the expected tree)"
        )
    problems: list[Problem] = []
    mode = _split_of(root, Path(splits_dir) if splits_dir else None, problems)
    videos: list[Video] = []
    groups = [("youtube", None)] + [(m, m) for m in chosen]
    if "DeepFakeDetection" in chosen:
        groups.insert(1, ("actors", None))
        problems.append(
            Problem(
                root / "manipulated_sequences" / "DeepFakeDetection",
                "DeepFakeDetection has no official split: its videos (and the actors) keep none",
            )
        )
    stray: list[str] = []
    for name, method in groups:
        base = root / ("manipulated_sequences" if method else "original_sequences") / name
        folder = _videos_dir(base, compression)
        kind = f"download with -d {name if method else 'original'} -c {compression} -t videos"
        files = _scan(folder, kind, f"{name} {compression}", problems)
        if files is None:
            continue
        official = mode is not None and name not in ("actors", "DeepFakeDetection")
        if official:
            expected = {k for k in mode if ("_" in k) == (method is not None)}
            absent = sorted(expected - files.keys())
            if absent:
                problems.append(Problem(folder, absent_note(absent, "video of the split files")))
        for stem, path in files.items():
            if path is None:
                continue
            split = mode.get(stem) if official else None
            if official and split is None:
                stray.append(f"{name}/{stem}")
            videos.append(
                Video(
                    id=f"{name}/{stem}",
                    path=path,
                    label=0 if method is None else 1,
                    split=split,
                    method=method,
                    compression=compression,
                )
            )
    if stray:
        problems.append(
            Problem(
                root,
                f"{len(stray)} videos are in none of the split files (e.g. "
                f"{', '.join(stray[:3])}): they keep no split",
            )
        )
    label = f"ff++:{compression}" + ("" if chosen == FF_METHODS else ":" + ",".join(chosen))
    if not videos:
        raise DatasetError(
            f"found no FaceForensics++ {compression} videos under {root} "
            f"({'; '.join(str(p) for p in problems[:3])})"
        )
    index = VideoIndex(label, root, videos, problems)
    index.log_problems()
    return index
