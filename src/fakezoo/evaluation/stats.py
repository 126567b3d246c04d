"""What evaluation adds to [`fakezoo.metrics`][fakezoo.metrics]: the EER threshold, bootstrap
intervals, calibration and group (video-level) aggregation.

Label convention as everywhere in fakezoo: real = 0, fake = 1, scores are P(fake).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata

from fakezoo.metrics import binary_metrics, roc_points

__all__ = [
    "ECE_BINS",
    "bootstrap_ci",
    "calibration",
    "eer_threshold",
    "group_scores",
    "scored_metrics",
]

ECE_BINS = 10
"""Equal-width bins of P(fake) for the expected calibration error and the reliability diagram."""


def eer_threshold(y_true: Any, y_prob: Any) -> float:
    """The score threshold at the equal error rate of ``(y_true, y_prob)``.

    Walks the ROC curve ([`fakezoo.metrics.roc_points`][fakezoo.metrics.roc_points]) to where FNR -
    FPR changes sign and interpolates linearly between the two neighbouring thresholds, exactly
    where [`fakezoo.metrics.equal_error_rate`][fakezoo.metrics.equal_error_rate] reads the rate.
    ``prob >= threshold`` is "fake".

    Raises:
        ValueError: ``y_true`` holds a single class (no ROC curve).

    Example:
        ```python
        from fakezoo.evaluation.stats import eer_threshold

        t = eer_threshold([0, 0, 1, 1], [0.1, 0.3, 0.7, 0.9])
        assert 0.3 < t <= 0.7
        ```
    """
    fpr, tpr, thresholds = roc_points(y_true, y_prob)
    diff = (1.0 - tpr) - fpr
    i = int(np.argmax(diff <= 0))
    if diff[i] == 0 or i <= 1:  # exactly on a point (index 0 is the +inf threshold)
        return float(min(thresholds[max(i, 1)], 1.0))
    d0, d1 = diff[i - 1], diff[i]
    t = d0 / (d0 - d1)
    return float(thresholds[i - 1] + t * (thresholds[i] - thresholds[i - 1]))


def scored_metrics(y_true: np.ndarray, y_prob: np.ndarray, threshold: float) -> dict:
    """[`fakezoo.metrics.binary_metrics`][fakezoo.metrics.binary_metrics] at ``prob >= threshold``,
    plus the threshold."""
    y_pred = (np.asarray(y_prob) >= threshold).astype(np.int64)
    return {"threshold": float(threshold), **binary_metrics(y_true, y_pred, y_prob)}


def bootstrap_ci(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    thresholds: dict[str, float],
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """Percentile bootstrap intervals for ROC-AUC and accuracy (at each named threshold).

    Images are resampled with replacement ``n_resamples`` times from a generator seeded with
    ``seed``, so the same inputs and seed always give the same interval. Resamples that hold a
    single class have no ROC-AUC and are left out of its interval (their number is reported).

    Returns:
        ``{"n_resamples", "seed", "level", "roc_auc": [low, high] | None,
        "accuracy@NAME": [low, high], ..., "roc_auc_skipped": int}``; ``{}`` for
        ``n_resamples == 0``.

    Example:
        ```python
        import numpy as np
        from fakezoo.evaluation.stats import bootstrap_ci

        y = np.array([0, 0, 0, 1, 1, 1]); p = np.array([.1, .4, .6, .3, .8, .9])
        ci = bootstrap_ci(y, p, {"0.5": 0.5}, n_resamples=200, seed=1)
        assert ci["roc_auc"][0] <= ci["roc_auc"][1]
        ```
    """
    if n_resamples <= 0:
        return {}
    y_true = np.asarray(y_true)
    y_prob = np.asarray(y_prob, dtype=np.float64)
    n = len(y_true)
    rng = np.random.default_rng(seed)
    aucs: list[np.ndarray] = []
    correct = {name: (((y_prob >= t).astype(np.int64)) == y_true) for name, t in thresholds.items()}
    accs: dict[str, list[float]] = {name: [] for name in thresholds}
    chunk = max(1, 2_000_000 // max(n, 1))
    done = 0
    while done < n_resamples:
        size = min(chunk, n_resamples - done)
        idx = rng.integers(0, n, size=(size, n))
        for name, hits in correct.items():
            accs[name].extend(hits[idx].mean(axis=1).tolist())
        auc = _auc_rows(y_true[idx], y_prob[idx])
        aucs.append(auc[np.isfinite(auc)])
        done += size
    auc_values = np.concatenate(aucs).tolist()
    tail = (1.0 - level) / 2.0 * 100.0

    def interval(values: Sequence[float]) -> list[float] | None:
        if not values:
            return None
        low, high = np.percentile(values, [tail, 100.0 - tail])
        return [float(low), float(high)]

    out: dict[str, Any] = {
        "n_resamples": int(n_resamples),
        "seed": int(seed),
        "level": float(level),
        "roc_auc": interval(auc_values),
        "roc_auc_skipped": int(n_resamples - len(auc_values)),
    }
    for name, values in accs.items():
        out[f"accuracy@{name}"] = interval(values)
    return out


def _auc_rows(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """ROC-AUC of each row (Mann-Whitney U with average ranks for ties, which equals
    scikit-learn's ``roc_auc_score``); ``nan`` for rows holding a single class."""
    ranks = rankdata(p, axis=1)
    n1 = y.sum(axis=1).astype(np.float64)
    n0 = y.shape[1] - n1
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = ((ranks * y).sum(axis=1) - n1 * (n1 + 1) / 2) / (n0 * n1)
    auc[(n0 == 0) | (n1 == 0)] = np.nan
    return auc


def calibration(y_true: np.ndarray, y_prob: np.ndarray, n_bins: int = ECE_BINS) -> dict:
    """Expected calibration error of P(fake) and the reliability diagram's bins.

    The scores are put in ``n_bins`` equal-width bins over [0, 1] (the last bin includes 1.0).
    In each bin, the mean predicted P(fake) is compared with the fraction of images that are
    fake; ECE is the average gap weighted by the share of images in the bin.

    Returns:
        ``{"ece": float, "n_bins": int, "bins": [{"low", "high", "count", "mean_prob",
        "frac_fake"}, ...]}`` (empty bins have ``None`` means).

    Example:
        ```python
        import numpy as np
        from fakezoo.evaluation.stats import calibration

        c = calibration(np.array([0, 1, 0, 1]), np.array([0.05, 0.95, 0.05, 0.95]))
        assert abs(c["ece"] - 0.05) < 1e-12
        ```
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_prob = np.asarray(y_prob, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(y_prob, edges[1:-1], right=False), 0, n_bins - 1)
    bins, ece = [], 0.0
    for b in range(n_bins):
        mask = which == b
        count = int(mask.sum())
        mean_prob = float(y_prob[mask].mean()) if count else None
        frac = float(y_true[mask].mean()) if count else None
        if count:
            ece += count / len(y_prob) * abs(mean_prob - frac)
        bins.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": count,
                "mean_prob": mean_prob,
                "frac_fake": frac,
            }
        )
    return {"ece": float(ece), "n_bins": int(n_bins), "bins": bins}


def group_scores(
    groups: Sequence[Any], y_true: np.ndarray, y_prob: np.ndarray
) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """Aggregate frame scores to one score per group (video): the mean P(fake) of its frames.

    Returns:
        ``(group_ids, labels, mean_probs, mixed)``: groups in first-seen order, each group's
        label, its mean score, and the ids of groups left out because their frames carry both
        labels (a video is real or fake as a whole).

    Example:
        ```python
        import numpy as np
        from fakezoo.evaluation.stats import group_scores

        ids, y, p, mixed = group_scores(["a", "a", "b"], np.array([1, 1, 0]),
                                        np.array([0.2, 0.6, 0.1]))
        assert ids == ["a", "b"] and list(y) == [1, 0] and abs(p[0] - 0.4) < 1e-12
        ```
    """
    keys = [str(g) for g in groups]
    order: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        order.setdefault(key, []).append(i)
    ids, labels, probs, mixed = [], [], [], []
    for key, members in order.items():
        labs = np.unique(y_true[members])
        if len(labs) > 1:
            mixed.append(key)
            continue
        ids.append(key)
        labels.append(int(labs[0]))
        probs.append(float(np.mean(y_prob[members])))
    return ids, np.asarray(labels, np.int64), np.asarray(probs, np.float64), mixed
