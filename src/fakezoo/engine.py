"""Deprecated: moved to ``fakezoo.train.engine``; this import path works for one more release."""

from ._moved import forward

__all__, __getattr__ = forward(
    "fakezoo.engine",
    ["fakezoo.train.engine"],
    ["FoldOutput", "TrainSettings", "compute_trunk", "resolve_device", "train_fold"],
)
