"""The protocol's data: each benchmark read, its needed splits cropped once (resumably) with one
policy, and the crops loaded as a [`Dataset`][fakezoo.data.Dataset] whose groups are the
video ids; plus the memory arithmetic that says, before decoding, whether it fits."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_text
from ..data import Dataset, load_dataset
from ..datasets import DatasetSpec, VideoIndex, read_dataset
from ..errors import ProtocolError
from ..faces.policy import POLICIES, SETTINGS_FILE, AlignedCropPolicy, Policy

__all__ = [
    "DEEPFAKEBENCH_FORMAT",
    "PreparedSet",
    "decoded_bytes",
    "memory_budget",
    "policy_name",
    "prepare",
    "skipped_videos",
]

logger = logging.getLogger("fakezoo")

DEEPFAKEBENCH_FORMAT = "deepfakebench"
"""``crop.json``'s format for DeepfakeBench's own crops (read as they are, never re-cropped)."""


def memory_budget(gigabytes: float | None = None) -> int:
    """Bytes the protocol may hold decoded at once: `gigabytes`, else half the machine's
    physical memory."""
    if gigabytes is not None:
        if gigabytes <= 0:
            raise ValueError(f"memory budget must be positive, got {gigabytes} GB")
        return int(gigabytes * 1e9)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume 16 GB
        total = 16 * 10**9
    return total // 2


def decoded_bytes(n_images: int, side: int) -> int:
    """Memory of `n_images` decoded square RGB uint8 images of `side` pixels."""
    return int(n_images) * int(side) ** 2 * 3


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e8 else f"{n_bytes / 1e6:.1f} MB"


def policy_name(policy: Policy) -> str:
    """The named policy it is (``"deepfakebench"``...), else ``"custom"``."""
    return next((n for n, p in POLICIES.items() if p == policy), "custom")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "+-_." else "-" for c in text).strip("-")


@dataclass
class PreparedSet:
    """One benchmark, cropped: its videos, where the crops are, and the crops.

    Attributes:
        label: The dataset as its reader names it, e.g. ``"ff++:c23"``.
        index: Its videos (official splits, labels, methods).
        folder: The crop folder (``manifest.csv`` and ``crop.json``).
        crops: Every crop of the prepared splits, grouped by video id.
        methods: Video id -> manipulation method (``None`` for real videos).
    """

    label: str
    index: VideoIndex
    folder: Path
    crops: Dataset
    methods: dict[str, str | None]

    def split(self, *names: str) -> Dataset:
        """The crops of the named splits."""
        if self.crops.splits is None:
            return self.crops.subset(np.zeros(0, np.int64))
        return self.crops.subset(np.asarray([s in names for s in self.crops.splits], bool))

    def has(self, split: str) -> bool:
        return bool(self.index.split(split))


def _crop_folder(
    root: Path, spec: DatasetSpec, policy: Policy, frames: int, min_size: float
) -> Path:
    key = json.dumps(
        {"policy": policy.to_dict(), "frames": frames, "min_size": min_size}, sort_keys=True
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return root / _slug(spec.label) / f"{policy_name(policy)}-{frames}f-{digest}"


def _deepfakebench_manifest(index: VideoIndex, folder: Path, splits: tuple[str, ...]) -> None:
    """A manifest of DeepfakeBench's own crops, and a ``crop.json`` naming their policy, so
    that runs trained on them record it like any ``fakezoo crop`` dataset."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["path,label,group,split"]
    for video in index.split(*splits):
        for frame in video.frames:
            row = [str(frame), video.label_name, video.id, video.split]
            lines.append(",".join(_csv_cell(v) for v in row))
    atomic_write_text(folder / "manifest.csv", "\n".join(lines) + "\n")
    n = max((len(v.frames) for v in index.videos), default=32)
    settings = {
        "format": DEEPFAKEBENCH_FORMAT,
        "policy": AlignedCropPolicy(frames=n).to_dict(),
        "face_finder": "dlib, 81 landmarks (DeepfakeBench's preprocess.py)",
        "source": str(index.root),
    }
    atomic_write_text(folder / SETTINGS_FILE, json.dumps(settings, indent=2) + "\n")


def _csv_cell(value: Any) -> str:
    text = str(value)
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text


def prepare(
    spec: DatasetSpec,
    splits: tuple[str, ...],
    crop_root: Path,
    policy: Policy,
    *,
    frames: int,
    min_size: float,
    budget: int,
    size_for_budget: int,
    workers: int | None = None,
    device: Any = "cpu",
    progress: bool | None = None,
) -> PreparedSet:
    """Read `spec`, crop the videos of `splits` into ``crop_root`` (resuming what is there)
    and load the crops; refuses, before cropping, data that would not fit `budget` decoded at
    `size_for_budget` pixels (for a training set; pass ``budget=0`` to skip the check)."""
    from ..faces.dataset import crop_dataset

    index = read_dataset(spec)
    chosen = index.split(*splits)
    if not chosen:
        raise ProtocolError(
            f"{spec.label} has no {' or '.join(splits)} split in {index.root}"
            + (f" ({index.problems[0]})" if index.problems else "")
        )
    training = [v for v in chosen if v.split in ("train", "validation")]
    per_video = max((len(v.frames) for v in chosen), default=0) or frames
    if budget and training:
        need = decoded_bytes(len(training) * per_video, size_for_budget)
        if need > budget:
            fits = budget // decoded_bytes(len(training), size_for_budget)
            what = (
                f"train on at most {fits} frames per video (--frames)"
                if fits
                else f"even one frame per video needs {_size(need // per_video)}"
            )
            raise ProtocolError(
                f"{spec.label} train+validation: {len(training)} videos x {per_video} frames "
                f"decode to {_size(need)} at {size_for_budget} px, over the memory budget of "
                f"{_size(budget)} (--memory-budget); {what}, or train on a machine with more "
                "memory: fakezoo has no out-of-core training path yet"
            )
    if spec.name == "deepfakebench":
        folder = crop_root / _slug(index.name) / "deepfakebench-crops"
        _deepfakebench_manifest(index, folder, splits)
    else:
        folder = _crop_folder(crop_root, spec, policy, frames, min_size)
        report = crop_dataset(
            index.to_dataset(splits),
            folder,
            frames=frames,
            policy=policy,
            min_size=min_size,
            workers=workers,
            device=device,
            progress=progress,
        )
        logger.info("%s: %s", spec.label, report.summary())
    crops = load_dataset(folder / "manifest.csv")
    if crops.groups is None or crops.splits is None:
        raise ProtocolError(f"{folder / 'manifest.csv'} has no group or split column")
    wanted = {v.id for v in chosen}
    keep = np.asarray([str(g) in wanted for g in crops.groups], bool)
    crops = crops.subset(keep)  # a shared crop folder may hold other splits too
    if len(crops) == 0:
        raise ProtocolError(
            f"no face was found in any {spec.label} {'+'.join(splits)} video (see "
            f"{folder / 'report.csv'})"
        )
    methods = {v.id: v.method for v in index.videos}
    return PreparedSet(index.name, index, folder, crops, methods)


def skipped_videos(prepared: PreparedSet, splits: tuple[str, ...]) -> list[dict]:
    """The videos of `splits` without a single crop (no face, or undecodable), with the
    reason ``fakezoo crop`` recorded."""
    have = {str(g) for g in prepared.crops.groups}
    reasons = {}
    report = prepared.folder / "report.csv"
    if report.is_file():
        with report.open(newline="", encoding="utf-8") as handle:
            reasons = {r["source"]: f"{r['status']}: {r['detail']}" for r in csv.DictReader(handle)}
    out = []
    for video in prepared.index.split(*splits):
        if video.id not in have:
            rel = video.path.relative_to(prepared.index.root).as_posix()
            out.append({"video": video.id, "reason": reasons.get(rel, "no crop")})
    return out
