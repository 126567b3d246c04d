"""The model zoo: the study's seven backbones, their freeze policies and preprocessing.

Each model is a timm network with a two-class head. ``create`` builds it, loads weights,
applies a freeze policy and attaches the seed's preprocessing, so that one call gives a model
that is ready to train or to predict with.

This module holds the registry: what fakezoo knows about each model.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import torch
from torchvision import transforms

from ..errors import UnknownModelError

__all__ = ["ModelSpec", "Preprocessing", "get_spec", "list_models"]


SEED_MEAN = (0.5, 0.5, 0.5)
SEED_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class ModelSpec:
    """What fakezoo knows about one model of the study.

    Attributes:
        name: fakezoo name, e.g. ``"resnet50"``.
        architecture: timm architecture, e.g. ``"resnet50"``.
        weights: timm pretrained tag used for ``pretrained=True`` (torchvision ports where
            timm has them, as they are closest to the seed).
        image_size: the seed's input size (299 for Inception, else 224).
        finetune: modules trained with ``finetune=True`` (the seed's "last N layers").
        head: modules trained with ``finetune=False`` (the new classification head).
        seed_wording: how the seed describes the fine-tuned layers.
        policy_note: how fakezoo reads that wording.
        hidden: width of the extra hidden head layer, for ``resnet50_mlp``.
    """

    name: str
    architecture: str
    weights: str
    image_size: int
    finetune: tuple[str, ...]
    head: tuple[str, ...]
    seed_wording: str
    policy_note: str
    hidden: int | None = None
    expand: tuple[str, ...] = field(default=(), repr=False)
    ignore_keys: tuple[str, ...] = field(default=(), repr=False)
    min_image_size: int = 32
    patch_size: int = 1

    @property
    def pretrained_tag(self) -> str:
        """The full timm name with its weights tag, e.g. ``resnet50.tv_in1k``."""
        return f"{self.architecture}.{self.weights}"

    @property
    def hf_hub_id(self) -> str:
        """The Hub repo that holds the ImageNet weights, e.g. ``timm/resnet50.tv_in1k``."""
        return f"timm/{self.pretrained_tag}"

    def trainable(self, finetune: bool) -> tuple[str, ...]:
        """Module names trained under a policy."""
        return self.finetune if finetune else self.head


_SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "resnet50", "resnet50", "tv_in1k", 224,
            finetune=("layer4", "fc"), head=("fc",),
            seed_wording="last two layers",
            policy_note="the last residual stage and the classifier",
        ),
        ModelSpec(
            "densenet121", "densenet121", "tv_in1k", 224,
            finetune=("features.transition2", "features.denseblock3", "features.transition3",
                      "features.denseblock4", "features.norm5", "classifier"),
            head=("classifier",),
            seed_wording="last five blocks",
            policy_note="the last five children of `features` and the classifier",
            expand=("features",),
        ),
        ModelSpec(
            "vgg16", "vgg16", "tv_in1k", 224,
            finetune=("pre_logits.fc2", "head.fc"), head=("head.fc",),
            seed_wording="last two layers",
            policy_note="the last two fully connected layers",
            expand=("features", "pre_logits", "head"),
        ),
        ModelSpec(
            "inception_v3", "inception_v3", "tv_in1k", 299,
            finetune=("Mixed_7a", "Mixed_7b", "Mixed_7c", "fc"), head=("fc",),
            seed_wording="last four layers",
            policy_note="the last three Inception blocks and the classifier",
            ignore_keys=("AuxLogits.",),  # torchvision weights carry the unused auxiliary head
            min_image_size=75,
        ),
        ModelSpec(
            "mobilenet_v2", "mobilenetv2_100", "ra_in1k", 224,
            finetune=("blocks.5", "blocks.6", "conv_head", "bn2", "classifier"),
            head=("classifier",),
            seed_wording="last five layers",
            policy_note="torchvision's `features[-5:]` (blocks 5-6, the 1x1 head conv and its "
                        "norm) and the classifier",
            expand=("blocks",),
        ),
        ModelSpec(
            "vit_b_16", "vit_base_patch16_224", "augreg_in1k", 224,
            finetune=("blocks.11", "norm", "head"), head=("head",),
            seed_wording="last transformer block",
            policy_note="the last encoder block, the final norm and the head",
            patch_size=16,
            expand=("blocks",),
        ),
        ModelSpec(
            "resnet50_mlp", "resnet50", "tv_in1k", 224,
            finetune=("layer4", "fc"), head=("fc",),
            seed_wording="ResNet-50 with one added layer",
            policy_note="the last residual stage and the two-layer head "
                        "(Linear 2048→512, ReLU, Linear 512→classes)",
            hidden=512,
        ),
    ]
}


def list_models() -> list[str]:
    """Names of the models in the zoo, in the order of the study.

    Example:
        ```python
        import fakezoo
        fakezoo.list_models()[:2]  # ['resnet50', 'densenet121']
        ```
    """
    return list(_SPECS)


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a zoo model; unknown names raise :class:`UnknownModelError`.

    Example:
        ```python
        import fakezoo
        fakezoo.get_spec("inception_v3").image_size  # 299
        ```
    """
    if name not in _SPECS:
        close = difflib.get_close_matches(name, _SPECS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise UnknownModelError(f"Unknown model '{name}'.{hint} "
                                f"Valid names: {', '.join(_SPECS)}.")
    return _SPECS[name]


@dataclass(frozen=True)
class Preprocessing:
    """The seed's preprocessing: resize to a square, to tensor, normalize.

    Example:
        ```python
        from fakezoo.models.registry import Preprocessing
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
