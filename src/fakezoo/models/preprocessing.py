"""The study's preprocessing: resize to a square, to tensor, normalize."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.decode import image_to_array
from .torchvision_weights import transform_input_normalization

__all__ = ["STUDY_MEAN", "STUDY_STD", "DecodeTransform", "Preprocessing", "study_normalization"]

STUDY_MEAN = (0.5, 0.5, 0.5)
STUDY_STD = (0.5, 0.5, 0.5)


def study_normalization(
    spec, weights: str, mean: tuple[float, ...] = STUDY_MEAN, std: tuple[float, ...] = STUDY_STD
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``Normalize(mean, std)`` as a model built with ``weights`` sees it: with torchvision's
    Inception-v3 weights, its ``transform_input`` folded in; otherwise unchanged."""
    if weights == "torchvision" and spec.transform_input:
        return transform_input_normalization(mean, std)
    return tuple(mean), tuple(std)


@dataclass(frozen=True)
class Preprocessing:
    """The study's preprocessing: resize to a square, to tensor, normalize.

    Example:
        ```python
        from fakezoo.models.preprocessing import Preprocessing
        pre = Preprocessing(image_size=224)
        tf = pre.transform()          # for PIL images
        # pre.normalize(uint8_batch)  # for (N, 3, S, S) uint8 tensors, same result
        ```
    """

    image_size: int
    mean: tuple[float, float, float] = STUDY_MEAN
    std: tuple[float, float, float] = STUDY_STD

    def transform(self) -> DecodeTransform:
        """PIL image -> normalised ``(3, S, S)`` float tensor, through the decode path that
        training and prediction use (EXIF rotation, RGB conversion, bilinear resize, see
        [`image_to_array`][fakezoo.data.decode.image_to_array]): the same image gives the same
        tensor everywhere."""
        return DecodeTransform(self)

    def normalize(self, images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Turn already-resized uint8 images (N, 3, S, S) into the model's input."""
        mean = torch.tensor(self.mean, device=images.device, dtype=dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=images.device, dtype=dtype).view(1, 3, 1, 1)
        return (images.to(dtype) / 255 - mean) / std

    def to_dict(self) -> dict:
        return {
            "image_size": self.image_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": "bilinear",
            "resize": "square",
        }


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

    def __call__(self, img) -> torch.Tensor:
        img.load()
        pixels = image_to_array(img, self.preprocessing.image_size)
        return self.preprocessing.normalize(torch.from_numpy(pixels).permute(2, 0, 1)[None])[0]
