"""[`run_protocol`][fakezoo.protocol.run.run_protocol]: train on one benchmark's official
training split, choose the learning rate and the thresholds on its official validation split,
and test on its test split and on other benchmarks' test splits, at frame and video level."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_text, write_json
from ..datasets import DatasetSpec, parse_spec
from ..errors import DatasetError, ProtocolError
from ..faces.policy import Policy, named_policy
from ..runs.folders import PROTOCOL, hold_folder
from .data import (
    PreparedSet,
    decoded_bytes,
    memory_budget,
    policy_name,
    prepare,
    skipped_videos,
)
from .scores import AGGREGATION, score, thresholds

__all__ = ["FORMAT", "ProtocolResult", "run_protocol"]

logger = logging.getLogger("fakezoo")

FORMAT = "fakezoo.protocol"
"""``protocol.json``'s format name (what ``fakezoo push --eval`` looks for)."""

DEFAULT_LRS = (1e-4, 3e-4, 1e-3)
"""The learning rates tried, the best on the validation split kept (DeepfakeBench: 2e-4)."""


@dataclass
class ProtocolResult:
    """What [`run_protocol`][fakezoo.protocol.run.run_protocol] found.

    Attributes:
        settings: Everything that shaped the numbers (datasets, policy, frames, learning
            rates tried, training settings, how the threshold and the video score are made).
        datasets: Per benchmark: its videos per split, the problems its reader met, its crop
            folder and the videos left without a crop.
        models: Per model: each learning rate's validation ROC-AUC and run directory, the
            chosen one, and its validation thresholds (frame and video level).
        results: One entry per model and test set: ``frame`` and ``video`` metrics (ROC-AUC,
            AP, EER, accuracy at the validation threshold) and, for FF++, ``by_method``.
    """

    settings: dict
    datasets: list[dict]
    models: list[dict]
    results: list[dict]

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "settings": self.settings,
            "datasets": self.datasets,
            "models": self.models,
            "results": self.results,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ProtocolResult:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a fakezoo protocol result (format {data.get('format')!r})")
        return cls(data["settings"], data["datasets"], data["models"], data["results"])

    def table(self, level: str = "frame", metric: str = "roc_auc") -> str:
        """The table in the shape of DeepfakeBench's README table, as Markdown."""
        from .table import markdown_table

        return markdown_table(self, level, metric)

    def save(self, out: str | os.PathLike[str]) -> Path:
        """Write ``protocol.json``, ``results.csv`` and ``table.md`` into `out`."""
        from .table import results_csv, table_page

        out = Path(out)
        write_json(out / "protocol.json", self.to_dict())
        atomic_write_text(out / "results.csv", results_csv(self))
        atomic_write_text(out / "table.md", table_page(self))
        return out


def _spec(text: str | DatasetSpec, data_root: Path | None) -> DatasetSpec:
    spec = parse_spec(text) if isinstance(text, str) else text
    return DatasetSpec(spec.name, spec.compression, spec.methods, spec.where(data_root))


def _check_out(out: Path, settings: dict) -> None:
    """Refuse an output folder holding a protocol run made another way (tests may change)."""
    path = out / "protocol.json"
    if not path.is_file():
        return
    old = json.loads(path.read_text(encoding="utf-8")).get("settings", {})
    fixed = [k for k in settings if k != "test"]
    differ = sorted(k for k in fixed if old.get(k) != settings[k])
    if differ:
        raise ProtocolError(
            f"{out} holds a protocol run with other settings ({', '.join(differ)} differ); "
            "use another --out, or the same settings to resume"
        )


def _train(cv, model: str, prepared: PreparedSet, lrs, finetune: bool, out: Path) -> dict:
    """One run per learning rate on the official train split, scored on the validation split;
    the best validation ROC-AUC wins (ties: the smaller rate)."""
    data = prepared.split("train", "validation")
    if not (np.asarray(data.splits) == "validation").any():
        raise ProtocolError(f"{prepared.label} has no validation crops to choose on")
    split = np.asarray(data.splits)
    folds = [(np.flatnonzero(split == "train"), np.flatnonzero(split == "validation"))]
    tried, best = [], None
    for lr in lrs:
        run_dir = out / "runs" / model / f"lr-{lr:g}"
        result = cv.run(model, data, finetune, lr, run_dir, folds=folds)
        auc = result.folds[0].metrics.get("roc_auc")
        tried.append({"lr": float(lr), "val_roc_auc": auc, "run": str(run_dir)})
        if best is None or (auc is not None and (best[0] is None or auc > best[0])):
            best = (auc, lr, run_dir, result)
    _, lr, run_dir, result = best
    fold = result.folds[0]
    group_of = dict(zip(data.relpaths(), (str(g) for g in data.groups), strict=True))
    cut = thresholds(
        np.asarray(fold.y_true), np.asarray(fold.y_prob), [group_of[f] for f in fold.val_files]
    )
    logger.info("%s: lr %g chosen on the validation split (ROC-AUC %s)", model, lr, best[0])
    return {
        "model": model,
        "architecture": cv.template(model, finetune).spec.architecture,
        "finetune": finetune,
        "lrs": tried,
        "lr": float(lr),
        "run": str(run_dir),
        "fingerprint": result.fingerprint,
        "thresholds": cut,
        "validation": {"n_frames": fold.n_val, "roc_auc": best[0]},
    }


def _chunks(groups: np.ndarray, per_chunk: int) -> list[np.ndarray]:
    """Index arrays of whole videos, each at most `per_chunk` crops (one video at least)."""
    order: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        order.setdefault(str(g), []).append(i)
    chunks, current = [], []
    for members in order.values():
        if current and len(current) + len(members) > per_chunk:
            chunks.append(np.asarray(current))
            current = []
        current += members
    return [*chunks, np.asarray(current)] if current else chunks


def _predict(models: list[dict], data, crop_size: int, budget: int, cv, out: Path, name: str):
    """Every model's P(fake) for every crop, through ``fakezoo.evaluate``'s prediction pass,
    whole videos at a time within the memory budget; kept in ``predictions/`` and reused only
    for the same runs and the same crops."""
    from ..evaluation.api import evaluate_many

    key = hashlib.sha256(
        json.dumps(
            [[m["run"], m["fingerprint"]] for m in models]
            + [data.relpaths(), [int(v) for v in data.labels]],
            sort_keys=True,
        ).encode()
    ).hexdigest()
    stored = out / "predictions" / f"{name}.json"
    if stored.is_file():
        saved = json.loads(stored.read_text(encoding="utf-8"))
        if saved.get("key") == key:
            return saved
    per_chunk = max(1, budget // max(1, decoded_bytes(1, crop_size)) // 2)
    paths, y, groups, skipped = [], [], [], []
    probs: dict[str, list[float]] = {m["model"]: [] for m in models}
    for chunk in _chunks(data.groups, per_chunk):
        suite = evaluate_many(
            [m["run"] for m in models],
            data.subset(chunk),
            bootstrap=0,
            device=str(cv.device),
            batch_size=max(cv.settings.batch_size, 32),
            num_workers=cv.num_workers,
        )
        first = suite.results[0].predictions
        paths += first["paths"]
        y += first["y_true"]
        groups += first["groups"]
        skipped += suite.results[0].data["skipped"]
        for m, res in zip(models, suite.results, strict=True):
            probs[m["model"]] += res.predictions["prob"]["clean"]
    saved = {
        "key": key,
        "paths": paths,
        "y_true": y,
        "groups": groups,
        "prob": probs,
        "skipped": skipped,
    }
    write_json(stored, saved)
    return saved


def run_protocol(
    train: str | DatasetSpec,
    test: Sequence[str | DatasetSpec] = ("celebdf-v2", "dfdc", "dfdcp"),
    *,
    models: Sequence[str],
    out: str | os.PathLike[str],
    data_root: str | os.PathLike[str] | None = None,
    cv: Any = None,
    lrs: Sequence[float] = DEFAULT_LRS,
    finetune: bool = True,
    policy: Policy | str = "deepfakebench",
    frames: int | None = None,
    min_size: float = 40,
    c40: bool = True,
    crop_dir: str | os.PathLike[str] | None = None,
    memory_budget_gb: float | None = None,
    workers: int | None = None,
) -> ProtocolResult:
    """The field's cross-dataset protocol, in one call (``fakezoo protocol``).

    1. Each benchmark is read from its distributed layout and its needed splits are cropped
       once with `policy` (resumable; crops shared across calls through `crop_dir`).
    2. Each model trains on the official training split of `train`, once per learning rate in
       `lrs` (each a fakezoo run directory with its fingerprint, resumed on a rerun); the one
       with the best ROC-AUC on the official validation split is kept, and the thresholds are
       the equal-error-rate points of its validation predictions, per level. No test set is
       looked at to choose anything.
    3. Every kept run is scored on the test split of `train` (FF++: also per manipulation
       method, and at c40 when `c40`) and of each `test` benchmark, at frame level and at
       video level (the video's score: the mean of its frames' P(fake)): ROC-AUC, AP, EER and
       accuracy at the validation threshold.

    Args:
        train: ``"ff++:c23"`` or another name of [`fakezoo.datasets`][fakezoo.datasets], with
            ``=PATH`` or found under `data_root`.
        test: The other benchmarks, tested on their official test split.
        models: Zoo model names (``fakezoo models``).
        out: Output folder: ``runs/``, ``predictions/``, ``protocol.json``, ``results.csv``,
            ``table.md``.
        data_root: Folder holding the benchmarks in their usual folders (``FaceForensics++``,
            ``Celeb-DF-v2``, ``DFDC``, ``DFDCP``).
        cv: The [`CrossValidator`][fakezoo.train.cv.CrossValidator] whose training settings
            (``cv.settings``: epochs, batch size, weights, device...) are used; their
            ``n_splits`` is not: the official split is the one fold.
        lrs: Learning rates to try.
        finetune: The study's "with fine-tune" policy, or the head only.
        policy: The crop policy or its name (default DeepfakeBench's).
        frames: Frames per video (default: the policy's, 32 for DeepfakeBench's).
        min_size: Smallest face kept by the crop step (shorter box side, px).
        c40: With a c23 FF++ training set, also test on FF++'s c40 test split.
        crop_dir: Where the crops go (default ``out/crops``).
        memory_budget_gb: Decoded data held at once (default: half the machine's memory).
            Test sets are scored in parts that fit; a training set that does not fit is refused
            before it is cropped.
        workers: Decoding and cropping threads.

    Returns:
        A [`ProtocolResult`][fakezoo.protocol.run.ProtocolResult], also written to `out`.

    Example:
        ```python
        # needs: FF++ (c23, c40), Celeb-DF v2, DFDC and DFDCP under /data
        import fakezoo
        from fakezoo.protocol import run_protocol
        cv = fakezoo.CrossValidator(epochs=10, batch_size=32)
        result = run_protocol("ff++:c23", ["celebdf-v2", "dfdc", "dfdcp"], models=["resnet50"],
                              out="bench/", data_root="/data", cv=cv)
        print(result.table())
        ```
    """
    with hold_folder(out, PROTOCOL):  # a new or empty folder, or this protocol's own
        return _run_protocol(
            train,
            test,
            models=models,
            out=out,
            data_root=data_root,
            cv=cv,
            lrs=lrs,
            finetune=finetune,
            policy=policy,
            frames=frames,
            min_size=min_size,
            c40=c40,
            crop_dir=crop_dir,
            memory_budget_gb=memory_budget_gb,
            workers=workers,
        )


def _run_protocol(
    train: str | DatasetSpec,
    test: Sequence[str | DatasetSpec],
    *,
    models: Sequence[str],
    out: str | os.PathLike[str],
    data_root: str | os.PathLike[str] | None,
    cv: Any,
    lrs: Sequence[float],
    finetune: bool,
    policy: Policy | str,
    frames: int | None,
    min_size: float,
    c40: bool,
    crop_dir: str | os.PathLike[str] | None,
    memory_budget_gb: float | None,
    workers: int | None,
) -> ProtocolResult:
    from ..train.cv import CrossValidator

    out = Path(out).expanduser().absolute()
    root = Path(data_root).expanduser() if data_root is not None else None
    policy = named_policy(policy) if isinstance(policy, str) else policy
    n_frames = frames or policy.frames or 32
    cv = cv if cv is not None else CrossValidator(n_splits=2)
    train_spec = _spec(train, root)
    test_specs = [_spec(t, root) for t in test]
    if train_spec.name == "ff++" and c40 and train_spec.compression == "c23":
        test_specs.insert(0, train_spec.with_compression("c40"))
    settings = {
        "train": train_spec.label,
        "test": [s.label for s in test_specs],
        "models": list(models),
        "policy": policy.to_dict(),
        "policy_name": policy_name(policy),
        "frames": n_frames,
        "min_size": min_size,
        "lrs": [float(v) for v in lrs],
        "finetune": finetune,
        "training": {
            k: v
            for k, v in cv.settings.to_dict().items()
            if k not in {"n_splits", "device", "memory_budget"}
        },
        "selection": "lr: best ROC-AUC on the official validation split; thresholds: its EER "
        "point, at frame and at video level",
        "aggregation": AGGREGATION,
    }
    _check_out(out, settings)
    budget = memory_budget(memory_budget_gb)
    crops = Path(crop_dir).expanduser().absolute() if crop_dir else out / "crops"
    common = dict(
        frames=n_frames, min_size=min_size, workers=workers, device=cv.device, progress=cv.progress
    )
    from ..models.registry import get_spec

    side = max(cv.settings.image_size or get_spec(m).image_size for m in models)
    trained = prepare(
        train_spec,
        ("train", "validation", "test"),
        crops,
        policy,
        budget=budget,
        size_for_budget=side,
        **common,
    )
    settings["train_set"] = trained.label
    sets = [(trained, "test")]
    notes: list[dict] = []
    for spec in test_specs:
        try:
            sets.append(
                (
                    prepare(
                        spec,
                        ("test",),
                        crops,
                        policy,
                        budget=0,
                        size_for_budget=policy.size,
                        **common,
                    ),
                    "test",
                )
            )
        except (DatasetError, ProtocolError) as exc:
            logger.warning("%s: left out of the table: %s", spec.label, exc)
            notes.append({"label": spec.label, "left_out": str(exc)})
    trained_models = [_train(cv, m, trained, lrs, finetune, out) for m in models]
    results = []
    for prepared, split in sets:
        data = prepared.split(split)
        preds = _predict(trained_models, data, policy.size, budget, cv, out, _name(prepared.label))
        for m in trained_models:
            scored = score(
                preds["y_true"],
                preds["prob"][m["model"]],
                preds["groups"],
                m["thresholds"],
                prepared.methods,
            )
            results.append(
                {
                    "model": m["model"],
                    "dataset": prepared.label,
                    "split": split,
                    "n_videos": len(set(preds["groups"])),
                    **scored,
                }
            )
    datasets = [
        _describe(p, ("train", "validation", "test") if p is trained else ("test",))
        for p, _ in sets
    ] + notes
    result = ProtocolResult(settings, datasets, trained_models, results)
    result.save(out)
    return result


def _name(label: str) -> str:
    return "".join(c if c.isalnum() or c in "+-_." else "-" for c in label)


def _describe(prepared: PreparedSet, splits: tuple[str, ...]) -> dict:
    return {
        "label": prepared.label,
        "root": str(prepared.index.root),
        "videos": prepared.index.counts(),
        "crops": str(prepared.folder),
        "n_crops": len(prepared.crops),
        "problems": [str(p) for p in prepared.index.problems],
        "videos_without_crops": skipped_videos(prepared, splits),
    }
