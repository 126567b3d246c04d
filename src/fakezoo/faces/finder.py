"""The face finder: MTCNN (facenet-pytorch, MIT licence, weights inside its wheel), batched.

It finds faces; the deepfake fold ensemble is `fakezoo.Detector`."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DEFAULT_MIN_FACE_SIZE", "Face", "FaceFinder", "default_finder", "find_faces"]

DEFAULT_MIN_FACE_SIZE = 20
"""Smallest face (pixels) MTCNN searches for; a larger value makes finding faster."""

_FINDERS: dict[tuple, FaceFinder] = {}
_FINDERS_LOCK = threading.Lock()


@dataclass(frozen=True)
class Face:
    """One face found in an image.

    Attributes:
        box: `(x0, y0, x1, y1)` in pixels of the upright image (EXIF orientation applied).
        score: MTCNN's confidence, in [0, 1].
        landmarks: Five `(x, y)` points (left eye, right eye, nose, left and right mouth
            corner), or `None`.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: tuple[tuple[float, float], ...] | None = None

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def size(self) -> float:
        """The shorter side of the box, in pixels (what ``min_size`` compares against)."""
        return min(self.width, self.height)

    def to_dict(self) -> dict[str, Any]:
        """Builtin types for JSON: box rounded to 0.1 px, score to 1e-4."""
        return {
            "box": [round(float(v), 1) for v in self.box],
            "score": round(float(self.score), 4),
            "landmarks": None
            if self.landmarks is None
            else [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks],
        }


class FaceFinder:
    """MTCNN with fakezoo's conventions: RGB uint8 arrays in, [`Face`][fakezoo.faces.finder.Face]
    lists out.

    Images of the same size (video frames) go through MTCNN as one batch; images of different
    sizes are grouped by size. Faces come out sorted by area, largest first.

    Args:
        device: Torch device for the three small networks (``"cpu"`` or ``"cuda"``).
        min_face_size: Smallest face searched for, in pixels (MTCNN's image-pyramid floor).
        thresholds: MTCNN's three stage thresholds.

    Example:
        ```python
        # needs: the faces extra and a photo
        from fakezoo.faces import FaceFinder, load_image
        faces = FaceFinder().find(load_image("photo.jpg"))
        ```
    """

    def __init__(
        self,
        device: Any = "cpu",
        min_face_size: int = DEFAULT_MIN_FACE_SIZE,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
    ) -> None:
        import torch

        from ._mtcnn import load_mtcnn

        self.device = torch.device(device)
        self.min_face_size = int(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self._mtcnn = load_mtcnn(self.device, self.min_face_size, self.thresholds)

    @property
    def mtcnn(self) -> Any:
        """The facenet-pytorch ``MTCNN`` this finder runs (eval mode, its settings), for
        calling it the plain way, e.g. ``finder.mtcnn.detect(image)``."""
        return self._mtcnn

    def __repr__(self) -> str:
        return (
            f"FaceFinder(MTCNN, device={self.device}, min_face_size={self.min_face_size}, "
            f"thresholds={self.thresholds})"
        )

    def find(self, image: np.ndarray) -> list[Face]:
        """Faces in one `(H, W, 3)` uint8 RGB image, largest first."""
        return self.find_batch([image])[0]

    def find_batch(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        """Faces in each image; equal-sized images run through MTCNN as one batch."""
        out: list[list[Face]] = [[] for _ in images]
        by_size: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            _check_image(image)
            by_size.setdefault(image.shape, []).append(i)
        for indices in by_size.values():
            batch = np.stack([images[i] for i in indices])
            for i, faces in zip(indices, self._run(batch), strict=True):
                out[i] = faces
        return out

    def _run(self, batch: np.ndarray) -> list[list[Face]]:
        import torch

        with torch.inference_mode():
            boxes, probs, points = self._mtcnn.detect(batch, landmarks=True)
        result = []
        for b, p, pts in zip(boxes, probs, points, strict=True):
            if b is None:
                result.append([])
                continue
            faces = [
                Face(
                    box=tuple(float(v) for v in box),
                    score=float(score),
                    landmarks=None if pts is None else tuple((float(x), float(y)) for x, y in lm),
                )
                for box, score, lm in zip(
                    b, p, pts if pts is not None else [None] * len(b), strict=True
                )
            ]
            faces.sort(key=lambda f: f.width * f.height, reverse=True)
            result.append(faces)
        return result


def _check_image(image: Any) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", type(image).__name__)
        raise ValueError(
            f"expected an (H, W, 3) uint8 RGB array, got {shape}; decode files "
            "with fakezoo.faces.load_image"
        )
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {image.dtype}")


def default_finder(device: Any = "cpu", min_face_size: int = DEFAULT_MIN_FACE_SIZE) -> FaceFinder:
    """One shared [`FaceFinder`][fakezoo.faces.finder.FaceFinder] per (device, min_face_size) in
    this process."""
    import torch

    key = (str(torch.device(device)), int(min_face_size))
    with _FINDERS_LOCK:
        found = _FINDERS.get(key)
        if found is None:
            found = _FINDERS[key] = FaceFinder(device, min_face_size)
        return found


def find_faces(
    image: np.ndarray, device: Any = "cpu", min_face_size: int = DEFAULT_MIN_FACE_SIZE
) -> list[Face]:
    """Faces in one `(H, W, 3)` uint8 RGB image, largest first (shared MTCNN, see
    [`default_finder`][fakezoo.faces.finder.default_finder]).

    Example:
        ```python
        # needs: the faces extra and a photo
        from fakezoo.faces import find_faces, load_image
        [f.box for f in find_faces(load_image("photo.jpg"))]
        ```
    """
    return default_finder(device, min_face_size).find(image)
