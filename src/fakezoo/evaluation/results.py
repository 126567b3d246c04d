"""What an evaluation gives: [`EvalResult`][fakezoo.evaluation.results.EvalResult] (one run) and
[`EvalSuite`][fakezoo.evaluation.results.EvalSuite] (several runs on the same data), and the
files they write: evaluate.md, evaluate.json, CSVs and plots."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .._io import atomic_write_text
from ..metrics import METRIC_NAMES
from ..models.registry import policy_name
from ..report.plots import new_figure, note_no_matplotlib, save_figure
from ..report.study_numbers import display_name
from ..report.text import lrs_text
from ..runs.folders import EVALUATION, hold_folder

logger = logging.getLogger("fakezoo")

__all__ = [
    "CLEAN",
    "EvalResult",
    "EvalSuite",
    "comparison_markdown",
    "comparison_table",
    "metrics_rows",
    "plot_reliability",
    "plot_robustness",
    "predictions_csv",
    "robustness_rows",
    "write_report",
]

_NA = "n/a"
_THRESHOLDS = ("0.5", "cv_eer")

CLEAN = "clean"
"""The name of the unperturbed condition."""


@dataclass
class EvalResult:
    """One run scored on one dataset, clean and under each perturbation.

    Attributes:
        run: The source run: ``source``, ``name``, ``model``, ``fingerprint``, ``cv_mean`` /
            ``cv_std`` (its own cross-validation summary), ``folds``...
        data: The evaluation data: ``source``, ``n``, ``class_counts``, ``skipped`` (each
            ``{"path", "reason"}``) and ``groups`` (whether video/identity groups were used).
        thresholds: ``{"0.5": 0.5, "cv_eer": t}`` for the ensemble and ``"folds"``:
            ``{"fold_1": {"0.5": 0.5, "cv_eer": t1}, ...}``; every ``cv_eer`` threshold comes
            from the run's CV predictions.
        conditions: One dict per condition (``"clean"`` first, then e.g. ``"jpeg:50"``) with
            ``ensemble`` and ``folds`` metrics at each threshold, ``ci`` (bootstrap intervals
            of the ensemble's ROC-AUC and accuracy), ``calibration`` (ECE and reliability
            bins), ``groups`` (video-level metrics, or ``None``) and
            ``test_eer_threshold`` (picked on this test data: shown only to measure threshold
            drift, never used for a reported number).
        predictions: ``paths``, ``y_true``, ``groups``, and per condition ``prob`` (ensemble
            P(fake)) and ``fold_probs`` (``n x k``).
        settings: ``bootstrap``, ``seed``, ``perturb``, ``batch_size``, ``device``.

    Example:
        ```python
        import fakezoo
        result = fakezoo.evaluate("runs/resnet50", "other_faces/", perturb="jpeg:50")
        result.metric("roc_auc"), result.metric("accuracy", condition="jpeg:50")
        result.save("eval/")   # evaluate.md, evaluate.json, CSVs and plots
        ```
    """

    run: dict
    data: dict
    thresholds: dict
    conditions: list[dict]
    predictions: dict
    settings: dict
    timings: dict = field(default_factory=dict)

    @property
    def condition_names(self) -> list[str]:
        return [c["name"] for c in self.conditions]

    def condition(self, name: str = CLEAN) -> dict:
        for cond in self.conditions:
            if cond["name"] == name:
                return cond
        raise KeyError(f"no condition {name!r}; this result has {self.condition_names}")

    def metric(
        self,
        name: str,
        *,
        condition: str = CLEAN,
        threshold: str = "cv_eer",
        model: str = "ensemble",
        level: str = "image",
    ) -> Any:
        """One number, e.g. ``result.metric("accuracy", condition="jpeg:50")``.

        Args:
            name: A key of [`fakezoo.metrics.binary_metrics`][fakezoo.metrics.binary_metrics]
                (``accuracy``, ``f1``, ``roc_auc``, ``eer``, ``confusion_matrix``...) or ``"ece"``.
            condition: ``"clean"`` or a perturbation name.
            threshold: ``"cv_eer"`` (default) or ``"0.5"``.
            model: ``"ensemble"`` or a fold name such as ``"fold_1"``.
            level: ``"image"``, or ``"group"`` for video-level metrics.
        """
        cond = self.condition(condition)
        if name == "ece":
            return cond["calibration"]["ece"]
        if level == "group":
            if cond["groups"] is None:
                raise KeyError("no group-level metrics: the data has no groups")
            return cond["groups"][threshold][name]
        block = cond["ensemble"] if model == "ensemble" else cond["folds"][model]
        return block[threshold][name]

    def to_dict(self) -> dict:
        """Every field, as plain JSON types (``evaluate.json``'s entry for this run)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EvalResult:
        """Inverse of [`to_dict`][fakezoo.evaluation.results.EvalResult.to_dict]; other keys
        (``file_name`` in ``evaluate.json``) are ignored."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def save(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write the report (see [`EvalSuite.save`][fakezoo.evaluation.results.EvalSuite.save])
        for this run alone."""
        return EvalSuite([self]).save(out_dir)


@dataclass
class EvalSuite:
    """Several runs scored on the same data, for a "train on A, test on B" table.

    Attributes:
        results: One [`EvalResult`][fakezoo.evaluation.results.EvalResult] per run, in the order
            given.
        skipped_runs: Runs that could not be scored, each ``{"run", "reason"}``.
    """

    results: list[EvalResult]
    skipped_runs: list[dict] = field(default_factory=list)

    def table(self) -> list[dict]:
        """One row per run: clean metrics at the CV threshold, intervals, robustness."""
        return comparison_table(self)

    def save(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write ``evaluate.md``, ``evaluate.json``, ``metrics.csv``, ``comparison.csv``,
        ``robustness.csv``, ``predictions/<run>.csv`` and, with matplotlib, the reliability
        and robustness plots into ``out_dir``; returns ``out_dir``."""
        return write_report(self, Path(out_dir))


def _f(x: Any, digits: int = 4) -> str:
    return _NA if x is None else f"{x:.{digits}f}"


def _pct(x: Any) -> str:
    return _NA if x is None else f"{100 * x:.2f}%"


def _ci(interval: Any, cell=_f) -> str:
    """`` [low, high]``, each as ``cell`` shows the estimate (``_pct`` beside a percentage)."""
    return "" if not interval else f" [{cell(interval[0])}, {cell(interval[1])}]"


def _fingerprint_text(fp: dict) -> str:
    """The run's fingerprint as one short digest (its fields are in evaluate.json)."""
    if fp["kind"] == "run":
        text = json.dumps(fp["value"], sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(text.encode()).hexdigest()
        return f"`{digest[:16]}` (SHA-256 of the run's fingerprint; its fields: evaluate.json)"
    return f"`{str(fp['value'])[:16]}` (the SHA-256 of its training data)"


def _file_names(suite: EvalSuite) -> list[str]:
    names, seen = [], set()
    for res in suite.results:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", res.run["name"]).strip("_") or "run"
        name, k = base, 2
        while name in seen:
            name, k = f"{base}-{k}", k + 1
        seen.add(name)
        names.append(name)
    return names


# -- tables -------------------------------------------------------------------------------------


def comparison_table(suite: EvalSuite) -> list[dict]:
    """One row per run: clean ensemble metrics at the CV threshold, beside its CV numbers."""
    rows = []
    for res in suite.results:
        clean = res.conditions[0]
        m = clean["ensemble"]["cv_eer"]
        cv = res.run.get("cv_mean") or {}
        row = {
            "run": res.run["name"],
            "model": display_name(res.run.get("model") or ""),
            "fine_tuning": policy_name(res.run.get("model") or "", res.run.get("finetune")),
            "cv_accuracy": cv.get("accuracy"),
            "cv_roc_auc": cv.get("roc_auc"),
            "threshold_cv_eer": res.thresholds["cv_eer"],
            "accuracy_0.5": clean["ensemble"]["0.5"]["accuracy"],
        }
        row.update({name: m.get(name) for name in METRIC_NAMES})
        row["accuracy_ci"] = clean["ci"].get("accuracy@cv_eer")
        row["roc_auc_ci"] = clean["ci"].get("roc_auc")
        row["ece"] = clean["calibration"]["ece"]
        if clean["groups"]:
            row["video_roc_auc"] = clean["groups"]["cv_eer"].get("roc_auc")
            row["video_accuracy"] = clean["groups"]["cv_eer"].get("accuracy")
        for cond in res.conditions[1:]:
            row[f"roc_auc[{cond['name']}]"] = cond["ensemble"]["cv_eer"].get("roc_auc")
            row[f"accuracy[{cond['name']}]"] = cond["ensemble"]["cv_eer"].get("accuracy")
        rows.append(row)
    return rows


def metrics_rows(suite: EvalSuite) -> list[dict]:
    """Every number in long form: run x condition x model x level x threshold."""
    rows = []
    for res in suite.results:
        for cond in res.conditions:
            blocks = [("ensemble", "image", cond["ensemble"])]
            blocks += [(f, "image", m) for f, m in cond["folds"].items()]
            if cond["groups"]:
                blocks.append(("ensemble", "group", cond["groups"]))
            for model, level, block in blocks:
                for name in _THRESHOLDS:
                    m = block[name]
                    (tn, fp), (fn, tp) = m["confusion_matrix"]
                    rows.append(
                        {
                            "run": res.run["name"],
                            "condition": cond["name"],
                            "model": model,
                            "level": level,
                            "threshold_name": name,
                            "threshold": m["threshold"],
                            "n": m["n"],
                            **{k: m.get(k) for k in METRIC_NAMES},
                            "tn": tn,
                            "fp": fp,
                            "fn": fn,
                            "tp": tp,
                        }
                    )
    return rows


def robustness_rows(suite: EvalSuite) -> list[dict]:
    """Each metric against perturbation strength (ensemble, CV threshold; clean first)."""
    rows = []
    for res in suite.results:
        for cond in res.conditions:
            m, m05 = cond["ensemble"]["cv_eer"], cond["ensemble"]["0.5"]
            rows.append(
                {
                    "run": res.run["name"],
                    "condition": cond["name"],
                    "kind": cond["kind"] or "clean",
                    "strength": cond["strength"],
                    "accuracy_0.5": m05["accuracy"],
                    **{k: m.get(k) for k in METRIC_NAMES},
                    "ece": cond["calibration"]["ece"],
                    "mean_prob_fake_on_fake": cond["mean_prob_fake"]["fake"],
                    "mean_prob_fake_on_real": cond["mean_prob_fake"]["real"],
                    "roc_auc_ci": cond["ci"].get("roc_auc"),
                    "accuracy_ci": cond["ci"].get("accuracy@cv_eer"),
                }
            )
    return rows


def _csv(rows: list[dict]) -> str:
    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return value


def predictions_csv(res: EvalResult) -> str:
    """Per image: path, label, group, ensemble P(fake) per condition, fold P(fake) clean."""
    pred = res.predictions
    folds = res.run["folds"]
    rows = []
    for i, path in enumerate(pred["paths"]):
        row = {"path": path, "label": ("real", "fake")[pred["y_true"][i]]}
        if pred["groups"] is not None:
            row["group"] = pred["groups"][i]
        for cond, probs in pred["prob"].items():
            row[f"prob_fake[{cond}]"] = f"{probs[i]:.6f}"
        for j, fold in enumerate(folds):
            row[f"prob_fake[clean,{fold}]"] = f"{pred['fold_probs']['clean'][i][j]:.6f}"
        rows.append(row)
    return _csv(rows)


# -- markdown -----------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


_SCORE_COLUMNS = ["F1 @CV-EER", "Balanced acc.", "ROC-AUC [95% CI]", "EER", "AP", "ECE"]


def _scores(m: dict, roc_auc_ci: Any, ece: Any) -> list[str]:
    """The `_SCORE_COLUMNS` cells of one metrics block at the CV-EER threshold."""
    return [
        _pct(m["f1"]),
        _pct(m["balanced_accuracy"]),
        _f(m["roc_auc"]) + _ci(roc_auc_ci),
        _f(m["eer"]),
        _f(m["average_precision"]),
        _f(ece),
    ]


def comparison_markdown(suite: EvalSuite) -> str:
    """The comparison table (one row per run) as Markdown, as at the top of evaluate.md."""
    header = ["Run", "Model", "Fine-Tuning", "CV accuracy (own data)", "Accuracy @0.5"]
    header += ["Accuracy @CV-EER [95% CI]", *_SCORE_COLUMNS]
    rows = [
        [
            row["run"],
            row["model"],
            row["fine_tuning"],
            _pct(row["cv_accuracy"]),
            _pct(row["accuracy_0.5"]),
            _pct(row["accuracy"]) + _ci(row["accuracy_ci"], _pct),
            *_scores(row, row["roc_auc_ci"], row["ece"]),
        ]
        for row in comparison_table(suite)
    ]
    return _table(header, rows)


def _robustness_md(res: EvalResult) -> str:
    header = ["Condition", "Accuracy @0.5", "Accuracy @CV-EER", *_SCORE_COLUMNS]
    header.append("mean P(fake) on fakes")
    rows = [
        [
            cond["name"],
            _pct(cond["ensemble"]["0.5"]["accuracy"]),
            _pct(cond["ensemble"]["cv_eer"]["accuracy"]),
            *_scores(
                cond["ensemble"]["cv_eer"], cond["ci"].get("roc_auc"), cond["calibration"]["ece"]
            ),
            _f(cond["mean_prob_fake"]["fake"]),
        ]
        for cond in res.conditions
    ]
    return _table(header, rows)


def _lr_text(run: dict) -> str:
    if run.get("lr") is None and run.get("lr_per_fold"):
        return f"lr per fold (nested protocol) {lrs_text(run['lr_per_fold'])}"
    return f"lr {run.get('lr')}"


def _shared_text(run: dict) -> str:
    """How many images of the data the run trained on (compared by file content)."""
    shared = run["trained_on"].get("shared")
    if shared is None:
        return "the run records no hashes of its training files, so none was compared"
    if not shared["n"]:
        return f"none of the {shared['of']} images here was among them (by file content)"
    return (
        f"**{shared['n']} of {shared['of']} images were in the run's training data** (the "
        f"same file contents; listed in evaluate.json): on them its scores do not test new data"
    )


def _run_md(res: EvalResult, file_name: str, plots: list[str]) -> str:
    run, clean, th = res.run, res.conditions[0], res.thresholds
    fp = run["fingerprint"]
    cv_mean, cv_std = run.get("cv_mean") or {}, run.get("cv_std") or {}
    lines = [
        f"## {run['name']}",
        "",
        f"- source: `{run['source']}`"
        + (f" at `{run['revision']}`" if run.get("revision") else ""),
        f"- model: {display_name(run.get('model') or '')} "
        f"({policy_name(run.get('model') or '', run.get('finetune'), 'phrase')}), "
        f"{_lr_text(run)}, input "
        f"{run.get('image_size')} px, {len(run['folds'])} fold models",
        f"- fingerprint: {_fingerprint_text(fp)}",
        f"- trained on {run['trained_on'].get('n_images')} images; {_shared_text(run)}",
    ]
    if run.get("deviations"):
        lines.append("- deviations from the study:")
        lines += [f"  - {d}" for d in run["deviations"]]
    lines += [
        "",
        f"Thresholds: `0.5`, and `cv_eer` = {th['cv_eer']:.4f}, the EER threshold of "
        f"the run's own {th['n_cv_predictions']} out-of-fold CV predictions, applied "
        f"unchanged. For reference only, the EER threshold of this test data would be "
        f"{_f(clean['test_eer_threshold'])} (picked on the test data; no number here "
        f"uses it).",
        "",
    ]
    header = ["Metric", "CV on its own data (mean ± std)", "New data @0.5", "New data @CV-EER"]
    rows = []
    for name in METRIC_NAMES:
        mean, std = cv_mean.get(name), cv_std.get(name)
        own = _NA if mean is None else f"{mean:.4f} ± {std or 0:.4f}"
        rows.append(
            [
                name,
                own,
                _f(clean["ensemble"]["0.5"].get(name)),
                _f(clean["ensemble"]["cv_eer"].get(name)),
            ]
        )
    lines += [_table(header, rows), ""]
    (tn, fpos), (fn, tp) = clean["ensemble"]["cv_eer"]["confusion_matrix"]
    lines += [
        f"Confusion matrix @CV-EER (rows true real/fake, columns predicted): "
        f"[[{tn}, {fpos}], [{fn}, {tp}]]. Expected calibration error "
        f"({clean['calibration']['n_bins']} bins): {clean['calibration']['ece']:.4f}.",
        "",
    ]
    ci = clean["ci"]
    if ci:
        lines += [
            f"Bootstrap 95% intervals ({ci['n_resamples']} resamples, seed {ci['seed']}): "
            f"ROC-AUC{_ci(ci['roc_auc']) or ' n/a'}, accuracy @0.5"
            f"{_ci(ci['accuracy@0.5'], _pct)}, accuracy @CV-EER"
            f"{_ci(ci['accuracy@cv_eer'], _pct)}.",
            "",
        ]
    header = [
        "Fold model",
        "CV-EER threshold",
        "Accuracy @0.5",
        "Accuracy @CV-EER",
        "F1 @CV-EER",
        "ROC-AUC",
        "EER",
        "AP",
    ]
    rows = [
        [
            f,
            f"{th['folds'][f]['cv_eer']:.4f}",
            _pct(m["0.5"]["accuracy"]),
            _pct(m["cv_eer"]["accuracy"]),
            _pct(m["cv_eer"]["f1"]),
            _f(m["cv_eer"]["roc_auc"]),
            _f(m["cv_eer"]["eer"]),
            _f(m["cv_eer"]["average_precision"]),
        ]
        for f, m in clean["folds"].items()
    ]
    lines += [
        "Each fold model alone (its CV-EER threshold comes from its own validation images):",
        "",
        _table(header, rows),
        "",
    ]
    if clean["groups"]:
        g = clean["groups"]
        lines += [
            f"Video level ({g['n_groups']} groups, frame scores averaged): accuracy @0.5 "
            f"{_pct(g['0.5']['accuracy'])}, accuracy @CV-EER "
            f"{_pct(g['cv_eer']['accuracy'])}, ROC-AUC {_f(g['cv_eer']['roc_auc'])}, "
            f"EER {_f(g['cv_eer']['eer'])}."
            + (
                f" Left out: {len(g['mixed_groups'])} groups whose frames carry both labels."
                if g["mixed_groups"]
                else ""
            ),
            "",
        ]
    if len(res.conditions) > 1:
        lines += [
            "Robustness (ensemble; each perturbation applied to the decoded image "
            "before the resize):",
            "",
            _robustness_md(res),
            "",
        ]
    lines.append(f"Per-image predictions: `predictions/{file_name}.csv`.")
    lines += [f"\n![{p}]({p})" for p in plots]
    return "\n".join(lines)


def _markdown(suite: EvalSuite, names: list[str], plots: dict[str, list[str]]) -> str:
    data = suite.results[0].data
    counts = data["class_counts"]
    lines = [
        f"# fakezoo evaluate: {data['name']}",
        "",
        f"Data: `{data['source']}`, {data['n']} images ({counts['real']} real, "
        f"{counts['fake']} fake)"
        + (f", {data['n_groups']} groups" if data["groups"] else "")
        + f"; {len(data['skipped'])} files skipped.",
        "",
    ]
    if data["skipped"]:
        lines += [f"- `{s['path']}`: {s['reason']}" for s in data["skipped"][:20]]
        more = len(data["skipped"]) - 20
        lines += [f"- ... and {more} more (evaluate.json)"] if more > 0 else []
        lines.append("")
    lines += [
        "Every `@CV-EER` number uses a threshold chosen on the run's own cross-validation "
        "predictions, never on this data. Metrics: accuracy and the study's weighted "
        'precision/recall/F1 (scikit-learn, `average="weighted"`), balanced accuracy, '
        "ROC-AUC, EER and AP of the fold ensemble (mean P(fake)).",
        "",
        "## Comparison",
        "",
        comparison_markdown(suite),
        "",
    ]
    if suite.skipped_runs:
        lines += ["Runs not evaluated:", ""]
        lines += [f"- `{s['run']}`: {s['reason']}" for s in suite.skipped_runs]
        lines.append("")
    for res, name in zip(suite.results, names, strict=True):
        lines += [_run_md(res, name, plots.get(name, [])), ""]
    return "\n".join(lines)


# -- plots --------------------------------------------------------------------------------------


def plot_reliability(res: EvalResult, path: Path) -> Path:
    """Reliability diagram of the ensemble's P(fake), one line per condition (PNG)."""
    fig = new_figure((4.8, 4.4))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], ls="--", lw=1, color="grey", label="perfect calibration")
    for cond in res.conditions:
        bins = [b for b in cond["calibration"]["bins"] if b["count"]]
        ax.plot(
            [b["mean_prob"] for b in bins],
            [b["frac_fake"] for b in bins],
            marker="o",
            lw=1.4,
            label=f"{cond['name']} (ECE {cond['calibration']['ece']:.3f})",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted P(fake) in bin")
    ax.set_ylabel("fraction fake in bin")
    ax.set_title(f"Reliability, {res.run['name']} on {res.data['name']}", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_robustness(res: EvalResult, path: Path) -> Path:
    """ROC-AUC and accuracy @CV-EER against strength, one panel per perturbation kind (PNG)."""
    clean = res.conditions[0]["ensemble"]["cv_eer"]
    kinds: dict[str, list[dict]] = {}
    for cond in res.conditions[1:]:
        kinds.setdefault(cond["kind"], []).append(cond)
    fig = new_figure((3.6 * max(1, len(kinds)), 3.4))
    for k, (kind, conds) in enumerate(kinds.items(), start=1):
        ax = fig.add_subplot(1, len(kinds), k)
        conds = sorted(conds, key=lambda c: c["strength"])
        xs = [c["strength"] for c in conds]
        for metric, style in (("roc_auc", "-o"), ("accuracy", "-s")):
            ys = [c["ensemble"]["cv_eer"].get(metric) for c in conds]
            line = ax.plot(xs, [float("nan") if y is None else y for y in ys], style, label=metric)[
                0
            ]
            if clean.get(metric) is not None:
                ax.axhline(clean[metric], ls=":", color=line.get_color(), lw=1)
        if kind == "jpeg":
            ax.invert_xaxis()  # left to right: stronger compression
        ax.set_xlabel(
            {
                "jpeg": "JPEG quality",
                "blur": "blur sigma (px)",
                "resize": "scale factor",
                "noise": "noise std (/255)",
            }.get(kind, kind)
        )
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.set_title(kind, fontsize=10)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{res.run['name']} on {res.data['name']} (dotted: clean)", fontsize=10)
    return save_figure(fig, path)


def _plots(res: EvalResult, out: Path, name: str) -> list[str]:
    made = []
    try:
        plot_reliability(res, out / f"reliability_{name}.png")
        made.append(f"reliability_{name}.png")
        if len(res.conditions) > 1:
            plot_robustness(res, out / f"robustness_{name}.png")
            made.append(f"robustness_{name}.png")
    except ImportError:
        note_no_matplotlib()
    return made


# -- writing ------------------------------------------------------------------------------------


def write_report(suite: EvalSuite, out: Path) -> Path:
    """Write every file of an evaluation into ``out``: a new or empty folder, or an evaluation
    folder fakezoo made (see [`hold_folder`][fakezoo.runs.folders.hold_folder])."""
    with hold_folder(out, EVALUATION):
        _write_report(suite, out)
    return out


def _write_report(suite: EvalSuite, out: Path) -> None:
    names = _file_names(suite)
    plots = {name: _plots(res, out, name) for res, name in zip(suite.results, names, strict=True)}
    for res, name in zip(suite.results, names, strict=True):
        atomic_write_text(out / "predictions" / f"{name}.csv", predictions_csv(res))
    payload = {
        "format": "fakezoo.evaluate",
        "version": 1,
        "data": suite.results[0].data,
        "comparison": comparison_table(suite),
        "skipped_runs": suite.skipped_runs,
        "runs": [
            dict(res.to_dict(), file_name=name)
            for res, name in zip(suite.results, names, strict=True)
        ],
    }
    atomic_write_text(out / "evaluate.json", json.dumps(payload, indent=1) + "\n")
    atomic_write_text(out / "metrics.csv", _csv(metrics_rows(suite)))
    atomic_write_text(out / "comparison.csv", _csv(comparison_table(suite)))
    atomic_write_text(out / "robustness.csv", _csv(robustness_rows(suite)))
    atomic_write_text(out / "evaluate.md", _markdown(suite, names, plots))
