"""What the ensemble says about one image."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Prediction"]


@dataclass
class Prediction:
    """What the ensemble says about one image.

    Attributes:
        path: The image file, or ``None`` for PIL images and tensors.
        label: ``"real"`` or ``"fake"`` (``"fake"`` iff ``prob_fake >= threshold``); ``None``
            when the image could not be decoded.
        prob_fake: Mean of the folds' fake probabilities; ``None`` on error.
        fold_probs: Each fold model's fake probability, in fold order; ``None`` on error.
        error: Why the image could not be decoded (or, with ``faces=True``, ``"no face
            found"``), else ``None``.
        faces: With ``faces=True`` on a photo: one
            [`FacePrediction`][fakezoo.inference.faces.FacePrediction] per face (box, face score,
            prob_fake, label, fold_probs), largest first; ``prob_fake`` is then the
            **maximum** over the faces. ``None`` otherwise.
        frames: With ``faces=True`` on a video: one
            [`FramePrediction`][fakezoo.inference.faces.FramePrediction] per sampled frame (its
            faces and the max over them); ``prob_fake`` is then the **mean** over the frames that
            have a face. ``None`` otherwise.

    Example:
        ```python
        import json
        p = detector.predict("face.jpg")
        if p.error is None:
            print(p.label, round(p.prob_fake, 3))
        json.dumps(p.to_dict())
        ```
    """

    path: str | None
    label: str | None
    prob_fake: float | None
    fold_probs: list[float] | None
    error: str | None = None
    faces: list[Any] | None = None
    frames: list[Any] | None = None

    @property
    def ok(self) -> bool:
        """``True`` when the image was decoded and scored."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of builtin types, ready for ``json.dumps`` or ``csv.DictWriter``.

        Example:
            ```python
            import csv
            rows = detector.predict("photos/")
            with open("predictions.csv", "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0].to_dict()))
                writer.writeheader()
                writer.writerows(r.to_dict() for r in rows)
            ```

        ``faces`` and ``frames`` appear only when set (``predict(..., faces=True)``), so
        plain predictions stay one flat row.
        """
        out = asdict(self)
        for key in ("faces", "frames"):
            if out[key] is None:
                del out[key]
        return out
