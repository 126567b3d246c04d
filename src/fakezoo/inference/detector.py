"""The fold ensemble: a trained run's fold models as one detector, on files, folders or tensors.

A run directory (or a Hub repo made from one) holds one model per cross-validation fold.
[`Detector`][fakezoo.inference.detector.Detector] runs all of them and averages their fake
probabilities; [`fakezoo.load`][fakezoo.load] builds one from a run, and
[`fakezoo.predict`][fakezoo.predict] is the one-liner around it
([`fakezoo.inference.api`][fakezoo.inference.api]).

Images go through exactly the steps used in training:
[`decode_image`][fakezoo.data.decode.decode_image] (PIL decode, EXIF rotation, RGB, bilinear
resize to the model's size) and then
[`Preprocessing.normalize`][fakezoo.models.preprocessing.Preprocessing.normalize].

Folds that share their frozen trunk run it once per batch, then their tails
([`fakezoo.inference.ensemble`][fakezoo.inference.ensemble],
[`fakezoo.models.backends`][fakezoo.models.backends]). Inputs stream through
[`fakezoo.inference.pipeline`][fakezoo.inference.pipeline], decoded ahead in threads, in
bounded memory. A file that cannot be decoded gives a
[`Prediction`][fakezoo.inference.prediction.Prediction] with `error` set instead of stopping
the run, and a warning on the `"fakezoo"` logger counts them. Explanations of a detector's
predictions are in [`fakezoo.explain`][fakezoo.explain], which calls the detector.

Example:
    ```python
    import fakezoo

    det = fakezoo.load("runs/resnet50", device="cpu")
    p = det.predict("face.jpg")                 # one Prediction
    p.label, p.prob_fake, p.fold_probs
    rows = det.predict("photos/")               # one Prediction per image file
    ```
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from .._device import autocast, resolve_device
from ..data.cache import decode_workers
from ..data.dataset import IMAGE_EXTENSIONS, LABEL_NAMES
from ..data.discovery import list_images
from ..models.backends import choose_backend, trunk_runner
from ..models.preprocessing import Preprocessing
from ..runs.loader import LoadedRun
from .ensemble import FoldEnsemble
from .faces import predict_faces
from .pipeline import score_stream
from .prediction import Prediction
from .stream import check_item, decode_item, item_path, progress_bar, to_batch, warn_skipped

__all__ = ["CPU_FORWARD_BATCH", "Detector", "check_threshold"]

logger = logging.getLogger("fakezoo")


CPU_FORWARD_BATCH = 8
"""Images per forward pass on a CPU (see ``Detector(forward_batch_size=...)``)."""


class Detector:
    """The fold models of a run as an ensemble: mean of the folds' fake probabilities.

    Args:
        models: One trained two-class model per fold (logit 1 is "fake").
        preprocessing: The models' [`Preprocessing`][fakezoo.models.preprocessing.Preprocessing], or
            its dict form (``{"image_size", "mean", "std"}``, as in a run's ``config.json``).
        config: The run's index ``config.json`` (kept as ``detector.config``).
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:1"``, ...; the models are
            moved there.
        threshold: ``prob_fake >= threshold`` is labelled ``"fake"``.
        amp: bf16 autocast on CUDA (fp16 without bf16); CPU runs fp32. channels_last always.
        forward_batch_size: Most images per forward pass of one fold model. ``None``: the
            whole batch on a GPU, and
            [`CPU_FORWARD_BATCH`][fakezoo.inference.detector.CPU_FORWARD_BATCH] (8) on a CPU, where
            larger batches only lose cache locality (up to twice slower for mobilenet_v2 at 224 px,
            measured with ``benchmarks/predict_speed.py``).
        share_trunk: Run each trunk that folds share (equal weights, checked) once per
            batch; ``False`` runs each fold whole. Same probabilities.
        backend: What runs the trunks: ``"torch"``, ``"onnxruntime"`` or ``"auto"``
            ([`choose_backend`][fakezoo.models.backends.choose_backend]).

    Example:
        ```python
        import fakezoo
        from fakezoo.inference.detector import Detector
        models = [fakezoo.create("resnet50", pretrained=False, image_size=64).eval()
                  for _ in range(3)]
        det = Detector(models, models[0].preprocessing, device="cpu")
        det.predict("face.jpg").prob_fake
        ```
    """

    def __init__(
        self,
        models: Sequence[nn.Module],
        preprocessing: Preprocessing,
        *,
        config: dict | None = None,
        device: str | torch.device = "auto",
        threshold: float = 0.5,
        amp: bool = True,
        fold_names: Sequence[str] | None = None,
        forward_batch_size: int | None = None,
        share_trunk: bool = True,
        backend: str = "auto",
    ) -> None:
        models = list(models)
        if not models:
            raise ValueError("Detector needs at least one fold model.")
        if fold_names is not None and len(fold_names) != len(models):
            raise ValueError(f"{len(fold_names)} fold names for {len(models)} models.")
        if not isinstance(preprocessing, Preprocessing):
            raise TypeError(
                f"preprocessing must be a Preprocessing record, got {type(preprocessing).__name__}"
                f" (a dict from a run's config.json: Preprocessing.from_dict(it))."
            )
        self.preprocessing = preprocessing
        self.config = dict(config or {})
        labels = tuple(self.config.get("labels") or LABEL_NAMES)
        if len(labels) != 2:
            raise ValueError(f"Detector handles two classes (real, fake); the run has {labels}.")
        self.labels: tuple[str, str] = (str(labels[0]), str(labels[1]))
        self.threshold = check_threshold(threshold)
        self.amp = amp
        if forward_batch_size is not None and forward_batch_size < 1:
            raise ValueError(f"forward_batch_size must be positive, got {forward_batch_size}")
        self.forward_batch_size = forward_batch_size
        self.device = resolve_device(device)
        self.fold_names = list(fold_names or [f"fold_{k}" for k in range(1, len(models) + 1)])
        self.models = [m.eval().to(self.device, memory_format=torch.channels_last) for m in models]
        self.ensemble = FoldEnsemble(self.models, share=share_trunk)
        spec = getattr(self.models[0], "spec", None)
        self.backend = choose_backend(backend, self.device, getattr(spec, "architecture", None))
        for group in self.ensemble.groups:
            group.runner = trunk_runner(group.trunk, self.backend, self.image_size)

    @classmethod
    def from_run(
        cls,
        run: LoadedRun,
        *,
        device: str | torch.device | None = None,
        threshold: float = 0.5,
        amp: bool = True,
    ) -> Detector:
        """Build a detector from a run loaded by [`load_run`][fakezoo.runs.loader.load_run].

        Args:
            run: The loaded run; its fold models become the ensemble.
            device: Where to run; ``None`` keeps the device the run was loaded on.
            threshold: ``prob_fake >= threshold`` is labelled ``"fake"``.
            amp: bf16 autocast and channels_last on CUDA (see
                [`Detector`][fakezoo.inference.detector.Detector]).

        Example:
            ```python
            from fakezoo.runs import load_run
            from fakezoo.inference.detector import Detector
            det = Detector.from_run(load_run("runs/resnet50", device="cpu"))
            ```
        """
        if not run.folds:
            raise ValueError(f"The run at {run.path} has no fold models.")
        models = [f.model for f in run.folds]
        if device is None:
            first = next(models[0].parameters(), None)
            device = first.device if first is not None else "cpu"
        preprocessing = Preprocessing.from_dict(
            run.config.get("preprocessing"), f"{run.path / 'config.json'}"
        )
        for fold in run.folds:
            own = getattr(fold.model, "preprocessing", None)
            if own is not None and own != preprocessing:
                raise ValueError(
                    f"{fold.fold} of the run at {run.path} was trained with "
                    f"{own.to_dict()}, the run's config.json says {preprocessing.to_dict()}: "
                    f"the folds of one ensemble must share their preprocessing."
                )
        return cls(
            models,
            preprocessing,
            config=run.config,
            device=device,
            threshold=threshold,
            amp=amp,
            fold_names=[str(f.fold) for f in run.folds],
        )

    # -- properties -------------------------------------------------------------------------
    @property
    def image_size(self) -> int:
        """Side ``S`` of the square model input."""
        return self.preprocessing.image_size

    @property
    def n_folds(self) -> int:
        """Number of fold models in the ensemble."""
        return len(self.models)

    def __repr__(self) -> str:
        name = self.config.get("model", type(self.models[0]).__name__)
        return (
            f"Detector({name}, folds={self.n_folds}, image_size={self.image_size}, "
            f"device={self.device}, threshold={self.threshold})"
        )

    # -- tensors ----------------------------------------------------------------------------
    def predict_tensor(
        self, images: torch.Tensor, *, normalized: bool | None = None
    ) -> torch.Tensor:
        """Fake probabilities of every fold model for a batch of model-sized images.

        Args:
            images: ``(N, 3, S, S)``, ``S = detector.image_size``: resized ``uint8`` pixels
                or floats normalised with the run's mean and std (``model.transform``'s).
            normalized: for floats: ``True`` (normalised, unchecked), ``False`` ([0, 1],
                ``ToTensor()`` output, normalised here) or ``None``: refuse floats that plainly
                are not normalised (nothing below 0, or outside the run's mean/std range).

        Returns:
            ``(N, n_folds)`` float32 tensor on the CPU; ``.mean(1)`` is the ensemble's
            ``prob_fake``.

        Raises:
            ValueError: Wrong number of dimensions, channels-last layout, wrong size or
                dtype; the message gives the expected shape.

        Example:
            ```python
            import torch
            x = torch.randint(0, 256, (4, 3, 224, 224), dtype=torch.uint8)
            det.predict_tensor(x).shape  # torch.Size([4, 3]) for a 3-fold run
            ```
        """
        self._check_tensor(images, batched=True)
        return self._forward(self._model_input(images, normalized))

    def _model_input(self, images: torch.Tensor, normalized: bool | None) -> torch.Tensor:
        """uint8 pixels, or floats normalised with the run's mean and std."""
        if images.dtype == torch.uint8 or normalized is True or len(images) == 0:
            return images
        pre = self.preprocessing
        mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (pre.mean, pre.std))
        lo, hi = (float(v) for v in torch.aminmax(images.detach().float()))
        if normalized is False:
            if lo < 0 or hi > 1:
                raise ValueError(
                    f"normalized=False expects floats in [0, 1] (ToTensor() "
                    f"output); these range over [{lo:.3g}, {hi:.3g}]"
                )
            return (images.float() - mean.to(images.device)) / std.to(images.device)
        low, high = float(((0 - mean) / std).min()), float(((1 - mean) / std).max())
        if lo >= 0 or lo < low - 1e-3 or hi > high + 1e-3:
            raise ValueError(
                f"these float images range over [{lo:.3g}, {hi:.3g}]; images normalised with "
                f"the run's mean {list(pre.mean)} and std {list(pre.std)} lie in "
                f"[{low:.3g}, {high:.3g}] and have values below 0. Pass uint8 pixels, "
                f"normalized=False for ToTensor() output in [0, 1], or normalized=True if "
                f"they really are normalised"
            )
        return images

    def _check_tensor(self, images: Any, batched: bool) -> None:
        s = self.image_size
        want = f"(N, 3, {s}, {s})" if batched else f"(3, {s}, {s}) or (N, 3, {s}, {s})"
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"expected a torch.Tensor {want}, got {type(images).__name__}")
        shape = tuple(images.shape)
        ndims = (4,) if batched else (3, 4)
        if images.ndim not in ndims:
            raise ValueError(f"expected an image tensor of shape {want}, got {shape}")
        if shape[-3] != 3:
            if shape[-1] == 3:
                fix = "permute(0, 3, 1, 2)" if images.ndim == 4 else "permute(2, 0, 1)"
                raise ValueError(
                    f"expected channels first {want}, got {shape}, which looks "
                    f"channels-last (H, W, 3): use images.{fix}"
                )
            raise ValueError(
                f"expected 3 colour channels {want}, got {shape}; convert "
                f"grayscale with images.expand(-1, 3, -1, -1) for (N, 1, H, W)"
            )
        if shape[-2:] != (s, s):
            raise ValueError(
                f"expected {want} at the model's size {s}x{s}, got {shape}. Tensors are not "
                f"resized: pass file paths or PIL images (resized exactly as in training), or "
                f"resize with PIL's bilinear filter to {s}x{s} first"
            )
        if images.dtype != torch.uint8 and not images.dtype.is_floating_point:
            raise ValueError(
                f"expected uint8 pixels or a normalised float tensor, got {images.dtype}"
            )

    def _autocast(self):
        return autocast(self.device, self.amp)

    def _forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 3, S, S)`` uint8 or normalised float -> ``(N, n_folds)`` CPU fake probs."""
        if len(images) == 0:
            return torch.empty(0, self.n_folds)
        cuda = self.device.type == "cuda"
        x = images.to(self.device, non_blocking=cuda)
        x = self.preprocessing.normalize(x) if x.dtype == torch.uint8 else x.float()
        step = self.forward_batch_size or (len(x) if cuda else CPU_FORWARD_BATCH)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), self._autocast():
            probs = torch.cat([self.ensemble(part) for part in x.split(step)])
        return probs.float().cpu()

    # -- images -----------------------------------------------------------------------------
    def predict(
        self,
        inputs: Any,
        *,
        batch_size: int = 32,
        threshold: float | None = None,
        progress: bool | None = None,
        num_workers: int | None = None,
        faces: bool = False,
        frames: int | None = None,
    ) -> Prediction | list[Prediction]:
        """Predict real/fake for images given as paths, a folder, PIL images or tensors.

        Args:
            inputs: What to score:

                * an image file -> one [`Prediction`][fakezoo.inference.prediction.Prediction] (a
                  missing or undecodable file raises an error that names it);
                * a directory -> a list, one entry per image file found recursively, sorted;
                  hidden files and folders are left out, folder links followed, and other
                  files reported in one warning
                  ([`scan_folder`][fakezoo.data.discovery.scan_folder]'s rule);
                * an iterable of paths and/or PIL images -> a list in the same order, streamed;
                * a PIL image -> one [`Prediction`][fakezoo.inference.prediction.Prediction] with
                  ``path=None``, decoded like a file;
                * a ``torch.Tensor`` ``(3, S, S)`` or ``(N, 3, S, S)``: ``uint8`` pixels at the
                  model's size, or normalised floats (see
                  [`predict_tensor`][fakezoo.inference.detector.Detector.predict_tensor]); never
                  resized.

                In a folder or list, a file that cannot be decoded gives a Prediction with
                ``error`` set and ``label=None``; the others are still scored and a warning on
                the ``"fakezoo"`` logger says how many were skipped.
            batch_size: Images per batch; also bounds memory (two batches of decoded
                images at most).
            threshold: Overrides ``detector.threshold`` for this call.
            progress: A progress bar; ``None`` shows one on a terminal for more than one
                batch (``$TQDM_DISABLE`` hides it).
            num_workers: Decoding threads; ``None``: all cores with a GPU, else those torch's
                threads leave free; ``0`` decodes in the calling thread.
            faces: Score each face of photos and videos (see
                [`fakezoo.inference.faces`][fakezoo.inference.faces]).
            frames: With ``faces=True``, frames sampled per video (default 16).

        Returns:
            One [`Prediction`][fakezoo.inference.prediction.Prediction] for a single image, else a
            list.

        Example:
            ```python
            import fakezoo
            det = fakezoo.load("runs/resnet50")
            det.predict("face.jpg").label           # 'real' or 'fake'
            rows = det.predict("photos/", batch_size=64)
            bad = [r for r in rows if r.error]
            ```
        """
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        batch_size = int(batch_size)
        threshold = self._threshold(threshold)
        if faces:
            return predict_faces(
                self,
                inputs,
                batch_size=batch_size,
                threshold=threshold,
                progress=progress,
                frames=frames,
            )

        if isinstance(inputs, torch.Tensor):
            return self._predict_tensor_input(inputs, batch_size, threshold, progress)
        if isinstance(inputs, Image.Image):
            return self._predict_single(inputs, threshold)
        if isinstance(inputs, str | os.PathLike):
            path = Path(inputs)
            if path.is_dir():
                files = list_images(path)
                if not files:
                    logger.warning(
                        "no image files (%s) found in %s", ", ".join(IMAGE_EXTENSIONS), path
                    )
                return self._predict_stream(
                    files, len(files), batch_size, threshold, progress, num_workers
                )
            if not path.exists():
                raise FileNotFoundError(
                    errno.ENOENT, "no such image file or directory", str(inputs)
                )
            return self._predict_single(inputs, threshold)
        if isinstance(inputs, np.ndarray):
            raise TypeError(
                "numpy arrays are not accepted: pass file paths, PIL images "
                "(Image.fromarray(arr)) or a torch tensor (N, 3, S, S) "
                "(torch.from_numpy(arr).permute(0, 3, 1, 2) for (N, H, W, 3))"
            )
        if isinstance(inputs, Iterable) and not isinstance(inputs, bytes | bytearray | dict):
            total = len(inputs) if isinstance(inputs, Sequence) else None
            return self._predict_stream(inputs, total, batch_size, threshold, progress, num_workers)
        raise TypeError(
            f"cannot predict on a {type(inputs).__name__}: pass an image path, a "
            f"folder, a list of paths, a PIL image or a torch tensor"
        )

    __call__ = predict

    def label(self, prob_fake: float, threshold: float | None = None) -> str:
        """The run's fake label when ``prob_fake >= threshold`` (default: the detector's),
        else its real label: the one rule from probability to label."""
        return self.labels[1] if prob_fake >= self._threshold(threshold) else self.labels[0]

    def prediction(
        self,
        path: str | None,
        fold_probs: Sequence[float] | torch.Tensor,
        threshold: float | None = None,
    ) -> Prediction:
        """The [`Prediction`][fakezoo.inference.prediction.Prediction] for each fold's fake
        probability of one image: their mean, labelled by
        [`label`][fakezoo.inference.detector.Detector.label]."""
        probs = [
            float(p)
            for p in (fold_probs.tolist() if isinstance(fold_probs, torch.Tensor) else fold_probs)
        ]
        prob = float(np.mean(probs))
        return Prediction(
            path=path, label=self.label(prob, threshold), prob_fake=prob, fold_probs=probs
        )

    def _threshold(self, threshold: float | None) -> float:
        return self.threshold if threshold is None else check_threshold(threshold)

    def _predict_single(self, item: Any, threshold: float) -> Prediction:
        batch = to_batch([decode_item(item, self.image_size)])
        return self.prediction(item_path(item), self._forward(batch)[0], threshold)

    def _predict_tensor_input(
        self, images: torch.Tensor, batch_size: int, threshold: float, progress: bool | None
    ) -> Prediction | list[Prediction]:
        self._check_tensor(images, batched=False)
        if images.ndim == 3:
            return self.prediction(
                None, self._forward(self._model_input(images.unsqueeze(0), None))[0], threshold
            )
        out: list[Prediction] = []
        with progress_bar(len(images), batch_size, progress) as bar:
            for start in range(0, len(images), batch_size):
                probs = self._forward(self._model_input(images[start : start + batch_size], None))
                out.extend(self.prediction(None, p, threshold) for p in probs)
                bar.update(len(probs))
        return out

    def _predict_stream(
        self,
        items: Iterable[Any],
        total: int | None,
        batch_size: int,
        threshold: float,
        progress: bool | None,
        num_workers: int | None,
    ) -> list[Prediction]:
        workers = decode_workers(num_workers, self.device)
        out: list[Prediction] = []
        errors: list[Prediction] = []
        results = score_stream(
            items,
            partial(decode_item, image_size=self.image_size),
            lambda batch: self._forward(batch),
            batch_size=batch_size,
            workers=workers,
            pin_memory=self.device.type == "cuda",
            check=check_item,
        )
        with progress_bar(total, batch_size, progress) as bar:
            for result in results:
                path = item_path(result.item)
                if result.error is not None:
                    pred = Prediction(path, None, None, None, error=result.error)
                    errors.append(pred)
                else:
                    pred = self.prediction(path, result.outputs[0], threshold)
                out.append(pred)
                bar.update(1)
        if errors:
            warn_skipped(errors, len(out))
        return out


def check_threshold(threshold: float) -> float:
    """``threshold`` as a float in [0, 1], else a ``ValueError``."""
    value = float(threshold)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold!r}")
    return value
