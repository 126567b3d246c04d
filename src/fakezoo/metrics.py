"""The study's metrics, plus ROC-AUC, EER and AP, and summaries across folds.

Label convention (the whole package): **real = 0, fake = 1**. Fake is the positive class, so
``y_prob`` is always the probability of *fake*.

The study reports accuracy and scikit-learn's ``average="weighted"`` precision, recall and F1
(with ``zero_division=0``) for each fold, and their plain means across folds. Weighted recall is
the support-weighted mean of per-class recall, which is exactly accuracy; the study's "Recall"
column therefore always equals its "Accuracy" column. This module computes those same numbers so
that they can be checked against the study's printed values, and adds balanced accuracy, ROC-AUC,
equal error rate (EER) and average precision (AP).

Everything returned is plain Python (``int``, ``float``, ``None``, ``list``, ``dict``), so it can be
written with ``json.dumps`` as is. Metrics that are undefined (ROC-AUC, EER and AP when
``y_true`` holds a single class) are ``None`` rather than ``nan``, which is not valid JSON.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

__all__ = [
    "LABELS",
    "METRIC_NAMES",
    "binary_metrics",
    "equal_error_rate",
    "is_missing",
    "metrics_from_confusion",
    "roc_points",
    "summarize_folds",
]

LABELS: tuple[int, int] = (0, 1)
"""Label values, in confusion-matrix order: 0 = real, 1 = fake."""

METRIC_NAMES: tuple[str, ...] = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "balanced_accuracy",
    "roc_auc",
    "eer",
    "average_precision",
)
"""The scalar metrics, in report order. ``summarize_folds`` averages these."""


# --------------------------------------------------------------------------- validation


def _as_labels(y: Any, name: str) -> np.ndarray:
    """Return ``y`` as a 1-D int64 array of 0/1 labels, or raise ``ValueError`` naming ``name``."""
    try:
        arr = np.asarray(y)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise ValueError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of labels, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numeric labels 0 (real) / 1 (fake), got {arr.dtype}")
    bad = ~np.isin(arr, LABELS)
    if bad.any():
        found = np.unique(arr[bad])[:5].tolist()
        raise ValueError(f"{name} must only hold 0 (real) and 1 (fake); found {found}")
    return arr.astype(np.int64)


def _as_probs(y: Any, name: str) -> np.ndarray:
    """Return ``y`` as a 1-D float array in [0, 1], or raise ``ValueError`` naming ``name``."""
    try:
        arr = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric probabilities: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D sequence of P(fake), got shape {arr.shape}"
            " (pass only the probability of class 1)"
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (found nan or inf)")
    if (arr < 0).any() or (arr > 1).any():
        raise ValueError(
            f"{name} must be probabilities in [0, 1]; found min {arr.min():g}, max {arr.max():g}"
        )
    return arr


def _check_same_length(**arrays: np.ndarray) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise ValueError(f"inputs must have equal lengths, got {desc}")


# --------------------------------------------------------------------------- ROC helpers


def roc_points(y_true: Any, y_prob: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve points (fake = positive class), keeping every threshold.

    A thin, validated wrapper around ``sklearn.metrics.roc_curve`` with
    ``drop_intermediate=False``.

    Args:
        y_true: True labels, 0 = real, 1 = fake. Both classes must be present.
        y_prob: Probability of fake (class 1) for each sample, in [0, 1].

    Returns:
        ``(fpr, tpr, thresholds)`` as numpy arrays; the first point is (0, 0) at threshold ``inf``.

    Raises:
        ValueError: On invalid input, or when ``y_true`` holds a single class.

    Example:
        ```python
        from fakezoo.metrics import roc_points

        fpr, tpr, thr = roc_points([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
        assert fpr[0] == 0.0 and tpr[-1] == 1.0
        ```
    """
    yt = _as_labels(y_true, "y_true")
    yp = _as_probs(y_prob, "y_prob")
    _check_same_length(y_true=yt, y_prob=yp)
    if len(np.unique(yt)) < 2:
        raise ValueError("y_true holds a single class; a ROC curve needs both real and fake")
    fpr, tpr, thresholds = roc_curve(yt, yp, pos_label=1, drop_intermediate=False)
    return fpr, tpr, thresholds


def equal_error_rate(y_true: Any, y_prob: Any) -> float | None:
    """Equal error rate: the ROC operating point where FPR equals FNR (= 1 - TPR).

    The ROC curve is a list of points, one per distinct threshold. Walking it from the strictest
    threshold, ``FNR - FPR`` falls from +1 to -1. The EER is read where it crosses zero: exactly
    at a point if one has ``FPR == FNR``, otherwise by linear interpolation between the two
    neighbouring points (thresholds) on either side of the crossing. At the crossing FPR and FNR
    are equal, and that common value is returned.

    Args:
        y_true: True labels, 0 = real, 1 = fake.
        y_prob: Probability of fake (class 1), in [0, 1].

    Returns:
        The EER in [0, 1], or ``None`` when ``y_true`` holds a single class (undefined).

    Example:
        ```python
        from fakezoo.metrics import equal_error_rate

        assert equal_error_rate([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.0  # separable
        # A tie between one real and one fake image at 0.5: the crossing is mid-segment.
        assert abs(equal_error_rate([0, 0, 1, 1], [0.2, 0.5, 0.5, 0.8]) - 0.25) < 1e-12
        assert equal_error_rate([1, 1], [0.3, 0.9]) is None
        ```
    """
    yt = _as_labels(y_true, "y_true")
    yp = _as_probs(y_prob, "y_prob")
    _check_same_length(y_true=yt, y_prob=yp)
    if len(np.unique(yt)) < 2:
        return None
    fpr, tpr, _ = roc_curve(yt, yp, pos_label=1, drop_intermediate=False)
    fnr = 1.0 - tpr
    diff = fnr - fpr  # non-increasing: +1 at (0, 0), -1 at (1, 1)
    i = int(np.argmax(diff <= 0))  # first point at or past the crossing (always exists)
    if diff[i] == 0 or i == 0:
        return float(fpr[i])
    d0, d1 = diff[i - 1], diff[i]
    t = d0 / (d0 - d1)  # fraction of the segment where diff reaches 0
    eer_fpr = fpr[i - 1] + t * (fpr[i] - fpr[i - 1])
    eer_fnr = fnr[i - 1] + t * (fnr[i] - fnr[i - 1])
    return float((eer_fpr + eer_fnr) / 2.0)  # equal up to rounding


# --------------------------------------------------------------------------- main API


def binary_metrics(y_true: Any, y_pred: Any, y_prob: Any = None) -> dict[str, Any]:
    """The study's per-fold metrics for real (0) vs fake (1), plus threshold-free ones.

    ``precision``, ``recall`` and ``f1`` are scikit-learn's ``average="weighted"`` values with
    ``zero_division=0``, as in the study: per-class scores averaged with weights equal to each
    class's support in ``y_true``. Weighted recall therefore equals accuracy.
    ``balanced_accuracy`` is the unweighted mean of per-class recall over the classes present
    in ``y_true``.

    Args:
        y_true: True labels (0 = real, 1 = fake), any 1-D sequence.
        y_pred: Predicted labels (0/1), same length.
        y_prob: Optional probability of fake (class 1) per sample, in [0, 1], same length.
            When given, ``roc_auc``, ``eer`` and ``average_precision`` are added.

    Returns:
        A JSON-serialisable dict with ``accuracy``, ``precision``, ``recall``, ``f1``,
        ``balanced_accuracy`` (floats), ``confusion_matrix`` (2x2 list of ints; rows = true
        real/fake, columns = predicted real/fake, always both labels), ``n`` (int) and, with
        ``y_prob``, ``roc_auc``, ``eer`` and ``average_precision`` (float, or ``None`` when
        ``y_true`` holds a single class).

    Raises:
        ValueError: If lengths differ, labels are not 0/1, probabilities fall outside [0, 1],
            or an input is empty or not 1-D. The message names the offending argument.

    Example:
        ```python
        from fakezoo.metrics import binary_metrics

        m = binary_metrics([0, 0, 1, 1], [0, 1, 1, 1], y_prob=[0.1, 0.6, 0.7, 0.9])
        assert m["accuracy"] == 0.75 == m["recall"]
        assert m["confusion_matrix"] == [[1, 1], [0, 2]]
        assert m["roc_auc"] == 1.0 and m["eer"] == 0.0
        ```
    """
    yt = _as_labels(y_true, "y_true")
    yp = _as_labels(y_pred, "y_pred")
    _check_same_length(y_true=yt, y_pred=yp)
    probs = None
    if y_prob is not None:
        probs = _as_probs(y_prob, "y_prob")
        _check_same_length(y_true=yt, y_prob=probs)

    cm = confusion_matrix(yt, yp, labels=list(LABELS))
    precision, recall, f1, _ = precision_recall_fscore_support(
        yt, yp, labels=list(LABELS), average="weighted", zero_division=0
    )
    present = cm.sum(axis=1) > 0
    with warnings.catch_warnings():  # one class absent from y_true: the mean of the other recall
        warnings.simplefilter("ignore", UserWarning)
        balanced = balanced_accuracy_score(yt, yp)

    out: dict[str, Any] = {
        "accuracy": float(np.trace(cm) / cm.sum()),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "balanced_accuracy": float(balanced),
        "confusion_matrix": [[int(v) for v in row] for row in cm],
        "n": len(yt),
    }
    if probs is not None:
        if present.all():
            out["roc_auc"] = float(roc_auc_score(yt, probs))
            out["eer"] = equal_error_rate(yt, probs)
            out["average_precision"] = float(average_precision_score(yt, probs, pos_label=1))
        else:
            out["roc_auc"] = out["eer"] = out["average_precision"] = None
    return out


def metrics_from_confusion(cm: Sequence[Sequence[int]]) -> dict[str, Any]:
    """Recompute the label-based metrics from a 2x2 confusion matrix.

    The matrix is expanded back into label arrays (``cm[i][j]`` samples with true label ``i``
    and predicted label ``j``) and passed to [`binary_metrics`][fakezoo.metrics.binary_metrics], so
    the numbers are exactly what that function gives on the original predictions. This is how the
    study's printed fold metrics are checked against its printed confusion matrices.

    Args:
        cm: 2x2 matrix of non-negative integer counts; rows = true real/fake, columns =
            predicted real/fake. Must contain at least one sample.

    Returns:
        The [`binary_metrics`][fakezoo.metrics.binary_metrics] dict (``accuracy``, ``precision``,
        ``recall``, ``f1``, ``balanced_accuracy``, ``confusion_matrix``, ``n``); no
        probability-based metrics.

    Raises:
        ValueError: If ``cm`` is not 2x2, holds negative or non-integer counts, or is all zero.

    Example:
        ```python
        from fakezoo.metrics import metrics_from_confusion

        m = metrics_from_confusion([[1760, 104], [148, 1623]])  # the study's ResNet-50 fold 1
        assert round(m["accuracy"], 4) == 0.9307 and round(m["precision"], 4) == 0.9309
        ```
    """
    try:
        arr = np.asarray(cm, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cm must be a 2x2 matrix of counts: {exc}") from exc
    if arr.shape != (2, 2):
        raise ValueError(f"cm must be a 2x2 matrix of counts, got shape {arr.shape}")
    if not np.isfinite(arr).all() or (arr < 0).any() or (arr != np.round(arr)).any():
        raise ValueError(f"cm must hold non-negative integer counts, got {arr.tolist()}")
    counts = arr.astype(np.int64)
    if counts.sum() == 0:
        raise ValueError("cm holds no samples")
    y_true = np.repeat([0, 0, 1, 1], counts.ravel())
    y_pred = np.repeat([0, 1, 0, 1], counts.ravel())
    return binary_metrics(y_true, y_pred)


def is_missing(value: Any) -> bool:
    """Whether a metric value is absent: ``None``, NaN, or anything else that is not a finite
    number (``True``/``False`` included). Reports print it as ``n/a``; summaries skip it.

    Example:
        ```python
        from fakezoo.metrics import is_missing
        assert is_missing(None) and is_missing(float("nan")) and not is_missing(0.5)
        ```
    """
    return (
        isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
    )


def summarize_folds(fold_metrics: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and spread of fold metrics: the study's "Average Performance" block, plus std.

    For each name in [`METRIC_NAMES`][fakezoo.metrics.METRIC_NAMES], the mean and the **population**
    standard deviation (``ddof=0``, numpy's default) across folds are computed, skipping folds where
    the metric is missing or ``None``; if no fold has it, mean and std are ``None``. The study's
    printed averages are these plain (unweighted) means of the fold values.

    Args:
        fold_metrics: One [`binary_metrics`][fakezoo.metrics.binary_metrics] dict per fold. For
            convenience a fold entry of a CV result (a dict with a ``"metrics"`` key) is accepted
            too.

    Returns:
        ``{"mean": {name: float | None}, "std": {name: float | None},
        "confusion_matrix_mean": 2x2 floats, "confusion_matrix_sum": 2x2 ints,
        "n_folds": int}``.

    Raises:
        ValueError: If ``fold_metrics`` is empty or a fold lacks a 2x2 ``confusion_matrix``.

    Example:
        ```python
        from fakezoo.metrics import metrics_from_confusion, summarize_folds

        folds = [metrics_from_confusion(c) for c in ([[9, 1], [2, 8]], [[8, 2], [1, 9]])]
        s = summarize_folds(folds)
        assert s["mean"]["accuracy"] == 0.85 and s["std"]["accuracy"] == 0.0
        assert s["confusion_matrix_mean"] == [[8.5, 1.5], [1.5, 8.5]]
        assert s["mean"]["roc_auc"] is None and s["n_folds"] == 2
        ```
    """
    folds = [f["metrics"] if isinstance(f.get("metrics"), dict) else f for f in fold_metrics]
    if not folds:
        raise ValueError("fold_metrics is empty; need at least one fold")

    mean: dict[str, float | None] = {}
    std: dict[str, float | None] = {}
    for name in METRIC_NAMES:
        values = [float(f[name]) for f in folds if not is_missing(f.get(name))]
        if values:
            mean[name] = float(np.mean(values))
            std[name] = float(np.std(values))  # population std, ddof=0
        else:
            mean[name] = std[name] = None

    cms = []
    for i, f in enumerate(folds):
        cm = np.asarray(f.get("confusion_matrix", []))
        if cm.shape != (2, 2):
            raise ValueError(f"fold {i} has no 2x2 confusion_matrix (got shape {cm.shape})")
        cms.append(cm)
    stacked = np.stack(cms).astype(np.float64)
    cm_sum = np.rint(stacked.sum(axis=0)).astype(np.int64)
    return {
        "mean": mean,
        "std": std,
        "confusion_matrix_mean": [[float(v) for v in row] for row in stacked.mean(axis=0)],
        "confusion_matrix_sum": [[int(v) for v in row] for row in cm_sum],
        "n_folds": len(folds),
    }
