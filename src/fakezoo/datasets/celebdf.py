"""Celeb-DF v2 as distributed, with its official test list.

Layout (the videos may also sit one level down, in ``videos/``, as SBI's scripts expect)::

    Celeb-DF-v2/
      Celeb-real/id0_0000.mp4 ...        # real
      YouTube-real/00000.mp4 ...         # real
      Celeb-synthesis/id0_id1_0000.mp4 ...  # fake
      List_of_testing_videos.txt         # "1 YouTube-real/00170.mp4": 1 = real, 0 = fake

The 518 listed videos are the test split; the others are the training split (Celeb-DF v2 has
no validation split).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DatasetError
from .index import Problem, Video, VideoIndex, absent_note

__all__ = ["FOLDERS", "TEST_LIST", "read_celebdf"]

FOLDERS = {"Celeb-real": 0, "YouTube-real": 0, "Celeb-synthesis": 1}
"""Each video folder and its label."""

TEST_LIST = "List_of_testing_videos.txt"


def _folder(root: Path, name: str) -> Path | None:
    """``root/name`` (case-insensitive), or its ``videos/`` sub-folder when that holds the
    files."""
    match = next((d for d in root.iterdir() if d.is_dir() and d.name.lower() == name.lower()), None)
    if match is None:
        return None
    inner = match / "videos"
    return inner if inner.is_dir() and not any(match.glob("*.mp4")) else match


def _test_list(path: Path, problems: list[Problem]) -> dict[str, tuple[int, str]] | None:
    """``"folder/name"`` (lower-case folder) -> the listed label (0 real, 1 fake) and the
    listed path."""
    if not path.is_file():
        problems.append(
            Problem(path, "missing: no test split, every video is in the training split")
        )
        return None
    listed: dict[str, tuple[int, str]] = {}
    bad = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[0] not in ("0", "1"):
            bad.append(str(n))
            continue
        folder, _, name = parts[1].partition("/")
        # in the file 1 means real
        listed[f"{folder.lower()}/{Path(name).stem}"] = (1 - int(parts[0]), parts[1])
    if bad:
        problems.append(
            Problem(path, f"lines {', '.join(bad[:5])} are not '<0|1> <folder>/<video>.mp4'")
        )
    return listed


def read_celebdf(root: str | Path) -> VideoIndex:
    """Read Celeb-DF v2: labels from the folders, the test split from
    ``List_of_testing_videos.txt``.

    Args:
        root: The ``Celeb-DF-v2`` folder.

    Returns:
        A [`VideoIndex`][fakezoo.datasets.index.VideoIndex]. A missing test list, listed videos that
        are absent, a listed label that contradicts its folder, and empty files each give one
        problem line; the rest is read.

    Example:
        ```python
        # needs: Celeb-DF v2 as distributed
        from fakezoo.datasets import read_celebdf
        test = read_celebdf("/data/Celeb-DF-v2").split("test")  # 178 real, 340 fake
        ```
    """
    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise DatasetError(f"Celeb-DF v2 folder not found: {root}")
    problems: list[Problem] = []
    listed = _test_list(root / TEST_LIST, problems)
    videos, found = [], set()
    for name, label in FOLDERS.items():
        folder = _folder(root, name)
        if folder is None:
            problems.append(Problem(root / name, "missing: its videos are left out"))
            continue
        empty = []
        for path in sorted(folder.glob("*.mp4")):
            if path.stat().st_size == 0:
                empty.append(path.name)
                continue
            key = f"{name.lower()}/{path.stem}"
            found.add(key)
            split = "train" if listed is None or key not in listed else "test"
            if listed is not None and key in listed and listed[key][0] != label:
                problems.append(
                    Problem(
                        root / TEST_LIST,
                        f"lists {name}/{path.name} as {('real', 'fake')[listed[key][0]]}, but its "
                        f"folder says {('real', 'fake')[label]}; the folder's label is kept",
                    )
                )
            videos.append(
                Video(
                    id=f"{name}/{path.stem}",
                    path=path,
                    label=label,
                    split=split,
                    method="Celeb-synthesis" if label else None,
                )
            )
        if empty:
            problems.append(Problem(folder, absent_note(empty, "video file", "empty")))
    if listed is not None:
        absent = sorted(listed[k][1] for k in listed if k not in found)
        if absent:
            problems.append(Problem(root / TEST_LIST, absent_note(absent)))
    if not videos:
        raise DatasetError(
            f"found no Celeb-DF v2 videos under {root} (expected {', '.join(FOLDERS)})"
        )
    index = VideoIndex("celebdf-v2", root, videos, problems)
    index.log_problems()
    return index
