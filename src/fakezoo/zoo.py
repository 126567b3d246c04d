"""Deprecated: moved to ``fakezoo.models``; this import path works for one more release."""

from ._moved import forward

__all__, __getattr__ = forward(
    "fakezoo.zoo",
    [
        "fakezoo.models.registry",
        "fakezoo.models.preprocessing",
        "fakezoo.models.build",
        "fakezoo.models.stages",
        "fakezoo.models.freeze",
    ],
    [
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
    ],
)
