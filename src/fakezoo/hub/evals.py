"""Cross-dataset results for the model card: a run's entries in ``fakezoo evaluate`` or
``fakezoo protocol`` output.

``fakezoo push RUN ORG/NAME --eval DIR`` reads ``DIR/evaluate.json`` (written by
[`fakezoo.evaluation`][fakezoo.evaluation]) or ``DIR/protocol.json`` (written by ``fakezoo
protocol``), finds this run's results in it and adds them to the card's model-index under each
test set's name, beside the cross-validation results.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import RunFormatError
from ..metrics import is_missing
from ..runs.loader import read_run, read_run_file

__all__ = ["card_rows", "eval_results", "protocol_blocks", "read_evaluations"]

_METRICS = (
    "accuracy",
    "f1",
    "precision",
    "recall",
    "balanced_accuracy",
    "roc_auc",
    "eer",
    "average_precision",
)
_PERTURBED_METRICS = ("accuracy", "roc_auc")
_FORMAT = "fakezoo.evaluate"
_PROTOCOL_FORMAT = "fakezoo.protocol"
_PROTOCOL_METRICS = ("roc_auc", "average_precision", "eer", "accuracy")


def _same_run(entry: dict, root: Path, cfg: dict) -> bool:
    run = entry.get("run") or {}
    try:
        if run.get("path") and Path(run["path"]).resolve() == root.resolve():
            return True
    except OSError:
        pass
    settings = cfg.get("settings") or {}
    own = cfg.get("fingerprint") or settings.get("fingerprint") or settings.get("data_sha256")
    theirs = (run.get("fingerprint") or {}).get("value")
    return (
        bool(own)
        and theirs == own
        and run.get("model") == cfg.get("model")
        and run.get("lr") == cfg.get("lr")
    )


def read_evaluations(
    eval_dirs: Sequence[str | os.PathLike[str]], run_dir: str | os.PathLike[str]
) -> list[dict]:
    """This run's results in ``fakezoo evaluate`` output folders.

    Each folder's ``evaluate.json`` must hold an entry for ``run_dir``: the same directory, or
    a copy of it (the same model, learning rate and fingerprint).

    Returns:
        One dict per folder. For ``fakezoo evaluate``: ``kind`` ``"evaluate"``, ``dataset``
        (the evaluation data's name), ``n``, ``skipped``, ``threshold`` (the run's CV-EER
        threshold), ``clean`` (the ensemble's metrics at that threshold), ``ci`` (bootstrap
        intervals) and ``perturbed`` (``{condition: metrics}``). For ``fakezoo protocol``:
        ``kind`` ``"protocol"``, ``train``, ``policy``, ``frames``, ``lr`` and ``results``
        (per test set: ``dataset``, ``n_videos`` and the ``frame`` and ``video`` metrics).

    Raises:
        RunFormatError: A folder has neither ``evaluate.json`` nor ``protocol.json``, it is
            not a fakezoo report, or none of its runs is this run.

    Example:
        ```python
        from fakezoo.hub.evals import read_evaluations
        (ev,) = read_evaluations(["eval/"], "runs/resnet50")
        ev["dataset"], ev["clean"]["roc_auc"]
        ```
    """
    root = Path(run_dir)
    cfg = read_run(root)
    out = []
    for folder in eval_dirs:
        if (Path(folder) / "protocol.json").is_file():
            out.append(_read_protocol(Path(folder) / "protocol.json", root, cfg))
            continue
        path = Path(folder) / "evaluate.json"
        data = read_run_file(path, "the evaluation")
        if data.get("format") != _FORMAT:
            raise RunFormatError(
                f"{path} is not a `fakezoo evaluate` report (format {data.get('format')!r})."
            )
        entries = [e for e in data.get("runs") or [] if _same_run(e, root, cfg)]
        if not entries:
            scored = ", ".join(
                str((e.get("run") or {}).get("source", "?")) for e in data.get("runs") or []
            )
            raise RunFormatError(
                f"{path} holds no results for the run '{root}' (it scored: "
                f"{scored or 'nothing'}). Evaluate this run with `fakezoo "
                f"evaluate {root} DATA --out DIR` and pass that DIR."
            )
        entry = entries[0]
        conditions = entry["conditions"]
        out.append(
            {
                "kind": "evaluate",
                "dataset": entry["data"]["name"],
                "n": entry["data"]["n"],
                "skipped": len(entry["data"]["skipped"]),
                "threshold": entry["thresholds"]["cv_eer"],
                "clean": conditions[0]["ensemble"]["cv_eer"],
                "ci": conditions[0].get("ci") or {},
                "perturbed": {c["name"]: c["ensemble"]["cv_eer"] for c in conditions[1:]},
            }
        )
    return out


def _read_protocol(path: Path, root: Path, cfg: dict) -> dict:
    """This run's rows of a ``fakezoo protocol`` report (the run itself or a copy of it: the
    same model, learning rate and fingerprint)."""
    data = read_run_file(path, "the protocol")
    if data.get("format") != _PROTOCOL_FORMAT:
        raise RunFormatError(
            f"{path} is not a `fakezoo protocol` report (format {data.get('format')!r})."
        )

    def same(model: dict) -> bool:
        try:
            if Path(model.get("run", "")).resolve() == root.resolve():
                return True
        except OSError:
            pass
        return (
            model.get("fingerprint") == cfg.get("fingerprint")
            and model.get("model") == cfg.get("model")
            and model.get("lr") == cfg.get("lr")
        )

    mine = [m for m in data.get("models") or [] if same(m)]
    if not mine:
        kept = ", ".join(str(m.get("run", "?")) for m in data.get("models") or [])
        raise RunFormatError(
            f"{path} holds no results for the run '{root}' (its runs: {kept or 'none'}); push "
            "one of those run directories with this --eval"
        )
    settings = data.get("settings") or {}
    return {
        "kind": "protocol",
        "train": settings.get("train_set", settings.get("train")),
        "policy": settings.get("policy_name"),
        "frames": settings.get("frames"),
        "lr": mine[0]["lr"],
        "results": [r for r in data.get("results") or [] if r.get("model") == mine[0]["model"]],
    }


def card_result(
    dataset: str, split: str, metric: str, value: Any, name: str, *, config: str | None = None
) -> Any:
    """One ``huggingface_hub.EvalResult`` of the card's model-index: fakezoo's task, a
    ``custom`` dataset. The model-index groups results by config, so each cross-dataset test
    set gives its name as ``config`` (two sets without one would merge)."""
    from huggingface_hub import EvalResult

    return EvalResult(
        task_type="image-classification",
        task_name="Deepfake detection",
        dataset_type="custom",
        dataset_name=dataset,
        dataset_config=config,
        dataset_split=split,
        metric_type=metric,
        metric_value=float(value),
        metric_name=name,
    )


def eval_results(evaluations: Sequence[dict]) -> list:
    """``huggingface_hub.EvalResult`` entries: split ``test`` for the clean data, ``test,
    <perturbation>`` for each perturbed condition; the ensemble at the CV-EER threshold."""
    out = []
    for ev in evaluations:
        if ev.get("kind") == "protocol":
            out += _protocol_results(ev)
            continue
        blocks = [("test", ev["clean"], _METRICS)]
        blocks += [(f"test, {name}", m, _PERTURBED_METRICS) for name, m in ev["perturbed"].items()]
        for split, metrics, names in blocks:
            for metric in names:
                if not is_missing(metrics.get(metric)):
                    out.append(
                        card_result(
                            ev["dataset"],
                            split,
                            metric,
                            metrics[metric],
                            f"{metric} (cross-dataset, ensemble, CV-EER threshold)",
                            config=ev["dataset"],
                        )
                    )
    return out


def card_rows(evaluations: Sequence[dict]) -> list[dict[str, str]]:
    """The rows of the card's "Cross-dataset evaluation" table: one per dataset and condition,
    the numbers with 4 decimals (ROC-AUC of the clean data with its bootstrap interval)."""

    def f(value: Any) -> str:
        return "n/a" if is_missing(value) else f"{value:.4f}"

    rows = []
    for ev in evaluations:
        if ev.get("kind") == "protocol":
            continue
        ci = ev["ci"].get("roc_auc")
        for name, m in [("clean", ev["clean"]), *ev["perturbed"].items()]:
            auc = f(m.get("roc_auc")) + (
                f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci and name == "clean" else ""
            )
            rows.append(
                {
                    "dataset": ev["dataset"],
                    "condition": name,
                    "n": str(ev["n"]),
                    "accuracy": f(m.get("accuracy")),
                    "f1": f(m.get("f1")),
                    "roc_auc": auc,
                    "eer": f(m.get("eer")),
                }
            )
    return rows


def _protocol_results(ev: dict) -> list:
    out = []
    for r in ev["results"]:
        for level in ("frame", "video"):
            for metric in _PROTOCOL_METRICS:
                value = r[level].get(metric)
                if not is_missing(value):
                    out.append(
                        card_result(
                            r["dataset"],
                            f"test ({level} level)",
                            metric,
                            value,
                            f"{metric} ({level} level, trained on {ev['train']}, "
                            "validation-split threshold)",
                            config=r["dataset"],
                        )
                    )
    return out


def protocol_blocks(evaluations: Sequence[dict]) -> list[dict]:
    """The card's "Cross-dataset protocol" sections: per ``fakezoo protocol`` report, how it
    was run and one row per test set and level (4 decimals)."""

    def f(value: Any) -> str:
        return "n/a" if is_missing(value) else f"{value:.4f}"

    blocks = []
    for ev in evaluations:
        if ev.get("kind") != "protocol":
            continue
        rows = [
            {
                "dataset": r["dataset"],
                "level": level,
                "n": str(r[level].get("n")),
                **{m: f(r[level].get(m)) for m in _PROTOCOL_METRICS},
            }
            for r in ev["results"]
            for level in ("frame", "video")
        ]
        blocks.append(
            {
                **{k: ev[k] for k in ("train", "policy", "frames")},
                "lr": f"{float(ev['lr']):.6g}",
                "rows": rows,
            }
        )
    return blocks
