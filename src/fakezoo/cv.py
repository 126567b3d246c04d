"""Deprecated: moved to ``fakezoo.train.cv``; this import path works for one more release."""

from ._moved import forward

__all__, __getattr__ = forward(
    "fakezoo.cv",
    ["fakezoo.train.cv", "fakezoo._io", "fakezoo.errors"],
    ["CVResult", "CrossValidator", "FoldResult", "RunDirectoryError"],
)
