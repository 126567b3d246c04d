"""Stratified k-fold cross-validation of one model and policy at one learning rate.

:class:`CrossValidator` decodes the data once, runs the frozen trunk once per image, and trains
the tail of each fold on the cached output. Given an ``out_dir`` it writes a run directory that
the Hub and predict modules read::

    out_dir/
      config.json          index: model, policy, preprocessing, labels, folds, mean metrics
      results.json         CVResult.to_dict()
      report.md            the seed's per-fold block and averages
      fold_1/model.safetensors, fold_1/config.json, fold_1/predictions.json
      ...

Every file is written atomically, so a run stopped at any point (even ``kill -9``) resumes
where it stopped and gives the same results as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save

from .._io import atomic_write, atomic_write_text, write_json
from .._version import __version__
from ..data import LABEL_NAMES, Dataset, DecodedImages, decode_dataset, load_dataset, load_folds
from ..data import make_folds as _make_folds
from ..errors import RunDirectoryError
from ..metrics import binary_metrics, summarize_folds
from ..models.build import create
from ..models.registry import get_spec
from ..models.stages import split_trunk_tail
from ..report import plots, text
from .engine import TrainSettings, compute_trunk, resolve_device, train_fold

__all__ = ["CVResult", "CrossValidator", "FoldResult"]

logger = logging.getLogger("fakezoo")


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
    """The outcome of :meth:`CrossValidator.run`: per-fold metrics and their summary.

    Example:
        ```python
        result = cv.run("resnet50", data, lr=1e-3)
        result.mean["accuracy"], result.std["accuracy"]
        print(result.report())   # the seed's per-fold block and averages, as Markdown
        ```
    """

    model: str
    finetune: bool | None
    trainable: list[str]
    lr: float
    settings: dict
    folds: list[FoldResult]
    timings: dict = field(default_factory=dict)
    deviations: list[str] = field(default_factory=list)

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
        return {
            "model": self.model, "finetune": self.finetune, "trainable": self.trainable,
            "lr": self.lr, **{k: self.settings[k] for k in
                              ("epochs", "n_splits", "seed", "image_size", "pretrained")},
            "settings": self.settings, "folds": [f.to_dict() for f in self.folds],
            "summary": self.summary, "deviations": self.deviations, "timings": self.timings,
        }

    @classmethod
    def from_dict(cls, data: dict) -> CVResult:
        return cls(model=data["model"], finetune=data["finetune"], trainable=data["trainable"],
                   lr=data["lr"], settings=data["settings"],
                   folds=[FoldResult(**f) for f in data["folds"]],
                   timings=data.get("timings", {}), deviations=data.get("deviations", []))

    def report(self) -> str:
        """The run's ``report.md``: per-fold block, mean ± std and mean confusion matrix."""
        return text.cv_report(self.to_dict())


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """Save a model's state dict as safetensors, atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    data = save(state, metadata={"format": "pt"})  # the bytes save_file would write
    atomic_write(path, lambda handle: handle.write(data))


def _fingerprint(paths: Sequence[str], labels: Sequence[int]) -> str:
    digest = hashlib.sha256()
    for path, label in zip(paths, labels, strict=True):
        digest.update(f"{path}\t{int(label)}\n".encode())
    return digest.hexdigest()


def fold_config(model: torch.nn.Module, settings: dict, fold: FoldResult) -> dict:
    """A fold's ``config.json``: timm ``local-dir:`` fields plus what fakezoo needs."""
    pre = model.preprocessing
    return {
        "architecture": model.spec.architecture,
        "num_classes": 2,
        "pretrained_cfg": {
            "input_size": [3, pre.image_size, pre.image_size], "interpolation": "bilinear",
            "mean": list(pre.mean), "std": list(pre.std), "crop_pct": 1.0,
            "num_classes": 2, "label_names": list(LABEL_NAMES),
        },
        "fakezoo": {
            "version": __version__, "model": settings["model"],
            "finetune": model.finetune, "trainable": settings["trainable"],
            "preprocessing": pre.to_dict(), "labels": list(LABEL_NAMES),
            "fold": fold.fold, "n_splits": settings["n_splits"], "seed": settings["seed"],
            "lr": fold.lr if fold.lr is not None else settings["lr"],
            "epochs": settings["epochs"],
            "batch_size": settings["batch_size"], "optimizer": settings["optimizer"],
            "n_train": fold.n_train, "n_val": fold.n_val,
            "val_files_sha256": hashlib.sha256("\n".join(fold.val_files).encode()).hexdigest(),
            "metrics": fold.metrics,
        },
    }


class CrossValidator:
    """Stratified k-fold cross-validation with the seed's training setup.

    The decoded images and the frozen trunk's output are kept between calls of :meth:`run`,
    so an LR search over many trials runs the trunk once per image.

    Args:
        n_splits: folds (the seed: 3).
        epochs: epochs per fold.
        batch_size: images per step.
        optimizer: ``"adam"`` (the seed's), ``"adamw"`` or ``"sgd"``.
        seed: seeds the folds, the head initialisation and the batch order.
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda:1"``...
        pretrained: ImageNet weights (``True``), a local ``.safetensors`` file, or ``False``.
        image_size: override the seed's input size (recorded as a deviation).
        normalization: ``"seed"`` (0.5/0.5) or ``"pretrained"`` (the weights' own).
        augment: a callable on uint8 image batches; turns trunk caching off.
        cache_trunk: cache the frozen trunk's output (``False`` runs the whole model every
            step, as a plain implementation would).
        weight_decay: optimiser weight decay.
        cache_dir: on-disk cache of decoded images, keyed by file content.
        num_workers: decoding processes (default: all cores).
        progress: progress bars; ``None`` shows them on a terminal only.
        amp: autocast on CUDA.
        cache_dtype: storage type of the cached trunk output.
        save_weights: write each fold's ``model.safetensors`` into run directories. ``False``
            keeps metrics and predictions only (a run that cannot be loaded or pushed).

    Example:
        ```python
        import fakezoo
        data = fakezoo.load_dataset(fakezoo.make_demo_dataset("demo", n_per_class=30))
        cv = fakezoo.CrossValidator(epochs=2, pretrained=False, image_size=64, device="cpu")
        result = cv.run("mobilenet_v2", data, finetune=False, lr=1e-3)
        round(result.mean["accuracy"], 2)
        ```
    """

    def __init__(self, n_splits: int = 3, epochs: int = 3, batch_size: int = 32,
                 optimizer: str = "adam", seed: int = 0, device: str = "auto", *,
                 pretrained: bool | str | Path = True, image_size: int | None = None,
                 normalization: str = "seed", augment: Callable | None = None,
                 cache_trunk: bool = True, weight_decay: float = 0.0,
                 cache_dir: str | Path | None = None, num_workers: int | None = None,
                 progress: bool | None = None, amp: bool = True,
                 cache_dtype: torch.dtype = torch.float16, save_weights: bool = True):
        if n_splits < 2:
            raise ValueError(f"n_splits={n_splits}: cross-validation needs at least 2 folds.")
        self.n_splits = n_splits
        self.train = TrainSettings(epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                                   weight_decay=weight_decay, seed=seed, cache_dtype=cache_dtype,
                                   amp=amp, progress=progress)
        self.seed = seed
        self.device = resolve_device(device)
        self.pretrained = pretrained
        self.image_size = image_size
        self.normalization = normalization
        self.augment = augment
        self.cache_trunk = cache_trunk and augment is None
        if augment is not None and cache_trunk:
            logger.warning("Augmentation is on: the frozen trunk's output changes every epoch, "
                           "so fakezoo runs the whole model on every step (slower).")
        self.cache_dir = cache_dir
        self.num_workers = num_workers
        self.progress = progress
        self.save_weights = save_weights
        self._decoded: dict[tuple, DecodedImages] = {}
        self._models: dict[tuple, tuple[torch.nn.Module, dict]] = {}
        self._trunk: tuple[torch.nn.Module, DecodedImages, torch.Tensor] | None = None
        self.trunk_images = 0  # images run through a frozen trunk, for cost accounting

    # -- data ---------------------------------------------------------------------------
    def decode(self, dataset: str | Path | Dataset | DecodedImages, image_size: int
               ) -> DecodedImages:
        """Load and decode a dataset once per image size; later calls reuse the result."""
        if isinstance(dataset, DecodedImages):
            if dataset.image_size != image_size:
                raise ValueError(f"The decoded images are {dataset.image_size} pixels; the "
                                 f"model needs {image_size}. Pass the Dataset instead.")
            return dataset
        if not isinstance(dataset, Dataset):
            dataset = load_dataset(dataset)
        key = (_fingerprint(dataset.relpaths(), dataset.labels), str(dataset.root), image_size)
        if key not in self._decoded:
            dataset.check_for_cv(self.n_splits)
            self._decoded = {k: v for k, v in self._decoded.items() if k[2] != image_size}
            self._decoded[key] = decode_dataset(dataset, image_size, cache_dir=self.cache_dir,
                                                num_workers=self.num_workers,
                                                progress=self.progress)
        decoded = self._decoded[key]
        decoded.dataset.check_for_cv(self.n_splits)
        return decoded

    def make_folds(self, decoded: DecodedImages) -> list[tuple[np.ndarray, np.ndarray]]:
        """The seeded stratified (group) folds of the decoded images."""
        return _make_folds(decoded.labels.numpy(), self.n_splits, self.seed,
                           decoded.dataset.groups)

    # -- models and the trunk cache -------------------------------------------------------
    def template(self, model_name: str, finetune: bool = True,
                 trainable: Sequence[str] | None = None) -> torch.nn.Module:
        """The model every fold trains, built once (seeded) and kept on the device.

        Before each fold, :meth:`fit_fold` puts the tail's initial weights back; the frozen
        trunk never changes, so no fold needs a copy of the whole network.
        """
        key = (model_name, finetune, tuple(trainable) if trainable is not None else None)
        if key not in self._models:
            torch.manual_seed(self.seed)
            model = create(model_name, finetune=finetune, pretrained=self.pretrained,
                           trainable=trainable, image_size=self.image_size,
                           normalization=self.normalization)
            model.to(self.device, memory_format=torch.channels_last)
            owned = tuple(o for stage in split_trunk_tail(model)[1] for o in stage.owns)
            initial = {k: v.detach().clone() for k, v in model.state_dict().items()
                       if any(k.startswith(o + ".") or k == o for o in owned)}
            self._models = {key: (model, initial)}
        return self._models[key][0]

    def _reset_tail(self, template: torch.nn.Module) -> None:
        for model, initial in self._models.values():
            if model is template:
                model.load_state_dict(initial, strict=False)
                return
        raise ValueError("fit_fold needs a model made by this CrossValidator's template().")

    def trunk_output(self, template: torch.nn.Module, decoded: DecodedImages) -> torch.Tensor:
        """The frozen trunk's output for every image, computed once and kept."""
        cached = self._trunk
        if cached is not None and cached[0] is template and cached[1] is decoded:
            return cached[2]
        self._trunk = None  # free the previous model's cache first
        start = time.perf_counter()
        features = compute_trunk(
            template, decoded.images, device=self.device,
            batch_size=max(self.train.batch_size, 64), dtype=self.train.cache_dtype,
            amp=self.train.amp, progress=self.progress)
        self.trunk_images += len(decoded.images)
        logger.info("%s: frozen trunk run once over %d images in %.1fs", template.spec.name,
                    len(decoded.images), time.perf_counter() - start)
        self._trunk = (template, decoded, features)
        return features

    # -- one fold -------------------------------------------------------------------------
    def fit_fold(self, template: torch.nn.Module, decoded: DecodedImages,
                 train_idx: np.ndarray, val_idx: np.ndarray, lr: float, fold: int = 1,
                 on_epoch: Callable[[int, float], None] | None = None
                 ) -> tuple[torch.nn.Module, FoldResult]:
        """Train ``template``'s tail from its initial weights on ``train_idx``, score it on
        ``val_idx``.

        Returns the trained model (``template`` itself: save or copy it before the next fold)
        and the fold's result.
        """
        start = time.perf_counter()
        inputs = decoded.images if not self.cache_trunk else self.trunk_output(template,
                                                                                decoded)
        self._reset_tail(template)
        model = template
        out = train_fold(model, inputs, decoded.labels, train_idx, val_idx, lr, self.train,
                         device=self.device, fold=fold, full=not self.cache_trunk,
                         augment=self.augment, on_epoch=on_epoch)
        relpaths = decoded.dataset.relpaths()
        result = FoldResult(
            fold=fold, metrics=binary_metrics(out.y_true, out.y_pred, out.y_prob),
            n_train=len(train_idx), n_val=len(val_idx),
            seconds=round(time.perf_counter() - start, 3), history=out.history,
            val_files=[relpaths[i] for i in val_idx], y_true=out.y_true.tolist(),
            y_prob=[float(p) for p in out.y_prob])
        return model, result

    # -- the whole run --------------------------------------------------------------------
    def settings(self, model_name: str, finetune: bool, trainable: Sequence[str], lr: float,
                 decoded: DecodedImages) -> dict:
        """Everything that determines a run's numbers; a run directory must match it."""
        spec = get_spec(model_name)
        pretrained = self.pretrained if isinstance(self.pretrained, bool) else str(
            self.pretrained)
        return {
            "model": model_name, "finetune": finetune, "trainable": list(trainable),
            "lr": float(lr), "epochs": self.train.epochs, "batch_size": self.train.batch_size,
            "optimizer": self.train.optimizer, "weight_decay": self.train.weight_decay,
            "n_splits": self.n_splits, "seed": self.seed,
            "image_size": decoded.image_size, "seed_image_size": spec.image_size,
            "pretrained": pretrained, "normalization": self.normalization,
            "augment": None if self.augment is None else repr(self.augment),
            "data_sha256": _fingerprint(decoded.dataset.relpaths(), decoded.dataset.labels),
            "n_images": len(decoded.images),
        }

    def run(self, model_name: str, dataset: str | Path | Dataset | DecodedImages,
            finetune: bool = True, lr: float = 1e-3, out_dir: str | Path | None = None, *,
            trainable: Sequence[str] | None = None,
            folds: str | Path | list[tuple[np.ndarray, np.ndarray]] | None = None,
            on_epoch: Callable[[int, int, float], None] | None = None) -> CVResult:
        """Cross-validate one model and policy at one learning rate.

        Args:
            model_name: one of :func:`fakezoo.list_models`.
            dataset: a folder or CSV path, a :class:`~fakezoo.data.Dataset`, or decoded images.
            finetune: the seed's "with fine-tune" policy (``True``) or head only (``False``).
            lr: learning rate.
            out_dir: write the run directory here; an existing one with the same settings
                resumes, skipping finished folds.
            trainable: your own freeze policy (module names to train).
            folds: precomputed folds, or a file written by :func:`fakezoo.data.save_folds`.
            on_epoch: called with (fold, epoch, validation accuracy) after every epoch.

        Returns:
            A :class:`CVResult`.
        """
        started = time.perf_counter()
        template = self.template(model_name, finetune, trainable)
        decoded = self.decode(dataset, template.preprocessing.image_size)
        if folds is None:
            splits = self.make_folds(decoded)
        elif isinstance(folds, str | Path):
            splits = load_folds(folds, decoded.dataset)
        else:
            splits = folds
        settings = self.settings(model_name, finetune, template.trainable, lr, decoded)
        out = Path(out_dir) if out_dir is not None else None
        if out is not None:
            self.claim_run_dir(out, settings, template)

        results: list[FoldResult] = []
        for k, (train_idx, val_idx) in enumerate(splits, start=1):
            done = self._load_fold(out, k) if out is not None else None
            if done is not None:
                logger.info("%s fold %d/%d: already done, loaded from %s", model_name, k,
                            len(splits), out / f"fold_{k}")
                results.append(done)
                continue
            hook = None if on_epoch is None else (lambda e, a, k=k: on_epoch(k, e, a))
            model, fold = self.fit_fold(template, decoded, train_idx, val_idx, lr, k, hook)
            if out is not None:
                self.save_fold(out, k, model, settings, fold)
            results.append(fold)
            m = fold.metrics
            logger.info("%s fold %d/%d: accuracy %.4f, F1 %.4f, AUC %s (%.1fs)", model_name, k,
                        len(splits), m["accuracy"], m["f1"],
                        "n/a" if m.get("roc_auc") is None else f"{m['roc_auc']:.4f}",
                        fold.seconds)

        result = CVResult(model=model_name, finetune=template.finetune,
                          trainable=list(template.trainable), lr=float(lr), settings=settings,
                          folds=results, deviations=self.deviations(template, settings),
                          timings={"total_seconds": round(time.perf_counter() - started, 3),
                                   "trunk_images": self.trunk_images})
        if out is not None:
            self.finish_run_dir(out, result, template)
        return result

    def deviations(self, template: torch.nn.Module, settings: dict) -> list[str]:
        """How this run departs from the seed's protocol, in words."""
        notes = []
        if settings["image_size"] != settings["seed_image_size"]:
            notes.append(f"image size {settings['image_size']} instead of the seed's "
                         f"{settings['seed_image_size']}")
        if settings["pretrained"] is False:
            notes.append("random initialisation instead of ImageNet weights")
        if settings["normalization"] != "seed":
            notes.append("the weights' own normalization instead of the seed's 0.5/0.5")
        if settings["optimizer"] != "adam":
            notes.append(f"optimizer {settings['optimizer']} instead of Adam")
        if settings["augment"]:
            notes.append("random augmentation (the seed had none)")
        if template.finetune is None:
            notes.append(f"custom policy: trains {', '.join(settings['trainable'])}")
        return notes

    # -- run directory --------------------------------------------------------------------
    def claim_run_dir(self, out: Path, settings: dict, template: torch.nn.Module) -> None:
        """Start a run directory, or check that an existing one has the same settings."""
        index = out / "config.json"
        if index.exists():
            previous = json.loads(index.read_text()).get("settings")
            if previous != settings:
                changed = sorted(k for k in set(settings) | set(previous or {})
                                 if (previous or {}).get(k) != settings.get(k))
                raise RunDirectoryError(
                    f"'{out}' holds a run with other settings (different: {', '.join(changed)})."
                    f" Use another out_dir, or delete '{out}' to start over.")
            return
        write_json(index, self._index(settings, template, None))

    def _index(self, settings: dict, template: torch.nn.Module, result: CVResult | None) -> dict:
        spec = template.spec
        return {
            "library_name": "fakezoo", "fakezoo_version": __version__,
            "model": spec.name, "architecture": spec.architecture,
            "weights": spec.pretrained_tag if settings["pretrained"] is True else None,
            "finetune": template.finetune, "trainable": list(template.trainable),
            "preprocessing": template.preprocessing.to_dict(), "labels": list(LABEL_NAMES),
            "n_splits": settings["n_splits"], "split_seed": settings["seed"],
            "lr": settings["lr"], "folds": [f"fold_{k}" for k in range(1, self.n_splits + 1)],
            "complete": result is not None,
            "metrics": result.mean if result is not None else None,
            "metrics_std": result.std if result is not None else None,
            "settings": settings,
        }

    def _load_fold(self, out: Path, k: int) -> FoldResult | None:
        folder = out / f"fold_{k}"
        names = ("model.safetensors",) * self.save_weights + ("predictions.json", "config.json")
        needed = [folder / n for n in names]
        if not all(p.exists() for p in needed):
            return None
        return FoldResult(**json.loads((folder / "predictions.json").read_text()))

    def save_fold(self, out: Path, k: int, model: torch.nn.Module, settings: dict,
                  fold: FoldResult) -> None:
        """Write ``fold_k/``: weights, predictions, then its config.json (the done marker)."""
        folder = out / f"fold_{k}"
        if self.save_weights:
            save_weights(model, folder / "model.safetensors")
        write_json(folder / "predictions.json", fold.to_dict())
        write_json(folder / "config.json", fold_config(model, settings, fold))  # written last

    def finish_run_dir(self, out: Path, result: CVResult, template: torch.nn.Module) -> None:
        """Write results.json, report.md, plots and the completed index config.json."""
        data = result.to_dict()
        write_json(out / "results.json", data)
        atomic_write_text(out / "report.md", result.report())
        write_json(out / "config.json", self._index(result.settings, template, result))
        try:
            plots.plot_confusion_matrix(data, out / "confusion_matrix.png")
            plots.plot_roc(data, out / "roc.png")
        except ImportError:
            plots.note_no_matplotlib()
        except ValueError as err:  # e.g. no fold has both classes, so no ROC curve
            logger.warning("No plots for %s: %s", out, err)
