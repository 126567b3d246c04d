"""The preprocessing record: how an image becomes a model's input, written into every run.

One [`Preprocessing`][fakezoo.models.preprocessing.Preprocessing] says it all: the face crop
(for a run trained on ``fakezoo crop``'s faces), the square bilinear resize, and the
normalisation by name and numbers. Training, run directories (``config.json``'s
``preprocessing``, checked by [`from_dict`][fakezoo.models.preprocessing.Preprocessing.from_dict]),
loading, prediction and export read this record, and a model built by
[`fakezoo.create`][fakezoo.create] mirrors it into timm's ``pretrained_cfg``, so that
``timm.data.resolve_data_config({}, model=model)`` gives the same transform. Nothing here
imports torch until a tensor is made.
"""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, dataclass, replace
from typing import TYPE_CHECKING, Any

from ..data.decode import image_to_array
from ..errors import RunFormatError
from ..faces.policy import Policy, policy_from_dict
from .registry import MAX_IMAGE_SIZE

if TYPE_CHECKING:
    import torch
    from PIL import Image

__all__ = [
    "NORMALIZATIONS",
    "STUDY_MEAN",
    "STUDY_STD",
    "DecodeTransform",
    "Preprocessing",
    "study_normalization",
]

STUDY_MEAN = (0.5, 0.5, 0.5)
STUDY_STD = (0.5, 0.5, 0.5)

NORMALIZATIONS = ("study", "pretrained")
"""``"study"``: ``Normalize([0.5] * 3, [0.5] * 3)``, as the study did for every model;
``"pretrained"``: the ImageNet weights' own mean and std (timm's ``pretrained_cfg``)."""

_KEYS = ("image_size", "normalization", "mean", "std", "interpolation", "resize", "face_crop")


def study_normalization(
    spec, weights: str, mean: tuple[float, ...] = STUDY_MEAN, std: tuple[float, ...] = STUDY_STD
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``Normalize(mean, std)`` as a model built with ``weights`` sees it: with torchvision's
    Inception-v3 weights, its ``transform_input`` folded in; otherwise unchanged."""
    if weights == "torchvision" and spec.transform_input:
        from .torchvision_weights import transform_input_normalization

        return transform_input_normalization(mean, std)
    return tuple(mean), tuple(std)


def _three(value: Any, name: str) -> tuple[float, float, float]:
    ok = (
        isinstance(value, list | tuple)
        and len(value) == 3
        and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        )
    )
    if not ok:
        raise ValueError(f"{name} must be three finite numbers, got {value!r}")
    return tuple(float(v) for v in value)  # type: ignore[return-value]


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes a model's input: crop the face, resize to a square, normalize.

    Attributes (all but ``image_size`` by keyword):
        image_size: the side of the square input, in pixels.
        normalization: what the numbers are, by name (one of
            [`NORMALIZATIONS`][fakezoo.models.preprocessing.NORMALIZATIONS]).
        mean, std: the per-channel numbers of ``(x / 255 - mean) / std`` (for torchvision's
            Inception-v3 weights, its ``transform_input`` is folded in).
        interpolation: the resize filter: ``"bilinear"``, the only one fakezoo trains with.
        resize: ``"square"``: the whole image to ``image_size`` x ``image_size``, aspect not
            kept (torchvision's ``Resize((S, S))``; timm's ``crop_mode="squash"``).
        face_crop: the crop policy the training faces were cut with (``fakezoo crop``), which
            prediction follows; ``None`` for a model trained on whole images.

    Example:
        ```python
        from fakezoo.models.preprocessing import Preprocessing
        pre = Preprocessing(image_size=224)
        pre.to_dict()["normalization"]   # 'study'
        Preprocessing.from_dict(pre.to_dict()) == pre  # True
        tf = pre.transform()          # for PIL images
        # pre.normalize(uint8_batch)  # for (N, 3, S, S) uint8 tensors, same result
        ```
    """

    image_size: int
    _: KW_ONLY
    normalization: str = "study"
    mean: tuple[float, float, float] = STUDY_MEAN
    std: tuple[float, float, float] = STUDY_STD
    interpolation: str = "bilinear"
    resize: str = "square"
    face_crop: Policy | None = None

    def __post_init__(self) -> None:
        size = self.image_size
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_IMAGE_SIZE:
            raise ValueError(
                f"image_size must be an integer in [1, {MAX_IMAGE_SIZE}], got {size!r}"
            )
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {', '.join(NORMALIZATIONS)}, "
                f"got {self.normalization!r}"
            )
        object.__setattr__(self, "mean", _three(self.mean, "mean"))
        object.__setattr__(self, "std", _three(self.std, "std"))
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {list(self.std)}")
        for name, want in (("interpolation", "bilinear"), ("resize", "square")):
            if getattr(self, name) != want:
                raise ValueError(
                    f"{name} must be '{want}' (the only resize fakezoo trains with), "
                    f"got {getattr(self, name)!r}"
                )
        if self.face_crop is not None and not hasattr(self.face_crop, "cut"):
            raise ValueError(f"face_crop must be a crop policy or None, got {self.face_crop!r}")

    def with_face_crop(self, policy: Policy | None) -> Preprocessing:
        """The same record with another face-crop policy (or none)."""
        return replace(self, face_crop=policy)

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON values (what ``config.json``'s ``preprocessing`` holds)."""
        return {
            "image_size": self.image_size,
            "normalization": self.normalization,
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
            "resize": self.resize,
            "face_crop": None if self.face_crop is None else self.face_crop.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "preprocessing") -> Preprocessing:
        """The record a ``to_dict`` wrote; anything else is a one-line
        [`RunFormatError`][fakezoo.errors.RunFormatError] that starts with ``where``."""
        if not isinstance(data, dict):
            raise RunFormatError(f"{where}: 'preprocessing' must be an object, got {data!r}.")
        missing = [k for k in _KEYS if k not in data]
        unknown = sorted(set(data) - set(_KEYS))
        if missing or unknown:
            raise RunFormatError(
                f"{where}: the preprocessing record "
                + (f"lacks {', '.join(missing)}" if missing else "")
                + ("; " if missing and unknown else "")
                + (f"has unknown fields {', '.join(unknown)}" if unknown else "")
                + ": it was written by another fakezoo version, or edited."
            )
        crop = data["face_crop"]
        if crop is not None and not isinstance(crop, dict):
            raise RunFormatError(
                f"{where}: preprocessing: face_crop must be a crop policy (an object) or null, "
                f"got {crop!r}."
            )
        try:
            # exactly the record's fields (checked above), the crop policy as its object
            return cls(**{**data, "face_crop": None if crop is None else policy_from_dict(crop)})
        except (ValueError, TypeError, KeyError) as err:
            raise RunFormatError(f"{where}: preprocessing: {err}.") from err

    def timm_cfg(self) -> dict[str, Any]:
        """The same transform in timm's ``pretrained_cfg`` fields: ``resolve_data_config`` then
        gives ``input_size``, ``interpolation``, ``mean``, ``std``, ``crop_pct`` and
        ``crop_mode`` for it (``create_transform`` squashes the whole image to the square)."""
        return {
            "input_size": (3, self.image_size, self.image_size),
            "interpolation": self.interpolation,
            "mean": self.mean,
            "std": self.std,
            "crop_pct": 1.0,
            "crop_mode": "squash",
        }

    def transform(self) -> DecodeTransform:
        """PIL image -> normalised ``(3, S, S)`` float tensor, through the decode path that
        training and prediction use (EXIF rotation, RGB conversion, bilinear resize, see
        [`image_to_array`][fakezoo.data.decode.image_to_array]): the same image gives the same
        tensor everywhere. (A face crop, when the record has one, is the step before: see
        [`fakezoo.inference.faces`][fakezoo.inference.faces].)"""
        return DecodeTransform(self)

    def normalize(self, images: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Turn already-resized uint8 images (N, 3, S, S) into the model's input."""
        import torch

        dtype = torch.float32 if dtype is None else dtype
        mean = torch.tensor(self.mean, device=images.device, dtype=dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=images.device, dtype=dtype).view(1, 3, 1, 1)
        return (images.to(dtype) / 255 - mean) / std


@dataclass(frozen=True)
class DecodeTransform:
    """``model.transform``: a PIL image to the model's normalised input tensor.

    Example:
        ```python
        from PIL import Image
        import fakezoo
        model = fakezoo.create("resnet50", pretrained=False, image_size=64)
        x = model.transform(Image.new("RGBA", (80, 60)))   # (3, 64, 64), RGBA is fine
        ```
    """

    preprocessing: Preprocessing

    def __call__(self, img: Image.Image) -> torch.Tensor:
        import torch

        img.load()
        pixels = image_to_array(img, self.preprocessing.image_size)
        return self.preprocessing.normalize(torch.from_numpy(pixels).permute(2, 0, 1)[None])[0]
