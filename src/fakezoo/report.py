"""Seed-style reports, study tables and plots from cross-validation results.

Everything here works on plain dicts: the ``CVResult.to_dict()`` shape::

    {"model": "resnet50", "finetune": True, "lr": 0.00084, "epochs": 3, "n_splits": 3,
     "seed": 0, "image_size": 224, "pretrained": True,
     "folds": [{"fold": 1, "metrics": <binary_metrics dict>, "n_train": ..., "n_val": ...,
                "seconds": ..., "y_true": [...], "y_prob": [...]}, ...],
     "summary": <summarize_folds dict>,
     "deviations": ["image_size 64 instead of 224", ...]}

``summary`` is recomputed from the folds when it is missing, and every other setting is optional.

Plots need the optional ``plots`` extra (``pip install 'fakezoo[plots]'``). Matplotlib is imported
only inside the plotting functions, and figures are drawn on an Agg canvas directly, without
pyplot, so the caller's matplotlib backend and global figure state are left alone.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fakezoo.metrics import METRIC_NAMES, roc_points, summarize_folds

__all__ = [
    "DISPLAY_NAMES",
    "SEED_ROWS",
    "cv_report",
    "display_name",
    "fold_block",
    "plot_confusion_matrix",
    "plot_roc",
    "plot_study",
    "seed_comparison_markdown",
    "study_table",
    "table_csv",
    "table_markdown",
]

#: fakezoo model names -> the names the seed study uses in its final table.
DISPLAY_NAMES: dict[str, str] = {
    "vgg16": "VGG16",
    "resnet50": "ResNet-50",
    "mobilenet_v2": "MobileNet",
    "densenet121": "DenseNet-121",
    "inception_v3": "Inception",
    "resnet50_mlp": "ResNet-50 (1 Layer)",
    "vit_b_16": "VIT (Vision Transformer)",
}

_NA = "n/a"


def _seed_row(
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
        "fine_tuning": "With" if finetune else "Without",
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


#: The seed study's final table "Performance For All Models", as printed (12 rows). Metrics are
#: fractions (the seed prints them as percentages with 2 decimals: 0.5943 is "59.43%"), and
#: ``best_lr`` is the LR as printed in that table. ``note`` flags printed values that do not
#: follow from the seed's own fold confusion matrices.
# fmt: off
SEED_ROWS: list[dict[str, Any]] = [
    _seed_row(
        "vgg16", False, 0.000175481, 0.5943, 0.6244, 0.5943, 0.5810,
        note=(
            "The seed's printed averages for this row do not match its own folds (680-681 "
            "images each, unlike the 3635 of every other row): from those folds, accuracy is "
            "0.5835, precision 0.6381, recall 0.5835 and F1 0.5573."
        ),
    ),
    _seed_row("vgg16", True, 2.51e-05, 0.9220, 0.9232, 0.9220, 0.9219),
    _seed_row("resnet50", False, 0.000617242, 0.7226, 0.7315, 0.7226, 0.7198),
    _seed_row("resnet50", True, 0.000845223, 0.9298, 0.9312, 0.9298, 0.9298),
    _seed_row("mobilenet_v2", False, 0.007232402, 0.7039, 0.7243, 0.7039, 0.6959),
    _seed_row("mobilenet_v2", True, 0.000928997, 0.8845, 0.8874, 0.8845, 0.8842),
    _seed_row("densenet121", False, 0.000544662, 0.6932, 0.7215, 0.6932, 0.6824),
    _seed_row("densenet121", True, 0.000826387, 0.9276, 0.9308, 0.9276, 0.9274),
    _seed_row("inception_v3", False, 0.000153123, 0.6454, 0.6960, 0.6454, 0.6187),
    _seed_row("inception_v3", True, 0.000326759, 0.9018, 0.9064, 0.9018, 0.9014),
    _seed_row(
        "resnet50_mlp", True, 0.000217078, 0.9278, 0.9310, 0.9278, 0.9277,
        note=(
            "The final table prints precision 93.10%; the seed's own average block and its "
            "folds give 0.9300."
        ),
    ),
    _seed_row("vit_b_16", True, 0.000513470, 0.8079, 0.8247, 0.8079, 0.8051),
]
# fmt: on


# --------------------------------------------------------------------------- helpers


def display_name(model: str) -> str:
    """The seed's display name for a fakezoo model name; unknown names pass through.

    Example:
        ```python
        from fakezoo.report import display_name

        assert display_name("densenet121") == "DenseNet-121"
        assert display_name("my_net") == "my_net"
        ```
    """
    return DISPLAY_NAMES.get(model, model)


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _f4(x: Any) -> str:
    return _NA if _missing(x) else f"{float(x):.4f}"


def _pct(x: Any) -> str:
    return _NA if _missing(x) else f"{100 * float(x):.2f}%"


def _lr(x: Any) -> str:
    return _NA if _missing(x) else f"{float(x):.2e}"


def _count(x: float) -> str:
    """Integers as integers, fractional means with 2 decimals."""
    return f"{x:.0f}" if abs(x - round(x)) < 1e-9 else f"{x:.2f}"


def _matrix_inline(cm: Sequence[Sequence[float]]) -> str:
    return "[" + ", ".join("[" + ", ".join(_count(v) for v in row) + "]" for row in cm) + "]"


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    summary = result.get("summary")
    if summary:
        return summary
    folds = result.get("folds") or []
    if not folds:
        raise ValueError("result has neither a 'summary' nor any 'folds'")
    return summarize_folds([f["metrics"] for f in folds])


def _fine_tuning(result: dict[str, Any]) -> str:
    """Seed-style "With" / "Without"; "Custom" when ``finetune`` is None (own trainable list)."""
    finetune = result.get("finetune")
    if finetune is None and "finetune" in result:
        return "Custom"
    return "With" if finetune else "Without"


def _title(result: dict[str, Any]) -> str:
    name = display_name(str(result.get("model", "model")))
    return f"{name} {_fine_tuning(result).lower()} fine-tuning"


# --------------------------------------------------------------------------- text reports

_FOLD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("accuracy", "accuracy"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("f1", "F1"),
    ("balanced_accuracy", "balanced acc."),
    ("roc_auc", "ROC-AUC"),
    ("eer", "EER"),
    ("average_precision", "AP"),
)


def fold_block(result: dict[str, Any]) -> str:
    """The seed's per-model block as Markdown: folds, mean ± std and the mean confusion matrix.

    Metrics are shown with 4 decimals like the seed. Precision, recall and F1 are the weighted
    averages the seed uses; std is the population std across folds (``ddof=0``).

    Args:
        result: A CV result dict (``CVResult.to_dict()`` shape).

    Returns:
        Markdown text starting with a ``###`` heading.

    Example:
        ```python
        from fakezoo.metrics import metrics_from_confusion
        from fakezoo.report import fold_block

        cms = [[[1760, 104], [148, 1623]], [[1758, 76], [183, 1618]], [[1733, 61], [193, 1648]]]
        folds = [{"fold": i + 1, "metrics": metrics_from_confusion(c)} for i, c in enumerate(cms)]
        text = fold_block({"model": "resnet50", "finetune": True, "lr": 8.45e-4, "folds": folds})
        assert text.startswith("### ResNet-50 with fine-tuning")
        assert "| mean ± std |  | 0.9298 ± 0.0008 |" in text  # accuracy across folds
        ```
    """
    summary = _summary(result)
    folds = result.get("folds") or []
    lines = [f"### {_title(result)}", ""]
    lr = result.get("lr")
    lines += [f"Learning rate: {_NA if _missing(lr) else f'{float(lr):.6g}'}", ""]

    present = [
        (key, label)
        for key, label in _FOLD_COLUMNS
        if any(not _missing(f.get("metrics", {}).get(key)) for f in folds)
        or not _missing(summary["mean"].get(key))
    ]
    header = ["fold", "n", *(label for _, label in present), "confusion matrix"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for i, fold in enumerate(folds):
        m = fold.get("metrics", {})
        n = m.get("n", fold.get("n_val"))
        cells = [str(fold.get("fold", i + 1)), _NA if n is None else str(n)]
        cells += [_f4(m.get(key)) for key, _ in present]
        cm = m.get("confusion_matrix")
        cells.append(_matrix_inline(cm) if cm is not None else _NA)
        lines.append("| " + " | ".join(cells) + " |")
    mean, std = summary["mean"], summary["std"]
    cells = ["mean ± std", ""]
    for key, _ in present:
        cells.append(_NA if _missing(mean.get(key)) else f"{_f4(mean[key])} ± {_f4(std[key])}")
    cells.append(_matrix_inline(summary["confusion_matrix_mean"]))
    lines.append("| " + " | ".join(cells) + " |")

    cm_mean = summary["confusion_matrix_mean"]
    lines += [
        "",
        f"Mean confusion matrix over {summary['n_folds']} folds "
        "(rows: true class, columns: predicted class):",
        "",
        "| | predicted real | predicted fake |",
        "|---|---|---|",
        f"| **true real** | {_count(cm_mean[0][0])} | {_count(cm_mean[0][1])} |",
        f"| **true fake** | {_count(cm_mean[1][0])} | {_count(cm_mean[1][1])} |",
        "",
        f"Summed over folds: {_matrix_inline(summary['confusion_matrix_sum'])}",
    ]
    deviations = result.get("deviations") or []
    if deviations:
        lines += ["", "Deviations from the seed protocol:", ""]
        lines += [f"- {d}" for d in deviations]
    return "\n".join(lines) + "\n"


def _seed_match(model: str, fine_tuning: str) -> dict[str, Any] | None:
    for row in SEED_ROWS:
        if row["model"] == model and row["fine_tuning"] == fine_tuning:
            return row
    return None


def cv_report(result: dict[str, Any]) -> str:
    """The full ``report.md`` for one cross-validation run.

    Contains a title, the settings, :func:`fold_block`, the seed's printed numbers for the same
    model and fine-tuning (when the seed has that row), and notes on the label convention and
    on what each metric means.

    Args:
        result: A CV result dict (``CVResult.to_dict()`` shape).

    Returns:
        Markdown text.

    Example:
        ```python
        from fakezoo.metrics import binary_metrics
        from fakezoo.report import cv_report

        m = binary_metrics([0, 0, 1, 1], [0, 1, 1, 1], [0.2, 0.6, 0.7, 0.9])
        text = cv_report({"model": "vgg16", "finetune": False, "lr": 1e-3,
                          "folds": [{"fold": 1, "metrics": m}]})
        assert text.startswith("# VGG16 without fine-tuning") and "real = 0" in text
        ```
    """
    summary = _summary(result)
    model = str(result.get("model", "model"))
    settings = [
        ("model", f"`{model}` ({display_name(model)})"),
        (
            "fine-tuning",
            {
                "With": "with (the last layers train too)",
                "Without": "without (only the classifier head trains)",
                "Custom": "custom (a user-given list of trainable modules)",
            }[_fine_tuning(result)],
        ),
        ("trainable modules", ", ".join(f"`{t}`" for t in result.get("trainable") or []) or None),
        ("learning rate", _NA if _missing(result.get("lr")) else f"{float(result['lr']):.6g}"),
        ("epochs", result.get("epochs")),
        ("folds", result.get("n_splits", summary["n_folds"])),
        ("seed", result.get("seed")),
        ("image size", result.get("image_size")),
        (
            "pretrained weights",
            None if "pretrained" not in result else ("yes" if result["pretrained"] else "no"),
        ),
    ]
    lines = [f"# {_title(result)}", "", "Cross-validation report written by fakezoo.", ""]
    lines += ["## Settings", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in settings if v is not None]
    lines += ["", "## Results", "", fold_block(result).rstrip("\n"), ""]

    seed = _seed_match(display_name(model), _fine_tuning(result))
    if seed is not None:
        mean = summary["mean"]
        keys = ("accuracy", "precision", "recall", "f1")
        lines += [
            "## Compared with the seed study",
            "",
            "| | accuracy | precision | recall | F1 |",
            "|---|---|---|---|---|",
            "| this run | " + " | ".join(_pct(mean.get(k)) for k in keys) + " |",
            "| seed (printed) | " + " | ".join(_pct(seed[k]) for k in keys) + " |",
            "",
        ]
        if seed.get("note"):
            lines += [f"Note on the seed row: {seed['note']}", ""]

    lines += [
        "## Notes",
        "",
        "- Labels: real = 0 (negative class), fake = 1 (positive class). Probabilities and",
        "  scores are P(fake).",
        "- Accuracy: fraction of validation images classified correctly.",
        '- Precision, recall, F1: scikit-learn `average="weighted"` (`zero_division=0`), as in',
        "  the seed: per-class scores averaged with weights equal to each class's support.",
        "  Weighted recall therefore equals accuracy.",
        "- Balanced accuracy: mean of the recall on real and the recall on fake images.",
        "- ROC-AUC: probability that a random fake image scores above a random real one.",
        "- EER: equal error rate, where the false-positive rate (real called fake) equals the",
        "  false-negative rate (fake called real) on the ROC curve; lower is better.",
        "- AP: average precision of the fake class over all thresholds.",
        "- mean ± std: across folds; std is the population standard deviation (ddof=0).",
        "- Confusion matrix: rows are the true class (real, fake), columns the predicted class.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- study table


def study_table(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One table row per CV result, like the seed's "Performance For All Models".

    Args:
        rows: CV result dicts (``CVResult.to_dict()`` shape).

    Returns:
        A list of flat dicts with keys ``model`` (display name), ``fine_tuning``
        ("With"/"Without", or "Custom" when ``finetune`` is None), ``best_lr``, ``n_folds``,
        the mean of every metric in :data:`fakezoo.metrics.METRIC_NAMES` (fractions, ``None``
        when unavailable), ``<metric>_std`` for each, and ``model_id`` (the fakezoo name).

    Example:
        ```python
        from fakezoo.metrics import metrics_from_confusion
        from fakezoo.report import study_table

        folds = [{"fold": 1, "metrics": metrics_from_confusion([[9, 1], [3, 7]])}]
        (row,) = study_table([{"model": "mobilenet_v2", "finetune": True, "lr": 1e-3,
                               "folds": folds}])
        assert row["model"] == "MobileNet" and row["fine_tuning"] == "With"
        assert row["accuracy"] == 0.8 and row["accuracy_std"] == 0.0
        ```
    """
    table = []
    for result in rows:
        summary = _summary(result)
        model = str(result.get("model", ""))
        row: dict[str, Any] = {
            "model": display_name(model),
            "fine_tuning": _fine_tuning(result),
            "best_lr": result.get("lr"),
            "n_folds": summary["n_folds"],
        }
        row.update({name: summary["mean"].get(name) for name in METRIC_NAMES})
        row.update({f"{name}_std": summary["std"].get(name) for name in METRIC_NAMES})
        row["model_id"] = model
        table.append(row)
    return table


def _acc_mean_std(row: dict[str, Any]) -> str:
    acc, std = row.get("accuracy"), row.get("accuracy_std")
    if _missing(acc):
        return _NA
    if _missing(std):
        return _pct(acc)
    return f"{100 * acc:.2f} ± {100 * std:.2f}%"


def table_markdown(table: Sequence[dict[str, Any]]) -> str:
    """Render :func:`study_table` rows (or :data:`SEED_ROWS`) as a Markdown table.

    Percentages with 2 decimals as in the seed, the LR in scientific notation, ROC-AUC with 4
    decimals, and accuracy as mean ± std across folds. Missing values show as ``n/a``.

    Example:
        ```python
        from fakezoo.report import SEED_ROWS, table_markdown

        md = table_markdown(SEED_ROWS)
        assert "| VGG16 | Without | 1.75e-04 | 59.43% |" in md
        assert len(md.strip().splitlines()) == 2 + 12
        ```
    """
    header = [
        "Model",
        "Fine-Tuning",
        "Best Learning Rate",
        "Accuracy",
        "Precision",
        "Recall",
        "F1-Score",
        "ROC-AUC",
        "Accuracy (mean ± std)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in table:
        cells = [
            str(row.get("model", "")),
            str(row.get("fine_tuning", "")),
            _lr(row.get("best_lr")),
            _pct(row.get("accuracy")),
            _pct(row.get("precision")),
            _pct(row.get("recall")),
            _pct(row.get("f1")),
            _f4(row.get("roc_auc")),
            _acc_mean_std(row),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table_csv(table: Sequence[dict[str, Any]]) -> str:
    """Render table rows as CSV (header = union of keys, in first-seen order).

    Numbers are written at full precision (they round-trip through ``float``); ``None`` is an
    empty cell.

    Example:
        ```python
        import csv, io
        from fakezoo.report import SEED_ROWS, table_csv

        rows = list(csv.DictReader(io.StringIO(table_csv(SEED_ROWS))))
        assert len(rows) == 12 and float(rows[0]["accuracy"]) == 0.5943
        ```
    """
    fields: list[str] = []
    for row in table:
        fields += [k for k in row if k not in fields]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in table:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in fields})
    return buf.getvalue()


def seed_comparison_markdown(table: Sequence[dict[str, Any]]) -> str:
    """Put :func:`study_table` rows beside the seed's printed final table.

    Rows are matched by display model name and fine-tuning; rows the seed does not have show
    ``n/a`` on the seed side. Notes on known problems in the seed's printed values follow
    the table.

    Example:
        ```python
        from fakezoo.report import seed_comparison_markdown

        row = {"model": "ResNet-50", "fine_tuning": "With", "best_lr": 1e-3,
               "accuracy": 0.95, "precision": 0.95, "recall": 0.95, "f1": 0.95}
        md = seed_comparison_markdown([row])
        assert "95.00%" in md and "92.98%" in md and "+2.02" in md
        ```
    """
    header = ["Model", "Fine-Tuning", "Best LR (yours / seed)"]
    for label in ("Accuracy", "Precision", "Recall", "F1-Score"):
        header += [f"{label} (yours)", f"{label} (seed)"]
    header.append("Δ Accuracy (pp)")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    notes: list[str] = []
    for row in table:
        seed = _seed_match(str(row.get("model")), str(row.get("fine_tuning")))
        s = seed or {}
        cells = [
            str(row.get("model", "")),
            str(row.get("fine_tuning", "")),
            f"{_lr(row.get('best_lr'))} / {_lr(s.get('best_lr'))}",
        ]
        for key in ("accuracy", "precision", "recall", "f1"):
            cells += [_pct(row.get(key)), _pct(s.get(key))]
        acc, seed_acc = row.get("accuracy"), s.get("accuracy")
        if _missing(acc) or _missing(seed_acc):
            delta = _NA
        else:  # round first and add 0.0 so that a tiny negative gap prints "+0.00", not "-0.00"
            delta = f"{round(100 * (acc - seed_acc), 2) + 0.0:+.2f}"
        cells.append(delta)
        if seed is not None and seed.get("note"):
            marker = len(notes) + 1
            cells[0] += f" [{marker}]"
            notes.append(f"[{marker}] {seed['model']} {seed['fine_tuning']}: {seed['note']}")
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    if notes:
        text += "\n" + "\n\n".join(notes) + "\n"
    return text


# --------------------------------------------------------------------------- plots


def _new_figure(figsize: tuple[float, float]):
    """A matplotlib Figure on an Agg canvas, without touching pyplot or the global backend."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("fakezoo plots need matplotlib: pip install 'fakezoo[plots]'") from exc
    fig = Figure(figsize=figsize, dpi=120)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | Path) -> Path:
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
        The path written, as a :class:`~pathlib.Path`.

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

    cm = np.asarray(_summary(result)["confusion_matrix_mean"], dtype=float)
    fig = _new_figure((4.6, 4.0))
    ax = fig.add_subplot()
    image = ax.imshow(cm, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    row_sums = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, row_sums, out=np.zeros_like(cm), where=row_sums > 0)
    threshold = cm.max() / 2 if cm.max() > 0 else 1
    for i in range(2):
        for j in range(2):
            ax.text(
                j,
                i,
                f"{_count(cm[i, j])}\n({100 * share[i, j]:.1f}%)",
                ha="center",
                va="center",
                color="white" if cm[i, j] > threshold else "black",
            )
    ax.set_xticks([0, 1], labels=["real", "fake"])
    ax.set_yticks([0, 1], labels=["real", "fake"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    n_folds = _summary(result)["n_folds"]
    ax.set_title(f"{_title(result)}\nmean confusion matrix, {n_folds} folds", fontsize=10)
    return _save(fig, path)


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
    import numpy as np

    curves = []
    for i, fold in enumerate(result.get("folds") or []):
        y_true, y_prob = fold.get("y_true"), fold.get("y_prob")
        if y_true is None or y_prob is None or len(y_true) == 0 or len(set(y_true)) < 2:
            continue
        fpr, tpr, _ = roc_points(y_true, y_prob)
        auc = float(np.trapezoid(tpr, fpr))
        curves.append((fold.get("fold", i + 1), fpr, tpr, auc))
    if not curves:
        raise ValueError("no fold has y_true/y_prob with both classes; cannot plot a ROC curve")

    fig = _new_figure((5.0, 4.6))
    ax = fig.add_subplot()
    for fold_id, fpr, tpr, auc in curves:
        ax.plot(fpr, tpr, lw=1.6, label=f"fold {fold_id} (AUC = {auc:.4f})")
    ax.plot([0, 1], [0, 1], ls="--", lw=1, color="grey", label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate (real called fake)")
    ax.set_ylabel("true positive rate (fake detected)")
    ax.set_title(f"ROC, {_title(result)}", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_study(table: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Grouped bar chart of mean accuracy and F1 per :func:`study_table` row (PNG).

    Error bars show the std across folds (``accuracy_std``, ``f1_std``) where present.

    Args:
        table: Rows from :func:`study_table` (or :data:`SEED_ROWS`, which have no error bars).
        path: Where to write the PNG; parent folders are created.

    Returns:
        The path written.

    Raises:
        ValueError: If ``table`` is empty.
        ImportError: Without matplotlib (``pip install 'fakezoo[plots]'``).

    Example:
        ```python
        import tempfile
        from fakezoo.report import SEED_ROWS, plot_study

        with tempfile.TemporaryDirectory() as d:
            assert plot_study(SEED_ROWS, f"{d}/study.png").stat().st_size > 1000
        ```
    """
    import numpy as np

    if not table:
        raise ValueError("table is empty; nothing to plot")

    def values(key: str) -> np.ndarray:
        return np.array([np.nan if _missing(r.get(key)) else 100 * float(r[key]) for r in table])

    def errors(key: str) -> np.ndarray | None:
        err = values(key)  # nan (no bar) where a row has no std
        return None if np.isnan(err).all() else err

    x = np.arange(len(table))
    width = 0.38
    fig = _new_figure((max(6.0, 0.9 * len(table) + 2), 4.4))
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
    return _save(fig, path)
