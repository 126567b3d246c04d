"""The seed's preprocessing: resize to a square, to tensor, normalize."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision import transforms

__all__ = ["SEED_MEAN", "SEED_STD", "Preprocessing"]

SEED_MEAN = (0.5, 0.5, 0.5)
SEED_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class Preprocessing:
    """The seed's preprocessing: resize to a square, to tensor, normalize.

    Example:
        ```python
        from fakezoo.models.preprocessing import Preprocessing
        pre = Preprocessing(image_size=224)
        tf = pre.transform()          # for PIL images
        # pre.normalize(uint8_batch)  # for (N, 3, S, S) uint8 tensors, same result
        ```
    """

    image_size: int
    mean: tuple[float, float, float] = SEED_MEAN
    std: tuple[float, float, float] = SEED_STD

    def transform(self) -> transforms.Compose:
        """A torchvision transform from a PIL image to a normalized float tensor."""
        size = (self.image_size, self.image_size)
        return transforms.Compose([
            transforms.Resize(size, interpolation=transforms.InterpolationMode.BILINEAR),
            transforms.ToTensor(),
            transforms.Normalize(self.mean, self.std),
        ])

    def normalize(self, images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Turn already-resized uint8 images (N, 3, S, S) into the model's input."""
        mean = torch.tensor(self.mean, device=images.device, dtype=dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=images.device, dtype=dtype).view(1, 3, 1, 1)
        return (images.to(dtype) / 255 - mean) / std

    def to_dict(self) -> dict:
        return {"image_size": self.image_size, "mean": list(self.mean), "std": list(self.std),
                "interpolation": "bilinear", "resize": "square"}
