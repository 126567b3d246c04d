"""What a cross-validation gives: per-fold results and their summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..metrics import summarize_folds
from ..report import text

__all__ = ["CVResult", "FoldResult"]


@dataclass
class FoldResult:
    """One fold's metrics and validation predictions."""

    fold: int
    metrics: dict
    n_train: int
    n_val: int
    seconds: float
    history: list[float]
    val_files: list[str]
    y_true: list[int]
    y_prob: list[float]
    lr: float | None = None  # set when folds were trained at different rates (nested search)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CVResult:
    """The outcome of [`CrossValidator.run`][fakezoo.train.cv.CrossValidator.run]: per-fold metrics
    and their summary.

    Example:
        ```python
        result = cv.run("resnet50", data, lr=1e-3)
        result.mean["accuracy"], result.std["accuracy"]
        print(result.report())   # the study's per-fold block and averages, as Markdown
        ```
    """

    model: str
    finetune: bool | None
    trainable: list[str]
    lr: float | None  # None for a nested search: each fold has its own (FoldResult.lr)
    settings: dict
    folds: list[FoldResult]
    timings: dict = field(default_factory=dict)
    deviations: list[str] = field(default_factory=list)
    fingerprint: dict | None = None  # Fingerprint.to_dict(): what these numbers depend on
    skipped: list[dict] = field(default_factory=list)  # files left out: {"path", "reason"}
    # SHA-256 of every file a fold model trained on (sorted, unique): `fakezoo evaluate`
    # counts the images it shares with them
    train_files_sha256: list[str] = field(default_factory=list)

    @property
    def summary(self) -> dict:
        """Mean and std of every metric across folds, and the mean confusion matrix."""
        return summarize_folds([f.metrics for f in self.folds])

    @property
    def mean(self) -> dict:
        return self.summary["mean"]

    @property
    def std(self) -> dict:
        return self.summary["std"]

    @property
    def confusion_matrix_mean(self) -> list[list[float]]:
        return self.summary["confusion_matrix_mean"]

    def to_dict(self) -> dict:
        """The ``results.json`` shape, which [`fakezoo.report`][fakezoo.report] reads too: the
        fields, the main settings at the top level, and the fold summary."""
        mine = {f.name: getattr(self, f.name) for f in fields(self)}
        main = ("epochs", "n_splits", "seed", "image_size", "pretrained")
        return {
            **{k: mine.pop(k) for k in ("model", "finetune", "trainable", "lr")},
            **{k: self.settings[k] for k in main},
            **mine,
            "folds": [f.to_dict() for f in self.folds],
            "summary": self.summary,
        }

    @classmethod
    def from_dict(cls, data: dict) -> CVResult:
        """The result a ``to_dict`` wrote (its top-level copies of the settings are left out)."""
        given = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        return cls(**{**given, "folds": [FoldResult(**f) for f in data["folds"]]})

    def report(self) -> str:
        """The run's ``report.md``: per-fold block, mean ± std and mean confusion matrix."""
        return text.cv_report(self.to_dict())
