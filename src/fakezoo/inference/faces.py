"""``predict(..., faces=True)``: score every face of whole photos and sampled video frames.

Each photo or frame goes through
[`fakezoo.faces.sources.faces_in_images`][fakezoo.faces.sources.faces_in_images] (MTCNN, then the
run's crop policy, the same code ``fakezoo crop`` uses to build datasets), and the crops go through
the Detector's ordinary batched path, so each face is resized and normalised exactly like a training
image.

Scores:

* a face: the ensemble's ``prob_fake`` for its crop;
* a photo or a frame: the **maximum** over its faces (one fake face makes the image fake);
* a video: the **mean** over the sampled frames that have a face (frames without a face are
  listed with ``prob_fake=None`` and left out of the mean).

A photo or video without a face gives a [`Prediction`][fakezoo.inference.prediction.Prediction]
with ``error`` ``"no face found"``; the other inputs are still scored.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from .._progress import tqdm_disable
from ..errors import FileDecodeError
from ..faces.finder import Face, default_finder
from ..faces.policy import DEFAULT_POLICY, Policy
from ..faces.sources import FaceCrop, faces_in_images, list_media
from ..faces.video import is_video
from ..models.preprocessing import Preprocessing
from .prediction import Prediction

__all__ = [
    "NO_FACE",
    "FacePrediction",
    "FramePrediction",
    "MediaFaces",
    "crop_policy",
    "media_faces",
    "predict_faces",
    "score_media",
]

NO_FACE = "no face found"
"""The ``error`` of a Prediction whose photo or video has no face."""


@dataclass
class FacePrediction:
    """One face: where it is, how sure the face finder is, and what the ensemble says."""

    box: list[float]
    score: float
    prob_fake: float
    label: str
    fold_probs: list[float]


@dataclass
class FramePrediction:
    """One sampled video frame: its faces and its score (max over faces; None: no face)."""

    frame: int
    prob_fake: float | None
    label: str | None
    faces: list[FacePrediction]


def crop_policy(preprocessing: Preprocessing) -> Policy:
    """The crop policy a run was trained with (its preprocessing record's ``face_crop``), else
    the default one."""
    return preprocessing.face_crop or DEFAULT_POLICY


@dataclass
class MediaFaces:
    """One photo or video after face finding, before scoring.

    Attributes:
        path: The file, or ``None`` for a PIL image.
        video: Whether it is a video (frames sampled) rather than a photo.
        frames: ``(frame index or None for a photo, its pixels or None, its face crops)`` per
            photo/sampled frame; the pixels (upright ``(H, W, 3)`` uint8) are kept only when
            asked for (``keep_images=True``), to draw the faces on.
        error: Why the file could not be decoded (batch mode), else ``None``.
    """

    path: str | None
    video: bool
    frames: list[tuple[int | None, np.ndarray | None, list[FaceCrop]]]
    error: str | None = None

    @property
    def crops(self) -> list[FaceCrop]:
        """Every face crop, photo/frame after photo/frame, largest face first in each."""
        return [c for _, _, cs in self.frames for c in cs]


def media_faces(
    detector: Any,
    inputs: Any,
    *,
    frames: int | None = None,
    progress: bool | None = None,
    min_score: float = 0.9,
    min_size: float = 20,
    keep_images: bool = False,
) -> tuple[bool, Iterator[MediaFaces]]:
    """Find the faces of photos and videos with the run's crop policy, one file at a time.

    Returns:
        ``(single, iterator)``: ``single`` when ``inputs`` is one file or PIL image. For one
        file a decode error is raised (naming the file); in a batch it is the item's
        ``error`` and the others go on. A missing single file raises at once.
    """
    frames = None if frames is None else int(frames)  # None: the run's policy, else 16
    single = isinstance(inputs, Image.Image) or (
        isinstance(inputs, str | os.PathLike) and not Path(inputs).is_dir()
    )
    if single and not isinstance(inputs, Image.Image) and not Path(inputs).exists():
        raise FileNotFoundError(f"no such photo or video: {inputs}")
    items: Sequence[Any] | Iterable[Any]
    if single:
        items = [inputs]
    elif isinstance(inputs, str | os.PathLike):
        items = list_media(inputs)
    else:
        items = inputs
    options = dict(frames=frames, min_size=min_size, min_score=min_score)
    return single, _scan(detector, items, single, progress, keep_images, options)


def _scan(
    detector: Any,
    items: Iterable[Any],
    single: bool,
    progress: bool | None,
    keep_images: bool,
    options: dict,
) -> Iterator[MediaFaces]:
    finder = default_finder(detector.device)
    policy = crop_policy(detector.preprocessing)
    total = len(items) if isinstance(items, Sequence) else None
    with tqdm(
        total=total,
        desc="fakezoo predict --faces",
        unit="file",
        leave=False,
        disable=True if single else tqdm_disable(progress),
    ) as bar:
        for item in items:
            path = None if isinstance(item, Image.Image) else os.fspath(item)
            video = path is not None and is_video(path)
            try:
                found = [
                    (index, image if keep_images else None, crops)
                    for batch in faces_in_images(item, finder, policy, **options)
                    for index, image, crops in batch
                ]
            except FileDecodeError as exc:
                if single:
                    raise
                found, error = [], exc.reason
            else:
                error = None
            yield MediaFaces(path, video, found, error)
            bar.update()


def predict_faces(
    detector: Any,
    inputs: Any,
    *,
    batch_size: int,
    threshold: float,
    progress: bool | None,
    frames: int | None = None,
    min_score: float = 0.9,
    min_size: float = 20,
) -> Any:
    """What [`Detector.predict`][fakezoo.inference.detector.Detector.predict] does with
    ``faces=True``."""
    single, scanned = media_faces(
        detector, inputs, frames=frames, progress=progress, min_score=min_score, min_size=min_size
    )
    out = [score_media(detector, media, batch_size, threshold) for media in scanned]
    return out[0] if single else out


def score_media(detector: Any, media: MediaFaces, batch_size: int, threshold: float) -> Prediction:
    """Score every face crop of one photo or video: a photo/frame is its most fake face, a
    video the mean of its frames that have a face (see the module's notes)."""
    crops = media.crops
    if media.error is not None:
        return Prediction(media.path, None, None, None, error=media.error)
    if not crops:
        where = f" in {len(media.frames)} sampled frames" if media.video else ""
        return Prediction(media.path, None, None, None, error=NO_FACE + where)
    scored = detector.predict(
        [Image.fromarray(c.pixels) for c in crops],
        batch_size=batch_size,
        threshold=threshold,
        progress=False,
        num_workers=0,
    )
    faces = iter(_face(c.face, p) for c, p in zip(crops, scored, strict=True))
    if not media.video:
        found = list(faces)
        best = max(found, key=lambda f: f.prob_fake)
        return Prediction(media.path, best.label, best.prob_fake, best.fold_probs, faces=found)
    frame_rows, fold_rows = [], []
    for index, _, cs in media.frames:
        found = [next(faces) for _ in cs]
        best = max(found, key=lambda f: f.prob_fake) if found else None
        frame_rows.append(
            FramePrediction(int(index), best and best.prob_fake, best and best.label, found)
        )
        if best is not None:
            fold_rows.append(best.fold_probs)
    fold_probs = [float(v) for v in np.mean(fold_rows, axis=0)]
    prob = float(np.mean([f.prob_fake for f in frame_rows if f.prob_fake is not None]))
    return Prediction(
        media.path, detector.label(prob, threshold), prob, fold_probs, frames=frame_rows
    )


def _face(face: Face, scored: Any) -> FacePrediction:
    return FacePrediction(
        box=[round(float(v), 1) for v in face.box],
        score=round(float(face.score), 4),
        prob_fake=scored.prob_fake,
        label=scored.label,
        fold_probs=scored.fold_probs,
    )
