"""The crop policy: how a detected face becomes a square training image."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .finder import Face

__all__ = [
    "DEFAULT_POLICY",
    "POLICY_VERSION",
    "SETTINGS_FILE",
    "CropPolicy",
    "crop",
    "recorded_policy",
]

SETTINGS_FILE = "crop.json"
"""Written by ``fakezoo crop`` next to the face dataset: the policy and the crop settings."""

POLICY_VERSION = 1
"""Version of the crop arithmetic; part of a policy's dict so old datasets are told apart."""


@dataclass(frozen=True)
class CropPolicy:
    """How to cut a face out of an image.

    The face box is grown by ``margin`` times its side on every side; with ``square`` the
    shorter side is first grown to the longer one (same centre), so faces keep their aspect.
    Parts of the region outside the image are black (the face stays centred rather than
    shifted). The region is resized to ``size`` x ``size`` with PIL's bilinear filter.

    Attributes:
        margin: Extra context on each side, as a fraction of the box side (0.25: the crop is
            1.5 times the face box).
        square: Make the region square before resizing.
        size: Output side in pixels (the study's Kaggle crops are 256).

    Example:
        ```python
        from fakezoo.faces import CropPolicy
        policy = CropPolicy(margin=0.25, size=256)
        policy.region((100, 50, 180, 150))  # (65, 25, 215, 175)
        ```
    """

    margin: float = 0.25
    square: bool = True
    size: int = 256

    def __post_init__(self) -> None:
        if not 0 <= float(self.margin) <= 2:
            raise ValueError(f"CropPolicy.margin must lie in [0, 2], got {self.margin!r}")
        if isinstance(self.size, bool) or int(self.size) != self.size or not self.size >= 8:
            raise ValueError(f"CropPolicy.size must be an integer >= 8, got {self.size!r}")

    def region(self, box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
        """The integer pixel region `(x0, y0, x1, y1)` cut for a face box (it may extend past
        the image; :func:`crop` pads that part black)."""
        x0, y0, x1, y1 = (float(v) for v in box)
        w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        if self.square:
            w = h = max(w, h)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        half_w, half_h = w * (0.5 + self.margin), h * (0.5 + self.margin)
        left, top = round(cx - half_w), round(cy - half_h)
        right, bottom = max(round(cx + half_w), left + 1), max(round(cy + half_h), top + 1)
        return left, top, right, bottom

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "resize": "bilinear", "pad": "black", "version": POLICY_VERSION}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CropPolicy:
        """Inverse of :meth:`to_dict`; refuses a policy written by another crop version."""
        version = data.get("version", POLICY_VERSION)
        if version != POLICY_VERSION:
            raise ValueError(
                f"crop policy version {version} is not {POLICY_VERSION}; "
                "update fakezoo or re-crop the dataset"
            )
        return cls(
            margin=float(data["margin"]), square=bool(data["square"]), size=int(data["size"])
        )


DEFAULT_POLICY = CropPolicy()
"""The policy used when neither the run nor the caller names one."""


def crop(
    image: np.ndarray,
    face: Face | tuple[float, float, float, float],
    policy: CropPolicy = DEFAULT_POLICY,
) -> np.ndarray:
    """Cut one face out of an `(H, W, 3)` uint8 image with `policy`.

    Returns:
        `(policy.size, policy.size, 3)` uint8 array; the same bytes as the PNG that
        ``fakezoo crop`` stores for this face.
    """
    box = face.box if isinstance(face, Face) else face
    region = policy.region(box)
    patch = Image.fromarray(image).crop(region)  # PIL pads outside the image with black
    patch = patch.resize((policy.size, policy.size), Image.Resampling.BILINEAR)
    return np.asarray(patch, dtype=np.uint8)


def recorded_policy(root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The crop policy (dict form) of a face dataset made by ``fakezoo crop`` in `root`, or
    ``None`` when `root` has no ``crop.json``. Training records it in the run's config as
    ``face_crop``; ``predict(..., faces=True)`` crops with it."""
    path = Path(root) / SETTINGS_FILE
    if not path.is_file():
        return None
    try:
        policy = json.loads(path.read_text(encoding="utf-8"))["policy"]
        return CropPolicy.from_dict(policy).to_dict()
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path} is not a crop settings file written by fakezoo crop "
            f"({type(exc).__name__}: {exc}); remove it or re-crop"
        ) from exc
