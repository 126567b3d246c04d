"""Plots of a run and of the study (they need the optional ``plots`` extra)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._optional import install_hint, missing_once
from ..metrics import is_missing, roc_points
from .text import count_text, result_summary, result_title

logger = logging.getLogger("fakezoo")

__all__ = [
    "new_figure",
    "note_no_matplotlib",
    "plot_confusion_matrix",
    "plot_roc",
    "plot_study",
    "save_figure",
]


def note_no_matplotlib() -> None:
    """Say once per process (not once per row or fold) that plots need the ``plots`` extra."""
    if missing_once("matplotlib", "plots"):
        logger.info("matplotlib is not installed: no plots (%s).", install_hint("matplotlib"))


def new_figure(figsize: tuple[float, float]):
    """A matplotlib Figure on its own Agg canvas: no pyplot figure, the global backend untouched."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("fakezoo plots need matplotlib: pip install 'fakezoo[plots]'") from exc
    fig = Figure(figsize=figsize, dpi=120)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` as a PNG to ``path`` (folders are made); returns ``path``."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", bbox_inches="tight")
    return out


def plot_confusion_matrix(result: dict[str, Any], path: str | Path) -> Path:
    """Plot the mean confusion matrix across folds as an annotated heatmap (PNG).

    Each cell shows the mean count and its share of the true class (row).

    Args:
        result: A CV result dict.
        path: Where to write the PNG; parent folders are created.

    Returns:
        The path written, as a ``pathlib.Path``.

    Raises:
        ImportError: Without matplotlib (``pip install 'fakezoo[plots]'``).

    Example:
        ```python
        import tempfile
        from fakezoo.metrics import metrics_from_confusion
        from fakezoo.report import plot_confusion_matrix

        res = {"model": "vgg16", "finetune": True,
               "folds": [{"fold": 1, "metrics": metrics_from_confusion([[9, 1], [2, 8]])}]}
        with tempfile.TemporaryDirectory() as d:
            out = plot_confusion_matrix(res, f"{d}/cm.png")
            assert out.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
        ```
    """
    import numpy as np
    from sklearn.metrics import ConfusionMatrixDisplay

    cm = np.asarray(result_summary(result)["confusion_matrix_mean"], dtype=float)
    fig = new_figure((4.6, 4.0))
    ax = fig.add_subplot()
    shown = ConfusionMatrixDisplay(cm, display_labels=["real", "fake"]).plot(
        ax=ax, cmap="Blues", colorbar=True
    )
    row_sums = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, row_sums, out=np.zeros_like(cm), where=row_sums > 0)
    for (i, j), text in np.ndenumerate(shown.text_):  # mean count and share of the true class
        text.set_text(f"{count_text(cm[i, j])}\n({100 * share[i, j]:.1f}%)")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    n_folds = result_summary(result)["n_folds"]
    ax.set_title(f"{result_title(result)}\nmean confusion matrix, {n_folds} folds", fontsize=10)
    return save_figure(fig, path)


def plot_roc(result: dict[str, Any], path: str | Path) -> Path:
    """Plot one ROC curve per fold (fake = positive) with its AUC in the legend (PNG).

    Uses each fold's ``y_true`` and ``y_prob`` lists; folds without them, or with a single
    class, are skipped.

    Args:
        result: A CV result dict whose folds carry ``y_true`` / ``y_prob``.
        path: Where to write the PNG; parent folders are created.

    Returns:
        The path written.

    Raises:
        ValueError: If no fold has usable ``y_true`` / ``y_prob``.
        ImportError: Without matplotlib (``pip install 'fakezoo[plots]'``).

    Example:
        ```python
        import tempfile
        from fakezoo.report import plot_roc

        fold = {"fold": 1, "y_true": [0, 0, 1, 1], "y_prob": [0.1, 0.6, 0.4, 0.9]}
        with tempfile.TemporaryDirectory() as d:
            out = plot_roc({"model": "resnet50", "finetune": True, "folds": [fold]}, f"{d}/r.png")
            assert out.stat().st_size > 1000
        ```
    """
    from sklearn.metrics import RocCurveDisplay, auc

    curves = []
    for i, fold in enumerate(result.get("folds") or []):
        y_true, y_prob = fold.get("y_true"), fold.get("y_prob")
        if y_true is None or y_prob is None or len(y_true) == 0 or len(set(y_true)) < 2:
            continue
        fpr, tpr, _ = roc_points(y_true, y_prob)
        curves.append((fold.get("fold", i + 1), fpr, tpr, float(auc(fpr, tpr))))
    if not curves:
        raise ValueError("no fold has y_true/y_prob with both classes; cannot plot a ROC curve")

    fig = new_figure((5.0, 4.6))
    ax = fig.add_subplot()
    for n, (fold_id, fpr, tpr, area) in enumerate(curves, start=1):
        RocCurveDisplay(fpr=fpr, tpr=tpr, roc_auc=area).plot(
            ax=ax, name=f"fold {fold_id}", plot_chance_level=n == len(curves)
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate (real called fake)")
    ax.set_ylabel("true positive rate (fake detected)")
    ax.set_title(f"ROC, {result_title(result)}", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_study(table: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Grouped bar chart of mean accuracy and F1 per
    [`study_table`][fakezoo.report.text.study_table] row (PNG).

    Error bars show the std across folds (``accuracy_std``, ``f1_std``) where present.

    Args:
        table: Rows from [`study_table`][fakezoo.report.text.study_table] (or
            [`STUDY_NUMBERS`][fakezoo.report.study_numbers.STUDY_NUMBERS], which have no error
            bars).
        path: Where to write the PNG; parent folders are created.

    Returns:
        The path written.

    Raises:
        ValueError: If ``table`` is empty.
        ImportError: Without matplotlib (``pip install 'fakezoo[plots]'``).

    Example:
        ```python
        import tempfile
        from fakezoo.report import STUDY_NUMBERS, plot_study

        with tempfile.TemporaryDirectory() as d:
            assert plot_study(STUDY_NUMBERS, f"{d}/study.png").stat().st_size > 1000
        ```
    """
    import numpy as np

    if not table:
        raise ValueError("table is empty; nothing to plot")

    def values(key: str) -> np.ndarray:
        return np.array([np.nan if is_missing(r.get(key)) else 100 * float(r[key]) for r in table])

    def errors(key: str) -> np.ndarray | None:
        err = values(key)  # nan (no bar) where a row has no std
        return None if np.isnan(err).all() else err

    x = np.arange(len(table))
    width = 0.38
    fig = new_figure((max(6.0, 0.9 * len(table) + 2), 4.4))
    ax = fig.add_subplot()
    ax.bar(
        x - width / 2,
        values("accuracy"),
        width,
        yerr=errors("accuracy_std"),
        capsize=3,
        label="accuracy",
    )
    ax.bar(
        x + width / 2, values("f1"), width, yerr=errors("f1_std"), capsize=3, label="F1 (weighted)"
    )
    labels = [f"{r.get('model', '')}\n{r.get('fine_tuning', '')}" for r in table]
    ax.set_xticks(x, labels=labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.set_title("Performance for all models (mean over folds, error bars: std)", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)
