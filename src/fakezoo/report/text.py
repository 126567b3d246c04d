"""Text reports: the study-style per-fold block, a run's ``report.md`` and the study tables.

They work on the plain-dict shape described in [`fakezoo.report`][fakezoo.report].
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from ..metrics import METRIC_NAMES, is_missing, summarize_folds
from ..models.registry import policy_name
from .study_numbers import STUDY_NUMBERS, display_name

__all__ = [
    "cv_report",
    "fold_block",
    "study_comparison_markdown",
    "study_table",
    "table_csv",
    "table_markdown",
]


_NA = "n/a"


def _f4(x: Any) -> str:
    return _NA if is_missing(x) else f"{float(x):.4f}"


def _pct(x: Any) -> str:
    return _NA if is_missing(x) else f"{100 * float(x):.2f}%"


def _lr(x: Any) -> str:
    return _NA if is_missing(x) else f"{float(x):.2e}"


def fold_lrs(result: dict[str, Any]) -> list[float] | None:
    """Each fold's own learning rate when the run has none of its own (a nested search),
    else ``None``."""
    if not is_missing(result.get("lr")):
        return None
    lrs = [f.get("lr") for f in result.get("folds") or []]
    if not lrs or any(is_missing(v) for v in lrs):
        lrs = (result.get("settings") or {}).get("lr_per_fold") or []
    return [float(v) for v in lrs] or None


def lrs_text(lrs: Sequence[float]) -> str:
    """``"0.000178, 0.000443"``: per-fold learning rates, 3 significant digits."""
    return ", ".join(f"{float(v):.3g}" for v in lrs)


def _protocol(result: dict[str, Any]) -> str | None:
    settings = result.get("settings") or {}
    return (settings.get("search") or {}).get("protocol") or settings.get("protocol")


PROTOCOL_NOTES = {
    "study": (
        "The learning rate was chosen on the same folds that are reported (the study's "
        "protocol), so these numbers are optimistic: the best of several noisy scores is "
        "biased upwards."
    ),
    "nested": (
        "Each outer fold's learning rate was chosen by an inner cross-validation on that "
        "fold's training part alone (the nested protocol), and the fold was scored once, at "
        "its own rate; no single rate stands for the run."
    ),
}
"""What each LR-search protocol means for the numbers it reports."""


def search_text(search: dict[str, Any]) -> str:
    """One line of an LR search's settings: protocol, trials, range, sampler, pruner."""
    nested = search.get("protocol") == "nested"
    parts = [f"protocol `{search.get('protocol')}`"]
    n = search.get("n_trials")
    if n is not None:
        parts.append(f"{n} trial{'' if n == 1 else 's'}" + (" per outer fold" if nested else ""))
    span = search.get("lr_range")
    if (
        isinstance(span, list | tuple)
        and len(span) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in span)
    ):
        parts.append(f"log-uniform lr range {span[0]:g} to {span[1]:g}")
    parts += [f"{key} `{search[key]}`" for key in ("sampler", "pruner") if search.get(key)]
    if nested and search.get("inner_splits"):
        parts.append(f"{search['inner_splits']} inner folds")
    return ", ".join(parts)


def count_text(x: float) -> str:
    """Integers as integers, fractional means with 2 decimals."""
    return f"{x:.0f}" if abs(x - round(x)) < 1e-9 else f"{x:.2f}"


def _matrix_inline(cm: Sequence[Sequence[float]]) -> str:
    return "[" + ", ".join("[" + ", ".join(count_text(v) for v in row) + "]" for row in cm) + "]"


def result_summary(result: dict[str, Any]) -> dict[str, Any]:
    """A result dict's ``summary``, recomputed from its folds when it has none."""
    summary = result.get("summary")
    if summary:
        return summary
    folds = result.get("folds") or []
    if not folds:
        raise ValueError("result has neither a 'summary' nor any 'folds'")
    return summarize_folds([f["metrics"] for f in folds])


def _fine_tuning(result: dict[str, Any], form: str = "column") -> str:
    """A result dict's policy, as [`policy_name`][fakezoo.models.registry.policy_name] names
    it (``finetune`` missing is ``False``)."""
    return policy_name(str(result.get("model", "")), result.get("finetune", False), form)


def result_title(result: dict[str, Any]) -> str:
    """``"ResNet-50 with fine-tuning"``, ``"CLIP ViT-L/14 linear probe"``: a result's model
    and policy."""
    name = display_name(str(result.get("model", "model")))
    return f"{name} {_fine_tuning(result, 'phrase')}"


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
    """The study's per-model block as Markdown: folds, mean ± std and the mean confusion matrix.

    Metrics are shown with 4 decimals like the study. Precision, recall and F1 are the weighted
    averages the study uses; std is the population std across folds (``ddof=0``).

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
    summary = result_summary(result)
    folds = result.get("folds") or []
    lines = [f"### {result_title(result)}", ""]
    lr, lrs = result.get("lr"), fold_lrs(result)
    if lrs is not None:
        nested = " (nested protocol)" if _protocol(result) == "nested" else ""
        lines += [f"Learning rate: each fold its own{nested}, in the lr column.", ""]
    else:
        lines += [f"Learning rate: {_NA if is_missing(lr) else f'{float(lr):.6g}'}", ""]

    present = [
        (key, label)
        for key, label in _FOLD_COLUMNS
        if any(not is_missing(f.get("metrics", {}).get(key)) for f in folds)
        or not is_missing(summary["mean"].get(key))
    ]
    own = [] if lrs is None or len(lrs) != len(folds) else lrs  # an lr column
    header = ["fold", "n", *(["lr"] if own else []), *(label for _, label in present)]
    header.append("confusion matrix")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for i, fold in enumerate(folds):
        m = fold.get("metrics", {})
        n = m.get("n", fold.get("n_val"))
        cells = [str(fold.get("fold", i + 1)), _NA if n is None else str(n)]
        cells += [f"{own[i]:.3g}"] if own else []
        cells += [_f4(m.get(key)) for key, _ in present]
        cm = m.get("confusion_matrix")
        cells.append(_matrix_inline(cm) if cm is not None else _NA)
        lines.append("| " + " | ".join(cells) + " |")
    mean, std = summary["mean"], summary["std"]
    cells = ["mean ± std", "", *([""] if own else [])]
    for key, _ in present:
        cells.append(_NA if is_missing(mean.get(key)) else f"{_f4(mean[key])} ± {_f4(std[key])}")
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
        f"| **true real** | {count_text(cm_mean[0][0])} | {count_text(cm_mean[0][1])} |",
        f"| **true fake** | {count_text(cm_mean[1][0])} | {count_text(cm_mean[1][1])} |",
        "",
        f"Summed over folds: {_matrix_inline(summary['confusion_matrix_sum'])}",
    ]
    deviations = result.get("deviations") or []
    if deviations:
        lines += ["", "Deviations from the study protocol:", ""]
        lines += [f"- {d}" for d in deviations]
    return "\n".join(lines) + "\n"


RANDOM_INIT_NOTE = (
    "Random initial weights (pretrained=False): a pipeline check of decoding, training and "
    "reporting, not a result. Its numbers are not set beside the study's, whose models "
    "started from ImageNet weights."
)
"""What a report says of a run from random initial weights, in place of the study's numbers."""


def _study_match(model: str, fine_tuning: str) -> dict[str, Any] | None:
    for row in STUDY_NUMBERS:
        if row["model"] == model and row["fine_tuning"] == fine_tuning:
            return row
    return None


def cv_report(result: dict[str, Any]) -> str:
    """The full ``report.md`` for one cross-validation run.

    Contains a title, the settings, [`fold_block`][fakezoo.report.text.fold_block], the study's
    printed numbers for the same model and fine-tuning (when the study has that row and the run
    did not start from random weights, a pipeline check), and notes on the label convention and
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
    summary = result_summary(result)
    model = str(result.get("model", "model"))
    lr, lrs = result.get("lr"), fold_lrs(result)
    protocol = _protocol(result)
    if lrs is not None:
        whose = "each outer fold its own (nested protocol)" if protocol == "nested" else "per fold"
        lr_cell = f"{whose}: {lrs_text(lrs)}"
    else:
        lr_cell = _NA if is_missing(lr) else f"{float(lr):.6g}"
    search = (result.get("settings") or {}).get("search")
    settings = [
        ("model", f"`{model}` ({display_name(model)})"),
        ("fine-tuning", _fine_tuning(result, "words")),
        ("trainable modules", ", ".join(f"`{t}`" for t in result.get("trainable") or []) or None),
        ("learning rate", lr_cell),
        ("learning-rate search", search_text(search) if isinstance(search, dict) else None),
        ("epochs", result.get("epochs")),
        ("folds", result.get("n_splits", summary["n_folds"])),
        ("seed", result.get("seed")),
        ("image size", result.get("image_size")),
        (
            "pretrained weights",
            None if "pretrained" not in result else ("yes" if result["pretrained"] else "no"),
        ),
    ]
    lines = [f"# {result_title(result)}", "", "Cross-validation report written by fakezoo.", ""]
    lines += ["## Settings", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in settings if v is not None]
    if protocol in PROTOCOL_NOTES and isinstance(search, dict):
        lines += ["", PROTOCOL_NOTES[protocol]]
    lines += ["", "## Results", "", fold_block(result).rstrip("\n"), ""]
    skipped = result.get("skipped") or []
    if skipped:
        lines += ["## Files left out", ""]
        were = "1 file was" if len(skipped) == 1 else f"{len(skipped)} files were"
        lines += [f"{were} left out (paths relative to the data's folder):", ""]
        lines += [f"- `{s['path']}`: {s['reason']}" for s in skipped]
        lines += [""]

    printed = _study_match(display_name(model), _fine_tuning(result))
    if printed is not None and result.get("pretrained") is not False:
        mean = summary["mean"]
        keys = ("accuracy", "precision", "recall", "f1")
        lines += [
            "## Compared with the study",
            "",
            "| | accuracy | precision | recall | F1 |",
            "|---|---|---|---|---|",
            "| this run | " + " | ".join(_pct(mean.get(k)) for k in keys) + " |",
            "| the study (printed) | " + " | ".join(_pct(printed[k]) for k in keys) + " |",
            "",
        ]
        if printed.get("note"):
            lines += [f"Note on the study's row: {printed['note']}", ""]

    lines += [
        "## Notes",
        "",
        "- Labels: real = 0 (negative class), fake = 1 (positive class). Probabilities and",
        "  scores are P(fake).",
        "- Accuracy: fraction of validation images classified correctly.",
        '- Precision, recall, F1: scikit-learn `average="weighted"` (`zero_division=0`), as in',
        "  the study: per-class scores averaged with weights equal to each class's support.",
        "  Weighted recall therefore equals accuracy.",
        "- Balanced accuracy: mean of the recall on real and the recall on fake images.",
        "- ROC-AUC: probability that a random fake image scores above a random real one.",
        "- EER: equal error rate, where the false-positive rate (real called fake) equals the",
        "  false-negative rate (fake called real) on the ROC curve; lower is better.",
        "- AP: average precision of the fake class over all thresholds.",
        "- mean ± std: across folds; std is the population standard deviation (ddof=0).",
        "- Confusion matrix: rows are the true class (real, fake), columns the predicted class.",
    ]
    if result.get("pretrained") is False:
        lines += [f"- {RANDOM_INIT_NOTE}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- study table


def study_table(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One table row per CV result, like the study's "Performance For All Models".

    Args:
        rows: CV result dicts (``CVResult.to_dict()`` shape).

    Returns:
        A list of flat dicts with keys ``model`` (display name), ``fine_tuning``
        (the study's "With"/"Without", an addition's own policy name such as "linear probe",
        or "Custom" when ``finetune`` is None; see
        [`policy_name`][fakezoo.models.registry.policy_name]), ``best_lr`` (``None`` for a
        nested search, whose rows add ``lr_per_fold``), ``n_folds``,
        the mean of every metric in [`fakezoo.metrics.METRIC_NAMES`][fakezoo.metrics.METRIC_NAMES]
        (fractions, ``None`` when unavailable), ``<metric>_std`` for each, and ``model_id`` (the
        fakezoo name).

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
        summary = result_summary(result)
        model = str(result.get("model", ""))
        row: dict[str, Any] = {
            "model": display_name(model),
            "fine_tuning": _fine_tuning(result),
            "best_lr": result.get("lr"),
            "n_folds": summary["n_folds"],
        }
        lrs = fold_lrs(result)
        if lrs is not None:
            row["lr_per_fold"] = lrs
        row.update({name: summary["mean"].get(name) for name in METRIC_NAMES})
        row.update({f"{name}_std": summary["std"].get(name) for name in METRIC_NAMES})
        row["model_id"] = model
        table.append(row)
    return table


def _lr_cell(row: dict[str, Any]) -> str:
    """A table row's learning rate, or each fold's own (a nested search)."""
    lrs = row.get("lr_per_fold")
    if is_missing(row.get("best_lr")) and lrs:
        return "per fold " + ", ".join(_lr(v) for v in lrs)
    return _lr(row.get("best_lr"))


def _acc_mean_std(row: dict[str, Any]) -> str:
    acc, std = row.get("accuracy"), row.get("accuracy_std")
    if is_missing(acc):
        return _NA
    if is_missing(std):
        return _pct(acc)
    return f"{100 * acc:.2f} ± {100 * std:.2f}%"


def _auc_mean_std(row: dict[str, Any]) -> str:
    auc, std = row.get("roc_auc"), row.get("roc_auc_std")
    if is_missing(auc) or is_missing(std):
        return _f4(auc)
    return f"{_f4(auc)} ± {_f4(std)}"


def table_markdown(table: Sequence[dict[str, Any]]) -> str:
    """Render [`study_table`][fakezoo.report.text.study_table] rows (or
    [`STUDY_NUMBERS`][fakezoo.report.study_numbers.STUDY_NUMBERS]) as a Markdown table.

    Percentages with 2 decimals as in the study, the LR in scientific notation, ROC-AUC with 4
    decimals (± its std across folds where known), and accuracy as mean ± std across folds.
    Missing values show as ``n/a``.

    Example:
        ```python
        from fakezoo.report import STUDY_NUMBERS, table_markdown

        md = table_markdown(STUDY_NUMBERS)
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
            _lr_cell(row),
            _pct(row.get("accuracy")),
            _pct(row.get("precision")),
            _pct(row.get("recall")),
            _pct(row.get("f1")),
            _auc_mean_std(row),
            _acc_mean_std(row),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table_csv(table: Sequence[dict[str, Any]]) -> str:
    """Render table rows as CSV (header = union of keys, in first-seen order).

    Numbers are written at full precision (they round-trip through ``float``); ``None`` is an
    empty cell, and a list (``lr_per_fold``) its items joined by spaces.

    Example:
        ```python
        import csv, io
        from fakezoo.report import STUDY_NUMBERS, table_csv

        rows = list(csv.DictReader(io.StringIO(table_csv(STUDY_NUMBERS))))
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
        writer.writerow({k: _csv_cell(row.get(k)) for k in fields})
    return buf.getvalue()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    return " ".join(map(str, value)) if isinstance(value, list) else value


def study_comparison_markdown(table: Sequence[dict[str, Any]]) -> str:
    """Put [`study_table`][fakezoo.report.text.study_table] rows beside the study's printed final
    table.

    Rows are matched by display model name and fine-tuning; rows the study does not have show
    ``n/a`` on the study's side. Notes on known problems in the study's printed values follow
    the table.

    Example:
        ```python
        from fakezoo.report import study_comparison_markdown

        row = {"model": "ResNet-50", "fine_tuning": "With", "best_lr": 1e-3,
               "accuracy": 0.95, "precision": 0.95, "recall": 0.95, "f1": 0.95}
        md = study_comparison_markdown([row])
        assert "95.00%" in md and "92.98%" in md and "+2.02" in md
        ```
    """
    header = ["Model", "Fine-Tuning", "Best LR (yours / study)"]
    for label in ("Accuracy", "Precision", "Recall", "F1-Score"):
        header += [f"{label} (yours)", f"{label} (study)"]
    header.append("Δ Accuracy (pp)")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    notes: list[str] = []
    for row in table:
        printed = _study_match(str(row.get("model")), str(row.get("fine_tuning")))
        s = printed or {}
        cells = [
            str(row.get("model", "")),
            str(row.get("fine_tuning", "")),
            f"{_lr_cell(row)} / {_lr(s.get('best_lr'))}",
        ]
        for key in ("accuracy", "precision", "recall", "f1"):
            cells += [_pct(row.get(key)), _pct(s.get(key))]
        acc, study_acc = row.get("accuracy"), s.get("accuracy")
        if is_missing(acc) or is_missing(study_acc):
            delta = _NA
        else:  # round first and add 0.0 so that a tiny negative gap prints "+0.00", not "-0.00"
            delta = f"{round(100 * (acc - study_acc), 2) + 0.0:+.2f}"
        cells.append(delta)
        if printed is not None and printed.get("note"):
            marker = len(notes) + 1
            cells[0] += f" [{marker}]"
            notes.append(
                f"[{marker}] {printed['model']} {printed['fine_tuning']}: {printed['note']}"
            )
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    if notes:
        text += "\n" + "\n\n".join(notes) + "\n"
    return text
