"""The training settings: one frozen record of everything that shapes a run's numbers.

[`TrainSettings`][fakezoo.train.settings.TrainSettings] is what
[`CrossValidator`][fakezoo.train.cv.CrossValidator],
[`optuna_lr_search`][fakezoo.train.tune.optuna_lr_search],
[`run_study`][fakezoo.study.run_study] and the ``fakezoo`` command take. Each of them also takes
its fields as keywords for the common case (``CrossValidator(epochs=2, image_size=64)``), and
a variant is ``dataclasses.replace(settings, epochs=5)``: a settings object never changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..memory import parse_size
from ..models.backends import BACKENDS
from ..models.freeze import check_options

__all__ = [
    "BLEND_MODES",
    "CACHE_DTYPES",
    "FAKES",
    "MODES",
    "OPTIMIZERS",
    "TrainSettings",
    "callable_name",
]

MODES = ("fast", "study")
"""``"fast"``: frozen BatchNorm, the frozen trunk run once and cached; ``"study"``: the study's
plain ``train()`` loop (BatchNorm in train mode everywhere, the whole model every step)."""

OPTIMIZERS = ("adam", "adamw", "sgd")
"""Adam (the study's), AdamW, SGD with momentum 0.9."""

CACHE_DTYPES = ("float16", "bfloat16", "float32")
"""Storage types of the cached trunk output."""

FAKES = ("dataset", "self-blend")
"""Where a run's fake images come from: the dataset's own, or self-blended from its reals."""

BLEND_MODES = ("cached", "online")
"""How self-blended fakes are drawn: fixed once per face, or fresh every epoch."""


def callable_name(fn: Callable | None) -> str | None:
    """A name for a callable that is the same in every process (its repr holds an address)."""
    if fn is None:
        return None
    kind = fn if hasattr(fn, "__qualname__") else type(fn)
    return f"{getattr(kind, '__module__', '?')}.{kind.__qualname__}"


@dataclass(frozen=True)
class TrainSettings:
    """How a cross-validation trains: every setting that shapes its numbers.

    The defaults are the study's where it gives one (3 folds, Adam, cross-entropy, ImageNet
    weights, ``Normalize(0.5, 0.5)``, its input sizes) and fakezoo's where it does not. A run
    records these settings (``config.json``'s ``settings``) and its fingerprint from this one
    object, and resumes only with equal ones.

    Attributes:
        n_splits: stratified folds (the study: 3).
        epochs: passes over the training part of a fold.
        batch_size: images per optimisation step.
        optimizer: ``"adam"`` (the study's), ``"adamw"`` or ``"sgd"`` (momentum 0.9).
        weight_decay: optimiser weight decay.
        seed: the random seed of the folds, the head initialisation, the batch order and the
            dropout masks (fold ``k`` trains with ``seed * 1000 + k``), and of the LR search's
            sampler.
        mode: ``"fast"``: frozen BatchNorm, frozen trunk run once and cached; ``"study"``:
            the study's plain loop, BatchNorm in train mode everywhere, whole model every step.
        pretrained: ImageNet weights (``True``), a local ``.safetensors`` file, or ``False``.
        weights: ``"timm"`` or ``"torchvision"`` (the ImageNet weights the study loaded).
        image_size: the input side; ``None`` is the study's (224, or 299 for Inception).
        normalization: ``"study"`` (0.5/0.5) or ``"pretrained"`` (the weights' own).
        drop_rate: dropout before the trained layers (``None``: torchvision's, per model).
        augment: a callable on uint8 image batches; turns trunk caching off.
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda:1"``...
        amp: autocast on CUDA (bf16 where supported, else fp16 with a gradient scaler).
        cache_trunk: cache the frozen trunk's output (``False`` runs the whole model every
            step, as a plain implementation would).
        cache_dtype: storage type of the cached trunk output (one of
            [`CACHE_DTYPES`][fakezoo.train.settings.CACHE_DTYPES]).
        trunk_backend: what runs the cached trunk pass: ``"auto"`` (ONNX Runtime on a CPU for
            the architectures where it was measured faster, with the ``onnx`` extra; else
            PyTorch), ``"torch"`` or ``"onnxruntime"``.
        memory_budget: bytes (or a size such as ``"2GB"``) of decoded images and cached trunk
            output held in memory; past it they live in memory-mapped files in the cache and
            are read batch by batch, with the same numbers. ``None``: half the memory available
            when the run starts. It changes no number, so it is not in the fingerprint.
        fakes: ``"dataset"``: the dataset's own fake images; ``"self-blend"``: real images
            only, with fakes made from them by Self-Blended Images (see
            [`fakezoo.synth.recipe`][fakezoo.synth.recipe]), each real face and one of its
            fakes in every batch.
        blend_mode: with ``fakes="self-blend"``: ``"cached"`` (``blends_per_image`` fixed
            fakes per face, drawn once; the frozen trunk still runs once per image) or
            ``"online"`` (a fresh fake every epoch, the whole model every step: the paper's).
        blends_per_image: fixed fakes per real face in ``"cached"`` mode.

    Example:
        ```python
        import dataclasses
        from fakezoo.train.settings import TrainSettings
        quick = TrainSettings(epochs=2, image_size=64, pretrained=False, device="cpu")
        longer = dataclasses.replace(quick, epochs=10)   # quick itself never changes
        longer.to_dict()["epochs"]  # 10
        ```
    """

    n_splits: int = 3
    epochs: int = 3
    batch_size: int = 32
    optimizer: str = "adam"
    weight_decay: float = 0.0
    seed: int = 0
    mode: str = "fast"
    pretrained: bool | str = True
    weights: str = "timm"
    image_size: int | None = None
    normalization: str = "study"
    drop_rate: float | None = None
    augment: Callable | None = None
    device: str = "auto"
    amp: bool = True
    cache_trunk: bool = True
    cache_dtype: str = "float16"
    trunk_backend: str = "auto"
    memory_budget: int | str | None = None
    fakes: str = "dataset"
    blend_mode: str = "cached"
    blends_per_image: int = 4

    def __post_init__(self) -> None:
        def whole(name: str, low: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}={value!r}: use an integer of at least {low}.")

        def one_of(name: str, allowed: tuple[str, ...], hint: str) -> None:
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"{name}={value!r}: {hint}")

        whole("n_splits", 2)
        whole("epochs", 1)
        whole("batch_size", 1)
        whole("seed", 0)
        whole("blends_per_image", 1)
        one_of(
            "fakes",
            FAKES,
            "use 'dataset' (the dataset's own fake images) or 'self-blend' (fakes made from "
            "the real images).",
        )
        one_of(
            "blend_mode",
            BLEND_MODES,
            "use 'cached' (fixed fakes, drawn once) or 'online' (fresh fakes every epoch).",
        )
        if self.image_size is not None:
            whole("image_size", 1)
        one_of(
            "mode",
            MODES,
            "use 'fast' (frozen BatchNorm, cached trunk) or 'study' (the study's plain "
            "train() loop).",
        )
        one_of("optimizer", OPTIMIZERS, "use 'adam', 'adamw' or 'sgd'.")
        if self.normalization not in ("study", "pretrained"):
            raise ValueError(
                f"normalization={self.normalization!r}: use 'study' (0.5/0.5) or 'pretrained'."
            )
        check_options(self.weights, self.drop_rate)
        if self.trunk_backend not in BACKENDS:
            raise ValueError(
                f"trunk_backend={self.trunk_backend!r}: use one of {', '.join(BACKENDS)}."
            )
        dtype = str(self.cache_dtype).removeprefix("torch.")  # a torch.dtype is fine too
        if dtype not in CACHE_DTYPES:
            raise ValueError(f"cache_dtype={self.cache_dtype!r}: use one of {CACHE_DTYPES}.")
        object.__setattr__(self, "cache_dtype", dtype)
        if self.memory_budget is not None:
            object.__setattr__(self, "memory_budget", parse_size(self.memory_budget))
        if isinstance(self.pretrained, Path):
            object.__setattr__(self, "pretrained", str(self.pretrained))
        if self.pretrained is None:
            object.__setattr__(self, "pretrained", False)
        object.__setattr__(self, "weight_decay", float(self.weight_decay))
        if self.drop_rate is not None:
            object.__setattr__(self, "drop_rate", float(self.drop_rate))
        if self.augment is not None and not callable(self.augment):
            raise ValueError(f"augment={self.augment!r}: use a callable on uint8 image batches.")

    @classmethod
    def build(cls, settings: TrainSettings | None = None, **changes: Any) -> TrainSettings:
        """``settings`` (default: the defaults) with ``changes``; an unknown name is refused.

        Example:
            ```python
            from fakezoo.train.settings import TrainSettings
            TrainSettings.build(epochs=2).epochs  # 2
            ```
        """
        base = cls() if settings is None else settings
        if not isinstance(base, cls):
            raise TypeError(f"settings={settings!r}: expected a TrainSettings.")
        unknown = sorted(set(changes) - {f.name for f in fields(cls)})
        if unknown:
            raise TypeError(
                f"unknown training setting{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(unknown)}; TrainSettings has: "
                f"{', '.join(f.name for f in fields(cls))}."
            )
        return dataclasses.replace(base, **changes) if changes else base

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON values (``augment`` by its qualified name)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["augment"] = callable_name(self.augment)
        return data
