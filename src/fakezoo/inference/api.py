"""The one-liner: load a run (once per process) and predict."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from .._device import resolve_device
from .._io import file_sha256
from ..models.detector_weights import is_detector_file, load_detector
from ..runs import loader
from .detector import Detector
from .export import OnnxDetector
from .prediction import Prediction

__all__ = ["DEFAULT_MODEL", "MODEL_ENV", "clear_cache", "load", "predict"]


DEFAULT_MODEL = "fakezoo/resnet50-deepfake"
"""The Hub repo [`predict`][fakezoo.inference.api.predict] uses when neither ``model=`` nor
``$FAKEZOO_MODEL`` is set."""

MODEL_ENV = "FAKEZOO_MODEL"
"""Environment variable naming the default model (a run directory or a Hub id)."""


_CACHE_SIZE = 4
_CACHE: OrderedDict[tuple, Detector] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def load(
    source: str | os.PathLike[str],
    *,
    revision: str | None = None,
    folds: str | int | list[int] = "all",
    device: str | torch.device = "auto",
    threshold: float = 0.5,
    allow_partial: bool = False,
) -> Detector:
    """Load a trained run as a [`Detector`][fakezoo.inference.detector.Detector] (``fakezoo.load``).

    Args:
        source: A local run directory, a Hub repo id ``"org/name"`` or
            ``"hf-hub:org/name@revision"``, a file written by ``fakezoo export RUN
            --format onnx`` (an [`OnnxDetector`][fakezoo.inference.export.OnnxDetector]: the
            run's predictions with ONNX Runtime on the CPU), or a detector converted from its
            authors' checkpoint by ``fakezoo convert-weights ... --from sbi|deepfakebench``
            (see [`load_detector`][fakezoo.models.detector_weights.load_detector]). A path
            that does not exist is a ``FileNotFoundError``; only ``org/name`` is taken for a
            Hub id.
        revision: Hub branch, tag or commit to pin.
        folds: ``"all"``, one fold number or a list of them.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:1"``, ...
        threshold: ``prob_fake >= threshold`` is labelled ``"fake"``.
        allow_partial: load the finished folds of an unfinished run (with one warning);
            without it an unfinished run is an error naming its missing folds.

    Returns:
        A new [`Detector`][fakezoo.inference.detector.Detector] (not cached; see
        [`predict`][fakezoo.inference.api.predict] for the cached one-liner).

    Raises:
        fakezoo.errors.RunFormatError: The directory or repo is not a fakezoo run.
        fakezoo.errors.HubUnavailableError: The Hub cannot be reached and the run is not in
            the local cache (see [`load_run`][fakezoo.runs.loader.load_run]).

    Example:
        ```python
        import fakezoo
        det = fakezoo.load("runs/resnet50", device="cpu")
        det("face.jpg").label
        ```
    """
    export = _export_file(source)
    if export is not None:
        _check_export_options(export, revision, folds, device)
        return OnnxDetector(export, threshold=threshold)
    if not isinstance(source, Detector) and is_detector_file(os.fspath(source)):
        path = Path(os.fspath(source)).expanduser()
        if revision is not None or folds != "all":
            raise ValueError(
                f"'{path}' is one converted detector: revision= and folds= apply to runs."
            )
        model = load_detector(path, device=resolve_device(device))
        return Detector(
            [model], model.preprocessing, device=device, threshold=threshold, fold_names=[path.stem]
        )
    run = loader.load_run(
        source, revision=revision, folds=folds, device=device, allow_partial=allow_partial
    )
    return Detector.from_run(run, threshold=threshold)


def _export_file(source: str | os.PathLike[str]) -> Path | None:
    """The ``.onnx`` file ``source`` names, if it is one."""
    if isinstance(source, Detector):
        return None
    path = Path(os.fspath(source)).expanduser()
    return path if path.suffix.lower() == ".onnx" and path.is_file() else None


def _check_export_options(path: Path, revision: Any, folds: Any, device: Any) -> None:
    if revision is not None:
        raise ValueError(f"revision='{revision}' applies to Hub repos, not to the file '{path}'.")
    if folds != "all":
        raise ValueError(f"folds={folds!r}: '{path}' holds its folds in one graph; load all.")
    if resolve_device(device).type != "cpu":
        raise ValueError(
            f"device={str(device)!r}: '{path}' runs with ONNX Runtime on the CPU; pass "
            f"device='cpu' (or 'auto' on a machine without a GPU), or load the run directory."
        )


def _cache_key(
    source: str | os.PathLike[str],
    revision: str | None,
    device: torch.device,
    folds: Any,
    allow_partial: bool,
) -> tuple:
    folds_key = tuple(folds) if isinstance(folds, list | tuple) else folds
    text = os.fspath(source)
    local = Path(text).expanduser()
    if local.is_dir():
        # Keyed on the content of the index and of every fold's config and weights: a fold
        # finished later, or a run retrained in the same folder, is never served stale.
        return (
            "local",
            str(local.resolve()),
            loader.run_digest(local),
            revision,
            str(device),
            folds_key,
            allow_partial,
        )
    if local.is_file():  # an exported .onnx file or a converted detector, keyed on its content
        return ("file", str(local.resolve()), file_sha256(local), str(device), folds_key)
    return ("hub", text, revision, str(device), folds_key, allow_partial)


def _cached_detector(
    source: str | os.PathLike[str],
    revision: str | None,
    device: str | torch.device,
    folds: Any,
    allow_partial: bool,
) -> Detector:
    resolved = resolve_device(device)
    key = _cache_key(source, revision, resolved, folds, allow_partial)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        detector = load(
            source, revision=revision, folds=folds, device=resolved, allow_partial=allow_partial
        )
        _CACHE[key] = detector
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
        return detector


def clear_cache() -> None:
    """Forget the detectors that [`predict`][fakezoo.inference.api.predict] keeps loaded (frees
    their memory).

    Example:
        ```python
        from fakezoo.inference.api import clear_cache
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
    allow_partial: bool = False,
    faces: bool = False,
    frames: int | None = None,
) -> Prediction | list[Prediction]:
    """Real or fake? The one-liner: load a run (once per process) and predict.

    Args:
        inputs: An image path, a folder, a list of paths, a PIL image or a tensor; see
            [`Detector.predict`][fakezoo.inference.detector.Detector.predict] for what each returns.
        model: A [`Detector`][fakezoo.inference.detector.Detector], a local run directory, a Hub id
            ``"org/name"`` or ``"hf-hub:org/name@revision"``, or an exported ``.onnx`` file.
            Default: ``$FAKEZOO_MODEL`` if set, else
            [`DEFAULT_MODEL`][fakezoo.inference.api.DEFAULT_MODEL]. Loaded runs are kept in a small
            process-wide cache keyed by (source, revision, device, folds) and, for a local run or
            file, the content of its index and of every fold's config and weights, so calling this
            in a loop loads the weights once and a fold finished later is seen;
            [`clear_cache`][fakezoo.inference.api.clear_cache] empties it.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ...; ignored when ``model`` is a
            Detector.
        batch_size: Images per forward pass.
        threshold: ``prob_fake >= threshold`` is labelled ``"fake"``; ``None`` uses the
            detector's own threshold, which is 0.5 for runs loaded here.
        progress: A progress bar; ``None`` shows one on a terminal for long runs.
        revision: Hub branch, tag or commit to pin (ignored when ``model`` is a Detector).
        folds: ``"all"``, one fold number or a list of them (ignored when ``model`` is a
            Detector).
        num_workers: Decoding threads (see
            [`Detector.predict`][fakezoo.inference.detector.Detector.predict]).
        allow_partial: predict with the finished folds of an unfinished run (see
            [`load`][fakezoo.inference.api.load]).
        faces: Detect and crop faces first; photos and videos (see
            [`Detector.predict`][fakezoo.inference.detector.Detector.predict]).
        frames: With ``faces=True``, frames sampled per video (default 16).

    Returns:
        One [`Prediction`][fakezoo.inference.prediction.Prediction] for a single image, else a list.

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
            detector = _cached_detector(source, revision, device, folds, allow_partial)
        except Exception as err:
            if model is None:
                origin = (
                    f"${MODEL_ENV}"
                    if os.environ.get(MODEL_ENV)
                    else f"the default model (no model= given and ${MODEL_ENV} unset)"
                )
                err.add_note(
                    f"fakezoo.predict tried {origin}: '{source}'. Pass "
                    f"model='path/to/run_dir' or a Hub id, or set ${MODEL_ENV}."
                )
            raise
    return detector.predict(
        inputs,
        batch_size=batch_size,
        threshold=threshold,
        progress=progress,
        num_workers=num_workers,
        faces=faces,
        frames=frames,
    )
