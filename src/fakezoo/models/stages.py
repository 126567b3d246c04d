"""A model's forward pass as named steps, and its split into a frozen trunk and a trainable
tail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .registry import ModelSpec

__all__ = ["Stage", "model_stages", "run_stages", "split_trunk_tail"]


@dataclass(frozen=True)
class Stage:
    """One step of a model's forward pass.

    ``owns`` names the modules and parameters whose weights the step uses, so that the engine
    can tell frozen steps from trainable ones.
    """

    name: str
    owns: tuple[str, ...]
    fn: Callable[[torch.Tensor], torch.Tensor]
    dropout: bool = False  # a parameter-free dropout: it may start a tail


def run_stages(stages: Sequence[Stage], x: torch.Tensor) -> torch.Tensor:
    """Run stages in order (no stages: ``x`` itself): a trunk, a tail or a whole model.

    Example:
        ```python
        import torch
        import fakezoo
        from fakezoo.models.stages import model_stages, run_stages
        model = fakezoo.create("resnet50", pretrained=False, image_size=64).eval()
        x = torch.randn(1, 3, 64, 64)
        torch.allclose(run_stages(model_stages(model), x), model(x))  # True
        ```
    """
    for stage in stages:
        x = stage.fn(x)
    return x


def _vgg_fc1(mlp: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    # timm's ConvMlp pools small feature maps up to its 7x7 kernel before fc1.
    def fc1(x: torch.Tensor) -> torch.Tensor:
        k = mlp.input_kernel_size
        if x.shape[-2] < k or x.shape[-1] < k:
            x = nn.functional.adaptive_avg_pool2d(x, (max(k, x.shape[-2]), max(k, x.shape[-1])))
        return mlp.fc1(x)

    return fc1


def _vit_stages(model: nn.Module) -> list[Stage]:
    def embed(x: torch.Tensor) -> torch.Tensor:
        return model.norm_pre(model.patch_drop(model._pos_embed(model.patch_embed(x))))

    owns = (
        "patch_embed",
        "cls_token",
        "reg_token",
        "pos_embed",
        "pos_drop",
        "patch_drop",
        "norm_pre",
    )
    stages = [Stage("embed", owns, embed)]
    stages += [Stage(f"blocks.{i}", (f"blocks.{i}",), blk) for i, blk in enumerate(model.blocks)]
    stages.append(Stage("norm", ("norm",), model.norm))
    stages.append(
        Stage("pool", ("fc_norm", "head_drop"), lambda x: model.forward_head(x, pre_logits=True))
    )
    stages.append(Stage("head", ("head",), model.head))
    return stages


def model_stages(model: nn.Module) -> list[Stage]:
    """The forward pass of a zoo model as a flat list of [`Stage`][fakezoo.models.stages.Stage].

    Running the stages in order equals ``model(x)``; the engine cuts the list where the first
    trainable stage begins.

    Example:
        ```python
        import fakezoo, torch
        from fakezoo.models.stages import model_stages
        m = fakezoo.create("resnet50", pretrained=False).eval()
        x = torch.randn(1, 3, 64, 64)
        y = x
        for stage in model_stages(m):
            y = stage.fn(y)
        torch.allclose(y, m(x), atol=1e-5)  # True
        ```
    """
    spec: ModelSpec = model.spec
    if spec.architecture.startswith("vit_"):
        return _vit_stages(model)
    stages = []
    classifier = model.pretrained_cfg["classifier"]
    for name, child in model.named_children():
        if name == classifier and _functional_dropout(model):
            # ResNet, MobileNet, EfficientNet and Xception apply F.dropout(drop_rate) before the
            # classifier.
            stages.append(
                Stage(
                    "head_drop",
                    (),
                    lambda x: F.dropout(x, float(model.drop_rate), model.training),
                    dropout=True,
                )
            )
        if name not in spec.expand:
            stages.append(Stage(name, (name,), child, isinstance(child, nn.Dropout)))
            continue
        for sub, grandchild in child.named_children():
            full = f"{name}.{sub}"
            fn = _vgg_fc1(child) if full == "pre_logits.fc1" else grandchild
            stages.append(Stage(full, (full,), fn, isinstance(grandchild, nn.Dropout)))
    return stages


def _functional_dropout(model: nn.Module) -> bool:
    rate = getattr(model, "drop_rate", 0)
    return (
        bool(rate)
        and not isinstance(getattr(model, "head_drop", None), nn.Module)
        and model.spec.architecture.startswith(
            ("resnet", "mobilenetv2", "tf_efficientnet", "legacy_xception")
        )
    )


def split_trunk_tail(model: nn.Module) -> tuple[list[Stage], list[Stage]]:
    """Split a model's stages before the first one with a trainable parameter.

    Everything in the trunk is frozen, so its output for an image never changes while the tail
    trains: the engine computes it once and caches it.
    """
    stages = model_stages(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    for i, stage in enumerate(stages):
        if any(n == o or n.startswith(o + ".") for n in trainable for o in stage.owns):
            # A dropout right before the first trained layer joins the tail: it is applied to
            # the cached trunk output on every step, with a fresh mask.
            while i > 0 and stages[i - 1].dropout:
                i -= 1
            return stages[:i], stages[i:]
    return stages, []
