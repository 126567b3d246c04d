"""DeepfakeBench's preprocessed data, read as it is: its ``dataset_json/<name>.json`` and the
face crops (32 aligned 256 px frames per video) it names.

The file, as DeepfakeBench's ``preprocessing/rearrange.py`` writes it::

    {"<dataset>": {"<label name>": {"train" | "val" | "test": {
        "<video>": {"label": "<label name>", "frames": ["<path>", ...], ...}}}}}

FaceForensics++-family files have one more level, the compression (``"c23"``...), between
the split and the videos. Frame paths are relative to DeepfakeBench's ``rgb_dir`` (with
Windows separators in the released files) or absolute. A label name (``FF-DF``,
``CelebDFv2_real``...) gives the label, as DeepfakeBench's ``label_dict`` does, and the
manipulation method.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath

from ..errors import DatasetError
from .index import Problem, Video, VideoIndex, absent_note

__all__ = ["FAKE_METHODS", "read_deepfakebench"]

FAKE_METHODS: dict[str, str] = {
    "FF-DF": "Deepfakes",
    "FF-F2F": "Face2Face",
    "FF-FS": "FaceSwap",
    "FF-NT": "NeuralTextures",
    "FF-FH": "FaceShifter",
    "FF-SH": "FaceShifter",
    "DFD_fake": "DeepFakeDetection",
    "CelebDFv1_fake": "Celeb-synthesis",
    "CelebDFv2_fake": "Celeb-synthesis",
    "DFDCP_FakeA": "method_A",
    "DFDCP_FakeB": "method_B",
    "DFDC_Fake": "DFDC",
    "DF_fake": "DeeperForensics-1.0",
    "UADFV_Fake": "UADFV",
}
"""The manipulation method each of DeepfakeBench's fake label names (its ``label_dict``)
stands for. Every real label name holds ``real``, and a fake name not listed here holds
``fake`` and is its own method."""

_SPLITS = {"train": "train", "val": "validation", "test": "test"}
_PRIORITY = ("test", "validation", "train")  # a video listed in several splits keeps the first
_COMPRESSIONS = ("raw", "c23", "c40")


def _label(name: str) -> tuple[int, str | None] | None:
    if name in FAKE_METHODS:
        return 1, FAKE_METHODS[name]
    lower = name.lower()
    if "real" in lower:
        return 0, None
    if "fake" in lower:
        return 1, name
    return None


class _Resolver:
    """Frame paths as written -> files under `rgb_dir`, learning once how many leading parts
    of a relative path stand for DeepfakeBench's own ``rgb_dir``."""

    def __init__(self, rgb_dir: Path) -> None:
        self.rgb_dir = rgb_dir
        self.strip: int | None = None

    def __call__(self, raw: str) -> Path | None:
        text = raw.replace("\\", "/")
        if os.path.isabs(text):
            return Path(text) if os.path.isfile(text) else None
        parts = PurePosixPath(text.removeprefix("./")).parts
        if self.strip is not None:
            path = self.rgb_dir.joinpath(*parts[self.strip :])
            if path.is_file():
                return path
        for strip in range(len(parts)):
            path = self.rgb_dir.joinpath(*parts[strip:])
            if path.is_file():
                self.strip = strip
                return path
        return None


def _frame_key(path: Path) -> tuple:
    return (0, int(path.stem), "") if path.stem.isdigit() else (1, 0, path.stem)


def _videos_of(block: dict, compression: str) -> tuple[dict | None, str | None]:
    """The ``{video: info}`` dict of one split, and the compression level used (or None)."""
    if block and all(k in _COMPRESSIONS for k in block):
        return block.get(compression), compression
    if "frames" in block and "label" in block:  # one video's entry where a list belongs
        return None, None
    return block, None


def read_deepfakebench(
    json_path: str | Path,
    rgb_dir: str | Path | None = None,
    *,
    compression: str = "c23",
    dataset: str | None = None,
) -> VideoIndex:
    """Read one of DeepfakeBench's dataset JSON files and the face crops it names.

    Args:
        json_path: ``preprocessing/dataset_json/<name>.json``.
        rgb_dir: The folder DeepfakeBench's ``rgb_dir`` names (default: ``datasets/rgb``
            beside ``preprocessing/``, as in DeepfakeBench's checkout).
        compression: For FaceForensics++-family files, the level to read.
        dataset: The top-level name to read when the file holds several.

    Returns:
        A [`VideoIndex`][fakezoo.datasets.index.VideoIndex] whose videos carry their ``frames``
        (``to_dataset()`` gives one item per frame). A video listed under several splits (as
        ``rearrange.py`` lists Celeb-DF's test videos under train too) keeps one, test over
        validation over train, so a test video never trains; absent frames and unknown labels
        each give one problem line.

    Example:
        ```python
        # needs: DeepfakeBench's preprocessed FaceForensics++
        from fakezoo.datasets import read_deepfakebench
        index = read_deepfakebench("DeepfakeBench/preprocessing/dataset_json/FaceForensics++.json")
        frames = index.to_dataset(["train"])  # 32 crops per video, grouped by video
        ```
    """
    json_path = Path(json_path).expanduser().absolute()
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"DeepfakeBench dataset file not found: {json_path}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{json_path} is not a DeepfakeBench dataset JSON ({exc})") from None
    if not isinstance(data, dict) or not data:
        raise DatasetError(f"{json_path} is not a DeepfakeBench dataset JSON (not an object)")
    name = dataset or next(iter(data))
    if name not in data:
        raise DatasetError(f"{json_path} holds {', '.join(data)}, not {name!r}")
    if rgb_dir is None:
        guess = json_path.parent.parent.parent / "datasets" / "rgb"
        rgb_dir = guess if guess.is_dir() else json_path.parent
    resolver = _Resolver(Path(rgb_dir).expanduser().absolute())
    problems: list[Problem] = []
    chosen: dict[str, tuple[str, Video]] = {}
    absent_frames: list[str] = []
    repeated: set[str] = set()
    n_frames = 0
    used_compression = None
    for label_name, splits in data[name].items():
        known = _label(label_name)
        if known is None:
            problems.append(
                Problem(
                    json_path,
                    f"label name {label_name!r} says neither real nor fake; "
                    "its videos are left out",
                )
            )
            continue
        label, method = known
        for split_key, block in (splits or {}).items():
            split = _SPLITS.get(split_key)
            videos, comp = _videos_of(block or {}, compression)
            if split is None or videos is None:
                why = "no such split" if split is None else "not a list of videos"
                level = f" at {compression}" if block and comp is None and split else ""
                problems.append(
                    Problem(json_path, f"{label_name}/{split_key}{level}: {why}; left out")
                )
                continue
            used_compression = comp or used_compression
            for video_name, info in videos.items():
                raw = list((info or {}).get("frames") or [])
                n_frames += len(raw)
                found = []
                for r in raw:
                    path = resolver(r)
                    if path is None:
                        absent_frames.append(r)
                    else:
                        found.append(path)
                if not found:
                    continue
                found.sort(key=_frame_key)
                vid = f"{label_name}/{video_name}"
                video = Video(vid, found[0].parent, label, split, method, comp, tuple(found))
                old = chosen.get(vid)
                if old is not None:
                    repeated.add(vid)
                if old is None or _PRIORITY.index(split) < _PRIORITY.index(old[0]):
                    chosen[vid] = (split, video)
    if repeated:
        example = sorted(repeated)[0]
        problems.append(
            Problem(
                json_path,
                f"{len(repeated)} videos are listed under several splits (as "
                "DeepfakeBench's rearrange.py writes some datasets), each kept in one, test "
                f"over validation over train (e.g. {example} in {chosen[example][0]})",
            )
        )
    if absent_frames:
        problems.append(
            Problem(
                json_path,
                absent_note(
                    absent_frames,
                    "listed frame",
                    f"absent (of {n_frames}) under {resolver.rgb_dir}",
                ),
            )
        )
    if not chosen:
        raise DatasetError(
            f"none of the {n_frames} frames named by {json_path} exists under rgb_dir "
            f"{resolver.rgb_dir}; pass the folder DeepfakeBench's rgb_dir points to"
        )
    label = f"deepfakebench:{name}" + (f":{used_compression}" if used_compression else "")
    index = VideoIndex(label, resolver.rgb_dir, [v for _, v in chosen.values()], problems)
    index.log_problems()
    return index
