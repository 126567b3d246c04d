"""The protocol's outputs: the table in the shape of DeepfakeBench's README table (in-domain
FF++ columns, their average and Top-3 count, then the cross-dataset columns, their average and
Top-3 count), a detailed Markdown page, and one flat CSV row per model, set, subset and level.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from typing import Any

from ..models.registry import policy_name

__all__ = ["column_name", "markdown_table", "results_csv", "results_rows", "table_page"]

_COLUMNS = {
    "celebdf-v2": "CDFv2",
    "deepfakebench:Celeb-DF-v2": "CDFv2",
    "deepfakebench:Celeb-DF-v1": "CDFv1",
    "dfdc": "DFDC",
    "deepfakebench:DFDC": "DFDC",
    "dfdcp": "DFDCP",
    "deepfakebench:DFDCP": "DFDCP",
    "deepfakebench:UADFV": "UADFV",
    "deepfakebench:DeepFakeDetection": "DFD",
    "deepfakebench:FaceShifter": "Fsh",
}
_METHODS = {
    "Deepfakes": "FF-DF",
    "Face2Face": "FF-F2F",
    "FaceSwap": "FF-FS",
    "NeuralTextures": "FF-NT",
    "FaceShifter": "FF-FH",
}
_LOWER_IS_BETTER = {"eer"}


def column_name(label: str) -> str:
    """DeepfakeBench's column name for a dataset label (``"ff++:c23"`` -> ``"FF++_c23"``)."""
    if label in _COLUMNS:
        return _COLUMNS[label]
    parts = label.split(":")
    if parts[0] == "ff++" or parts[:2] == ["deepfakebench", "FaceForensics++"]:
        return f"FF++_{parts[-1]}"
    return label


def _cells(result: Any, level: str, metric: str) -> tuple[list[str], list[str], dict]:
    """In-domain and cross-dataset column names, and {(model, column): value}: the training
    set's test split (and FF++ at its other compression) first, then its methods."""
    train = result.settings.get("train_set", result.settings["train"])
    inside, methods, cross, values = [], [], [], {}
    for r in result.results:
        col = column_name(r["dataset"])
        own = r["dataset"] == train or (r["dataset"].split(":")[0] == train.split(":")[0] == "ff++")
        (inside if own else cross).append(col)
        values[(r["model"], col)] = r[level].get(metric)
        if r["dataset"] == train:
            for method, block in (r.get("by_method") or {}).items():
                mcol = _METHODS.get(method, method)
                methods.append(mcol)
                values[(r["model"], mcol)] = block[level].get(metric)
    return list(dict.fromkeys(inside + methods)), list(dict.fromkeys(cross)), values


def _top3(models: list[str], columns: list[str], values: dict, metric: str) -> dict[str, int]:
    count = dict.fromkeys(models, 0)
    for col in columns:
        scored = [(values.get((m, col)), m) for m in models]
        scored = [(v, m) for v, m in scored if v is not None and not math.isnan(v)]
        ranked = sorted({v for v, _ in scored}, reverse=metric not in _LOWER_IS_BETTER)[:3]
        for v, m in scored:
            count[m] += v in ranked
    return count


def _mean(values: list[Any]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _f(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def markdown_table(result: Any, level: str = "frame", metric: str = "roc_auc") -> str:
    """One row per model: the in-domain columns (FF++_c23, FF++_c40, FF-DF, ...), ``Avg.``,
    ``Top3``, then the cross-dataset columns, ``Avg.``, ``Top3``."""
    inside, cross, values = _cells(result, level, metric)
    models = [m["model"] for m in result.models]
    top_in, top_cross = _top3(models, inside, values, metric), _top3(models, cross, values, metric)
    header = ["Detector", "Backbone", *inside, "Avg.", "Top3"]
    if cross:
        header += [*cross, "Avg.", "Top3"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for m in result.models:
        name = m["model"]
        policy = policy_name(name, m.get("finetune", True), "phrase")
        row = [f"{name} ({policy})", m.get("architecture", "")]
        row += [_f(values.get((name, c))) for c in inside]
        row += [_f(_mean([values.get((name, c)) for c in inside])), str(top_in[name])]
        if cross:
            row += [_f(values.get((name, c))) for c in cross]
            row += [_f(_mean([values.get((name, c)) for c in cross])), str(top_cross[name])]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def results_rows(result: Any) -> list[dict]:
    """One flat row per model, test set, subset (``all`` or a method) and level."""
    rows = []
    for r in result.results:
        for subset, block in [("all", r), *sorted((r.get("by_method") or {}).items())]:
            for level in ("frame", "video"):
                metrics = {k: v for k, v in block[level].items() if k != "confusion_matrix"}
                rows.append(
                    {
                        "model": r["model"],
                        "dataset": r["dataset"],
                        "column": column_name(r["dataset"]),
                        "subset": subset,
                        "level": level,
                        **metrics,
                    }
                )
    return rows


def results_csv(result: Any) -> str:
    rows = results_rows(result)
    buffer = io.StringIO()
    columns = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


_EVERY_NUMBER: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("Model", "model", str),
    ("Test set", "dataset", str),
    ("Subset", "subset", str),
    ("Level", "level", str),
    ("ROC-AUC", "roc_auc", _f),
    ("AP", "average_precision", _f),
    ("EER", "eer", _f),
    ("Accuracy", "accuracy", _f),
    ("Threshold", "threshold", _f),
    ("n", "n", str),
)  # table.md's last table: heading, results_rows key, how the value is shown


def table_page(result: Any) -> str:
    """``table.md``: both tables, how they were made, and every number per set."""
    s = result.settings
    lines = [
        f"# Cross-dataset protocol: train on {s.get('train_set', s['train'])}",
        "",
        f"Crops: the `{s['policy_name']}` policy, {s['frames']} frames per video. Each model "
        f"trained on the official training split at each learning rate of {s['lrs']}; "
        f"{s['selection']}. Video score: the {s['aggregation']} of its frames' P(fake).",
        "",
        "## Frame-level ROC-AUC",
        "",
        markdown_table(result, "frame"),
        "",
        "## Video-level ROC-AUC",
        "",
        markdown_table(result, "video"),
        "",
        "## Every number",
        "",
        "| " + " | ".join(heading for heading, _, _ in _EVERY_NUMBER) + " |",
        "|" + "---|" * len(_EVERY_NUMBER),
    ]
    for row in results_rows(result):
        lines.append("| " + " | ".join(show(row[key]) for _, key, show in _EVERY_NUMBER) + " |")
    lines += ["", "## Models", ""]
    for m in result.models:
        tried = ", ".join(f"{t['lr']:g}: {_f(t['val_roc_auc'])}" for t in m["lrs"])
        lines.append(
            f"- {m['model']}: validation ROC-AUC per learning rate {tried}; kept {m['lr']:g} "
            f"({m['run']}); thresholds frame {m['thresholds']['frame']:.4f}, video "
            f"{m['thresholds']['video']:.4f}"
        )
    lines += ["", "## Data", ""]
    for d in result.datasets:
        if "left_out" in d:
            lines.append(f"- {d['label']}: left out: {d['left_out']}")
            continue
        lines.append(
            f"- {d['label']} ({d['root']}): {d['n_crops']} crops; videos {d['videos']}; "
            f"{len(d['problems'])} reader problem(s); {len(d['videos_without_crops'])} "
            "video(s) without a crop"
        )
        lines += [f"  - {p}" for p in d["problems"]]
    return "\n".join(lines) + "\n"
