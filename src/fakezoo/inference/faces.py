"""``predict(..., faces=True)``: score every face of whole photos and sampled video frames.

Each photo or frame goes through :func:`fakezoo.faces.face_crops` (MTCNN, then the run's crop
policy, the same code ``fakezoo crop`` uses to build datasets), and the crops go through the
Detector's ordinary batched path, so each face is resized and normalised exactly like a
training image.

Scores:

* a face: the ensemble's ``prob_fake`` for its crop;
* a photo or a frame: the **maximum** over its faces (one fake face makes the image fake);
* a video: the **mean** over the sampled frames that have a face (frames without a face are
  listed with ``prob_fake=None`` and left out of the mean).

A photo or video without a face gives a :class:`~fakezoo.inference.prediction.Prediction`
with ``error`` ``"no face found"``; the other inputs are still scored.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from .._progress import tqdm_disable
from ..errors import ImageDecodeError
from ..faces.detector import Face, default_detector
from ..faces.policy import DEFAULT_POLICY, CropPolicy
from ..faces.sources import FaceCrop, face_crops, list_media
from ..faces.video import VideoDecodeError, is_video
from .prediction import Prediction

__all__ = ["DEFAULT_FRAMES", "NO_FACE", "FacePrediction", "FramePrediction", "crop_policy",
           "predict_faces"]

DEFAULT_FRAMES = 16
"""Frames sampled per video when ``frames`` is not given."""

NO_FACE = "no face found"
"""The ``error`` of a Prediction whose photo or video has no face."""


@dataclass
class FacePrediction:
    """One face: where it is, how sure the face detector is, and what the ensemble says."""

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


def crop_policy(config: dict) -> CropPolicy:
    """The crop policy a run was trained with (``face_crop`` in its settings), else the
    default."""
    recorded = config.get("face_crop") or (config.get("settings") or {}).get("face_crop")
    return DEFAULT_POLICY if recorded is None else CropPolicy.from_dict(recorded)


def predict_faces(detector: Any, inputs: Any, *, batch_size: int, threshold: float,
                  progress: bool | None, frames: int | None = None, min_score: float = 0.9,
                  min_size: float = 20) -> Any:
    """What :meth:`fakezoo.inference.detector.Detector.predict` does with ``faces=True``."""
    frames = DEFAULT_FRAMES if frames is None else int(frames)
    single = isinstance(inputs, Image.Image) or (
        isinstance(inputs, str | os.PathLike) and not Path(inputs).is_dir())
    if single and not isinstance(inputs, Image.Image) and not Path(inputs).exists():
        raise FileNotFoundError(f"no such photo or video: {inputs}")
    items: Sequence[Any] | Iterable[Any]
    if single:
        items = [inputs]
    elif isinstance(inputs, str | os.PathLike):
        items = list_media(inputs)
    else:
        items = inputs
    face_det = default_detector(detector.device)
    policy = crop_policy(detector.config)
    out = []
    total = len(items) if isinstance(items, Sequence) else None
    with tqdm(total=total, desc="fakezoo predict --faces", unit="file", leave=False,
              disable=True if single else tqdm_disable(progress)) as bar:
        for item in items:
            path = None if isinstance(item, Image.Image) else os.fspath(item)
            try:
                per_frame = [pair for batch in face_crops(
                    item, face_det, policy, frames=frames, min_size=min_size,
                    min_score=min_score) for pair in batch]
            except (ImageDecodeError, VideoDecodeError) as exc:
                if single:
                    raise
                out.append(Prediction(path, None, None, None, error=exc.reason))
                bar.update()
                continue
            out.append(_score(detector, path, per_frame, batch_size, threshold, Prediction,
                              video=path is not None and is_video(path)))
            bar.update()
    return out[0] if single else out


def _score(detector: Any, path: str | None, per_frame: list[tuple[int | None, list[FaceCrop]]],
           batch_size: int, threshold: float, prediction: type, video: bool) -> Any:
    crops = [c for _, cs in per_frame for c in cs]
    if not crops:
        where = f" in {len(per_frame)} sampled frames" if video else ""
        return prediction(path, None, None, None, error=NO_FACE + where)
    scored = detector.predict([Image.fromarray(c.pixels) for c in crops], batch_size=batch_size,
                              threshold=threshold, progress=False, num_workers=0)
    faces = iter(_face(c.face, p) for c, p in zip(crops, scored, strict=True))
    label_of = detector.labels
    if not video:
        found = list(faces)
        best = max(found, key=lambda f: f.prob_fake)
        return prediction(path, best.label, best.prob_fake, best.fold_probs, faces=found)
    frame_rows, fold_rows = [], []
    for index, cs in per_frame:
        found = [next(faces) for _ in cs]
        best = max(found, key=lambda f: f.prob_fake) if found else None
        frame_rows.append(FramePrediction(int(index), best and best.prob_fake,
                                          best and best.label, found))
        if best is not None:
            fold_rows.append(best.fold_probs)
    fold_probs = [float(v) for v in np.mean(fold_rows, axis=0)]
    prob = float(np.mean([f.prob_fake for f in frame_rows if f.prob_fake is not None]))
    label = label_of[1] if prob >= threshold else label_of[0]
    return prediction(path, label, prob, fold_probs, frames=frame_rows)


def _face(face: Face, scored: Any) -> FacePrediction:
    return FacePrediction(box=[round(float(v), 1) for v in face.box],
                          score=round(float(face.score), 4), prob_fake=scored.prob_fake,
                          label=scored.label, fold_probs=scored.fold_probs)
