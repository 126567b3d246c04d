"""Predict with a trained run: its fold models as one ensemble, on files, folders or tensors.

A run directory (or a Hub repo made from one) holds one model per cross-validation fold.
:class:`Detector` runs all of them and averages their fake probabilities; :func:`predict` is the
one-liner that loads a run (once per process, see :func:`clear_cache`) and predicts.

Images go through exactly the steps used in training:
:func:`fakezoo.data.decode_image` (PIL decode, EXIF rotation, RGB, bilinear resize to the
model's size) and then :meth:`fakezoo.zoo.Preprocessing.normalize`.

Folders and lists are streamed: paths are decoded ``batch_size`` at a time by a thread pool
(PIL releases the GIL while it decodes and resizes), and the next batch is decoded while the
models run on the current one, so memory stays bounded whatever the number of images. A file
that cannot be decoded gives a :class:`Prediction` with ``error`` set instead of stopping the
run, and a warning on the ``"fakezoo"`` logger counts them.

Example:
    ```python
    import fakezoo

    p = fakezoo.predict("face.jpg", model="runs/resnet50")   # one Prediction
    p.label, p.prob_fake, p.fold_probs
    rows = fakezoo.predict("photos/", model="runs/resnet50")  # one Prediction per image file

Note: ``fakezoo.predict`` is the function; ``import fakezoo.predict as m`` therefore binds the
function too. Import names from the module instead: ``from fakezoo.predict import
clear_cache``.
    ```
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from . import hub
from .data import (
    IMAGE_EXTENSIONS,
    LABEL_NAMES,
    ImageDecodeError,
    decode_image,
    image_to_array,
    show_progress,
)
from .engine import resolve_device
from .zoo import Preprocessing

logger = logging.getLogger("fakezoo")

__all__ = [
    "CPU_FORWARD_BATCH",
    "DEFAULT_MODEL",
    "MODEL_ENV",
    "Detector",
    "Prediction",
    "clear_cache",
    "load",
    "predict",
]

DEFAULT_MODEL = "fakezoo/resnet50-deepfake"
"""The Hub repo :func:`predict` uses when neither ``model=`` nor ``$FAKEZOO_MODEL`` is set."""

MODEL_ENV = "FAKEZOO_MODEL"
"""Environment variable naming the default model (a run directory or a Hub id)."""

CPU_FORWARD_BATCH = 8
"""Images per forward pass on a CPU (see ``Detector(forward_batch_size=...)``)."""

_CACHE_SIZE = 4
_CACHE: OrderedDict[tuple, Detector] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_ERRORS_SHOWN = 5
_PIL_NAME = "<PIL image>"


@dataclass
class Prediction:
    """What the ensemble says about one image.

    Attributes:
        path: The image file, or ``None`` for PIL images and tensors.
        label: ``"real"`` or ``"fake"`` (``"fake"`` iff ``prob_fake >= threshold``); ``None``
            when the image could not be decoded.
        prob_fake: Mean of the folds' fake probabilities; ``None`` on error.
        fold_probs: Each fold model's fake probability, in fold order; ``None`` on error.
        error: Why the image could not be decoded, else ``None``.

    Example:
        ```python
        import json
        p = detector.predict("face.jpg")
        if p.error is None:
            print(p.label, round(p.prob_fake, 3))
        json.dumps(p.to_dict())
        ```
    """

    path: str | None
    label: str | None
    prob_fake: float | None
    fold_probs: list[float] | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """``True`` when the image was decoded and scored."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of builtin types, ready for ``json.dumps`` or ``csv.DictWriter``.

        Example:
            ```python
            import csv
            rows = detector.predict("photos/")
            with open("predictions.csv", "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0].to_dict()))
                writer.writeheader()
                writer.writerows(r.to_dict() for r in rows)
            ```
        """
        return asdict(self)


class Detector:
    """The fold models of a run as an ensemble: mean of the folds' fake probabilities.

    Args:
        models: One trained two-class model per fold (logit 1 is "fake").
        preprocessing: The models' :class:`~fakezoo.zoo.Preprocessing`, or its dict form
            (``{"image_size", "mean", "std"}``, as in a run's ``config.json``).
        config: The run's index ``config.json`` (kept as ``detector.config``).
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:1"``, ...; the models are
            moved there.
        threshold: ``prob_fake >= threshold`` is labelled ``"fake"``.
        amp: On CUDA, run under bf16 autocast (fp16 where bf16 is not supported) with
            channels_last inputs. Ignored on CPU, where everything runs in fp32.
        forward_batch_size: Most images per forward pass of one fold model. ``None``: the
            whole batch on a GPU, and :data:`CPU_FORWARD_BATCH` (8) on a CPU, where larger
            batches only lose cache locality (up to twice slower for mobilenet_v2 at 224 px,
            measured with ``benchmarks/predict_speed.py``).

    Example:
        ```python
        import fakezoo
        from fakezoo.predict import Detector
        models = [fakezoo.create("resnet50", pretrained=False, image_size=64).eval()
                  for _ in range(3)]
        det = Detector(models, models[0].preprocessing, device="cpu")
        det.predict("face.jpg").prob_fake
        ```
    """

    def __init__(
        self,
        models: Sequence[nn.Module],
        preprocessing: Preprocessing | dict,
        *,
        config: dict | None = None,
        device: str | torch.device = "auto",
        threshold: float = 0.5,
        amp: bool = True,
        fold_names: Sequence[str] | None = None,
        forward_batch_size: int | None = None,
    ) -> None:
        models = list(models)
        if not models:
            raise ValueError("Detector needs at least one fold model.")
        if fold_names is not None and len(fold_names) != len(models):
            raise ValueError(f"{len(fold_names)} fold names for {len(models)} models.")
        self.preprocessing = _as_preprocessing(preprocessing)
        self.config = dict(config or {})
        labels = tuple(self.config.get("labels") or LABEL_NAMES)
        if len(labels) != 2:
            raise ValueError(f"Detector handles two classes (real, fake); the run has {labels}.")
        self.labels: tuple[str, str] = (str(labels[0]), str(labels[1]))
        self.threshold = _check_threshold(threshold)
        self.amp = amp
        if forward_batch_size is not None and forward_batch_size < 1:
            raise ValueError(f"forward_batch_size must be positive, got {forward_batch_size}")
        self.forward_batch_size = forward_batch_size
        self.device = resolve_device(device)
        self.fold_names = list(fold_names or [f"fold_{k}" for k in range(1, len(models) + 1)])
        memory = torch.channels_last if self.device.type == "cuda" else torch.preserve_format
        self.models = [m.eval().to(self.device, memory_format=memory) for m in models]

    @classmethod
    def from_run(
        cls,
        run: hub.LoadedRun,
        *,
        device: str | torch.device | None = None,
        threshold: float = 0.5,
        amp: bool = True,
    ) -> Detector:
        """Build a detector from a run loaded by :func:`fakezoo.hub.load_run`.

        Args:
            run: The loaded run; its fold models become the ensemble.
            device: Where to run; ``None`` keeps the device the run was loaded on.
            threshold: ``prob_fake >= threshold`` is labelled ``"fake"``.
            amp: bf16 autocast and channels_last on CUDA (see :class:`Detector`).

        Example:
            ```python
            from fakezoo.hub import load_run
            from fakezoo.predict import Detector
            det = Detector.from_run(load_run("runs/resnet50", device="cpu"))
            ```
        """
        if not run.folds:
            raise ValueError(f"The run at {run.path} has no fold models.")
        models = [f.model for f in run.folds]
        if device is None:
            first = next(models[0].parameters(), None)
            device = first.device if first is not None else "cpu"
        preprocessing = run.config.get("preprocessing")
        if preprocessing is None:
            preprocessing = getattr(models[0], "preprocessing", None)
        if preprocessing is None:
            raise ValueError(f"The run at {run.path} has no 'preprocessing' in its config.json.")
        preprocessing = _as_preprocessing(preprocessing)
        for fold in run.folds:
            own = getattr(fold.model, "preprocessing", None)
            if own is not None and _as_preprocessing(own) != preprocessing:
                raise ValueError(f"{fold.fold} of the run at {run.path} was trained with "
                                 f"{own}, the run's config.json says {preprocessing}: the "
                                 f"folds of one ensemble must share their preprocessing.")
        return cls(models, preprocessing, config=run.config, device=device,
                   threshold=threshold, amp=amp, fold_names=[str(f.fold) for f in run.folds])

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
        return (f"Detector({name}, folds={self.n_folds}, image_size={self.image_size}, "
                f"device={self.device}, threshold={self.threshold})")

    # -- tensors ----------------------------------------------------------------------------
    def predict_tensor(self, images: torch.Tensor) -> torch.Tensor:
        """Fake probabilities of every fold model for a batch of model-sized images.

        Args:
            images: ``(N, 3, S, S)`` with ``S = detector.image_size``, either ``uint8`` pixels
                (already resized; they are normalised here) or floating point already
                normalised with the run's mean and std (what ``model.transform`` gives).

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
        return self._forward(images)

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
                raise ValueError(f"expected channels first {want}, got {shape}, which looks "
                                 f"channels-last (H, W, 3): use images.{fix}")
            raise ValueError(f"expected 3 colour channels {want}, got {shape}; convert "
                             f"grayscale with images.expand(-1, 3, -1, -1) for (N, 1, H, W)")
        if shape[-2:] != (s, s):
            raise ValueError(
                f"expected {want} at the model's size {s}x{s}, got {shape}. Tensors are not "
                f"resized: pass file paths or PIL images (resized exactly as in training), or "
                f"resize with PIL's bilinear filter to {s}x{s} first")
        if images.dtype != torch.uint8 and not images.dtype.is_floating_point:
            raise ValueError(f"expected uint8 pixels or a normalised float tensor, got "
                             f"{images.dtype}")

    def _autocast(self):
        if self.device.type != "cuda" or not self.amp:
            return nullcontext()
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)

    def _forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 3, S, S)`` uint8 or normalised float -> ``(N, n_folds)`` CPU fake probs."""
        if len(images) == 0:
            return torch.empty(0, self.n_folds)
        cuda = self.device.type == "cuda"
        x = images.to(self.device, non_blocking=cuda)
        x = self.preprocessing.normalize(x) if x.dtype == torch.uint8 else x.float()
        if cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        step = self.forward_batch_size or (len(x) if cuda else CPU_FORWARD_BATCH)
        with torch.inference_mode(), self._autocast():
            probs = [torch.cat([model(part).float().softmax(dim=1)[:, 1]
                                for part in x.split(step)])
                     for model in self.models]
        return torch.stack(probs, dim=1).cpu()

    # -- images -----------------------------------------------------------------------------
    def predict(
        self,
        inputs: Any,
        *,
        batch_size: int = 32,
        threshold: float | None = None,
        progress: bool | None = None,
        num_workers: int | None = None,
    ) -> Prediction | list[Prediction]:
        """Predict real/fake for images given as paths, a folder, PIL images or tensors.

        Args:
            inputs: What to score:

                * a path to an image file -> one :class:`Prediction` (a missing file raises
                  ``FileNotFoundError``, an undecodable one
                  :class:`~fakezoo.data.ImageDecodeError`; both name the file);
                * a directory -> a list, one entry per file with an image extension
                  (``fakezoo.data.IMAGE_EXTENSIONS``, any case) found recursively, in sorted
                  path order; hidden files and folders (names starting with ``.``) are left
                  out and symbolic links to folders are not followed;
                * a list, tuple or other iterable of paths and/or PIL images -> a list in the
                  same order, streamed;
                * a PIL image -> one :class:`Prediction` with ``path=None``; it goes through the
                  same EXIF rotation, RGB conversion and bilinear resize as a file (its
                  current frame is used);
                * a ``torch.Tensor`` ``(3, S, S)`` -> one Prediction, or ``(N, 3, S, S)`` -> a
                  list; ``uint8`` pixels already resized to the model's size ``S``, or floats
                  already normalised (see :meth:`predict_tensor`). Tensors are never resized.

                In a folder or list, a file that cannot be decoded gives a Prediction with
                ``error`` set and ``label=None``; the others are still scored and a warning on
                the ``"fakezoo"`` logger says how many were skipped.
            batch_size: Images per forward pass; also bounds memory (two batches of decoded
                images at most).
            threshold: Overrides ``detector.threshold`` for this call.
            progress: A progress bar; ``None`` shows one on a terminal for more than one
                batch (``$FAKEZOO_PROGRESS`` overrides).
            num_workers: Decoding threads; ``None``: ``os.cpu_count()`` with a GPU, else the
                cores that torch's threads leave free (at least one); ``0`` decodes in the
                calling thread.

        Returns:
            One :class:`Prediction` for a single image, else a list.

        Example:
            ```python
            det = fakezoo.load("runs/resnet50")
            det.predict("face.jpg").label           # 'real' or 'fake'
            rows = det.predict("photos/", batch_size=64)
            bad = [r for r in rows if r.error]
            ```
        """
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        batch_size = int(batch_size)
        threshold = self.threshold if threshold is None else _check_threshold(threshold)

        if isinstance(inputs, torch.Tensor):
            return self._predict_tensor_input(inputs, batch_size, threshold, progress)
        if isinstance(inputs, Image.Image):
            return self._predict_single(inputs, threshold)
        if isinstance(inputs, str | os.PathLike):
            path = Path(inputs)
            if path.is_dir():
                files = _list_image_files(path)
                if not files:
                    logger.warning("no image files (%s) found in %s", ", ".join(
                        IMAGE_EXTENSIONS), path)
                return self._predict_stream(files, len(files), batch_size, threshold,
                                            progress, num_workers)
            if not path.exists():
                raise FileNotFoundError(errno.ENOENT, "no such image file or directory",
                                        str(inputs))
            return self._predict_single(inputs, threshold)
        if isinstance(inputs, np.ndarray):
            raise TypeError("numpy arrays are not accepted: pass file paths, PIL images "
                            "(Image.fromarray(arr)) or a torch tensor (N, 3, S, S) "
                            "(torch.from_numpy(arr).permute(0, 3, 1, 2) for (N, H, W, 3))")
        if isinstance(inputs, Iterable) and not isinstance(inputs, bytes | bytearray | dict):
            total = len(inputs) if isinstance(inputs, Sequence) else None
            return self._predict_stream(inputs, total, batch_size, threshold, progress,
                                        num_workers)
        raise TypeError(f"cannot predict on a {type(inputs).__name__}: pass an image path, a "
                        f"folder, a list of paths, a PIL image or a torch tensor")

    __call__ = predict

    def _decode_workers(self) -> int:
        """All cores on a GPU machine; on a CPU, the cores torch's own threads leave free.

        On a CPU the forward passes use ``torch.get_num_threads()`` cores; more decoding
        threads than the cores left over would only preempt them (and OpenMP threads that
        wait on each other slow down badly when preempted). At least one thread is kept, so
        the next batch still decodes while the models run.
        """
        cores = os.cpu_count() or 1
        if self.device.type == "cuda":
            return cores
        return max(1, cores - torch.get_num_threads())

    def _prediction(self, path: str | None, fold_probs: torch.Tensor,
                    threshold: float) -> Prediction:
        probs = [float(p) for p in fold_probs.tolist()]
        prob = float(np.mean(probs))
        label = self.labels[1] if prob >= threshold else self.labels[0]
        return Prediction(path=path, label=label, prob_fake=prob, fold_probs=probs)

    def _predict_single(self, item: Any, threshold: float) -> Prediction:
        batch = _to_batch([_decode_or_raise(item, self.image_size)])
        return self._prediction(_item_path(item), self._forward(batch)[0], threshold)

    def _predict_tensor_input(self, images: torch.Tensor, batch_size: int, threshold: float,
                              progress: bool | None) -> Prediction | list[Prediction]:
        self._check_tensor(images, batched=False)
        if images.ndim == 3:
            return self._prediction(None, self._forward(images.unsqueeze(0))[0], threshold)
        out: list[Prediction] = []
        with _bar(len(images), batch_size, progress) as bar:
            for start in range(0, len(images), batch_size):
                probs = self._forward(images[start:start + batch_size])
                out.extend(self._prediction(None, p, threshold) for p in probs)
                bar.update(len(probs))
        return out

    def _predict_stream(self, items: Iterable[Any], total: int | None, batch_size: int,
                        threshold: float, progress: bool | None,
                        num_workers: int | None) -> list[Prediction]:
        size = self.image_size
        workers = self._decode_workers() if num_workers is None else int(num_workers)
        out: list[Prediction] = []
        errors: list[Prediction] = []
        pool = ThreadPoolExecutor(workers, thread_name_prefix="fakezoo-decode") if workers > 0 \
            else None
        try:
            with _bar(total, batch_size, progress) as bar:
                for chunk, decoded in _prefetched(items, batch_size, size, pool):
                    ok = [(i, arr) for i, (arr, _) in enumerate(decoded) if arr is not None]
                    probs = None
                    if ok:
                        batch = _to_batch([arr for _, arr in ok])
                        if self.device.type == "cuda":
                            batch = batch.pin_memory()
                        probs = dict(zip((i for i, _ in ok), self._forward(batch), strict=True))
                    for i, (item, (_, reason)) in enumerate(zip(chunk, decoded, strict=True)):
                        if reason is not None:
                            pred = Prediction(_item_path(item), None, None, None, error=reason)
                            errors.append(pred)
                        else:
                            pred = self._prediction(_item_path(item), probs[i], threshold)
                        out.append(pred)
                    bar.update(len(chunk))
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        if errors:
            _warn_errors(errors, len(out))
        return out


# -- helpers ----------------------------------------------------------------------------------
def _as_preprocessing(pre: Preprocessing | dict) -> Preprocessing:
    if isinstance(pre, Preprocessing):
        return pre
    if isinstance(pre, dict):
        interpolation = pre.get("interpolation", "bilinear")
        resize = pre.get("resize", "square")
        if interpolation != "bilinear" or resize != "square":
            raise ValueError(f"unsupported preprocessing {pre}: fakezoo resizes to a square "
                             f"with a bilinear filter")
        try:
            return Preprocessing(int(pre["image_size"]), tuple(pre.get("mean", (0.5,) * 3)),
                                 tuple(pre.get("std", (0.5,) * 3)))
        except KeyError as err:
            raise ValueError(f"preprocessing {pre} has no 'image_size'") from err
    raise TypeError(f"preprocessing must be a fakezoo.zoo.Preprocessing or a dict, got "
                    f"{type(pre).__name__}")


def _check_threshold(threshold: float) -> float:
    value = float(threshold)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold!r}")
    return value


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _list_image_files(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively, sorted by path; hidden names left out."""
    def on_error(exc: OSError) -> None:
        logger.warning("cannot list %s (%s); its images are left out", exc.filename,
                       exc.strerror)

    found = []
    for dirpath, dirnames, filenames in os.walk(folder, onerror=on_error):
        dirnames[:] = [d for d in dirnames if not _is_hidden(d)]
        found.extend(Path(dirpath, name) for name in filenames
                     if not _is_hidden(name) and name.lower().endswith(IMAGE_EXTENSIONS))
    return sorted(found)


def _to_batch(arrays: list[np.ndarray]) -> torch.Tensor:
    """``(S, S, 3)`` uint8 arrays -> one ``(N, 3, S, S)`` uint8 tensor (channels_last memory)."""
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)


def _item_path(item: Any) -> str | None:
    return None if isinstance(item, Image.Image) else os.fspath(item)


def _check_item(item: Any) -> Any:
    if isinstance(item, str | os.PathLike | Image.Image):
        return item
    raise TypeError(f"a list to predict on holds paths or PIL images, got a "
                    f"{type(item).__name__} ({item!r:.60})")


def _pil_to_array(img: Image.Image, image_size: int) -> np.ndarray:
    """The steps of :func:`fakezoo.data.decode_image` after the file is open."""
    img.load()
    return image_to_array(img, image_size, _PIL_NAME)


def _decode_or_raise(item: Any, image_size: int) -> np.ndarray:
    if not isinstance(item, Image.Image):
        return decode_image(item, image_size)
    try:
        return _pil_to_array(item, image_size)
    except Exception as exc:
        raise ImageDecodeError(_PIL_NAME, f"{type(exc).__name__}: {exc}") from exc


def _decode_quietly(item: Any, image_size: int) -> tuple[np.ndarray | None, str | None]:
    try:
        return _decode_or_raise(item, image_size), None
    except ImageDecodeError as exc:
        return None, exc.reason
    except Exception as exc:  # one bad file never stops a folder
        return None, f"unexpected error ({type(exc).__name__}: {exc})"


def _prefetched(items: Iterable[Any], batch_size: int, image_size: int,
                pool: ThreadPoolExecutor | None
                ) -> Iterator[tuple[list[Any], list[tuple[np.ndarray | None, str | None]]]]:
    """Yield ``(chunk, decoded)``; the next chunk decodes while the caller uses this one."""
    iterator = iter(items)

    def next_chunk() -> list[Any]:
        return [_check_item(item) for item in islice(iterator, batch_size)]

    if pool is None:
        while chunk := next_chunk():
            yield chunk, [_decode_quietly(item, image_size) for item in chunk]
        return
    pending: deque[tuple[list[Any], list[Future]]] = deque()

    def submit() -> None:
        chunk = next_chunk()
        if chunk:
            pending.append((chunk, [pool.submit(_decode_quietly, x, image_size) for x in chunk]))

    submit()
    while pending:
        submit()  # at most two chunks in flight: the one handed out and the next
        chunk, futures = pending.popleft()
        yield chunk, [f.result() for f in futures]


def _bar(total: int | None, batch_size: int, progress: bool | None) -> tqdm:
    show = show_progress(progress)
    if progress is None and total is not None and total <= batch_size:
        show = False  # a single batch needs no bar
    return tqdm(total=total, desc="fakezoo predict", unit="img", disable=not show,
                leave=False)


def _warn_errors(errors: list[Prediction], total: int) -> None:
    lines = "\n".join(f"  {p.path or _PIL_NAME}: {p.error}" for p in errors[:_ERRORS_SHOWN])
    more = len(errors) - _ERRORS_SHOWN
    tail = f"\n  ... and {more} more (see Prediction.error)" if more > 0 else ""
    logger.warning("skipped %d of %d images that could not be decoded (their predictions have "
                   "error set and label None):\n%s%s", len(errors), total, lines, tail)


# -- loading ----------------------------------------------------------------------------------
def load(
    source: str | os.PathLike[str],
    *,
    revision: str | None = None,
    folds: str | int | list[int] = "all",
    device: str | torch.device = "auto",
    threshold: float = 0.5,
) -> Detector:
    """Load a trained run as a :class:`Detector` (``fakezoo.load``).

    Args:
        source: A local run directory, a Hub repo id ``"org/name"`` or
            ``"hf-hub:org/name@revision"``.
        revision: Hub branch, tag or commit to pin.
        folds: ``"all"``, one fold number or a list of them.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:1"``, ...
        threshold: ``prob_fake >= threshold`` is labelled ``"fake"``.

    Returns:
        A new :class:`Detector` (not cached; see :func:`predict` for the cached one-liner).

    Raises:
        fakezoo.hub.RunFormatError: The directory or repo is not a fakezoo run.
        Whatever :func:`fakezoo.hub.load_run` raises when the Hub cannot be reached.

    Example:
        ```python
        import fakezoo
        det = fakezoo.load("runs/resnet50", device="cpu")
        det("face.jpg").label
        ```
    """
    run = hub.load_run(source, revision=revision, folds=folds, device=device)
    return Detector.from_run(run, threshold=threshold)


def _cache_key(source: str | os.PathLike[str], revision: str | None, device: torch.device,
               folds: Any) -> tuple:
    folds_key = tuple(folds) if isinstance(folds, list | tuple) else folds
    text = os.fspath(source)
    local = Path(text).expanduser()
    if local.is_dir():
        # a run retrained in the same folder must not be served from the cache
        index = local / "config.json"
        stamp = index.stat().st_mtime_ns if index.is_file() else None
        return ("local", str(local.resolve()), stamp, revision, str(device), folds_key)
    return ("hub", text, revision, str(device), folds_key)


def _cached_detector(source: str | os.PathLike[str], revision: str | None,
                     device: str | torch.device, folds: Any) -> Detector:
    resolved = resolve_device(device)
    key = _cache_key(source, revision, resolved, folds)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        detector = load(source, revision=revision, folds=folds, device=resolved)
        _CACHE[key] = detector
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
        return detector


def clear_cache() -> None:
    """Forget the detectors that :func:`predict` keeps loaded (frees their memory).

    Example:
        ```python
        from fakezoo.predict import clear_cache
        clear_cache()
        ```
    """
    with _CACHE_LOCK:
        _CACHE.clear()


def predict(
    inputs: Any,
    model: Detector | str | os.PathLike[str] | None = None,
    *,
    device: str | torch.device = "auto",
    batch_size: int = 32,
    threshold: float | None = None,
    progress: bool | None = None,
    revision: str | None = None,
    folds: str | int | list[int] = "all",
    num_workers: int | None = None,
) -> Prediction | list[Prediction]:
    """Real or fake? The one-liner: load a run (once per process) and predict.

    Args:
        inputs: An image path, a folder, a list of paths, a PIL image or a tensor; see
            :meth:`Detector.predict` for what each returns.
        model: A :class:`Detector`, a local run directory, a Hub id ``"org/name"`` or
            ``"hf-hub:org/name@revision"``. Default: ``$FAKEZOO_MODEL`` if set, else
            :data:`DEFAULT_MODEL`. Loaded runs are kept in a small process-wide cache keyed
            by (source, revision, device, folds), so calling this in a loop loads the weights
            once; :func:`clear_cache` empties it.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ...; ignored when ``model`` is a
            Detector.
        batch_size: Images per forward pass.
        threshold: ``prob_fake >= threshold`` is labelled ``"fake"``; ``None`` uses the
            detector's own threshold, which is 0.5 for runs loaded here.
        progress: A progress bar; ``None`` shows one on a terminal for long runs.
        revision: Hub branch, tag or commit to pin (ignored when ``model`` is a Detector).
        folds: ``"all"``, one fold number or a list of them (ignored when ``model`` is a
            Detector).
        num_workers: Decoding threads (see :meth:`Detector.predict`).

    Returns:
        One :class:`Prediction` for a single image, else a list.

    Example:
        ```python
        import fakezoo
        fakezoo.predict("face.jpg", model="runs/resnet50").label
        for path in paths:  # the run is loaded once
            print(fakezoo.predict(path, model="runs/resnet50").prob_fake)
        ```
    """
    if isinstance(model, Detector):
        detector = model
    else:
        source = model
        if source is None:
            source = os.environ.get(MODEL_ENV) or DEFAULT_MODEL
        try:
            detector = _cached_detector(source, revision, device, folds)
        except Exception as err:
            if model is None:
                origin = (f"${MODEL_ENV}" if os.environ.get(MODEL_ENV)
                          else f"the default model (no model= given and ${MODEL_ENV} unset)")
                err.add_note(f"fakezoo.predict tried {origin}: '{source}'. Pass "
                             f"model='path/to/run_dir' or a Hub id, or set ${MODEL_ENV}.")
            raise
    return detector.predict(inputs, batch_size=batch_size, threshold=threshold,
                            progress=progress, num_workers=num_workers)
