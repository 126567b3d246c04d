"""The runs an evaluation scores: local run directories, Hub repos, study directories and
files written by ``fakezoo export``.

A run brings three things to an evaluation: its fold models (as a
[`Detector`][fakezoo.inference.detector.Detector], the prediction path of ``fakezoo predict``), its
out-of-fold cross-validation predictions (``results.json``: each image scored by the fold model
that did not train on it), from which the operating threshold is chosen, and what identifies it
(fingerprint, settings and CV summary) for the report.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fakezoo.data.dataset import Dataset, printable_path
from fakezoo.inference.detector import Detector
from fakezoo.inference.export import OnnxDetector
from fakezoo.runs.loader import load_run, read_run, read_run_file, resolve_run
from fakezoo.runs.schema import check_results

from ..errors import EvalRunError
from .stats import eer_threshold

logger = logging.getLogger("fakezoo")

__all__ = ["RunSource", "check_run", "expand_runs", "open_run"]


@dataclass
class RunSource:
    """A loaded run, ready to score new data."""

    source: str
    name: str
    path: Path
    revision: str | None
    config: dict
    results: dict
    detector: Detector

    @property
    def settings(self) -> dict:
        return self.config.get("settings") or self.results.get("settings") or {}

    @property
    def fingerprint(self) -> dict:
        """What identifies the run: its own fingerprint when it has one, else its data's."""
        settings = self.settings
        own = self.config.get("fingerprint") or settings.get("fingerprint")
        out = {
            "kind": "run" if own else "data_sha256",
            "value": own if own else settings.get("data_sha256"),
        }
        if self.revision:
            out["hub_revision"] = self.revision
        return out

    def cv_predictions(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Out-of-fold predictions per fold name (``"fold_1"``...): ``(y_true, y_prob)``.

        Raises:
            EvalRunError: The run stores none (older runs): the threshold cannot be chosen
                without looking at the test data, so fakezoo refuses.
        """
        out = {}
        for fold in self.results.get("folds") or []:
            y_true, y_prob = fold.get("y_true"), fold.get("y_prob")
            if y_true is None or y_prob is None or len(y_true) == 0:
                continue
            out[f"fold_{fold.get('fold')}"] = (
                np.asarray(y_true, np.int64),
                np.asarray(y_prob, np.float64),
            )
        missing = [f for f in self.detector.fold_names if f not in out]
        if missing:
            raise EvalRunError(
                f"'{self.source}' stores no out-of-fold CV predictions for {', '.join(missing)} "
                f"(results.json folds[].y_true/y_prob). fakezoo evaluate picks its operating "
                f"threshold on those predictions, never on the test data, so it cannot score "
                f"this run: rerun the cross-validation with this version of fakezoo "
                f"(`fakezoo cv ... --out DIR`) to write them."
            )
        return out

    def cv_thresholds(self) -> dict:
        """The EER threshold on the run's own CV predictions: pooled over the folds (for the
        ensemble) and per fold (for each fold model, on its own validation images)."""
        preds = self.cv_predictions()
        per_fold = {}
        for name in self.detector.fold_names:
            y, p = preds[name]
            per_fold[name] = eer_threshold(y, p) if len(np.unique(y)) == 2 else 0.5
        y_all = np.concatenate([preds[n][0] for n in self.detector.fold_names])
        p_all = np.concatenate([preds[n][1] for n in self.detector.fold_names])
        if len(np.unique(y_all)) < 2:
            raise EvalRunError(
                f"'{self.source}': its CV predictions hold one class only; "
                f"no EER threshold can be chosen on them."
            )
        return {
            "ensemble": eer_threshold(y_all, p_all),
            "folds": per_fold,
            "n_cv_predictions": len(y_all),
        }

    def shared_files(self, dataset: Dataset, hashes: Sequence[str]) -> dict | None:
        """The files of ``dataset`` (their SHA-256 in ``hashes``) that the run trained on,
        compared by content: ``{"n", "of", "paths"}``; ``None`` when the run records no
        hashes of its training files."""
        trained = self.results.get("train_files_sha256")
        if not trained:
            return None
        known = set(trained)
        paths = [
            printable_path(p) for p, h in zip(dataset.relpaths(), hashes, strict=True) if h in known
        ]
        return {"n": len(paths), "of": len(hashes), "paths": paths}

    def info(self) -> dict:
        """The run as the report shows it: source, model, fingerprint, CV summary."""
        cfg, settings = self.config, self.settings
        summary = self.results.get("summary") or {}
        return {
            "source": self.source,
            "name": self.name,
            "path": str(self.path),
            "revision": self.revision,
            "model": cfg.get("model"),
            "finetune": cfg.get("finetune"),
            "lr": cfg.get("lr"),
            "lr_per_fold": settings.get("lr_per_fold"),
            "image_size": (cfg.get("preprocessing") or {}).get("image_size"),
            "folds": list(self.detector.fold_names),
            "fingerprint": self.fingerprint,
            "trained_on": {
                "n_images": settings.get("n_images"),
                "data_sha256": settings.get("data_sha256"),
            },
            "cv_mean": summary.get("mean") or cfg.get("metrics"),
            "cv_std": summary.get("std") or cfg.get("metrics_std"),
            "deviations": self.results.get("deviations") or [],
        }


def _is_study(path: Path) -> bool:
    return (path / "rows").is_dir() and not (path / "config.json").is_file()


def expand_runs(sources: list[str | os.PathLike[str]]) -> tuple[list[str], list[dict]]:
    """Replace each study directory (``fakezoo benchmark`` output) by its rows' run
    directories; rows without weights are listed as skipped, with the reason."""
    runs: list[str] = []
    skipped: list[dict] = []
    for source in sources:
        path = Path(os.fspath(source)).expanduser()
        if not (path.is_dir() and _is_study(path)):
            runs.append(os.fspath(source))
            continue
        rows = sorted(p for p in (path / "rows").iterdir() if (p / "config.json").is_file())
        if not rows:
            raise EvalRunError(
                f"'{path}' looks like a study directory but rows/ holds no run "
                f"directory (rows/<model>-<policy>/config.json)."
            )
        for row in rows:
            folds = read_run(row)["folds"]
            if not all((row / f / "model.safetensors").is_file() for f in folds):
                skipped.append(
                    {
                        "run": str(row),
                        "reason": "no fold weights (the study ran "
                        "with save_weights=False; rerun `fakezoo benchmark` with "
                        "--save-weights to evaluate it)",
                    }
                )
                continue
            runs.append(str(row))
    return runs, skipped


def _name(path: Path, source: str, config: dict) -> str:
    if Path(source).expanduser().is_dir():
        return path.name
    return source


def open_run(
    source: str | os.PathLike[str], *, device: str = "auto", revision: str | None = None
) -> RunSource:
    """Load a run directory, Hub repo or exported ``.onnx`` file for evaluation.

    An exported file is scored with ONNX Runtime on the CPU; it carries the run's config and
    out-of-fold CV predictions in its metadata (``fakezoo export`` writes them).

    Raises:
        EvalRunError: The source is a file that is not an ``.onnx`` export, an export without
            CV predictions, or a run without ``results.json``.
        fakezoo.errors.ExportReadError: The ``.onnx`` file was not written by
            ``fakezoo export``.
        fakezoo.errors.RunFormatError, fakezoo.errors.HubUnavailableError: as
            [`fakezoo.runs.loader.load_run`][fakezoo.runs.loader.load_run].
    """
    text = os.fspath(source)
    file = Path(text).expanduser()
    if file.is_file():
        return _open_export(file, text)
    path, commit = resolve_run(text, revision=revision)
    results = _results(path, text)
    run = load_run(path, device=device)
    detector = Detector.from_run(run)
    return RunSource(
        source=text,
        name=_name(path, text, run.config),
        path=path,
        revision=commit,
        config=run.config,
        results=results,
        detector=detector,
    )


def check_run(source: str | os.PathLike[str], *, revision: str | None = None) -> None:
    """What [`open_run`][fakezoo.evaluation.source.open_run] checks before it loads weights:
    the run's index and ``results.json``; an exported file is opened whole (its metadata is
    checked against its graph). An evaluation calls it on every run before decoding the data.

    Example:
        ```python
        from fakezoo.evaluation.source import check_run
        check_run("runs/resnet50")  # silent when fine
        ```
    """
    text = os.fspath(source)
    file = Path(text).expanduser()
    if file.is_file():
        _open_export(file, text)
        return
    path, _ = resolve_run(text, revision=revision)
    read_run(path)
    _results(path, text)


def _results(path: Path, text: str) -> dict:
    results_path = path / "results.json"
    if not results_path.is_file():
        raise EvalRunError(
            f"'{text}' has no results.json: not a finished run (finish its "
            f"cross-validation first; it holds the CV predictions fakezoo "
            f"evaluate needs)."
        )
    return check_results(read_run_file(results_path, "the run's results"), str(results_path))


def _open_export(file: Path, text: str) -> RunSource:
    if file.suffix.lower() != ".onnx":
        raise EvalRunError(
            f"'{text}' is a file but not an exported model (.onnx). fakezoo "
            f"evaluate scores a run directory, a Hub repo id or a file written "
            f"by `fakezoo export RUN --format onnx`."
        )
    model = OnnxDetector(file)
    results = model.cv_results
    if results is None:
        raise EvalRunError(
            f"'{text}' carries no CV predictions (exported without the run's "
            f"results.json), so no threshold can be chosen without looking at "
            f"the test data: export the finished run again with `fakezoo "
            f"export RUN --format onnx`, or evaluate the run directory."
        )
    return RunSource(
        source=text,
        name=file.stem,
        path=file,
        revision=None,
        config=model.config,
        results=results,
        detector=model,
    )
