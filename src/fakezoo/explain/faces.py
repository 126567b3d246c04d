"""Grad-CAM per face: [`explain_faces`][fakezoo.explain.faces.explain_faces] and
`fakezoo predict --faces --explain DIR`.

The faces of a photo, or of a video's sampled frames, are found and cropped exactly as
`predict(..., faces=True)` does ([`fakezoo.inference.faces`][fakezoo.inference.faces], with
the same scores), and each face crop is explained like any image
([`explain_many`][fakezoo.explain.gradcam.explain_many]: Grad-CAM averaged over the folds, at
the model's input size). To tell the faces apart, each face has a number (1 = the largest of
its photo or frame, the order of `prediction.faces`) and
[`FacesExplanation.overview`][fakezoo.explain.faces.FacesExplanation.overview] draws every
face's map back inside its crop region on the whole photo or frame, with the face's box,
number and fake probability.

Example:
    ```python
    # needs: a trained run and a photo with faces
    import fakezoo
    from fakezoo.explain import explain_faces
    det = fakezoo.load("runs/resnet50", device="cpu")
    fx = explain_faces(det, "group.jpg")
    [(f.number, f.face.box, f.face.prob_fake) for f in fx.faces]
    fx.save("explanations/", "group")   # group.face1.cam.png/.npy ..., group.faces.png
    ```
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..faces.sources import list_media
from ..inference.detector import Detector
from ..inference.faces import (
    FacePrediction,
    MediaFaces,
    crop_policy,
    media_faces,
    score_media,
)
from ..inference.prediction import Prediction
from .gradcam import DISPLAY_SIZE, Explanation, check_target, explain_many, output_names
from .gradcam import overlay as overlay_map

__all__ = [
    "BOX_COLOUR",
    "FaceExplanation",
    "FacesExplanation",
    "draw_faces",
    "explain_faces",
    "explain_faces_many",
    "explain_faces_to_folder",
    "explain_media",
]

BOX_COLOUR = (0, 255, 0)
"""The colour of face boxes and their captions' background (pure green)."""


@dataclass
class FaceExplanation:
    """One face's Grad-CAM map.

    Attributes:
        frame: The video frame it was found in; ``None`` for a photo.
        number: 1, 2, ... in its photo or frame, largest face first (the number drawn on the
            overview and used in file names; ``number - 1`` indexes ``prediction.faces``).
        face: Its [`FacePrediction`][fakezoo.inference.faces.FacePrediction] (box, face score,
            prob_fake, label, fold_probs), as ``predict(..., faces=True)`` gives it.
        region: The crop region ``(x0, y0, x1, y1)`` in the photo/frame (the run's crop
            policy; it may extend past the edges): the map covers exactly this region.
        explanation: The crop's [`Explanation`][fakezoo.explain.gradcam.Explanation] (``heatmap``,
            ``fold_heatmaps``, ``overlay()``, ``save()``), drawn over the crop.
    """

    frame: int | None
    number: int
    face: FacePrediction
    region: tuple[int, int, int, int]
    explanation: Explanation

    @property
    def heatmap(self) -> np.ndarray:
        """The face's map, ``(S, S)`` float32 in [0, 1] (mean over the folds)."""
        return self.explanation.heatmap

    @property
    def name(self) -> str:
        """``face2`` for a photo, ``f00012.face2`` for frame 12 of a video."""
        return (
            f"face{self.number}" if self.frame is None else f"f{self.frame:05d}.face{self.number}"
        )


@dataclass
class FacesExplanation:
    """A photo's or video's ``predict(..., faces=True)`` result with a map per face.

    Attributes:
        prediction: Equal to ``predict(..., faces=True)``'s; its ``error`` says why there is
            no map (``"no face found"``, an undecodable file).
        faces: One [`FaceExplanation`][fakezoo.explain.faces.FaceExplanation] per explained face,
            frame after frame.
        images: The photo (key ``None``) or each explained frame (key: frame index), upright
            RGB uint8 at its own size.
    """

    prediction: Prediction
    faces: list[FaceExplanation]
    images: dict[int | None, np.ndarray] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.prediction.error is None

    def overview(
        self, frame: int | None = None, heatmaps: bool = True, alpha: float = 0.5
    ) -> np.ndarray:
        """The photo (or ``frame``) with each face's map in its crop region, its box and
        ``number: P(fake)``; ``heatmaps=False`` draws the boxes only."""
        if frame not in self.images:
            raise KeyError(f"no image kept for frame {frame}: frames {sorted(self.images)}")
        faces = [f for f in self.faces if f.frame == frame]
        maps = [(f.region, f.heatmap) for f in faces] if heatmaps else []
        return draw_faces(
            self.images[frame],
            [(f.face.box, f"{f.number}: {f.face.prob_fake:.2f}") for f in faces],
            maps,
            alpha=alpha,
        )

    def save(self, out_dir: str | os.PathLike[str], name: str) -> list[Path]:
        """Write ``NAME.<face>.cam.png`` (the crop's overlay) and ``.cam.npy`` (its map) per
        face, and ``NAME[.fNNNNN].faces.png``
        ([`overview`][fakezoo.explain.faces.FacesExplanation.overview]) per photo/frame.

        Returns:
            The paths written (none when ``prediction.error`` is set).
        """
        written: list[Path] = []
        for f in self.faces:
            written += f.explanation.save(out_dir, f"{name}.{f.name}.cam")
        for frame in sorted({f.frame for f in self.faces}, key=lambda k: -1 if k is None else k):
            png = Path(out_dir) / (
                f"{name}.faces.png" if frame is None else f"{name}.f{frame:05d}.faces.png"
            )
            Image.fromarray(self.overview(frame)).save(png)
            written.append(png)
        return written


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def draw_faces(
    image: np.ndarray,
    faces: Sequence[tuple[Sequence[float], str]],
    maps: Sequence[tuple[Sequence[int], np.ndarray]] = (),
    alpha: float = 0.5,
) -> np.ndarray:
    """Boxes with captions on an RGB uint8 image, over optional maps placed in regions.

    Args:
        image: ``(H, W, 3)`` uint8.
        faces: ``(box (x0, y0, x1, y1), caption)`` per face.
        maps: ``(region (x0, y0, x1, y1), [0, 1] map)``: each map is resized to its region
            and drawn there with [`overlay`][fakezoo.explain.gradcam.overlay] (parts outside
            the image are cut off).

    Example:
        ```python
        import numpy as np
        from fakezoo.explain import draw_faces
        out = draw_faces(np.zeros((80, 80, 3), np.uint8), [((10, 10, 50, 60), "1: 0.93")])
        out[10, 30].tolist()      # [0, 255, 0]: the box's top edge
        ```
    """
    out = np.array(image, dtype=np.uint8)
    height, width = out.shape[:2]
    for region, heat in maps:
        x0, y0, x1, y1 = (int(v) for v in region)
        left, top, right, bottom = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if right <= left or bottom <= top:
            continue
        full = np.asarray(
            Image.fromarray(np.asarray(heat, np.float32), mode="F").resize(
                (x1 - x0, y1 - y0), Image.Resampling.BILINEAR
            )
        )
        out[top:bottom, left:right] = overlay_map(
            out[top:bottom, left:right], full[top - y0 : bottom - y0, left - x0 : right - x0], alpha
        )
    canvas = Image.fromarray(out)
    draw = ImageDraw.Draw(canvas)
    line = max(2, round(min(height, width) / 200))
    font = _font(max(12, round(min(height, width) / 25)))
    for box, caption in faces:
        x0, y0, x1, y1 = (float(v) for v in box)
        draw.rectangle((x0, y0, x1, y1), outline=BOX_COLOUR, width=line)
        tx0, ty0, tx1, ty1 = draw.textbbox((0, 0), caption, font=font)
        w, h = tx1 - tx0 + 2 * line, ty1 - ty0 + 2 * line
        top = y0 - h if y0 >= h else y0  # above the box, or inside it at the image's top edge
        draw.rectangle((x0, top, x0 + w, top + h), fill=BOX_COLOUR)
        draw.text((x0 + line - tx0, top + line - ty0), caption, fill=(0, 0, 0), font=font)
    return np.asarray(canvas)


def explain_media(
    detector: Detector,
    media: MediaFaces,
    prediction: Prediction,
    *,
    target: str = "fake",
    threshold: float | None = None,
    batch_size: int = 8,
    frames: Sequence[int | None] | None = None,
    display_size: int = DISPLAY_SIZE,
) -> FacesExplanation:
    """Explain the faces of one scanned photo/video
    ([`media_faces`][fakezoo.inference.faces.media_faces] with ``keep_images=True``) whose
    [`score_media`][fakezoo.inference.faces.score_media] is ``prediction``.

    Args:
        frames: Only these frames (``None``: every photo/frame with a face); the app explains
            only a video's most fake frame.
    """
    check_target(target)
    if prediction.error is not None:
        return FacesExplanation(prediction, [])
    rows = [f.faces for f in prediction.frames] if media.video else [prediction.faces]
    chosen = [
        (index, image, list(zip(crops, faces, strict=True)))
        for (index, image, crops), faces in zip(media.frames, rows, strict=True)
        if crops and (frames is None or index in frames)
    ]
    pairs = [pair for _, _, found in chosen for pair in found]
    explained = explain_many(
        detector,
        [Image.fromarray(c.pixels) for c, _ in pairs],
        target=target,
        threshold=threshold,
        batch_size=batch_size,
        display_size=display_size,
    )
    policy = crop_policy(detector.preprocessing)
    sizes = {index: (image.shape[1], image.shape[0]) for index, image, _ in chosen}
    out = [
        FaceExplanation(c.frame, c.index + 1, face, policy.face_region(c.face, sizes[c.frame]), e)
        for (c, face), e in zip(pairs, explained, strict=True)
    ]
    return FacesExplanation(prediction, out, {index: image for index, image, _ in chosen})


def explain_faces_many(
    detector: Detector,
    inputs: Any,
    *,
    target: str = "fake",
    threshold: float | None = None,
    frames: int | None = None,
    batch_size: int = 8,
    progress: bool | None = None,
) -> Iterator[FacesExplanation]:
    """Explain every face of photos and videos (a folder, a list), one file at a time; an
    unreadable file or one without a face gives an explanation with ``prediction.error`` set
    and no maps, and the others go on.

    Args:
        detector: The run's fold ensemble.
        inputs: A photo or video, a folder of them, or a list.
        target: The class explained: ``"fake"``, ``"real"`` or ``"predicted"``.
        threshold: The decision threshold (default: the detector's).
        frames: Frames sampled per video (default: the run's crop policy's).
        batch_size: Face crops per Grad-CAM batch.
        progress: A progress bar (default: tqdm's own rule).
    """
    check_target(target)
    threshold = detector.threshold if threshold is None else float(threshold)
    _, scanned = media_faces(detector, inputs, frames=frames, progress=progress, keep_images=True)
    for media in scanned:
        prediction = score_media(detector, media, batch_size, threshold)
        yield explain_media(
            detector, media, prediction, target=target, threshold=threshold, batch_size=batch_size
        )


def explain_faces(detector: Detector, item: Any, **options: Any) -> FacesExplanation:
    """Explain every face of one photo or video (``options`` as in
    [`explain_faces_many`][fakezoo.explain.faces.explain_faces_many]; no progress bar).

    Raises:
        FileNotFoundError, fakezoo.errors.ImageDecodeError, fakezoo.errors.VideoDecodeError:
            the file cannot be read (the message names it).
        ValueError: ``item`` is a folder (use
            [`explain_faces_many`][fakezoo.explain.faces.explain_faces_many]).
    """
    if isinstance(item, str | os.PathLike) and Path(item).is_dir():
        raise ValueError(
            f"{item} is a folder: explain_faces takes one photo or video; use "
            f"fakezoo.explain.explain_faces_many or fakezoo predict "
            f"--faces --explain DIR for folders"
        )
    return next(explain_faces_many(detector, item, **{"progress": False, **options}))


def explain_faces_to_folder(
    detector: Detector,
    inputs: list[str],
    out_dir: str | os.PathLike[str],
    **options: Any,
) -> list[tuple[FacesExplanation, list[Path]]]:
    """``fakezoo predict --faces --explain DIR``:
    [`FacesExplanation.save`][fakezoo.explain.faces.FacesExplanation.save] per photo or video,
    named like [`explain_to_folder`][fakezoo.explain.gradcam.explain_to_folder] names images
    (a folder's files keep their path below it); ``options`` as in
    [`explain_faces_many`][fakezoo.explain.faces.explain_faces_many]."""
    named = output_names(list(inputs), list_media)
    explained = explain_faces_many(detector, [p for p, _ in named], **options)
    return [
        (fx, fx.save(out_dir, name) if fx.ok else [])
        for (_, name), fx in zip(named, explained, strict=True)
    ]
