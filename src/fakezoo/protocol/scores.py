"""The protocol's numbers for one model on one test set: frame and video level, at the
threshold picked on the validation split, per manipulation method where the set has several.

Frame level scores every face crop; video level first averages the frame probabilities of each
video (DeepfakeBench's aggregation). Both use [`fakezoo.evaluation.stats`][fakezoo.evaluation.stats]
(scikit-learn's ROC-AUC and average precision underneath).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..evaluation.stats import eer_threshold, group_scores, scored_metrics

__all__ = ["AGGREGATION", "LEVELS", "METRICS", "level_metrics", "score", "thresholds"]

AGGREGATION = "mean"
"""A video's score: the mean of its frames' P(fake), as DeepfakeBench computes it."""

LEVELS = ("frame", "video")

METRICS = ("roc_auc", "average_precision", "eer", "accuracy", "balanced_accuracy")
"""What each level reports (accuracy at the validation split's threshold)."""


def level_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """ROC-AUC, AP, EER, accuracy and balanced accuracy at `threshold`, with the counts."""
    m = scored_metrics(y, p, threshold)
    return {
        **{k: m[k] for k in METRICS},
        "threshold": float(threshold),
        "n": len(y),
        "n_real": int((y == 0).sum()),
        "n_fake": int((y == 1).sum()),
        "confusion_matrix": m["confusion_matrix"],
    }


def _videos(groups: Sequence[Any], y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _, gy, gp, mixed = group_scores(groups, y, p)
    if mixed:
        raise ValueError(f"videos with frames of both labels: {mixed[:3]}")
    return gy, gp


def thresholds(y: np.ndarray, p: np.ndarray, groups: Sequence[Any]) -> dict[str, float]:
    """The equal-error-rate thresholds of the validation predictions, per level."""
    gy, gp = _videos(groups, y, p)
    return {"frame": eer_threshold(y, p), "video": eer_threshold(gy, gp)}


def _levels(y, p, groups, cut: dict[str, float]) -> dict[str, Any]:
    gy, gp = _videos(groups, y, p)
    return {
        "frame": level_metrics(y, p, cut["frame"]),
        "video": {**level_metrics(gy, gp, cut["video"]), "aggregation": AGGREGATION},
    }


def score(
    y: np.ndarray,
    p: np.ndarray,
    groups: Sequence[Any],
    cut: dict[str, float],
    methods: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """Both levels for the whole set and, when its fakes come from several methods, for each
    method against all real videos (FF++'s FF-DF, FF-F2F... columns)."""
    y, p = np.asarray(y, np.int64), np.asarray(p, np.float64)
    groups = [str(g) for g in groups]
    out = _levels(y, p, groups, cut)
    per_crop = [None if methods is None else methods.get(g) for g in groups]
    names = sorted({m for m in per_crop if m})
    if len(names) > 1:
        out["by_method"] = {}
        for name in names:
            keep = np.asarray(
                [lab == 0 or m == name for lab, m in zip(y, per_crop, strict=True)], bool
            )
            sub = [g for g, k in zip(groups, keep, strict=True) if k]
            out["by_method"][name] = _levels(y[keep], p[keep], sub, cut)
    return out
