"""The run-directory format: typed records, their validation, and the run fingerprint.

This module is the only place that knows what a run directory holds::

    out_dir/config.json            RunConfig: the index (model, preprocessing, labels, the
                                   folds actually trained, mean metrics, fingerprint)
    out_dir/results.json           CVResult.to_dict(), with the fingerprint
    out_dir/fold_<k>/config.json   FoldConfig (timm ``local-dir:`` fields plus a ``fakezoo``
                                   section); written last, so it marks the fold finished
    out_dir/fold_<k>/predictions.json  out-of-fold predictions: val_files, y_true, y_prob
    out_dir/fold_<k>/model.safetensors the fold's weights (absent with save_weights=False)

A [`Fingerprint`][fakezoo.runs.schema.Fingerprint] names everything that changes a number; two runs
are "the same run" exactly when their fingerprints are equal, and
[`Fingerprint.diff`][fakezoo.runs.schema.Fingerprint.diff] says which fields differ. Adding a field
is one line plus the line that fills it in; a stored fingerprint that lacks a field was written by
an older checkout and is refused (nothing was released, so nothing older is read). Nothing here
imports torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import file_sha256
from ..errors import RunFormatError, RunMismatchError
from ..models.preprocessing import Preprocessing

__all__ = [
    "FOLD_CONFIG",
    "INDEX",
    "LABELS",
    "NUMERICS_VERSION",
    "PREDICTIONS",
    "RESULTS",
    "SCHEMA_VERSION",
    "WEIGHTS",
    "Fingerprint",
    "FoldConfig",
    "RunConfig",
    "check_digest",
    "check_fold_predictions",
    "check_labels",
    "check_lr",
    "check_object",
    "check_results",
    "check_same",
    "check_schema_version",
    "files_digest",
    "fold_differences",
    "fold_name",
    "mismatch_message",
]

SCHEMA_VERSION = 3
"""Version of the run-directory format written by this fakezoo (1: before fingerprints; 2: the
study's training mode and LR protocol were called ``"seed"``). Only this version is read."""

NUMERICS_VERSION = 1
"""Bumped whenever fakezoo changes how a number is computed for the same settings (training
loop, decoding, metrics). It is a fingerprint field, so a run is never resumed across it."""

LABELS = ("real", "fake")
"""Class names in logit order: 0 real, 1 fake. Every run must say exactly this."""

INDEX = "config.json"
RESULTS = "results.json"
FOLD_CONFIG = "config.json"
PREDICTIONS = "predictions.json"
WEIGHTS = "model.safetensors"

_FOLD_RE = re.compile(r"fold_([1-9][0-9]{0,3})")


def fold_name(k: int) -> str:
    """``fold_<k>``, the folder of fold ``k`` (1-based)."""
    return f"fold_{int(k)}"


def files_digest(relpaths: Iterable[str]) -> str:
    """SHA-256 of a set of relative paths (sorted, one per line): a fold's validation set."""
    return hashlib.sha256("\n".join(sorted(relpaths)).encode()).hexdigest()


# -- the fingerprint ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fingerprint:
    """Everything that changes a run's numbers, as named fields.

    Data and folds:
        data_sha256: the data's [`digest`][fakezoo.data.dataset.Dataset.digest] (the sorted
            relative path, file SHA-256 and label of every image).
        n_images: images in the data.
        folds: each fold's validation-file digest
            ([`files_digest`][fakezoo.runs.schema.files_digest]), in fold order.
    Model:
        model, trainable, weights (``"random"``, ``"timm:<tag>"``, ``"torchvision:<label>"``
        or ``"file:<name>"``), weights_sha256, image_size, mean, std.
    Training (from [`TrainSettings`][fakezoo.train.settings.TrainSettings]):
        epochs, batch_size, optimizer, weight_decay, seed, lr (``None`` when a search picks
        it), augment, mode (``"fast"`` or ``"study"``), drop_rate, fakes (``"dataset"``, or
        the self-blend recipe in words).
    Numerics:
        cache_dtype, cache_trunk, amp (``"off"``, ``"bf16"``, ``"fp16+scaler"``: what ran),
        trunk_backend (what ran the cached trunk), device_type, numerics_version, world_size
        (the ``torchrun`` processes that trained: their sums run in another order, so runs
        on different numbers of processes agree within float tolerance, not bit for bit).
    Search (``None`` outside a search):
        lr_range, n_trials, protocol, sampler, pruner, inner_splits.
    """

    data_sha256: str
    n_images: int
    folds: tuple[str, ...]
    model: str
    trainable: tuple[str, ...]
    weights: str
    weights_sha256: str | None
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    epochs: int
    batch_size: int
    optimizer: str
    weight_decay: float
    seed: int
    lr: float | None
    augment: str | None = None
    cache_dtype: str = "float16"
    cache_trunk: bool = True
    amp: str = "off"
    trunk_backend: str = "torch"
    device_type: str = "cpu"
    numerics_version: int = NUMERICS_VERSION
    lr_range: tuple[float, float] | None = None
    n_trials: int | None = None
    protocol: str | None = None
    sampler: str | None = None
    pruner: str | None = None
    inner_splits: int | None = None
    mode: str = "fast"
    drop_rate: float = 0.0
    world_size: int = 1
    fakes: str = "dataset"

    def __post_init__(self) -> None:
        for name in ("folds", "trainable", "mean", "std", "lr_range"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        if self.lr is not None:
            object.__setattr__(self, "lr", float(self.lr))
        for name in ("weight_decay", "drop_rate"):
            object.__setattr__(self, name, float(getattr(self, name)))

    def replace(self, **changes: Any) -> Fingerprint:
        """A copy with some fields changed (e.g. ``lr=None`` for the search's study)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, in field order."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "fingerprint") -> Fingerprint:
        """Read a stored fingerprint; unknown and missing fields are both refused."""
        if not isinstance(data, Mapping):
            raise RunFormatError(f"{where}: expected an object, got {data!r}.")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise RunFormatError(
                f"{where}: unknown fingerprint fields {unknown}; the run was "
                f"written by a newer fakezoo. Upgrade fakezoo to read it."
            )
        missing = sorted(names - set(data))
        if missing:
            raise RunFormatError(
                f"{where}: incomplete fingerprint, no {missing}; the run was written by an "
                f"older fakezoo checkout. Train it again with this one."
            )
        return cls(**dict(data))

    @property
    def sha256(self) -> str:
        """One digest of every field (canonical JSON), for quick equality checks."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def diff(self, new: Fingerprint) -> list[tuple[str, Any, Any]]:
        """``(field, old, new)`` for every field where ``new`` differs from this one."""
        old_d, new_d = self.to_dict(), new.to_dict()
        return [(k, old_d[k], new_d[k]) for k in old_d if old_d[k] != new_d[k]]


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _short(field_name: str, value: Any) -> str:
    if field_name == "folds" and isinstance(value, list):
        return f"{len(value)} folds [{', '.join(str(v)[:8] for v in value)}]"
    if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value):
        return value[:12] + "…"
    if value is None:
        return "none"
    return json.dumps(value) if not isinstance(value, str) else value


def mismatch_message(what: str, differences: Sequence[tuple[str, Any, Any]], ways_out: str) -> str:
    """One line: ``what`` holds other settings, each ``field: stored → asked``, the ways out."""
    changes = "; ".join(
        f"{name}: {_short(name, old)} → {_short(name, new)}" for name, old, new in differences
    )
    return (
        f"{what} was made with other data or settings, and fakezoo never reuses such "
        f"results. Differences (stored → asked): {changes}. {ways_out}"
    )


def check_same(stored: Fingerprint | None, asked: Fingerprint, what: str, ways_out: str) -> None:
    """Raise [`RunMismatchError`][fakezoo.errors.RunMismatchError] unless ``stored == asked``."""
    differences = [("fingerprint", None, asked.sha256)] if stored is None else stored.diff(asked)
    if differences:
        raise RunMismatchError(mismatch_message(what, differences, ways_out), differences)


# -- validation helpers -------------------------------------------------------------------------


def check_schema_version(version: Any, where: str) -> int:
    """Exactly [`SCHEMA_VERSION`][fakezoo.runs.schema.SCHEMA_VERSION]: a newer run needs a newer
    fakezoo, an older one (written by an unreleased checkout) is refused, to be trained again."""
    if not isinstance(version, int) or isinstance(version, bool) or version > SCHEMA_VERSION:
        raise RunFormatError(
            f"{where}: schema_version {version!r} is newer than this "
            f"fakezoo reads ({SCHEMA_VERSION}); upgrade fakezoo."
        )
    if version < SCHEMA_VERSION:
        raise RunFormatError(
            f"{where}: schema_version {version} was written by an older fakezoo checkout; "
            f"this one reads only version {SCHEMA_VERSION}. Train the run again (--overwrite "
            f"/ overwrite=True removes the old one)."
        )
    return version


def check_labels(labels: Any, where: str) -> list[str]:
    """Exactly ``["real", "fake"]``: logit 0 is real, logit 1 is fake."""
    if labels != list(LABELS):
        raise RunFormatError(
            f"{where}: labels must be exactly {list(LABELS)} (logit 0 real, "
            f"logit 1 fake), got {labels!r}. fakezoo refuses runs whose labels "
            f"are swapped or renamed: their predictions would be inverted."
        )
    return list(LABELS)


def check_trainable(value: Any, where: str) -> list[str]:
    if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
        raise RunFormatError(
            f"{where}: 'trainable' must be a non-empty list of module names, got {value!r}."
        )
    return list(value)


def fold_differences(fold: FoldConfig, asked: Fingerprint | None) -> list[tuple[str, Any, Any]]:
    """``(field, fold's, run's)`` where a fold's fingerprint (or, for a run at one learning
    rate, the lr it was trained at) is not the run's fingerprint ``asked``; empty when the fold
    belongs to the run. A nested search's run and folds record ``lr=None`` (each fold has its
    own, chosen by the search); any other run has one lr, every fold's."""
    if asked is None:
        return []
    if fold.fingerprint is None:
        return [("fingerprint", None, asked.sha256)]
    differences = fold.fingerprint.diff(asked)
    if asked.lr is not None and fold.lr != asked.lr and not any(d[0] == "lr" for d in differences):
        differences.append(("lr", fold.lr, asked.lr))
    return differences


def fold_number(name: Any, where: str) -> int:
    """``k`` of a ``fold_<k>`` name; anything else is refused (it could leave the run)."""
    match = _FOLD_RE.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        raise RunFormatError(
            f"{where}: fold name {name!r} is not of the form 'fold_<k>': refusing it."
        )
    return int(match.group(1))


def check_lr(value: Any, where: str) -> float:
    """A learning rate: a finite number above 0 (JSON's ``1e999`` reads as infinity)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not value > 0
    ):
        raise RunFormatError(f"{where}: 'lr' must be a finite positive number, got {value!r}.")
    return float(value)


def check_object(value: Any, where: str, name: str) -> dict | None:
    """``value`` when it is a JSON object (or null: ``None``), else a ``RunFormatError``."""
    if value is not None and not isinstance(value, dict):
        raise RunFormatError(
            f"{where}: '{name}' must be an object, got a {type(value).__name__} ({value!r:.60})."
        )
    return value


def check_results(data: Any, where: str) -> dict:
    """A run's ``results.json`` (or the part an export carries): an object whose ``folds`` is
    a list of objects with ``y_true``/``y_prob`` lists, ``summary`` and ``settings`` objects,
    a ``deviations`` list and a ``train_files_sha256`` list of strings, each of them optional.

    Example:
        ```python
        check_results({"folds": [{"fold": 1, "y_true": [0, 1], "y_prob": [0.2, 0.9]}]}, "x")
        ```
    """
    if not isinstance(data, dict):
        raise RunFormatError(f"{where}: must hold a JSON object, not a {type(data).__name__}.")
    folds = data.get("folds", [])
    if not isinstance(folds, list):
        raise RunFormatError(f"{where}: 'folds' must be a list, got {folds!r:.60}.")
    for i, fold in enumerate(folds):
        check_object(fold, where, f"folds[{i}]")
        if fold is None:
            raise RunFormatError(f"{where}: 'folds[{i}]' must be an object, got null.")
        for key in ("y_true", "y_prob", "val_files"):
            value = fold.get(key)
            if value is not None and not isinstance(value, list):
                raise RunFormatError(
                    f"{where}: 'folds[{i}].{key}' must be a list, got {value!r:.60}."
                )
    for key in ("summary", "settings"):
        check_object(data.get(key), where, key)
    deviations = data.get("deviations", [])
    if not isinstance(deviations, list):
        raise RunFormatError(f"{where}: 'deviations' must be a list, got {deviations!r:.60}.")
    hashes = data.get("train_files_sha256", [])
    if not (isinstance(hashes, list) and all(isinstance(h, str) for h in hashes)):
        raise RunFormatError(
            f"{where}: 'train_files_sha256' must be a list of SHA-256 strings, got {hashes!r:.60}."
        )
    return data


_PREDICTION_FIELDS = {  # a fold's predictions.json (FoldResult.to_dict())
    "fold": int,
    "metrics": dict,
    "n_train": int,
    "n_val": int,
    "seconds": (int, float),
    "history": list,
    "val_files": list,
    "y_true": list,
    "y_prob": list,
}


def check_fold_predictions(data: Any, where: str) -> dict:
    """A fold's ``predictions.json``: an object with every field a finished fold records."""
    if not isinstance(data, dict):
        raise RunFormatError(f"{where}: must hold a JSON object, not a {type(data).__name__}.")
    for key, kind in _PREDICTION_FIELDS.items():
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, kind):
            raise RunFormatError(f"{where}: '{key}' is missing or malformed ({value!r:.60}).")
    unknown = sorted(set(data) - set(_PREDICTION_FIELDS) - {"lr"})
    if unknown:
        raise RunFormatError(f"{where}: unknown fields {unknown}.")
    if len(data["y_true"]) != len(data["y_prob"]) or len(data["y_true"]) != len(data["val_files"]):
        raise RunFormatError(f"{where}: val_files, y_true and y_prob differ in length.")
    return data


def _fingerprint_or_none(value: Any, where: str) -> Fingerprint | None:
    return None if value is None else Fingerprint.from_dict(value, f"{where}: fingerprint")


def _int(value: Any, where: str, name: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise RunFormatError(f"{where}: '{name}' must be an integer >= {low}, got {value!r}.")
    return value


# -- the records --------------------------------------------------------------------------------


@dataclass
class FoldConfig:
    """A fold's ``config.json``: what was trained, how, and on which validation files.

    ``to_dict`` writes the timm ``local-dir:`` fields (``architecture``, ``num_classes``,
    ``pretrained_cfg``) beside the ``fakezoo`` section, so timm can read the folder too.
    """

    fold: int
    model: str
    architecture: str
    finetune: bool | None
    trainable: list[str]
    preprocessing: Preprocessing
    lr: float
    n_train: int
    n_val: int
    val_files_sha256: str
    metrics: dict
    settings: dict
    fingerprint: Fingerprint | None
    version: str = ""
    labels: list[str] = field(default_factory=lambda: list(LABELS))
    weights_sha256: str | None = None
    predictions_sha256: str | None = None

    name = property(lambda self: fold_name(self.fold), doc="``fold_<k>``")

    def to_dict(self) -> dict:
        pre = self.preprocessing
        return {
            "architecture": self.architecture,
            "num_classes": 2,
            "pretrained_cfg": {
                **{k: _plain(v) for k, v in pre.timm_cfg().items()},
                "num_classes": 2,
                "label_names": list(self.labels),
            },
            "fakezoo": {
                "schema_version": SCHEMA_VERSION,
                "version": self.version,
                "model": self.model,
                "finetune": self.finetune,
                "trainable": list(self.trainable),
                "preprocessing": pre.to_dict(),
                "labels": list(self.labels),
                "fold": self.fold,
                "lr": self.lr,
                **{k: v for k, v in self.settings.items() if k not in _FOLD_OWN},
                "n_train": self.n_train,
                "n_val": self.n_val,
                "val_files_sha256": self.val_files_sha256,
                "metrics": self.metrics,
                "fingerprint": None if self.fingerprint is None else self.fingerprint.to_dict(),
                "weights_sha256": self.weights_sha256,
                "predictions_sha256": self.predictions_sha256,
            },
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "fold config.json") -> FoldConfig:
        if not isinstance(data, dict):
            raise RunFormatError(f"{where}: must hold a JSON object.")
        fz = data.get("fakezoo")
        if not isinstance(fz, dict):
            raise RunFormatError(f"Not a fakezoo fold: {where} has no 'fakezoo' section.")
        num_classes = data.get("num_classes", 2)
        labels = check_labels(fz.get("labels"), where)
        if num_classes != 2:
            raise RunFormatError(
                f"{where}: num_classes={num_classes!r}; fakezoo runs have two classes {labels}."
            )
        finetune = fz.get("finetune")
        if finetune not in (True, False, None):
            raise RunFormatError(f"{where}: 'finetune' must be true, false or null.")
        if not isinstance(fz.get("model"), str):
            raise RunFormatError(f"{where}: 'model' must be a fakezoo model name.")
        lr = check_lr(fz.get("lr"), where)
        check_schema_version(fz.get("schema_version", 1), where)
        settings = {k: v for k, v in fz.items() if k not in _FOLD_OWN and k != "schema_version"}
        return cls(
            fold=_int(fz.get("fold"), where, "fold", 1),
            model=fz["model"],
            architecture=str(data.get("architecture", "")),
            finetune=finetune,
            trainable=check_trainable(fz.get("trainable"), where),
            preprocessing=Preprocessing.from_dict(fz.get("preprocessing"), where),
            lr=lr,
            n_train=_int(fz.get("n_train", 0), where, "n_train"),
            n_val=_int(fz.get("n_val", 0), where, "n_val"),
            val_files_sha256=str(fz.get("val_files_sha256", "")),
            metrics=dict(check_object(fz.get("metrics"), where, "metrics") or {}),
            settings=settings,
            fingerprint=_fingerprint_or_none(fz.get("fingerprint"), where),
            version=str(fz.get("version", "")),
            labels=labels,
            weights_sha256=_sha256_or_none(fz.get("weights_sha256"), where, "weights_sha256"),
            predictions_sha256=_sha256_or_none(
                fz.get("predictions_sha256"), where, "predictions_sha256"
            ),
        )


def _sha256_or_none(value: Any, where: str, name: str) -> str | None:
    if value is None or (isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value)):
        return value
    raise RunFormatError(f"{where}: '{name}' must be a SHA-256 in hex, got {value!r:.80}.")


def check_digest(path: Path, recorded: str | None, where: str, ways_out: str) -> None:
    """Refuse a file of a fold whose SHA-256 is not the one its ``config.json`` recorded when
    fakezoo wrote it (an edited file, or one swapped in from another fold).

    Example:
        ```python
        check_digest(Path("run/fold_1/model.safetensors"), cfg.weights_sha256,
                     "run/fold_1/config.json", "Train the fold again.")
        ```
    """
    if recorded is None:
        raise RunFormatError(
            f"{where} records no SHA-256 of '{path.name}': it was written by an older fakezoo "
            f"checkout, and its files cannot be checked. {ways_out}"
        )
    actual = file_sha256(path)
    if actual != recorded:
        raise RunFormatError(
            f"'{path}' is not the file fakezoo wrote: its SHA-256 {actual[:12]}… differs from "
            f"the {recorded[:12]}… that {where} records, and fakezoo never uses an edited or "
            f"swapped file. {ways_out}"
        )


_FOLD_OWN = frozenset(
    {
        "version",
        "model",
        "finetune",
        "trainable",
        "preprocessing",
        "labels",
        "fold",
        "lr",
        "n_train",
        "n_val",
        "val_files_sha256",
        "metrics",
        "fingerprint",
        "weights_sha256",
        "predictions_sha256",
    }
)


@dataclass
class RunConfig:
    """A run's index ``config.json``.

    Attributes:
        folds: the folds actually trained (``fold_<k>`` names), whatever ``n_splits`` was.
        lr: the run's learning rate; ``None`` for a nested search (``settings["protocol"]``
            is ``"nested"``), whose folds each record their own.
        complete: every fold in ``folds`` is finished and ``results.json`` is written.
        settings: the human-readable settings (epochs, optimizer, ...).
        fingerprint: see [`Fingerprint`][fakezoo.runs.schema.Fingerprint]; ``None`` when the
            config holds none (such a run loads, but never resumes).
    """

    model: str
    architecture: str
    finetune: bool | None
    trainable: list[str]
    preprocessing: Preprocessing
    folds: list[str]
    lr: float | None
    complete: bool
    settings: dict
    fingerprint: Fingerprint | None
    weights: str | None = None
    split_seed: int | None = None
    metrics: dict | None = None
    metrics_std: dict | None = None
    fakezoo_version: str = ""
    labels: list[str] = field(default_factory=lambda: list(LABELS))
    schema_version: int = SCHEMA_VERSION

    @property
    def n_folds(self) -> int:
        return len(self.folds)

    def to_dict(self) -> dict:
        return {
            "library_name": "fakezoo",
            "schema_version": self.schema_version,
            "fakezoo_version": self.fakezoo_version,
            "model": self.model,
            "architecture": self.architecture,
            "weights": self.weights,
            "finetune": self.finetune,
            "trainable": list(self.trainable),
            "preprocessing": self.preprocessing.to_dict(),
            "labels": list(self.labels),
            "n_splits": len(self.folds),
            "split_seed": self.split_seed,
            "lr": self.lr,
            "folds": list(self.folds),
            "complete": self.complete,
            "metrics": self.metrics,
            "metrics_std": self.metrics_std,
            "settings": self.settings,
            "fingerprint": None if self.fingerprint is None else self.fingerprint.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "config.json") -> RunConfig:
        if not isinstance(data, dict):
            raise RunFormatError(f"{where}: must hold a JSON object.")
        if data.get("library_name") != "fakezoo":
            raise RunFormatError(
                f"Not a fakezoo run: {where} has library_name="
                f"{data.get('library_name')!r} (expected 'fakezoo')."
            )
        version = check_schema_version(data.get("schema_version", 1), where)
        if not isinstance(data.get("model"), str):
            raise RunFormatError(
                f"{where}: 'model' must be a fakezoo model name, got {data.get('model')!r}."
            )
        folds = data.get("folds")
        if not (isinstance(folds, list) and folds):
            raise RunFormatError(f"{where}: 'folds' must be a non-empty list, got {folds!r}.")
        numbers = [fold_number(f, where) for f in folds]
        if len(set(numbers)) != len(numbers):
            raise RunFormatError(f"{where}: 'folds' lists a fold twice: {folds!r}.")
        n_splits = data.get("n_splits", len(folds))
        if n_splits != len(folds):
            raise RunFormatError(
                f"{where}: n_splits={n_splits!r} but 'folds' lists "
                f"{len(folds)} folds {folds}; the index is inconsistent."
            )
        finetune = data.get("finetune")
        if finetune not in (True, False, None):
            raise RunFormatError(f"{where}: 'finetune' must be true, false or null.")
        settings = dict(check_object(data.get("settings"), where, "settings") or {})
        nested = settings.get("protocol") == "nested"  # no run lr: each fold has its own
        lr = None if nested and data.get("lr") is None else check_lr(data.get("lr"), where)
        return cls(
            model=data["model"],
            architecture=str(data.get("architecture", "")),
            finetune=finetune,
            trainable=check_trainable(data.get("trainable"), where),
            preprocessing=Preprocessing.from_dict(data.get("preprocessing"), where),
            folds=list(folds),
            lr=lr,
            complete=data.get("complete") is True,
            settings=settings,
            fingerprint=_fingerprint_or_none(data.get("fingerprint"), where),
            weights=data.get("weights"),
            split_seed=data.get("split_seed"),
            metrics=check_object(data.get("metrics"), where, "metrics"),
            metrics_std=check_object(data.get("metrics_std"), where, "metrics_std"),
            fakezoo_version=str(data.get("fakezoo_version", "")),
            labels=check_labels(data.get("labels"), where),
            schema_version=version,
        )

    def check_fold(self, fold: FoldConfig, name: str, where: str) -> None:
        """A fold config must belong to this run: same name, model, preprocessing, labels
        and fingerprint (the lr may differ per fold in a nested search)."""
        if fold.name != name:
            raise RunFormatError(f"{where}: says it is fold {fold.fold} but sits in '{name}'.")
        if fold.model != self.model:
            raise RunFormatError(
                f"{where}: model '{fold.model}' differs from the run's '{self.model}'."
            )
        if fold.preprocessing != self.preprocessing:
            raise RunFormatError(
                f"{where}: preprocessing {fold.preprocessing.to_dict()} differs from "
                f"the run's {self.preprocessing.to_dict()}; every fold of a run must "
                f"share it."
            )
        if fold.labels != self.labels:
            raise RunFormatError(f"{where}: labels {fold.labels} differ from the run's.")
        names = [d[0] for d in fold_differences(fold, self.fingerprint)]
        if names:
            raise RunFormatError(
                f"{where}: its fingerprint differs from the run's in "
                f"{', '.join(names)}; the fold comes from another run."
            )
