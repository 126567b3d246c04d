"""The crop policy: how a found face becomes a square training image, which faces of a frame
are kept, and which frames of a video are sampled.

Two kinds, and three named policies (``fakezoo crop --policy NAME``):

- ``"fakezoo"``: [`CropPolicy`][fakezoo.faces.policy.CropPolicy], the box grown by a margin
  on each side, made square, padded black where it leaves the image;
- ``"deepfakebench"``: [`AlignedCropPolicy`][fakezoo.faces.policy.AlignedCropPolicy], the
  largest face, a similarity transform of its five landmarks onto the ArcFace template at
  crop scale 1.3, 256 px, 32 evenly spaced frames (DeepfakeBench's ``preprocess.py``);
- ``"sbi"``: a `CropPolicy` as Self-Blended Images' inference crops: the box grown by an eighth
  of its side on each side (SBI's ``crop_face(..., phase='test')``: a quarter of the side,
  halved at test time), kept at its aspect, cut at the image border, 380 px, every face at
  least half the area of the largest, 32 frames.

A policy is written next to a face dataset (``crop.json``) and into each run trained on it;
prediction crops, keeps faces and samples frames the same way.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .finder import Face

__all__ = [
    "ARCFACE_TEMPLATE",
    "DEFAULT_POLICY",
    "FACE_RULES",
    "POLICIES",
    "POLICY_VERSION",
    "SAMPLING",
    "SETTINGS_FILE",
    "AlignedCropPolicy",
    "CropPolicy",
    "crop",
    "keep_faces",
    "named_policy",
    "policy_from_dict",
    "policy_with",
    "recorded_policy",
    "similarity_transform",
]

SETTINGS_FILE = "crop.json"
"""Written by ``fakezoo crop`` next to the face dataset: the policy and the crop settings."""

POLICY_VERSION = 2
"""Version of the crop arithmetic; part of a policy's dict so old datasets are told apart."""

FACE_RULES = ("largest", "half_of_largest")
"""Which faces of a frame a policy keeps: the largest, or every face whose box has at least
half the area of the largest (SBI's rule). ``None``: the caller decides (``fakezoo crop
--all-faces``; prediction scores every face)."""

SAMPLING = ("rounded", "floor")
"""Frame positions for ``n`` of ``T`` frames: ``round(i (T-1) / (n-1))`` (fakezoo's), or
``numpy.linspace(0, T-1, n).astype(int)``, rounded down (DeepfakeBench's and SBI's)."""

ARCFACE_TEMPLATE = (
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
)
"""Where the eyes, the nose tip and the mouth corners go in a 112 x 112 face (InsightFace's
ArcFace template, 96 px wide, centred with 8 px each side)."""


def _check_common(faces: str | None, frames: int | None, sampling: str) -> None:
    if faces is not None and faces not in FACE_RULES:
        raise ValueError(f"faces={faces!r}: use None or one of {', '.join(FACE_RULES)}")
    if frames is not None and (isinstance(frames, bool) or int(frames) != frames or frames < 1):
        raise ValueError(f"frames must be None or an integer >= 1, got {frames!r}")
    if sampling not in SAMPLING:
        raise ValueError(f"sampling={sampling!r}: use one of {', '.join(SAMPLING)}")


def _check_size(size: Any) -> None:
    if isinstance(size, bool) or int(size) != size or not size >= 8:
        raise ValueError(f"the crop size must be an integer >= 8, got {size!r}")


@dataclass(frozen=True)
class CropPolicy:
    """Cut a face out by its box.

    The box is grown by ``margin`` times its side on every side; with ``square`` the shorter
    side is first grown to the longer one (same centre), so faces keep their aspect. Where the
    region leaves the image it is black (``outside="black"``: the face stays centred) or cut
    at the border (``"clip"``, as SBI does). The region is resized to ``size`` x ``size``
    with PIL's bilinear filter.

    Attributes:
        margin: Extra context on each side, as a fraction of the box side (0.25: the crop is
            1.5 times the face box).
        square: Make the region square before resizing.
        size: Output side in pixels (the study's Kaggle crops are 256).
        outside: ``"black"`` or ``"clip"``.
        faces: Which faces of a frame to keep (see [`FACE_RULES`][fakezoo.faces.policy.
            FACE_RULES]); ``None``: the caller decides.
        frames: Frames sampled per video; ``None``: the caller's number (16 by default).
        sampling: How those frames are spaced (see [`SAMPLING`][fakezoo.faces.policy.SAMPLING]).

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
    outside: str = "black"
    faces: str | None = None
    frames: int | None = None
    sampling: str = "rounded"

    def __post_init__(self) -> None:
        if not 0 <= float(self.margin) <= 2:
            raise ValueError(f"CropPolicy.margin must lie in [0, 2], got {self.margin!r}")
        _check_size(self.size)
        if self.outside not in ("black", "clip"):
            raise ValueError(f"CropPolicy.outside={self.outside!r}: use 'black' or 'clip'")
        _check_common(self.faces, self.frames, self.sampling)

    def region(
        self, box: tuple[float, float, float, float], image_size: tuple[int, int] | None = None
    ) -> tuple[int, int, int, int]:
        """The integer pixel region `(x0, y0, x1, y1)` cut for a face box. With ``outside=
        "black"`` it may extend past the image ([`crop`][fakezoo.faces.policy.crop] pads that
        part black); with ``"clip"`` it is cut to `image_size` `(width, height)`, the corners
        rounded down as SBI does."""
        x0, y0, x1, y1 = (float(v) for v in box)
        w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        if self.square:
            w = h = max(w, h)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        half_w, half_h = w * (0.5 + self.margin), h * (0.5 + self.margin)
        if self.outside == "clip":
            width, height = image_size if image_size is not None else (10**9, 10**9)
            left, top = max(0, int(cx - half_w)), max(0, int(cy - half_h))
            right = min(width, int(cx + half_w) + 1)
            bottom = min(height, int(cy + half_h) + 1)
            return left, top, max(right, left + 1), max(bottom, top + 1)
        left, top = round(cx - half_w), round(cy - half_h)
        right, bottom = max(round(cx + half_w), left + 1), max(round(cy + half_h), top + 1)
        return left, top, right, bottom

    def face_region(self, face: Face, image_size: tuple[int, int]) -> tuple[int, int, int, int]:
        """The region of `face` in an image of `image_size` `(width, height)`."""
        return self.region(face.box, image_size)

    def landmarks_in_crop(self, face: Face, image_size: tuple[int, int]) -> np.ndarray | None:
        """Where `face`'s five landmarks lie in its crop from an image of `image_size`
        `(width, height)`: a `(5, 2)` array of fractions of the crop's side (a landmarks file's
        convention, see [`fakezoo.faces.landmarks`][fakezoo.faces.landmarks]); `None` for a face
        without landmarks.

        Example:
            ```python
            CropPolicy(margin=0.0).landmarks_in_crop(face, (640, 480))[0]  # left eye, in [0, 1]
            ```
        """
        if face.landmarks is None:
            return None
        left, top, right, bottom = self.region(face.box, image_size)
        points = np.asarray(face.landmarks, np.float64)
        return (points + 0.5 - (left, top)) / (right - left, bottom - top)

    def cut(self, image: np.ndarray, face: Face | tuple[float, float, float, float]) -> np.ndarray:
        """The `(size, size, 3)` uint8 crop of one face (or box)."""
        box = face.box if isinstance(face, Face) else face
        region = self.region(box, (image.shape[1], image.shape[0]))
        patch = Image.fromarray(image).crop(region)  # PIL pads outside the image with black
        patch = patch.resize((self.size, self.size), Image.Resampling.BILINEAR)
        return np.asarray(patch, dtype=np.uint8)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "box", **asdict(self), "resize": "bilinear", "version": POLICY_VERSION}


@dataclass(frozen=True)
class AlignedCropPolicy:
    """Align a face by its five landmarks, as DeepfakeBench's preprocessing does.

    The similarity transform (rotation, uniform scale, shift; least squares) that takes the
    face's eyes, nose tip and mouth corners onto [`ARCFACE_TEMPLATE`][fakezoo.faces.policy.
    ARCFACE_TEMPLATE], scaled to ``size`` and shrunk towards the centre by ``scale`` (more
    context), warps the image into a ``size`` x ``size`` crop, bilinear, black outside.
    The landmarks are MTCNN's (eye centres) where DeepfakeBench takes dlib's (a point on
    each upper eyelid): the crops agree up to that shift.

    Attributes:
        scale: Context around the template face (DeepfakeBench: 1.3).
        size: Output side in pixels (DeepfakeBench: 256).
        faces: Which faces of a frame to keep (DeepfakeBench: the largest).
        frames: Frames sampled per video (DeepfakeBench: 32).
        sampling: How they are spaced (DeepfakeBench: ``"floor"``).

    Example:
        ```python
        # needs: the faces extra and a photo with a face
        from fakezoo.faces import AlignedCropPolicy, find_faces, load_image
        image = load_image("photo.jpg")
        patch = AlignedCropPolicy().cut(image, find_faces(image)[0])  # (256, 256, 3)
        ```
    """

    scale: float = 1.3
    size: int = 256
    faces: str | None = "largest"
    frames: int | None = 32
    sampling: str = "floor"

    def __post_init__(self) -> None:
        if not 1 <= float(self.scale) <= 4:
            raise ValueError(f"AlignedCropPolicy.scale must lie in [1, 4], got {self.scale!r}")
        _check_size(self.size)
        _check_common(self.faces, self.frames, self.sampling)

    def template(self) -> np.ndarray:
        """The five target points in the output crop, ``(5, 2)`` pixels."""
        points = np.asarray(ARCFACE_TEMPLATE, np.float64) * (self.size / 112.0)
        return (points + self.size * (self.scale - 1) / 2) / self.scale

    def matrix(self, face: Face) -> np.ndarray:
        """The ``(2, 3)`` transform from image pixels to crop pixels (pixel centres at
        integers, as OpenCV's ``warpAffine`` takes it)."""
        if face.landmarks is None:
            raise ValueError("an aligned crop needs the face's five landmarks")
        return similarity_transform(np.asarray(face.landmarks, np.float64), self.template())

    def face_region(self, face: Face, image_size: tuple[int, int]) -> tuple[int, int, int, int]:
        """The bounding box, in the image, of the square the crop shows."""
        full = np.vstack([self.matrix(face), [0.0, 0.0, 1.0]])
        inverse = np.linalg.inv(full)[:2]
        s = self.size - 1
        corners = np.array([[0, 0, 1], [s, 0, 1], [0, s, 1], [s, s, 1]], np.float64)
        xy = corners @ inverse.T
        x0, y0 = np.floor(xy.min(axis=0)).astype(int)
        x1, y1 = np.ceil(xy.max(axis=0)).astype(int) + 1
        return int(x0), int(y0), int(x1), int(y1)

    def landmarks_in_crop(self, face: Face, image_size: tuple[int, int]) -> np.ndarray | None:
        """Where `face`'s five landmarks lie in its aligned crop: a `(5, 2)` array of fractions
        of the crop's side (a landmarks file's convention, see
        [`fakezoo.faces.landmarks`][fakezoo.faces.landmarks]); `None` for a face without
        landmarks. `image_size` is unused (the same call as
        [`CropPolicy.landmarks_in_crop`][fakezoo.faces.policy.CropPolicy.landmarks_in_crop]).

        Example:
            ```python
            AlignedCropPolicy().landmarks_in_crop(face, (640, 480))  # about template() / size
            ```
        """
        if face.landmarks is None:
            return None
        matrix = self.matrix(face)
        points = np.asarray(face.landmarks, np.float64) @ matrix[:, :2].T + matrix[:, 2]
        return (points + 0.5) / self.size

    def cut(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The `(size, size, 3)` uint8 aligned crop of one face."""
        if not isinstance(face, Face):
            raise ValueError("an aligned crop needs a Face with landmarks, not a bare box")
        full = np.vstack([self.matrix(face), [0.0, 0.0, 1.0]])
        a, b, c, d, e, f = np.linalg.inv(full)[:2].ravel()
        # PIL maps output pixel centres (x + 0.5, y + 0.5) and reads the input with centres at
        # +0.5 too: shift OpenCV's integer-centre matrix accordingly.
        data = (a, b, c - 0.5 * (a + b) + 0.5, d, e, f - 0.5 * (d + e) + 0.5)
        patch = Image.fromarray(image).transform(
            (self.size, self.size),
            Image.Transform.AFFINE,
            data,
            resample=Image.Resampling.BILINEAR,
            fillcolor=(0, 0, 0),
        )
        return np.asarray(patch, dtype=np.uint8)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "aligned",
            **asdict(self),
            "template": "arcface-5",
            "warp": "bilinear",
            "version": POLICY_VERSION,
        }


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The least-squares similarity transform (Umeyama 1991) taking points `src` onto `dst`.

    Returns:
        ``(2, 3)`` matrix ``M`` with ``dst ≈ src @ M[:, :2].T + M[:, 2]``.

    Example:
        ```python
        import numpy as np
        from fakezoo.faces.policy import similarity_transform
        src = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        similarity_transform(src, 2 * src + 3)  # [[2, 0, 3], [0, 2, 3]]
        ```
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = d0.T @ s0 / len(src)
    u, sigma, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    rotation = u @ np.diag(sign) @ vt
    scale = (sigma * sign).sum() / s0.var(axis=0).sum()
    linear = scale * rotation
    return np.hstack([linear, (mu_d - linear @ mu_s)[:, None]])


Policy = CropPolicy | AlignedCropPolicy

DEFAULT_POLICY = CropPolicy()
"""The policy used when neither the run nor the caller names one."""

POLICIES: dict[str, Policy] = {
    "fakezoo": DEFAULT_POLICY,
    "deepfakebench": AlignedCropPolicy(),
    "sbi": CropPolicy(
        margin=0.125,
        square=False,
        size=380,
        outside="clip",
        faces="half_of_largest",
        frames=32,
        sampling="floor",
    ),
}
"""The named policies of ``fakezoo crop --policy``."""


def named_policy(name: str) -> Policy:
    """``"fakezoo"``, ``"deepfakebench"`` or ``"sbi"`` (see the module's notes)."""
    try:
        return POLICIES[name.lower()]
    except KeyError:
        raise ValueError(
            f"unknown crop policy {name!r}: choose from {', '.join(POLICIES)}"
        ) from None


def policy_with(policy: Policy | str, **changes: Any) -> Policy:
    """`policy` (or the named one) with the given fields changed; ``None`` values are left
    out. A field the policy's kind does not have is refused.

    Example:
        ```python
        from fakezoo.faces.policy import policy_with
        policy_with("sbi", size=224).size  # 224
        ```
    """
    base = named_policy(policy) if isinstance(policy, str) else policy
    given = {k: v for k, v in changes.items() if v is not None}
    fields = set(asdict(base))
    wrong = sorted(set(given) - fields)
    if wrong:
        name = next((n for n, p in POLICIES.items() if p == base), type(base).__name__)
        raise ValueError(
            f"{', '.join(wrong)} does not apply to the {name} policy "
            f"(its settings: {', '.join(sorted(fields))})"
        )
    return replace(base, **given)


def policy_from_dict(data: dict[str, Any]) -> Policy:
    """Inverse of ``to_dict``; refuses a policy written by another crop version."""
    version = data.get("version")
    if version != POLICY_VERSION:
        raise ValueError(
            f"crop policy version {version} is not {POLICY_VERSION}; "
            "update fakezoo or re-crop the dataset"
        )
    common = {
        "size": int(data["size"]),
        "faces": data.get("faces"),
        "frames": None if data.get("frames") is None else int(data["frames"]),
        "sampling": data.get("sampling", "rounded"),
    }
    if data.get("kind") == "aligned":
        return AlignedCropPolicy(scale=float(data["scale"]), **common)
    if data.get("kind") == "box":
        return CropPolicy(
            margin=float(data["margin"]),
            square=bool(data["square"]),
            outside=data.get("outside", "black"),
            **common,
        )
    raise ValueError(f"unknown crop policy kind {data.get('kind')!r}")


def keep_faces(faces: list[Face], rule: str | None) -> list[Face]:
    """The faces a rule keeps, largest first (`faces` sorted by area, largest first)."""
    if rule is None or not faces:
        return faces
    if rule == "largest":
        return faces[:1]
    largest = faces[0].width * faces[0].height
    return [f for f in faces if f.width * f.height >= largest / 2]


def crop(
    image: np.ndarray,
    face: Face | tuple[float, float, float, float],
    policy: Policy = DEFAULT_POLICY,
) -> np.ndarray:
    """Cut one face out of an `(H, W, 3)` uint8 image with `policy`.

    Returns:
        `(policy.size, policy.size, 3)` uint8 array; the same bytes as the PNG that
        ``fakezoo crop`` stores for this face.
    """
    return policy.cut(image, face)


def recorded_policy(root: str | os.PathLike[str]) -> Policy | None:
    """The crop policy of a face dataset made by ``fakezoo crop`` in `root`, or ``None`` when
    `root` has no ``crop.json``. Training records it in the run's preprocessing record
    (``face_crop``); ``predict(..., faces=True)`` crops with it."""
    path = Path(root) / SETTINGS_FILE
    if not path.is_file():
        return None
    try:
        policy = json.loads(path.read_text(encoding="utf-8"))["policy"]
        return policy_from_dict(policy)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path} is not a crop settings file written by fakezoo crop "
            f"({type(exc).__name__}: {exc}); remove it or re-crop"
        ) from exc
