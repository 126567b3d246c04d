"""The study's reference numbers and model display names."""

from __future__ import annotations

from typing import Any

from ..models.registry import get_spec, list_models, policy_name

__all__ = ["DISPLAY_NAMES", "STUDY_NUMBERS", "display_name"]

DISPLAY_NAMES: dict[str, str] = {name: get_spec(name).display_name for name in list_models()}
"""fakezoo model names -> the names the study uses in its final table (``ModelSpec``'s)."""


def _study_row(
    model_id: str,
    finetune: bool,
    lr: float,
    acc: float,
    prec: float,
    rec: float,
    f1: float,
    note: str | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "model": DISPLAY_NAMES[model_id],
        "fine_tuning": policy_name(model_id, finetune),
        "best_lr": lr,
        "accuracy": acc,
        "precision": prec,
        "recall": rec,
        "f1": f1,
        "model_id": model_id,
        "finetune": finetune,
    }
    if note:
        row["note"] = note
    return row


# fmt: off
STUDY_NUMBERS: list[dict[str, Any]] = [
    _study_row(
        "vgg16", False, 0.000175481, 0.5943, 0.6244, 0.5943, 0.5810,
        note=(
            "The study's printed averages for this row do not match its own folds (680-681 "
            "images each, unlike the 3635 of every other row): from those folds, accuracy is "
            "0.5835, precision 0.6381, recall 0.5835 and F1 0.5573."
        ),
    ),
    _study_row("vgg16", True, 2.51e-05, 0.9220, 0.9232, 0.9220, 0.9219),
    _study_row("resnet50", False, 0.000617242, 0.7226, 0.7315, 0.7226, 0.7198),
    _study_row("resnet50", True, 0.000845223, 0.9298, 0.9312, 0.9298, 0.9298),
    _study_row("mobilenet_v2", False, 0.007232402, 0.7039, 0.7243, 0.7039, 0.6959),
    _study_row("mobilenet_v2", True, 0.000928997, 0.8845, 0.8874, 0.8845, 0.8842),
    _study_row("densenet121", False, 0.000544662, 0.6932, 0.7215, 0.6932, 0.6824),
    _study_row("densenet121", True, 0.000826387, 0.9276, 0.9308, 0.9276, 0.9274),
    _study_row("inception_v3", False, 0.000153123, 0.6454, 0.6960, 0.6454, 0.6187),
    _study_row("inception_v3", True, 0.000326759, 0.9018, 0.9064, 0.9018, 0.9014),
    _study_row(
        "resnet50_mlp", True, 0.000217078, 0.9278, 0.9310, 0.9278, 0.9277,
        note=(
            "The final table prints precision 93.10%; the study's own average block and its "
            "folds give 0.9300."
        ),
    ),
    _study_row("vit_b_16", True, 0.000513470, 0.8079, 0.8247, 0.8079, 0.8051),
]
# fmt: on
"""The study's final table "Performance For All Models", as printed (12 rows). Metrics are
fractions (the study prints them as percentages with 2 decimals: 0.5943 is "59.43%"), and
``best_lr`` is the LR as printed in that table. ``note`` flags printed values that do not
follow from the study's own fold confusion matrices."""


def display_name(model: str) -> str:
    """The study's display name for a fakezoo model name; unknown names pass through.

    Example:
        ```python
        from fakezoo.report import display_name

        assert display_name("densenet121") == "DenseNet-121"
        assert display_name("my_net") == "my_net"
        ```
    """
    return DISPLAY_NAMES.get(model, model)
