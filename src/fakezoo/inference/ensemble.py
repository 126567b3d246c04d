"""Fold ensembles that run a shared frozen trunk once per batch, then each fold's tail.

Every fold of a run starts from the same weights and freezes the same layers, so the trunk
(everything before the first trainable module, see
[`split_trunk_tail`][fakezoo.models.stages.split_trunk_tail]) is bit-identical across the
folds. [`plan_groups`][fakezoo.inference.ensemble.plan_groups] checks that on the weights and
buffers themselves and groups the folds whose trunks are identical;
[`FoldEnsemble`][fakezoo.inference.ensemble.FoldEnsemble] runs each group's trunk once and only the
tails per fold. Folds whose trunks differ (another freeze policy, edited weights, a model that is
not from the zoo) form groups of their own and run separately, so the result always equals running
every fold model whole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain

import torch
from torch import nn

from ..models.stages import Stage, run_stages, split_trunk_tail

__all__ = ["FoldEnsemble", "TrunkGroup", "plan_groups", "trunk_signature"]


@dataclass
class TrunkGroup:
    """Folds that share one frozen trunk.

    Attributes:
        trunk: the stages of the shared trunk (those of the group's first fold).
        folds: the folds' positions in the ensemble.
        tails: each fold's tail stages, in the order of ``folds``.
        runner: what runs the trunk (default: the stages in eager PyTorch); a faster backend
            may replace it.
    """

    trunk: list[Stage]
    folds: list[int]
    tails: list[list[Stage]]
    runner: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, repr=False)

    def run_trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.runner(x) if self.runner is not None else run_stages(self.trunk, x)


def _inside(name: str, owners: tuple[str, ...]) -> bool:
    return any(name == o or name.startswith(o + ".") for o in owners)


def _owned_tensors(model: nn.Module, stages: Sequence[Stage]) -> dict[str, torch.Tensor]:
    owners = tuple(o for stage in stages for o in stage.owns)
    return {
        name: t
        for name, t in chain(model.named_parameters(), model.named_buffers())
        if _inside(name, owners)
    }


def trunk_signature(model: nn.Module, trunk: Sequence[Stage]) -> tuple:
    """What must match, besides the tensors, for two trunks to compute the same function:
    the architecture, the stage names and each owned module's structure (its ``repr``)."""
    modules = dict(model.named_modules())
    structure = tuple(repr(modules[o]) for stage in trunk for o in stage.owns if o in modules)
    spec = getattr(model, "spec", None)
    return (
        getattr(spec, "architecture", type(model).__name__),
        tuple(stage.name for stage in trunk),
        structure,
    )


def _same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    if a.keys() != b.keys():
        return False
    return all(
        x.shape == b[k].shape
        and x.dtype == b[k].dtype
        and x.device == b[k].device
        and torch.equal(x, b[k])
        for k, x in a.items()
    )


def _split(model: nn.Module) -> tuple[list[Stage], list[Stage]]:
    """A zoo model's trunk and tail; anything else is all tail (it runs whole)."""
    if getattr(model, "spec", None) is None:
        return [], [Stage("model", (), model)]
    return split_trunk_tail(model)


def plan_groups(models: Sequence[nn.Module], share: bool = True) -> list[TrunkGroup]:
    """Group fold models by identical frozen trunk (same structure, equal weights and buffers).

    With ``share=False`` (or for models outside the zoo) each fold is a group of its own
    whose trunk is empty and whose tail is the whole model.

    Example:
        ```python
        import copy, fakezoo
        from fakezoo.inference.ensemble import plan_groups
        m = fakezoo.create("resnet50", finetune=False, pretrained=False, image_size=64).eval()
        groups = plan_groups([m, copy.deepcopy(m)])
        [g.folds for g in groups]  # [[0, 1]]
        ```
    """
    groups: list[TrunkGroup] = []
    keys: list[tuple[tuple, dict[str, torch.Tensor]]] = []
    for index, model in enumerate(models):
        trunk, tail = _split(model) if share else ([], [Stage("model", (), model)])
        if not trunk:
            groups.append(TrunkGroup([], [index], [tail]))
            keys.append(((), {}))
            continue
        signature, tensors = trunk_signature(model, trunk), _owned_tensors(model, trunk)
        for group, (sig, own) in zip(groups, keys, strict=True):
            if group.trunk and sig == signature and _same_tensors(own, tensors):
                group.folds.append(index)
                group.tails.append(tail)
                break
        else:
            groups.append(TrunkGroup(trunk, [index], [tail]))
            keys.append((signature, tensors))
    return groups


class FoldEnsemble(nn.Module):
    """Fold models as one module: ``(N, 3, S, S)`` normalised input -> ``(N, k)`` fake
    probabilities (softmax of logit 1), each shared trunk run once.

    Example:
        ```python
        import copy, fakezoo, torch
        from fakezoo.inference.ensemble import FoldEnsemble
        m = fakezoo.create("mobilenet_v2", finetune=False, pretrained=False, image_size=64)
        ens = FoldEnsemble([m.eval(), copy.deepcopy(m)])
        ens(torch.randn(2, 3, 64, 64)).shape  # torch.Size([2, 2])
        ```
    """

    def __init__(self, models: Sequence[nn.Module], share: bool = True) -> None:
        super().__init__()
        self.models = nn.ModuleList(models)
        self.groups = plan_groups(self.models, share=share)

    @property
    def n_folds(self) -> int:
        return len(self.models)

    @property
    def trunk_passes(self) -> int:
        """Trunk passes per batch: 1 when every fold shares its trunk, ``n_folds`` when none."""
        return len(self.groups)

    def tails(self, group: TrunkGroup, features: torch.Tensor) -> list[torch.Tensor]:
        """Each fold's fake probability from its group's trunk output."""
        return [run_stages(tail, features).float().softmax(dim=1)[:, 1] for tail in group.tails]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        columns: list[torch.Tensor | None] = [None] * self.n_folds
        for group in self.groups:
            features = group.run_trunk(x)
            for index, probs in zip(group.folds, self.tails(group, features), strict=True):
                columns[index] = probs
        return torch.stack(columns, dim=1)
