"""The checkpoint layouts that ``fakezoo convert-weights --from`` converts: which zoo model each
becomes, where its network sits in the original detector, and what the original code feeds it.

Plain data (no torch), so the command line and the model builder read it without loading the
converter ([`detector_weights`][fakezoo.models.detector_weights]).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LAYOUTS", "DetectorLayout"]


@dataclass(frozen=True)
class DetectorLayout:
    """One original checkpoint layout that fakezoo converts.

    Attributes:
        name: the layout's name (``--from``), e.g. ``"sbi"``.
        model: the zoo model the checkpoint converts to.
        title: the detector and its code, for messages and the docs.
        prefix: the module path of the network in the original detector (``"net."``).
        entry: the key of the state dict in the saved dict (``"model"``), ``None`` for a bare
            state dict.
        mean, std: the input normalisation the original code feeds the network,
            ``(x / 255 - mean) / std``.
        release: where the authors publish their trained files.
        crop: the [face-crop policy][fakezoo.faces.policy.POLICIES] closest to the original
            code's, which ``fakezoo.predict(..., faces=True)`` cuts faces with.
    """

    name: str
    model: str
    title: str
    prefix: str
    entry: str | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    release: str
    crop: str


LAYOUTS: dict[str, DetectorLayout] = {
    "sbi": DetectorLayout(
        "sbi",
        "efficientnet_b4",
        "Self-Blended Images (EfficientNet-B4 of efficientnet_pytorch)",
        "net.",
        "model",
        (0.0, 0.0, 0.0),  # SBI's inference: pixels / 255, no mean or std
        (1.0, 1.0, 1.0),
        "the links in github.com/mapooon/SelfBlendedImages's README (FFraw.tar, FFc23.tar)",
        "sbi",
    ),
    "deepfakebench": DetectorLayout(
        "deepfakebench",
        "xception",
        "DeepfakeBench Xception",
        "backbone.",
        None,
        (0.5, 0.5, 0.5),  # DeepfakeBench's xception.yaml
        (0.5, 0.5, 0.5),
        "github.com/SCLBD/DeepfakeBench/releases/tag/v1.0.1 (xception_best.pth)",
        "deepfakebench",
    ),
}
"""The checkpoint layouts fakezoo converts, by name (``layout=``, ``--from``); any other is
refused, never guessed."""
