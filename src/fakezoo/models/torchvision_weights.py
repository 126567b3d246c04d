"""torchvision's ImageNet weights for the zoo's timm models.

The study built its networks with ``torchvision.models``. fakezoo builds the same architectures
with timm, whose module names differ. This module renames (and, for VGG-16's fully connected
layers, reshapes) a torchvision state dict into timm's names, so that ``weights="torchvision"``
starts from exactly the study's weights:

| fakezoo | torchvision weights | where fakezoo gets them |
|---|---|---|
| resnet50, resnet50_mlp | ``ResNet50_Weights.IMAGENET1K_V1`` | Hub ``timm/resnet50.tv_in1k`` |
| vgg16 | ``VGG16_Weights.IMAGENET1K_V1`` | Hub ``timm/vgg16.tv_in1k`` |
| densenet121 | ``DenseNet121_Weights.IMAGENET1K_V1`` | Hub ``timm/densenet121.tv_in1k`` |
| inception_v3 | ``Inception_V3_Weights.IMAGENET1K_V1`` | Hub ``timm/inception_v3.tv_in1k`` |
| mobilenet_v2 | ``MobileNet_V2_Weights.IMAGENET1K_V1`` | your ``.pth``, converted once |
| vit_b_16 | ``ViT_B_16_Weights.IMAGENET1K_V1`` | your ``.pth``, converted once |

The Hub tags are timm's ports of the same files (already in timm names, safetensors). For the two
models timm has no port of, fakezoo downloads nothing itself: it never unpickles a downloaded
file. [`convert_file`][fakezoo.models.torchvision_weights.convert_file] turns a ``.pth`` file that
you obtained and trust (its SHA-256 prefix checked as torchvision does) into a timm-named
safetensors file, once; fakezoo loads only that.

Inception-v3: torchvision's model built with these weights has ``transform_input=True``. It
re-normalises its input, on top of the study's ``Normalize(0.5)``, as if that input had been
normalised with ImageNet's mean and std.
[`transform_input_normalization`][fakezoo.models.torchvision_weights.transform_input_normalization]
folds that affine map into the preprocessing's mean and std, so the same numbers reach the first
convolution without changing the network.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from ..errors import WeightsError

__all__ = [
    "TORCHVISION_WEIGHTS",
    "TorchvisionWeights",
    "convert_file",
    "convert_to_cache",
    "converted_file",
    "torchvision_to_timm",
    "transform_input_normalization",
    "weights_label",
]


@dataclass(frozen=True)
class TorchvisionWeights:
    """Where torchvision's ImageNet weights of one zoo model come from.

    Attributes:
        torchvision_name: the torchvision weights enum member, for the docs.
        url: torchvision's download URL (its file name ends in the SHA-256 prefix).
        hub_tag: timm's port of the same file on the Hub (``None`` where timm has none).
        transform_input: torchvision builds the model with ``transform_input=True``.
    """

    torchvision_name: str
    url: str
    hub_tag: str | None
    transform_input: bool = False

    @property
    def sha256_prefix(self) -> str:
        return re.search(r"-([a-f0-9]+)\.pth$", self.url).group(1)


_URL = "https://download.pytorch.org/models/"

TORCHVISION_WEIGHTS: dict[str, TorchvisionWeights] = {
    "resnet50": TorchvisionWeights(
        "ResNet50_Weights.IMAGENET1K_V1", _URL + "resnet50-0676ba61.pth", "tv_in1k"
    ),
    "resnet50_mlp": TorchvisionWeights(
        "ResNet50_Weights.IMAGENET1K_V1", _URL + "resnet50-0676ba61.pth", "tv_in1k"
    ),
    "vgg16": TorchvisionWeights(
        "VGG16_Weights.IMAGENET1K_V1", _URL + "vgg16-397923af.pth", "tv_in1k"
    ),
    "densenet121": TorchvisionWeights(
        "DenseNet121_Weights.IMAGENET1K_V1", _URL + "densenet121-a639ec97.pth", "tv_in1k"
    ),
    "inception_v3": TorchvisionWeights(
        "Inception_V3_Weights.IMAGENET1K_V1",
        _URL + "inception_v3_google-0cc3c7bd.pth",
        "tv_in1k",
        transform_input=True,
    ),
    "mobilenet_v2": TorchvisionWeights(
        "MobileNet_V2_Weights.IMAGENET1K_V1", _URL + "mobilenet_v2-b0353104.pth", None
    ),
    "vit_b_16": TorchvisionWeights(
        "ViT_B_16_Weights.IMAGENET1K_V1", _URL + "vit_b_16-c867db91.pth", None
    ),
}

# MobileNet-V2: torchvision's features[1..17] are timm's blocks, stage by stage.
_MOBILENET_STAGES = (1, 2, 3, 4, 3, 3, 1)


def _mobilenet_v2(key: str) -> str | None:
    parts = key.split(".")
    if parts[0] == "classifier":  # classifier.1 (after the Dropout)
        return "classifier." + parts[-1]
    index = int(parts[1])
    if index == 0:  # features.0.{0: conv, 1: bn}
        return ("conv_stem." if parts[2] == "0" else "bn1.") + parts[-1]
    if index == 18:  # features.18.{0: conv, 1: bn}
        return ("conv_head." if parts[2] == "0" else "bn2.") + parts[-1]
    stage, first = 0, 1
    while index >= first + _MOBILENET_STAGES[stage]:
        first += _MOBILENET_STAGES[stage]
        stage += 1
    block = f"blocks.{stage}.{index - first}."
    conv = ".".join(parts[3:-1])  # after features.N.conv.
    if index == 1:  # no expansion: depthwise, then pointwise-linear
        names = {"0.0": "conv_dw", "0.1": "bn1", "1": "conv_pw", "2": "bn2"}
    else:
        names = {
            "0.0": "conv_pw",
            "0.1": "bn1",
            "1.0": "conv_dw",
            "1.1": "bn2",
            "2": "conv_pwl",
            "3": "bn3",
        }
    return block + names[conv] + "." + parts[-1]


_VIT_LAYER = {
    "ln_1": "norm1",
    "ln_2": "norm2",
    "self_attention.in_proj_weight": "attn.qkv.weight",
    "self_attention.in_proj_bias": "attn.qkv.bias",
    "self_attention.out_proj": "attn.proj",
    "mlp.0": "mlp.fc1",
    "mlp.3": "mlp.fc2",
    "mlp.linear_1": "mlp.fc1",
    "mlp.linear_2": "mlp.fc2",
}
_VIT_TOP = {
    "class_token": "cls_token",
    "encoder.pos_embedding": "pos_embed",
    "conv_proj": "patch_embed.proj",
    "encoder.ln": "norm",
    "heads.head": "head",
}


def _vit_b_16(key: str) -> str | None:
    match = re.match(r"encoder\.layers\.encoder_layer_(\d+)\.(.+)$", key)
    table, prefix, rest = (
        (_VIT_LAYER, f"blocks.{match.group(1)}.", match.group(2)) if match else (_VIT_TOP, "", key)
    )
    for old, new in table.items():
        if rest == old or rest.startswith(old + "."):
            return prefix + new + rest[len(old) :]
    return None


def _vgg16(key: str) -> str | None:
    names = {
        "classifier.0": "pre_logits.fc1",
        "classifier.3": "pre_logits.fc2",
        "classifier.6": "head.fc",
    }
    layer, _, param = key.rpartition(".")
    return f"{names[layer]}.{param}" if layer in names else key


_RENAME = {
    "mobilenet_v2": _mobilenet_v2,
    "vit_b_16": _vit_b_16,
    "vgg16": _vgg16,
    "inception_v3": lambda key: None if key.startswith("AuxLogits.") else key,
}


def torchvision_to_timm(
    name: str, state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """Rename a torchvision state dict of zoo model ``name`` to timm's module names.

    VGG-16's first two fully connected layers become timm's 7x7 and 1x1 convolutions (a
    reshape of the same numbers); Inception's auxiliary head is dropped (timm's model has
    none). With ``target`` (a timm state dict), ViT's position embedding is resampled to the
    target's grid, as timm does for other image sizes.

    Raises:
        KeyError: a key that is not torchvision's for this model (e.g. a timm state dict).
    """
    rename = _RENAME.get(name, lambda key: key)
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        try:
            new = rename(key)
        except (AttributeError, IndexError, KeyError, ValueError) as err:
            raise KeyError(f"'{key}' is not a torchvision {name} weight") from err
        if new is None:
            if name == "vit_b_16":
                raise KeyError(f"'{key}' is not a torchvision {name} weight")
            continue
        if name == "vgg16" and new.startswith("pre_logits.") and new.endswith(".weight"):
            value = (
                value.reshape(value.shape[0], -1, 7, 7)
                if new.startswith("pre_logits.fc1")
                else value.reshape(*value.shape, 1, 1)
            )
        out[new] = value
    if target is not None and "pos_embed" in out and "pos_embed" in target:
        out["pos_embed"] = _resample_pos_embed(out["pos_embed"], target["pos_embed"])
    return out


def _resample_pos_embed(posemb: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if posemb.shape == like.shape:
        return posemb
    from timm.layers import resample_abs_pos_embed

    side = round((like.shape[1] - 1) ** 0.5)
    return resample_abs_pos_embed(posemb, new_size=[side, side], num_prefix_tokens=1)


def transform_input_normalization(
    mean: tuple[float, ...], std: tuple[float, ...]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The mean and std that equal ``Normalize(mean, std)`` followed by torchvision
    Inception-v3's ``transform_input``.

    ``transform_input`` maps each channel ``x`` to ``x * s / 0.5 + (m - 0.5) / 0.5`` with
    ImageNet's ``m``, ``s``. Composed with ``(p - mean) / std`` this is again
    ``(p - mean') / std'``, with ``std' = std * 0.5 / s`` and
    ``mean' = mean - (m - 0.5) * std / s``.

    Example:
        ```python
        from fakezoo.models.torchvision_weights import transform_input_normalization
        mean, std = transform_input_normalization((0.5,) * 3, (0.5,) * 3)
        [round(v, 4) for v in std]  # [1.0917, 1.1161, 1.1111]
        ```
    """
    new_mean = tuple(
        mu - (m - 0.5) * sd / s
        for mu, sd, m, s in zip(mean, std, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, strict=True)
    )
    new_std = tuple(sd * 0.5 / s for sd, s in zip(std, IMAGENET_DEFAULT_STD, strict=True))
    return new_mean, new_std


def weights_cache_dir() -> Path:
    """Where converted torchvision weights are kept: ``$FAKEZOO_CACHE/weights`` or
    ``~/.cache/fakezoo/weights``."""
    base = (
        os.environ.get("FAKEZOO_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fakezoo"
    )
    return Path(base) / "weights"


def convert_file(
    name: str, source: str | Path, target: str | Path, sha256_prefix: str | None = None
) -> Path:
    """Convert torchvision's ``.pth`` weights file of zoo model ``name`` to safetensors in
    timm's names.

    The file is read with ``torch.load(weights_only=True)``, torch's restricted loader for
    untrusted checkpoints (tensors and plain containers only). ``sha256_prefix`` (the hex
    digits in torchvision's file names) is checked first when given.
    """
    from safetensors.torch import save_file

    source, target = Path(source), Path(target)
    if sha256_prefix is not None:
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        if not digest.startswith(sha256_prefix):
            raise ValueError(
                f"'{source}' has SHA-256 {digest[:12]}..., not torchvision's "
                f"{sha256_prefix}...: a partial or altered download. Delete it "
                f"and try again."
            )
    state = torch.load(source, map_location="cpu", weights_only=True)
    state = {k: v.contiguous() for k, v in torchvision_to_timm(name, state).items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    save_file(state, str(tmp), metadata={"format": "pt", "source": Path(source).name})
    os.replace(tmp, target)
    return target


def _cache_target(name: str) -> Path:
    filename = TORCHVISION_WEIGHTS[name].url.rsplit("/", 1)[1]
    return weights_cache_dir() / filename.replace(".pth", ".timm.safetensors")


def converted_file(name: str) -> Path:
    """The timm-named safetensors file converted from torchvision's weights of ``name`` by
    [`convert_to_cache`][fakezoo.models.torchvision_weights.convert_to_cache]
    (``fakezoo convert-weights``).

    Raises:
        WeightsError: not converted yet; the message says what to download and what to run.
    """
    target = _cache_target(name)
    if target.is_file():
        return target
    info = TORCHVISION_WEIGHTS[name]
    filename = info.url.rsplit("/", 1)[1]
    raise WeightsError(
        f"weights='torchvision' for '{name}': no converted {info.torchvision_name} file "
        f"{target}. fakezoo downloads no .pth itself: fetch {info.url} yourself, then run "
        f"`fakezoo convert-weights {name} {filename}` (or use pretrained=False)."
    )


def convert_to_cache(name: str, source: str | Path) -> Path:
    """Convert your copy of torchvision's ``.pth`` weights of ``name`` (its SHA-256 prefix
    checked) into the cache file that ``weights="torchvision"`` loads; returns that file."""
    if name not in TORCHVISION_WEIGHTS:
        raise KeyError(
            f"'{name}' has no torchvision weights; use one of {', '.join(TORCHVISION_WEIGHTS)}."
        )
    return convert_file(name, source, _cache_target(name), TORCHVISION_WEIGHTS[name].sha256_prefix)


def weights_label(spec, weights: str) -> str:
    """How a run names its ImageNet weights: a timm tag (``resnet50.tv_in1k``), or
    ``torchvision:<enum member>`` where timm has no port of torchvision's file."""
    if weights != "torchvision":
        return spec.pretrained_tag
    info = TORCHVISION_WEIGHTS[spec.name]
    if info.hub_tag is not None:
        return f"{spec.architecture}.{info.hub_tag}"
    return f"torchvision:{info.torchvision_name}"
