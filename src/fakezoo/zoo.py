"""The model zoo: the study's seven backbones, their freeze policies and preprocessing.

Each model is a timm network with a two-class head. ``create`` builds it, loads weights,
applies a freeze policy and attaches the seed's preprocessing, so that one call gives a model
that is ready to train or to predict with.
"""

from __future__ import annotations

import difflib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import timm
import torch
from safetensors.torch import load_file
from timm.layers.norm_act import FrozenBatchNormAct2d as _TimmFrozenBatchNormAct2d
from timm.utils.model import freeze
from torch import nn
from torch.nn import functional as F
from torchvision import transforms
from torchvision.ops.misc import FrozenBatchNorm2d as _TorchvisionFrozenBatchNorm2d

from ._download import download_file

__all__ = [
    "ModelSpec",
    "Preprocessing",
    "Stage",
    "UnknownModelError",
    "WeightsError",
    "create",
    "get_spec",
    "list_models",
    "model_stages",
    "parameter_counts",
    "split_trunk_tail",
]

SEED_MEAN = (0.5, 0.5, 0.5)
SEED_STD = (0.5, 0.5, 0.5)


class UnknownModelError(KeyError):
    """A model name, or a module name in a freeze policy, that fakezoo does not know."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class WeightsError(RuntimeError):
    """Pretrained weights could not be found, downloaded or loaded."""


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
        from fakezoo.zoo import Preprocessing
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


class MLPHead(nn.Sequential):
    """The extra head layer of ``resnet50_mlp``: Linear, ReLU, Linear."""

    def __init__(self, in_features: int, hidden: int, num_classes: int):
        super().__init__(OrderedDict(
            fc1=nn.Linear(in_features, hidden), act=nn.ReLU(inplace=True),
            fc2=nn.Linear(hidden, num_classes),
        ))


@dataclass(frozen=True)
class Stage:
    """One step of a model's forward pass.

    ``owns`` names the modules and parameters whose weights the step uses, so that the engine
    can tell frozen steps from trainable ones.
    """

    name: str
    owns: tuple[str, ...]
    fn: Callable[[torch.Tensor], torch.Tensor]


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

    owns = ("patch_embed", "cls_token", "reg_token", "pos_embed", "pos_drop", "patch_drop",
            "norm_pre")
    stages = [Stage("embed", owns, embed)]
    stages += [Stage(f"blocks.{i}", (f"blocks.{i}",), blk) for i, blk in enumerate(model.blocks)]
    stages.append(Stage("norm", ("norm",), model.norm))
    stages.append(Stage("pool", ("fc_norm", "head_drop"),
                        lambda x: model.forward_head(x, pre_logits=True)))
    stages.append(Stage("head", ("head",), model.head))
    return stages


def model_stages(model: nn.Module) -> list[Stage]:
    """The forward pass of a zoo model as a flat list of :class:`Stage`.

    Running the stages in order equals ``model(x)``; the engine cuts the list where the first
    trainable stage begins.

    Example:
        ```python
        import fakezoo, torch
        from fakezoo.zoo import model_stages
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
    for name, child in model.named_children():
        if name not in spec.expand:
            stages.append(Stage(name, (name,), child))
            continue
        for sub, grandchild in child.named_children():
            full = f"{name}.{sub}"
            fn = _vgg_fc1(child) if full == "pre_logits.fc1" else grandchild
            stages.append(Stage(full, (full,), fn))
    return stages


def split_trunk_tail(model: nn.Module) -> tuple[list[Stage], list[Stage]]:
    """Split a model's stages before the first one with a trainable parameter.

    Everything in the trunk is frozen, so its output for an image never changes while the tail
    trains: the engine computes it once and caches it.
    """
    stages = model_stages(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    for i, stage in enumerate(stages):
        if any(n == o or n.startswith(o + ".") for n in trainable for o in stage.owns):
            return stages[:i], stages[i:]
    return stages, []


def _check_module_names(model: nn.Module, names: Sequence[str], argument: str) -> None:
    known = {n for n, _ in model.named_modules() if n} | {n for n, _ in model.named_parameters()}
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3)
            hint = f" Close matches: {', '.join(close)}." if close else ""
            top = ", ".join(n for n, _ in model.named_children())
            raise UnknownModelError(
                f"{argument}: '{name}' is not a module of {model.spec.name}.{hint} "
                f"Top-level modules: {top}. Nested modules use dots, e.g. 'blocks.11'.")


def _frozen_modules(model: nn.Module, trainable: Sequence[str]) -> tuple[list[str], list[str]]:
    """Modules and direct parameters to freeze: everything not inside a trainable name."""

    def inside(name: str) -> bool:
        return any(name == t or name.startswith(t + ".") for t in trainable)

    def above(name: str) -> bool:
        return any(t.startswith(name + ".") for t in trainable) or name == ""

    modules, params = [], []

    def walk(prefix: str, module: nn.Module) -> None:
        for pname, _ in module.named_parameters(recurse=False):
            full = f"{prefix}{pname}"
            if not inside(full):
                params.append(full)
        for cname, child in module.named_children():
            full = f"{prefix}{cname}"
            if inside(full):
                continue
            if above(full):
                walk(full + ".", child)
            else:
                modules.append(full)

    walk("", model)
    return modules, params


class FrozenBatchNorm2d(_TorchvisionFrozenBatchNorm2d):
    """torchvision's frozen BatchNorm, computed in one pass with ``F.batch_norm``.

    The same buffers and state dict; about twice as fast on a CPU as the two-pass
    ``x * scale + bias`` of the parent class, which matters in the frozen trunk.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=False, eps=self.eps)


class FrozenBatchNormAct2d(_TimmFrozenBatchNormAct2d):
    """timm's frozen BatchNorm + activation, with the one-pass normalisation above."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                         training=False, eps=self.eps)
        return self.act(self.drop(x))


_ONE_PASS = {_TorchvisionFrozenBatchNorm2d: FrozenBatchNorm2d,
             _TimmFrozenBatchNormAct2d: FrozenBatchNormAct2d}


def _apply_policy(model: nn.Module, trainable: Sequence[str]) -> None:
    modules, params = _frozen_modules(model, trainable)
    if modules:
        # Frozen BatchNorm layers become FrozenBatchNorm2d: their statistics never move.
        freeze(model, modules, include_bn_running_stats=True)
        for module in model.modules():
            # The subclasses add no state, only a faster forward.
            module.__class__ = _ONE_PASS.get(type(module), type(module))
    for name in params:
        model.get_parameter(name).requires_grad_(False)


def _weights_file(spec: ModelSpec, pretrained: bool | str | Path) -> Path:
    if pretrained is True:
        hint = (f"Download it on a machine with network access (e.g. "
                f"`hf download {spec.hf_hub_id} model.safetensors`) and pass "
                f"pretrained='path/to/model.safetensors', or use pretrained=False.")
        try:
            return download_file(spec.hf_hub_id, "model.safetensors", hint=hint)
        except (RuntimeError, FileNotFoundError) as err:
            raise WeightsError(f"ImageNet weights {spec.pretrained_tag} for '{spec.name}': "
                               f"{err}") from err
    path = Path(pretrained)
    if path.suffix != ".safetensors":
        raise WeightsError(f"pretrained='{path}': fakezoo loads weights from .safetensors files "
                           f"only (pickled .pth/.bin files can run code). Convert it with "
                           f"safetensors.torch.save_file(torch.load(f, weights_only=True), ...).")
    if not path.is_file():
        raise WeightsError(f"pretrained='{path}': no such file.")
    return path


def _load_backbone(model: nn.Module, path: Path, skip: Sequence[str]) -> None:
    """Load every weight but the classification head from a safetensors file, strictly."""
    try:
        state = load_file(str(path))
    except Exception as err:  # safetensors raises its own error types for bad files
        raise WeightsError(f"Cannot read '{path}' as safetensors: {err}") from err

    def skipped(key: str) -> bool:
        return any(key.startswith(prefix) for prefix in skip)

    state = {k: v for k, v in state.items() if not skipped(k)}
    own = {k for k in model.state_dict() if not skipped(k)}
    missing = sorted(own - set(state))
    unexpected = sorted(set(state) - own)
    if missing or unexpected:
        raise WeightsError(f"'{path}' does not match {model.spec.name} "
                           f"({model.spec.architecture}): missing keys {missing[:5]}, "
                           f"unexpected keys {unexpected[:5]}.")
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise WeightsError(f"'{path}' does not fit {model.spec.name}: {err}") from err


def create(
    name: str,
    finetune: bool = True,
    pretrained: bool | str | Path = True,
    num_classes: int = 2,
    trainable: Sequence[str] | None = None,
    *,
    image_size: int | None = None,
    normalization: str = "seed",
) -> nn.Module:
    """Build a zoo model with its freeze policy and preprocessing.

    Args:
        name: one of :func:`list_models`.
        finetune: ``True`` trains the seed's "last N layers" (see the models page),
            ``False`` trains only the new classification head.
        pretrained: ``True`` loads ImageNet weights from the Hugging Face Hub (through the
            local cache), a path loads a local ``.safetensors`` file (all but the head,
            strictly), ``False`` keeps the random initialisation.
        num_classes: outputs of the new head (2: real, fake).
        trainable: your own policy, a list of module names to train; overrides ``finetune``.
        image_size: input size; defaults to the seed's (224, or 299 for Inception).
        normalization: ``"seed"`` for ``Normalize([0.5]*3, [0.5]*3)``, ``"pretrained"`` for the
            weights' own mean and std.

    Returns:
        A timm ``nn.Module`` with ``model.spec`` (:class:`ModelSpec`), ``model.preprocessing``
        (:class:`Preprocessing`), ``model.transform`` (a torchvision transform for PIL images),
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
    if normalization not in {"seed", "pretrained"}:
        raise ValueError(f"normalization='{normalization}': use 'seed' or 'pretrained'.")
    size = image_size or spec.image_size
    if size < spec.min_image_size or size % spec.patch_size:
        raise ValueError(f"image_size={size} does not fit {name}: it needs at least "
                         f"{spec.min_image_size} pixels and a multiple of {spec.patch_size}.")
    kwargs = {"img_size": size} if spec.architecture.startswith("vit_") else {}
    head_classes = 0 if spec.hidden else num_classes
    model = timm.create_model(spec.architecture, pretrained=False, num_classes=head_classes,
                              **kwargs)
    model.spec = spec
    classifier = model.pretrained_cfg["classifier"]
    classifier = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    if pretrained is not False and pretrained is not None:
        skip = tuple(c + "." for c in classifier) + spec.ignore_keys
        _load_backbone(model, _weights_file(spec, pretrained), skip)
    if spec.hidden:
        model.fc = MLPHead(model.num_features, spec.hidden, num_classes)
        model.num_classes = num_classes

    names = tuple(trainable) if trainable is not None else spec.trainable(finetune)
    _check_module_names(model, names, "trainable")
    _apply_policy(model, names)

    cfg = model.pretrained_cfg
    mean, std = (SEED_MEAN, SEED_STD) if normalization == "seed" else (cfg["mean"], cfg["std"])
    model.preprocessing = Preprocessing(size, tuple(mean), tuple(std))
    model.transform = model.preprocessing.transform()
    model.trainable = names
    model.finetune = finetune if trainable is None else None
    return model


def parameter_counts(name: str, device: str = "meta") -> dict[str, int]:
    """Trainable parameters of a zoo model under both policies, and its total weights.

    ``total`` counts every learnable weight, including the affine weights of frozen BatchNorm
    layers (buffers once frozen), so it is the same for both policies. Models are built on the
    ``meta`` device by default: no memory, no initialisation.

    Example:
        ```python
        from fakezoo.zoo import parameter_counts
        parameter_counts("mobilenet_v2")["head"]  # 2562: Linear(1280, 2)
        ```
    """
    counts: dict[str, int] = {}
    for finetune in (True, False):
        with torch.device(device):
            model = create(name, finetune=finetune, pretrained=False)
        counts["finetune" if finetune else "head"] = sum(
            p.numel() for p in model.parameters() if p.requires_grad)
        frozen_bn = sum(m.weight.numel() + m.bias.numel() for m in model.modules()
                        if type(m).__name__.startswith("FrozenBatchNorm"))
        counts["total"] = sum(p.numel() for p in model.parameters()) + frozen_bn
    return counts
