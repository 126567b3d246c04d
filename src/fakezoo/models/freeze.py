"""Freeze policies: which modules (or kinds of parameter) train, and one-pass frozen BatchNorm
for the rest."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import torch
from timm.layers.norm_act import FrozenBatchNormAct2d as _TimmFrozenBatchNormAct2d
from timm.utils.model import freeze
from torch import nn
from torch.nn import functional as F
from torchvision.ops.misc import FrozenBatchNorm2d as _TorchvisionFrozenBatchNorm2d

from ..errors import UnknownModelError

__all__ = [
    "KIND_PREFIX",
    "PARAMETER_KINDS",
    "FrozenBatchNorm2d",
    "FrozenBatchNormAct2d",
    "apply_policy",
    "check_options",
    "kind_parameters",
    "state_to_save",
]

KIND_PREFIX = "kind:"
"""A policy entry that starts with it names parameters by kind, not by module:
``"kind:layernorm"``."""

PARAMETER_KINDS = {
    "layernorm": "the affine weight and bias of every LayerNorm (torch's nn.LayerNorm and its "
    "subclasses, such as timm's)",
}
"""The kinds a policy entry ``"kind:<kind>"`` may name, and what each one trains."""


def _is_kind(module: nn.Module, kind: str) -> bool:
    return kind == "layernorm" and isinstance(module, nn.LayerNorm)


def kind_parameters(model: nn.Module, entry: str) -> list[str]:
    """The names of the parameters a policy entry ``"kind:<kind>"`` stands for, in the
    model's order; an unknown kind, or one the model has none of, is refused in one line.

    Example:
        ```python
        import fakezoo
        from fakezoo.models.freeze import kind_parameters
        vit = fakezoo.create("vit_b_16", pretrained=False, image_size=32)
        kind_parameters(vit, "kind:layernorm")[:2]
        # ['blocks.0.norm1.weight', 'blocks.0.norm1.bias']
        ```
    """
    kind = entry.removeprefix(KIND_PREFIX)
    if kind not in PARAMETER_KINDS:
        known = ", ".join(KIND_PREFIX + k for k in PARAMETER_KINDS)
        raise UnknownModelError(f"trainable: '{entry}' is not a parameter kind; use {known}.")
    names = [
        f"{prefix}.{pname}" if prefix else pname
        for prefix, module in model.named_modules()
        if _is_kind(module, kind)
        for pname, _ in module.named_parameters(recurse=False)
    ]
    if not names:
        raise UnknownModelError(
            f"trainable: '{entry}': {model.spec.name} has no parameters of that kind "
            f"({PARAMETER_KINDS[kind]})."
        )
    return names


def _resolve(model: nn.Module, trainable: Sequence[str]) -> list[str]:
    """A policy as module and parameter names: each ``"kind:<kind>"`` entry becomes the names
    of its parameters; module names are checked."""
    kinds = [t for t in trainable if t.startswith(KIND_PREFIX)]
    names = [t for t in trainable if not t.startswith(KIND_PREFIX)]
    _check_module_names(model, names, "trainable")
    return names + [p for entry in kinds for p in kind_parameters(model, entry)]


def _check_module_names(model: nn.Module, names: Sequence[str], argument: str) -> None:
    known = {n for n, _ in model.named_modules() if n} | {n for n, _ in model.named_parameters()}
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3)
            hint = f" Close matches: {', '.join(close)}." if close else ""
            top = ", ".join(n for n, _ in model.named_children())
            raise UnknownModelError(
                f"{argument}: '{name}' is not a module of {model.spec.name}.{hint} "
                f"Top-level modules: {top}. Nested modules use dots, e.g. 'blocks.11'."
            )


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


def _frozen_batch_norm(bn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A frozen BatchNorm's statistics and affine parameters applied in one pass."""
    stats = (bn.running_mean, bn.running_var, bn.weight, bn.bias)
    return F.batch_norm(x, *stats, training=False, eps=bn.eps)


class FrozenBatchNorm2d(_TorchvisionFrozenBatchNorm2d):
    """torchvision's frozen BatchNorm, computed in one pass with ``F.batch_norm``.

    The same buffers and state dict; about twice as fast on a CPU as the two-pass
    ``x * scale + bias`` of the parent class, which matters in the frozen trunk.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _frozen_batch_norm(self, x)


class FrozenBatchNormAct2d(_TimmFrozenBatchNormAct2d):
    """timm's frozen BatchNorm + activation, with the one-pass normalisation above."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.drop(_frozen_batch_norm(self, x)))


_ONE_PASS = {
    _TorchvisionFrozenBatchNorm2d: FrozenBatchNorm2d,
    _TimmFrozenBatchNormAct2d: FrozenBatchNormAct2d,
}


def apply_policy(model: nn.Module, trainable: Sequence[str], freeze_batchnorm: bool = True) -> None:
    """Freeze every module and parameter of a zoo model outside ``trainable`` (names that are
    not the model's are refused, with close matches). An entry ``"kind:<kind>"`` keeps every
    parameter of that kind trainable (see
    [`PARAMETER_KINDS`][fakezoo.models.freeze.PARAMETER_KINDS]), wherever it is.

    ``freeze_batchnorm`` turns the frozen BatchNorm layers into frozen ones whose statistics
    never move (fast mode); without it they stay as they are (the study's way).
    """
    modules, params = _frozen_modules(model, _resolve(model, trainable))
    if modules and not freeze_batchnorm:
        # The study's way: requires_grad=False, BatchNorm layers left as they are (in train()
        # mode they use batch statistics and update their running statistics).
        freeze(model, modules, include_bn_running_stats=False)
    elif modules:
        # Frozen BatchNorm layers become FrozenBatchNorm2d: their statistics never move.
        freeze(model, modules, include_bn_running_stats=True)
        for module in model.modules():
            # The subclasses add no state, only a faster forward.
            module.__class__ = _ONE_PASS.get(type(module), type(module))
    for name in params:
        model.get_parameter(name).requires_grad_(False)


def state_to_save(model: nn.Module) -> dict[str, torch.Tensor]:
    """A model's state dict for its ``model.safetensors``, on the CPU.

    A frozen BatchNorm layer trained in study mode keeps its (adapted) running statistics but
    not its step counter, so the file loads into the fixed BatchNorm of a fast-mode build.
    """
    frozen_bn = {
        f"{n}.num_batches_tracked"
        for n, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        and not any(p.requires_grad for p in m.parameters())
    }
    return {
        k: v.detach().cpu().contiguous()
        for k, v in model.state_dict().items()
        if k not in frozen_bn
    }


def check_options(weights: str, drop_rate: float | None) -> None:
    """Refuse a ``weights`` or ``drop_rate`` that [`fakezoo.create`][fakezoo.models.build.create]
    cannot take."""
    if weights not in {"timm", "torchvision"}:
        raise ValueError(f"weights='{weights}': use 'timm' or 'torchvision'.")
    if drop_rate is not None and not 0 <= drop_rate < 1:
        raise ValueError(
            f"drop_rate={drop_rate}: use a probability in [0, 1), or None for "
            f"the model's torchvision value."
        )
