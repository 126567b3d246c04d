"""Plots of a run and of the study (they need the optional ``plots`` extra)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._optional import install_hint, missing_once
from ..metrics import is_missing, roc_points
from .text import count_text, result_summary, result_title

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger("fakezoo")

__all__ = [
    "lr_search_figure",
    "new_figure",
    "note_no_matplotlib",
    "plot_confusion_matrix",
    "plot_lr_search",
    "plot_roc",
    "plot_roc_curves",
    "plot_study",
    "roc_curves_figure",
    "save_figure",
]


def note_no_matplotlib() -> None:
    """Say once per process (not once per row or fold) that plots need the ``plots`` extra."""
    if missing_once("matplotlib", "plots"):
        logger.info("matplotlib is not installed: no plots (%s).", install_hint("matplotlib"))


def new_figure(figsize: tuple[float, float]) -> Figure:
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


def pooled_predictions(result: dict[str, Any]) -> tuple[list[int], list[float]]:
    """A result's out-of-fold ``y_true`` and ``y_prob``, pooled over the folds that store them."""
    y_true: list[int] = []
    y_prob: list[float] = []
    for fold in result.get("folds") or []:
        if fold.get("y_true") is not None and fold.get("y_prob") is not None:
            y_true += list(fold["y_true"])
            y_prob += list(fold["y_prob"])
    return y_true, y_prob


def roc_curves_figure(results: Sequence[dict[str, Any]]) -> Figure:
    """One ROC curve per result (a study's rows) on one Figure, from its pooled out-of-fold
    predictions; the legend gives each row's AUC.

    Rows whose folds store no ``y_true`` / ``y_prob``, or only one class, get no curve, so
    ``fig.axes[0].lines`` holds exactly one line per drawn row (chance is a dashed collection).

    Args:
        results: CV result dicts (``results.json`` / ``CVResult.to_dict()``).

    Returns:
        The matplotlib Figure, on its own Agg canvas.

    Raises:
        ValueError: If no result has usable ``y_true`` / ``y_prob``.
        ImportError: Without matplotlib (``pip install 'fakezoo[plots]'``).

    Example:
        ```python
        from fakezoo.report import roc_curves_figure

        row = {"model": "resnet50", "finetune": True,
               "folds": [{"fold": 1, "y_true": [0, 0, 1, 1], "y_prob": [0.1, 0.6, 0.4, 0.9]}]}
        fig = roc_curves_figure([row, dict(row, finetune=False)])
        assert len(fig.axes[0].lines) == 2
        ```
    """
    from sklearn.metrics import auc

    curves = []
    for result in results:
        y_true, y_prob = pooled_predictions(result)
        if len(set(y_true)) < 2:
            continue
        fpr, tpr, _ = roc_points(y_true, y_prob)
        curves.append((result, fpr, tpr, float(auc(fpr, tpr)), len(y_true)))
    if not curves:
        raise ValueError("no row has y_true/y_prob with both classes; cannot plot ROC curves")
    fig = new_figure((6.4, 5.2))  # first: without matplotlib, its ImportError says what to install
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection

    ax = fig.add_subplot()
    models = list(dict.fromkeys(str(r.get("model")) for r, *_ in curves))
    colours = colormaps["tab20" if len(models) > 10 else "tab10"]
    for result, fpr, tpr, area, n in curves:  # a colour per model; head-only rows dotted
        ax.plot(
            fpr,
            tpr,
            linewidth=1.4,
            color=colours(models.index(str(result.get("model")))),
            linestyle=":" if result.get("finetune") is False else "-",
            label=f"{result_title(result)} (AUC {area:.3f}, n={n})",
        )
    ax.add_collection(
        LineCollection([[(0, 0), (1, 1)]], colors="grey", linestyles="--", label="chance")
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate (real called fake)")
    ax.set_ylabel("true positive rate (fake detected)")
    ax.set_title("ROC of every row (out-of-fold predictions, pooled over the folds)", fontsize=10)
    ax.legend(loc="lower right", fontsize=7)
    ax.grid(alpha=0.3)
    return fig


def plot_roc_curves(results: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write [`roc_curves_figure`][fakezoo.report.plots.roc_curves_figure] as a PNG.

    Example:
        ```python
        import tempfile
        from fakezoo.report import plot_roc_curves

        row = {"model": "resnet50", "finetune": True,
               "folds": [{"fold": 1, "y_true": [0, 0, 1, 1], "y_prob": [0.1, 0.6, 0.4, 0.9]}]}
        with tempfile.TemporaryDirectory() as d:
            assert plot_roc_curves([row], f"{d}/roc_curves.png").stat().st_size > 1000
        ```
    """
    return save_figure(roc_curves_figure(results), path)


def _search_dict(search: Any) -> dict[str, Any]:
    """An ``LRSearchResult`` or its ``to_dict()`` / ``search.json`` as a dict."""
    return search.to_dict() if hasattr(search, "to_dict") else dict(search)


def _best_points(search: dict[str, Any], scored: list[dict]) -> list[tuple[float, float]]:
    """The chosen LR and its trial's accuracy: once (study protocol) or per outer fold."""
    if search.get("protocol") != "nested":
        value = search.get("best_value")
        if value is None:
            value = max((t["value"] for t in scored if t["lr"] == search["best_lr"]), default=None)
        return [] if value is None else [(float(search["best_lr"]), float(value))]
    points = []
    for k, lr in enumerate(search.get("fold_lrs") or [], start=1):
        values = [t["value"] for t in scored if t.get("outer_fold") == k and t["lr"] == lr]
        if values:
            points.append((float(lr), max(values)))
    return points


def lr_search_figure(search: Any) -> Figure:
    """Mean validation accuracy against learning rate, one point per trial, on a log x axis,
    with the chosen LR marked.

    The nested protocol gets one series per outer fold and each fold's chosen LR marked.
    Pruned and failed trials (no value) are counted in the title, not drawn.

    Args:
        search: An [`LRSearchResult`][fakezoo.train.tune.LRSearchResult], its ``to_dict()``, or
            a run's ``search.json``.

    Returns:
        The matplotlib Figure, on its own Agg canvas: ``fig.axes[0].lines`` holds the trials
        (one line per outer fold for the nested protocol), then the chosen LR.

    Raises:
        ValueError: If no trial has a value.
        ImportError: Without matplotlib (``pip install 'fakezoo[plots]'``).

    Example:
        ```python
        from fakezoo.report import lr_search_figure

        trials = [{"number": i, "lr": lr, "value": v, "state": "COMPLETE"}
                  for i, (lr, v) in enumerate([(1e-4, 0.6), (1e-3, 0.8), (1e-2, 0.5)])]
        fig = lr_search_figure({"protocol": "study", "best_lr": 1e-3, "trials": trials})
        assert list(fig.axes[0].lines[0].get_xdata()) == [1e-4, 1e-3, 1e-2]
        ```
    """
    search = _search_dict(search)
    trials = search.get("trials") or []
    scored = [t for t in trials if not is_missing(t.get("value")) and t.get("lr")]
    if not scored:
        raise ValueError("no trial has a value (all pruned or failed); nothing to plot")
    nested = search.get("protocol") == "nested"
    groups: dict[Any, list[dict]] = {}
    for t in scored:
        groups.setdefault(t.get("outer_fold") if nested else None, []).append(t)
    fig = new_figure((6.0, 4.2))
    ax = fig.add_subplot()
    for key, rows in groups.items():
        ax.plot(
            [t["lr"] for t in rows],
            [100 * t["value"] for t in rows],
            marker="o",
            linestyle="None",
            alpha=0.75,
            label="trials" if key is None else f"outer fold {key}",
        )
    best = _best_points(search, scored)
    if best:
        label = (
            f"best: lr {best[0][0]:.2e} ({best[0][1]:.1%})"
            if not nested
            else "LR chosen per outer fold"
        )
        ax.plot(
            [lr for lr, _ in best],
            [100 * v for _, v in best],
            marker="*",
            markersize=16,
            linestyle="None",
            color="crimson",
            label=label,
        )
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("mean validation accuracy (%)")
    missing = len(trials) - len(scored)
    cv = search.get("cv")
    name = f"{result_title(cv)}, " if cv else ""
    extra = f" ({missing} pruned or failed, not shown)" if missing else ""
    ax.set_title(
        f"Learning-rate search, {name}{search.get('protocol', 'study')} protocol: "
        f"{len(trials)} trials{extra}",
        fontsize=9,
    )
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return fig


def plot_lr_search(search: Any, path: str | Path) -> Path:
    """Write [`lr_search_figure`][fakezoo.report.plots.lr_search_figure] as a PNG
    (``fakezoo tune`` writes ``lr_search.png`` into its output folder).

    Example:
        ```python
        import tempfile
        from fakezoo.report import plot_lr_search

        trials = [{"number": 0, "lr": 1e-4, "value": 0.6}, {"number": 1, "lr": 1e-3, "value": 0.8}]
        with tempfile.TemporaryDirectory() as d:
            out = plot_lr_search({"best_lr": 1e-3, "trials": trials}, f"{d}/lr_search.png")
            assert out.stat().st_size > 1000
        ```
    """
    return save_figure(lr_search_figure(search), path)
