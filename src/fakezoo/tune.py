"""Deprecated: moved to ``fakezoo.train.tune``; this import path works for one more release."""

from ._moved import forward

__all__, __getattr__ = forward(
    "fakezoo.tune",
    ["fakezoo.train.tune", "fakezoo.train.storage"],
    ["LRSearchResult", "make_storage", "optuna_lr_search"],
)
