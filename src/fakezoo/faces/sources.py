"""Photos and videos as streams of upright RGB images, and their faces cropped (one code path
for ``fakezoo crop`` and ``predict(..., faces=True)``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..data.dataset import IMAGE_EXTENSIONS
from ..data.decode import image_to_array
from .finder import Face, FaceFinder
from .image import load_image
from .policy import Policy, crop, keep_faces
from .video import VIDEO_EXTENSIONS, is_video, sample_frames

__all__ = [
    "DEFAULT_FRAMES",
    "FRAME_BATCH",
    "FaceCrop",
    "faces_in_images",
    "image_batches",
    "list_media",
    "select_faces",
]

FRAME_BATCH = 8
"""Video frames sent through the face finder at once."""

DEFAULT_FRAMES = 16
"""Frames sampled per video when neither the caller nor the crop policy says."""


@dataclass(frozen=True)
class FaceCrop:
    """One face of one photo or video frame: where it is and its pixels under a policy."""

    frame: int | None  # None for a photo
    index: int  # face number in its photo/frame, largest first
    face: Face
    pixels: np.ndarray  # (size, size, 3) uint8
    n_faces: int  # faces that passed the filters in this photo/frame


def list_media(folder: str | os.PathLike[str]) -> list[Path]:
    """Photos and videos under `folder`, recursively, sorted; hidden names left out."""
    wanted = IMAGE_EXTENSIONS + VIDEO_EXTENSIONS
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(
            Path(dirpath, n)
            for n in filenames
            if not n.startswith(".") and n.lower().endswith(wanted)
        )
    return sorted(found)


def image_batches(
    item: Any, frames: int, batch: int = FRAME_BATCH, sampling: str = "rounded"
) -> Iterator[list[tuple[int | None, np.ndarray]]]:
    """Batches of `(frame index, or None for a photo; (H, W, 3) uint8)` for a photo path, a
    PIL image, or a video path (`frames` evenly spaced frames, streamed)."""
    if isinstance(item, Image.Image):
        yield [(None, image_to_array(item, None))]
        return
    if not is_video(item):
        yield [(None, load_image(item))]
        return
    pending: list[tuple[int | None, np.ndarray]] = []
    for index, frame in sample_frames(item, frames, sampling):
        pending.append((index, frame))
        if len(pending) == batch:
            yield pending
            pending = []
    if pending:
        yield pending


def select_faces(
    faces: list[Face], all_faces: bool, min_size: float, min_score: float, rule: str | None = None
) -> tuple[list[Face], int]:
    """Faces passing `min_size` and `min_score`, largest first; those the policy's `rule`
    keeps, else only the largest unless `all_faces`. Also returns how many passed (to report
    several faces)."""
    kept = [f for f in faces if f.size >= min_size and f.score >= min_score]
    if rule is not None:
        return keep_faces(kept, rule), len(kept)
    return (kept if all_faces else kept[:1]), len(kept)


def faces_in_images(
    item: Any,
    finder: FaceFinder,
    policy: Policy,
    *,
    frames: int | None = None,
    all_faces: bool = True,
    min_size: float = 0,
    min_score: float = 0.9,
) -> Iterator[list[tuple[int | None, np.ndarray, list[FaceCrop]]]]:
    """For each batch of [`image_batches`][fakezoo.faces.sources.image_batches]: every photo/frame
    as ``(frame index or None, its pixels, its kept face crops)`` (no crop when none passed).

    A video gives `frames` frames (default: the policy's, else 16), spaced by the policy's
    sampling; the policy's face rule, when it has one, replaces `all_faces`.

    Raises:
        fakezoo.errors.ImageDecodeError, fakezoo.errors.VideoDecodeError: the item cannot be
            decoded.
    """
    n = frames if frames is not None else (policy.frames or DEFAULT_FRAMES)
    for batch in image_batches(item, n, sampling=policy.sampling):
        found = finder.find_batch([image for _, image in batch])
        out = []
        for (index, image), faces in zip(batch, found, strict=True):
            kept, n_ok = select_faces(faces, all_faces, min_size, min_score, policy.faces)
            out.append(
                (
                    index,
                    image,
                    [
                        FaceCrop(index, k, face, crop(image, face, policy), n_ok)
                        for k, face in enumerate(kept)
                    ],
                )
            )
        yield out
