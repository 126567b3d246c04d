"""``fakezoo.evaluate``: score trained runs on new labelled data, clean and perturbed.

One call decodes the data once, then for each run and each condition (clean, then every
perturbation) makes one prediction pass through the run's
[`Detector`][fakezoo.inference.detector.Detector], which returns every fold model's P(fake) for a
batch at once; the ensemble is their mean. The metrics are those of
[`fakezoo.metrics`][fakezoo.metrics], at two thresholds that never look at the test data:

* ``"0.5"``: the plain decision rule;
* ``"cv_eer"``: the equal-error-rate threshold chosen on the run's own out-of-fold CV
  predictions (pooled over folds for the ensemble; each fold model's own validation images for
  that fold), applied unchanged.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.cache import decode_workers
from ..data.dataset import Dataset, printable_path
from ..data.discovery import load_dataset
from ..errors import DatasetError, EvalRunError
from .images import DecodedSet, decode_native, model_batches
from .perturb import Perturbation, parse_perturbations
from .results import CLEAN, EvalResult, EvalSuite
from .source import RunSource, check_run, expand_runs, open_run
from .stats import bootstrap_ci, calibration, eer_threshold, group_scores, scored_metrics

logger = logging.getLogger("fakezoo")

__all__ = ["evaluate", "evaluate_many", "prepare_data"]

# -- data ---------------------------------------------------------------------------------------


def _read_group_column(csv_path: Path, column: str) -> dict[str, str]:
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = {name.strip().lower(): name for name in reader.fieldnames or []}
        if column.lower() not in fields or "path" not in fields:
            raise DatasetError(
                f"groups={column!r}: {csv_path} has no {column!r} column "
                f"(columns: {', '.join(reader.fieldnames or [])})"
            )
        key, col = fields["path"], fields[column.lower()]
        out = {}
        for row in reader:
            path = Path(row[key].strip()).expanduser()
            path = path if path.is_absolute() else csv_path.parent / path
            out[os.path.normpath(path)] = row[col].strip()
    return out


def _with_groups(dataset: Dataset, source: Any, groups: Any) -> Dataset:
    if groups is None:
        return dataset
    if isinstance(groups, str):
        path = Path(os.fspath(source)) if isinstance(source, str | os.PathLike) else None
        if path is None or path.suffix.lower() != ".csv":
            raise DatasetError(
                f"groups={groups!r} names a CSV column, but the data is not a "
                f"CSV file ({source!r}); pass the data as a CSV with that column "
                f"or pass one group per image"
            )
        mapping = _read_group_column(path.expanduser().absolute(), groups)
        values = [mapping.get(os.path.normpath(p)) for p in dataset.paths]
        missing = [str(p) for p, v in zip(dataset.paths, values, strict=True) if not v]
        if missing:
            raise DatasetError(
                f"groups={groups!r}: {len(missing)} rows have an empty group, "
                f"e.g. {missing[0]}; give every row a group"
            )
        return _regroup(dataset, np.asarray(values))
    values = np.asarray(list(groups))
    if values.shape != (len(dataset),):
        raise DatasetError(
            f"groups holds {values.size} entries for {len(dataset)} images; "
            f"give one group per image, in load_dataset's order"
        )
    return _regroup(dataset, values)


def _regroup(dataset: Dataset, groups: np.ndarray) -> Dataset:
    return Dataset(
        root=dataset.root,
        paths=dataset.paths,
        labels=dataset.labels,
        groups=groups,
        splits=dataset.splits,
        skipped=dataset.skipped,
    )


def _crop_manifest(data: Any) -> Path | None:
    """``DST/manifest.csv`` when ``data`` is a face dataset written by ``fakezoo crop``: it
    gives each crop its group (the source photo or video), for video-level metrics."""
    if not isinstance(data, str | os.PathLike):
        return None
    manifest = Path(os.fspath(data)).expanduser() / "manifest.csv"
    return manifest if manifest.is_file() and manifest.parent.is_dir() else None


def prepare_data(
    data: Any, groups: Any = None, num_workers: int | None = None
) -> tuple[DecodedSet, dict]:
    """Load (if a path) and decode the evaluation data once; describe it for the report."""
    manifest = _crop_manifest(data)
    if manifest is not None:
        logger.info(
            "%s is a face dataset from `fakezoo crop`: reading %s (groups = source files)",
            data,
            manifest,
        )
        data = manifest
    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    dataset = _with_groups(dataset, data, groups)
    decoded = decode_native(dataset, num_workers)
    if len(decoded.images) == 0:
        raise DatasetError(
            f"no image of {dataset.root} could be decoded "
            f"({len(decoded.skipped)} skipped, e.g. "
            f"{decoded.skipped[0].path}: {decoded.skipped[0].reason})"
        )
    ds = decoded.dataset
    info = {
        "source": os.fspath(data) if isinstance(data, str | os.PathLike) else str(ds.root),
        "name": _data_name(data, ds),
        "root": str(ds.root),
        "n": len(ds),
        "class_counts": ds.class_counts(),
        "skipped": [{"path": printable_path(s.path), "reason": s.reason} for s in decoded.skipped],
        "groups": ds.groups is not None,
        "n_groups": None if ds.groups is None else len(set(map(str, ds.groups))),
    }
    return decoded, info


def _data_name(data: Any, ds: Dataset) -> str:
    if isinstance(data, str | os.PathLike):
        path = Path(os.fspath(data))
        if path.suffix.lower() != ".csv":
            return path.name
        return path.parent.name if path.stem == "manifest" else path.stem
    return ds.root.name


# -- scoring ------------------------------------------------------------------------------------


def _pass(
    run: RunSource,
    decoded: DecodedSet,
    perturbation: Perturbation | None,
    batch_size: int,
    seed: int,
) -> np.ndarray:
    """One prediction pass: ``(n, k)`` fold probabilities."""
    import torch

    fn = None if perturbation is None else (lambda img, i: perturbation(img, seed=seed, index=i))
    det = run.detector
    parts = [
        det.predict_tensor(torch.from_numpy(batch))
        for batch in model_batches(
            decoded.images, det.image_size, batch_size, fn, decode_workers(None, det.device)
        )
    ]
    return torch.cat(parts).numpy().astype(np.float64)


def _at_thresholds(y: np.ndarray, p: np.ndarray, thresholds: dict[str, float]) -> dict:
    return {name: scored_metrics(y, p, t) for name, t in thresholds.items()}


def _score_condition(
    name: str,
    perturbation: Perturbation | None,
    fold_probs: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None,
    thresholds: dict,
    fold_names: list[str],
    bootstrap: int,
    seed: int,
) -> dict:
    prob = fold_probs.mean(axis=1)
    main = {"0.5": 0.5, "cv_eer": thresholds["cv_eer"]}
    cond: dict[str, Any] = {
        "name": name,
        "kind": None if perturbation is None else perturbation.kind,
        "strength": None if perturbation is None else perturbation.strength,
        "ensemble": _at_thresholds(y, prob, main),
        "folds": {
            f: _at_thresholds(y, fold_probs[:, j], thresholds["folds"][f])
            for j, f in enumerate(fold_names)
        },
        "ci": bootstrap_ci(y, prob, main, n_resamples=bootstrap, seed=seed),
        "calibration": calibration(y, prob),
        "mean_prob_fake": {"real": _mean(prob[y == 0]), "fake": _mean(prob[y == 1])},
        "test_eer_threshold": eer_threshold(y, prob) if len(np.unique(y)) == 2 else None,
        "groups": None,
    }
    if groups is not None:
        ids, gy, gp, mixed = group_scores(groups, y, prob)
        cond["groups"] = (
            {
                "n_groups": len(ids),
                "mixed_groups": mixed,
                "aggregate": "mean",
                **_at_thresholds(gy, gp, main),
            }
            if ids
            else None
        )
    return cond


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def _score_run(
    run: RunSource,
    decoded: DecodedSet,
    data_info: dict,
    perturbations: list[Perturbation],
    bootstrap: int,
    seed: int,
    batch_size: int,
) -> EvalResult:
    cv = run.cv_thresholds()
    fold_names = list(run.detector.fold_names)
    thresholds = {
        "0.5": 0.5,
        "cv_eer": cv["ensemble"],
        "folds": {f: {"0.5": 0.5, "cv_eer": cv["folds"][f]} for f in fold_names},
        "n_cv_predictions": cv["n_cv_predictions"],
    }
    ds = decoded.dataset
    y = ds.labels
    groups = ds.groups
    conditions, probs, fold_probs, timings = [], {}, {}, {}
    for perturbation in [None, *perturbations]:
        name = CLEAN if perturbation is None else perturbation.name
        start = time.perf_counter()
        fp = _pass(run, decoded, perturbation, batch_size, seed)
        timings[name] = round(time.perf_counter() - start, 3)
        logger.info(
            "%s on %s [%s]: %d images in %.1fs",
            run.name,
            data_info["name"],
            name,
            len(y),
            timings[name],
        )
        conditions.append(
            _score_condition(
                name, perturbation, fp, y, groups, thresholds, fold_names, bootstrap, seed
            )
        )
        probs[name] = [float(v) for v in fp.mean(axis=1)]
        fold_probs[name] = [[float(v) for v in row] for row in fp]
    predictions = {
        "paths": [printable_path(p) for p in ds.relpaths()],
        "y_true": [int(v) for v in y],
        "groups": None if groups is None else [str(g) for g in groups],
        "prob": probs,
        "fold_probs": fold_probs,
    }
    settings = {
        "bootstrap": bootstrap,
        "seed": seed,
        "perturb": [p.name for p in perturbations],
        "batch_size": batch_size,
        "device": str(run.detector.device),
    }
    return EvalResult(
        run=run.info(),
        data=data_info,
        thresholds=thresholds,
        conditions=conditions,
        predictions=predictions,
        settings=settings,
        timings={"seconds_per_condition": timings},
    )


def evaluate_many(
    runs: Iterable[str | os.PathLike[str]],
    data: str | os.PathLike[str] | Dataset,
    *,
    perturb: str | Sequence[str | Perturbation] | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    groups: Any = None,
    device: str = "auto",
    batch_size: int = 32,
    num_workers: int | None = None,
) -> EvalSuite:
    """Score several runs (or the rows of a study directory) on the same data.

    The data is decoded once for all runs. A study directory (``fakezoo benchmark --out``)
    stands for all its rows; rows saved without weights are skipped and listed in
    ``skipped_runs``; [`evaluate`][fakezoo.evaluation.api.evaluate] scores one run.

    Args:
        runs: Run directories, Hub repo ids, ``fakezoo export`` files or study directories
            (see [`evaluate`][fakezoo.evaluation.api.evaluate]).
        data: Any layout [`fakezoo.load_dataset`][fakezoo.load_dataset] reads (class folders, Kaggle
            splits, a CSV), e.g. a face dataset written by ``fakezoo crop``, or a
            [`Dataset`][fakezoo.data.Dataset].
        perturb: Perturbations to re-score under, e.g. ``"jpeg:90,75,50 blur:1,2"`` or
            ``["jpeg:50", "noise:0.02"]`` (see
            [`fakezoo.evaluation.perturb`][fakezoo.evaluation.perturb]).
        bootstrap: Resamples for the 95% intervals of ROC-AUC and accuracy (0: none).
        seed: Seeds the bootstrap and the noise perturbation.
        groups: Video or identity groups for video-level metrics: ``None`` uses the data's
            own (a CSV ``group`` column), a string names another column of the data's CSV, or
            a sequence gives one group per image in [`fakezoo.load_dataset`][fakezoo.load_dataset]'s
            order.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        batch_size: Images per prediction batch.
        num_workers: Decoding threads (default: all cores).

    Example:
        ```python
        import fakezoo
        suite = fakezoo.evaluate_many(["runs/a", "runs/b"], "other_faces/")
        suite.table()        # one row per run
        suite.save("eval/")
        ```
    """
    sources, skipped = expand_runs(list(runs))
    if not sources:
        raise EvalRunError(
            "no run to evaluate" + (f": every row was skipped ({skipped[0]})" if skipped else "")
        )
    perturbations = parse_perturbations(perturb)
    if bootstrap < 0:
        raise ValueError(f"bootstrap={bootstrap}: give a number of resamples >= 0")
    for source in sources:  # a malformed run fails now, not after the data is decoded
        check_run(source)
    decoded, data_info = prepare_data(data, groups, num_workers)
    if decoded.skipped:
        logger.warning(
            "skipped %d files of %s that could not be used (listed in the report)",
            len(decoded.skipped),
            data_info["source"],
        )
    results = []
    hashes = None  # the data's file SHA-256, read when a run records its training files'
    for source in sources:
        run = open_run(source, device=device)
        if hashes is None and run.results.get("train_files_sha256"):
            hashes = decoded.dataset.sha256()
        shared = None if hashes is None else run.shared_files(decoded.dataset, hashes)
        if shared and shared["n"]:
            logger.warning(
                "%s: %d of %d images were in the run's training data (the same file "
                "contents, e.g. %s): on them its scores do not test new data",
                run.name,
                shared["n"],
                shared["of"],
                shared["paths"][0],
            )
        result = _score_run(run, decoded, data_info, perturbations, bootstrap, seed, batch_size)
        result.run["trained_on"]["shared"] = shared
        results.append(result)
    return EvalSuite(results, skipped)


def evaluate(
    run: str | os.PathLike[str],
    data: str | os.PathLike[str] | Dataset,
    **options: Any,
) -> EvalResult:
    """Score a trained run on new labelled data (``fakezoo.evaluate``).

    Args:
        run: A run directory, a Hub repo id (``"org/name"``, ``"org/name@rev"``) or a file
            written by ``fakezoo export RUN --format onnx`` (scored with ONNX Runtime on the
            CPU). It must hold its out-of-fold CV predictions (``results.json``, or the
            export's metadata), on which the ``cv_eer`` threshold is chosen. For several runs
            or a study directory use [`evaluate_many`][fakezoo.evaluation.api.evaluate_many].
        data: Any layout [`fakezoo.load_dataset`][fakezoo.load_dataset] reads, or a
            [`Dataset`][fakezoo.data.Dataset].
        **options: ``perturb``, ``bootstrap``, ``seed``, ``groups``, ``device``,
            ``batch_size`` and ``num_workers``, as in
            [`evaluate_many`][fakezoo.evaluation.api.evaluate_many].

    Returns:
        An [`EvalResult`][fakezoo.evaluation.results.EvalResult].

    Raises:
        fakezoo.errors.EvalRunError: The run stores no CV predictions (older runs),
            or ``run`` is a study directory.
        fakezoo.errors.DatasetError: The data cannot be read.

    Example:
        ```python
        import fakezoo
        res = fakezoo.evaluate("runs/mobilenet", "faces_b/", perturb="jpeg:50", bootstrap=200)
        print(res.metric("roc_auc"), res.metric("roc_auc", condition="jpeg:50"))
        ```
    """
    path = Path(os.fspath(run)).expanduser()
    if path.is_dir() and (path / "rows").is_dir() and not (path / "config.json").is_file():
        raise EvalRunError(
            f"'{run}' is a study directory: use fakezoo.evaluate_many([...]) "
            f"(or `fakezoo evaluate {run} DATA --out DIR`) to score its rows."
        )
    suite = evaluate_many([run], data, **options)
    return suite.results[0]
