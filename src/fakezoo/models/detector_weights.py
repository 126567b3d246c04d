"""Trained detectors from their authors' checkpoints, converted to the zoo's timm models.

Two detectors of the field publish trained weights in their own code's module names:

- layout ``sbi`` (zoo model ``efficientnet_b4``): Self-Blended Images' ``Detector``, whose
  ``net`` is ``efficientnet_pytorch``'s EfficientNet-B4 with 2 classes, saved as
  ``torch.save({"model": state_dict, "optimizer": ..., "epoch": ...})``.
- layout ``deepfakebench`` (zoo model ``xception``): DeepfakeBench's ``XceptionDetector``,
  whose ``backbone`` is their Xception (Cadene's, with a 2-class ``last_linear``), saved as
  ``torch.save(state_dict)``.

fakezoo downloads neither.
[`convert_checkpoint`][fakezoo.models.detector_weights.convert_checkpoint] reads a file that
you fetched yourself, after checking its SHA-256 against the one you give, with
``torch.load(weights_only=True)`` (tensors and plain containers only: nothing is imported or
run), renames every tensor by explicit rules into timm's names, checks that each of the zoo
model's tensors is filled once with the right shape, and writes the whole detector, its 2-class
head included, as safetensors.
[`load_detector`][fakezoo.models.detector_weights.load_detector] builds the zoo model from that
file with the original's logits; ``fakezoo.create(name, pretrained=file)`` starts training from
it (a new head, as for any weights file).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from .._io import file_sha256, parse_sha256
from ..errors import WeightsError
from ..faces.policy import named_policy
from .detector_layouts import LAYOUTS, DetectorLayout

__all__ = [
    "convert_checkpoint",
    "convert_state",
    "is_detector_file",
    "load_detector",
    "read_checkpoint",
]


# efficientnet_pytorch's names -> timm's. Top level:
_EFFNET_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
# Inside a block, by kind: with an expansion conv (timm's InvertedResidual) or without
# (stage 0, timm's DepthwiseSeparableConv). The squeeze-excite convs are the same in both.
_EFFNET_EXPANDED = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_se_reduce": "se.conv_reduce",
    "_se_expand": "se.conv_expand",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_EFFNET_SEPARABLE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_se_reduce": "se.conv_reduce",
    "_se_expand": "se.conv_expand",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}


def _stage_starts(target: Mapping[str, torch.Tensor]) -> list[tuple[int, int]]:
    """timm's (stage, index) of every block, in order: efficientnet_pytorch numbers them
    flat (``_blocks.0`` ... ``_blocks.31``)."""
    found = {
        (int(m[1]), int(m[2]))
        for m in (re.match(r"blocks\.(\d+)\.(\d+)\.", k) for k in target)
        if m
    }
    return sorted(found)


def _sbi_names(state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]):
    blocks = _stage_starts(target)
    expanded = {
        int(m[1]) for m in (re.match(r"_blocks\.(\d+)\._expand_conv\.", k) for k in state) if m
    }

    def rename(key: str) -> str | None:
        module, _, param = key.rpartition(".")
        if module in _EFFNET_TOP:
            return f"{_EFFNET_TOP[module]}.{param}"
        found = re.fullmatch(r"_blocks\.(\d+)\.(\w+)", module)
        if not found or int(found[1]) >= len(blocks):
            return None
        index = int(found[1])
        names = _EFFNET_EXPANDED if index in expanded else _EFFNET_SEPARABLE
        if found[2] not in names:
            return None
        stage, inner = blocks[index]
        return f"blocks.{stage}.{inner}.{names[found[2]]}.{param}"

    return rename


def _deepfakebench_names(state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]):
    def rename(key: str) -> str | None:
        # The head is last_linear, or last_linear.1 after a Dropout (backbone_config dropout).
        found = re.fullmatch(r"last_linear(?:\.1)?\.(weight|bias)", key)
        if found:
            return f"fc.{found[1]}"
        # The same names as timm's legacy_xception (both derive from Cadene's Xception).
        return key if key in target else None

    return rename


_RENAMERS: dict[str, Callable] = {"sbi": _sbi_names, "deepfakebench": _deepfakebench_names}
# Modules of the original that the network's forward never uses, dropped by name:
# DeepfakeBench builds adjust_channel (a 2048->512 conv) in every Xception, used only by
# other detectors' modes.
_UNUSED = {"sbi": (), "deepfakebench": ("adjust_channel.",)}


def _state_of(saved: object, layout: DetectorLayout) -> dict[str, torch.Tensor] | None:
    """The state dict where ``layout``'s code saves it, its network prefix (and a
    DataParallel ``module.``) removed; ``None`` if ``saved`` is not such a checkpoint."""
    state = saved.get(layout.entry) if layout.entry and isinstance(saved, dict) else saved
    if not isinstance(state, dict) or not state:
        return None
    keys = [k.removeprefix("module.") if isinstance(k, str) else "" for k in state]
    if not all(k.startswith(layout.prefix) for k in keys) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        return None
    return {k.removeprefix(layout.prefix): v for k, v in zip(keys, state.values(), strict=True)}


def read_checkpoint(
    source: str | os.PathLike[str], layout: str, *, sha256: str
) -> dict[str, torch.Tensor]:
    """The original network's state dict from a checkpoint file of ``layout``.

    The file's SHA-256 is checked against ``sha256`` before anything is read from it, then the
    file is read with ``torch.load(weights_only=True)``; the state dict is taken from where the
    original code saved it, with its network prefix (``net.``, ``backbone.``; and a
    ``module.`` from DataParallel) removed.

    Raises:
        WeightsError: another hash, a file torch's restricted loader refuses, or not this
            layout's checkpoint; the message names the file and what to do.
    """
    info = _layout(layout)
    path = Path(source)
    if not path.is_file():
        raise WeightsError(f"'{path}': no such file.")
    want, got = parse_sha256(sha256), file_sha256(path)
    if got != want:
        raise WeightsError(
            f"'{path}' has SHA-256 {got}, not the {want} you gave: another or a damaged file. "
            f"Fetch it again from {info.release}, or check the hash you gave."
        )
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError for code, RuntimeError/EOFError for a bad file
        # torch's text for code suggests weights_only=False: show only what it refused.
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        first = (
            f"it would import {found[1]}"
            if found
            else (str(err).strip().splitlines() or [type(err).__name__])[0]
        )
        raise WeightsError(
            f"'{path}' is not a checkpoint that torch.load(weights_only=True) reads ({first}); "
            f"fakezoo never unpickles anything else. Use the file from {info.release}."
        ) from err
    state = _state_of(saved, info)
    if state is None:
        others = [o for o in LAYOUTS.values() if o is not info and _state_of(saved, o)]
        hint = (
            f"it is a {others[0].title} checkpoint: convert it to {others[0].model} with "
            f"layout='{others[0].name}'"
            if others
            else f"its code saves {_where(info)}. Use the file from {info.release}"
        )
        raise WeightsError(f"'{path}' is not a {info.title} checkpoint: {hint}.")
    return state


def _where(info: DetectorLayout) -> str:
    saved = f"a dict with the state dict under '{info.entry}'" if info.entry else "a state dict"
    return f"{saved}, its tensors named '{info.prefix}*'"


def _layout(layout: str) -> DetectorLayout:
    if layout not in LAYOUTS:
        raise ValueError(
            f"layout='{layout}': fakezoo converts only the layouts {', '.join(LAYOUTS)} "
            f"(an unknown architecture is never guessed)."
        )
    return LAYOUTS[layout]


def convert_state(
    layout: str,
    state: Mapping[str, torch.Tensor],
    target: Mapping[str, torch.Tensor],
    where: str = "the checkpoint",
) -> dict[str, torch.Tensor]:
    """Rename the original network's ``state`` (as
    [`read_checkpoint`][fakezoo.models.detector_weights.read_checkpoint] returns it) to the zoo
    model's names, checked against the zoo model's state dict ``target``.

    DeepfakeBench's pointwise convolutions saved as ``(out, in)`` matrices (the ImageNet file
    they start from stores them so) become ``(out, in, 1, 1)``.

    Raises:
        WeightsError: a tensor that no rule names, one named twice, a zoo tensor left empty,
            or a shape that differs; the message names ``where`` and the keys.
    """
    info = _layout(layout)
    rename = _RENAMERS[layout](state, target)
    out: dict[str, torch.Tensor] = {}
    unknown, shapes = [], []
    for key, value in state.items():
        if key.startswith(_UNUSED[layout]):
            continue
        new = rename(key)
        if new is None or new in out:
            unknown.append(info.prefix + key)
            continue
        want = target.get(new)
        if want is not None and value.dim() == 2 and want.dim() == 4 and "pointwise" in new:
            value = value[:, :, None, None]
        if want is None or tuple(value.shape) != tuple(want.shape):
            shapes.append(
                f"{info.prefix}{key} {tuple(value.shape)} for {new} "
                f"{None if want is None else tuple(want.shape)}"
            )
            continue
        out[new] = value.to(want.dtype).contiguous()
    missing = [k for k in target if k not in out]
    problems = [
        f"{label} {_some(keys)}"
        for label, keys in (
            ("unexpected tensors", unknown),
            ("shapes differ:", shapes),
            ("missing tensors", missing),
        )
        if keys
    ]
    if problems:
        raise WeightsError(
            f"{where} does not convert to {info.model} as {info.title}: {'; '.join(problems)}. "
            f"Use the file from {info.release} unchanged (a 2-class detector)."
        )
    return out


def _some(keys: list[str]) -> str:
    shown = ", ".join(keys[:5])
    return shown + (f" ... ({len(keys) - 5} more)" if len(keys) > 5 else "")


def _empty_model(name: str) -> torch.nn.Module:
    """Zoo model ``name`` on the meta device: its names, shapes and dtypes, no numbers (the
    checkpoint's fill it, so a random initialisation would be time lost)."""
    from .build import create

    with torch.device("meta"):
        # Plain BatchNorm (not fast mode's frozen one): the original's every buffer has a place.
        return create(name, pretrained=False, freeze_batchnorm=False)


def convert_checkpoint(
    name: str,
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    layout: str,
    sha256: str,
) -> Path:
    """Convert a trained detector's original checkpoint into a safetensors file of zoo model
    ``name``, its 2-class head included.

    Args:
        name: the zoo model; it must be the layout's (``efficientnet_b4`` for ``"sbi"``,
            ``xception`` for ``"deepfakebench"``).
        source: the checkpoint you fetched from the detector's release.
        target: the ``.safetensors`` file to write.
        layout: ``"sbi"`` or ``"deepfakebench"``
            ([`LAYOUTS`][fakezoo.models.detector_layouts.LAYOUTS]).
        sha256: the file's expected SHA-256, checked before it is read.

    Returns:
        ``target``; its metadata records the layout, the zoo model, the source file's name and
        SHA-256 and the original input normalisation. An existing ``target`` is replaced only
        when it is a file this function wrote; any other file there is refused.

    Example:
        ```python
        from fakezoo.models.detector_weights import convert_checkpoint, load_detector
        out = convert_checkpoint("efficientnet_b4", "FFc23.tar", "sbi_ffc23.safetensors",
                                 layout="sbi", sha256="<the file's sha256sum>")
        model = load_detector(out)  # SBI's network, in timm's tf_efficientnet_b4
        ```
    """
    from safetensors.torch import save_file

    from .registry import get_spec

    info = _layout(layout)
    spec = get_spec(name)
    if spec.name != info.model:
        raise ValueError(
            f"'{spec.name}' with layout='{layout}': {info.title} checkpoints convert to "
            f"'{info.model}' only."
        )
    target = Path(target)
    if target.suffix != ".safetensors":
        raise ValueError(f"'{target}': the converted file must end in .safetensors.")
    if (target.exists() or target.is_symlink()) and not is_detector_file(target):
        raise FileExistsError(
            f"'{target}' exists and is not a detector that convert-weights wrote; nothing was "
            f"changed. Choose another --out / target, or move that file away."
        )
    state = read_checkpoint(source, layout, sha256=sha256)
    own = _empty_model(spec.name).state_dict()
    converted = convert_state(layout, state, own, where=f"'{source}'")
    metadata = {
        "format": "pt",
        "fakezoo_model": spec.name,
        "layout": layout,
        "source": Path(source).name,
        "source_sha256": parse_sha256(sha256),
        "input_mean": ",".join(str(v) for v in info.mean),
        "input_std": ",".join(str(v) for v in info.std),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    save_file(converted, str(tmp), metadata=metadata)
    os.replace(tmp, target)
    return target


def load_detector(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> torch.nn.Module:
    """The zoo model of a file that
    [`convert_checkpoint`][fakezoo.models.detector_weights.convert_checkpoint] wrote, every
    tensor (the head too) loaded strictly, in eval mode.

    Its ``model.preprocessing`` normalises as the original code did (SBI: ``x / 255`` only,
    recorded as ``normalization="pretrained"``: these weights' own numbers) and cuts faces with
    the crop policy closest to the original's (``"sbi"``, ``"deepfakebench"``), so
    ``fakezoo.load(path)`` (or ``fakezoo.Detector([model], model.preprocessing)``) scores
    images as the original would.

    Example:
        ```python
        import fakezoo
        from fakezoo.models.detector_weights import load_detector
        model = load_detector("sbi_ffc23.safetensors")
        det = fakezoo.Detector([model], model.preprocessing, device="cpu")
        det("face.png").prob_fake
        ```
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    from .build import set_preprocessing
    from .preprocessing import Preprocessing

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except (SafetensorError, OSError) as err:
        raise WeightsError(f"Cannot read '{path}' as safetensors: {err}") from err
    layout = LAYOUTS.get(meta.get("layout", ""))
    if layout is None or meta.get("fakezoo_model") != layout.model:
        raise WeightsError(
            f"'{path}' was not written by fakezoo's convert_checkpoint (`fakezoo "
            f"convert-weights ... --from`); for ImageNet weights use fakezoo.create(name, "
            f"pretrained='{path}')."
        )
    model = _empty_model(layout.model)
    try:
        model.load_state_dict(load_file(str(path)), strict=True, assign=True)
    except RuntimeError as err:
        from .build import load_error

        raise WeightsError(f"'{path}' does not fit {layout.model}: {load_error(err)}") from err
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):  # not one left empty
        raise WeightsError(f"'{path}' does not fill every tensor of {layout.model}.")
    spec = model.spec
    pre = Preprocessing(
        spec.image_size,
        normalization="study" if layout.mean == (0.5, 0.5, 0.5) else "pretrained",
        mean=layout.mean,
        std=layout.std,
    )
    set_preprocessing(model, pre.with_face_crop(named_policy(layout.crop)))
    return model.eval().to(device)


def is_detector_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a ``.safetensors`` file that
    [`convert_checkpoint`][fakezoo.models.detector_weights.convert_checkpoint] wrote (read from
    its metadata; nothing else is loaded).

    Example:
        ```python
        from fakezoo.models.detector_weights import is_detector_file
        is_detector_file("sbi_ffc23.safetensors")  # True
        ```
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if path.suffix.lower() != ".safetensors" or not path.is_file():
        return False
    try:
        with safe_open(str(path), framework="pt") as handle:
            return (handle.metadata() or {}).get("layout") in LAYOUTS
    except (SafetensorError, OSError):
        return False
