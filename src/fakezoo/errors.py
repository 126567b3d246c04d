"""fakezoo's exceptions: one base, [`FakezooError`][fakezoo.errors.FakezooError], for all of them.

Each exception also keeps the builtin parent it always had (``ValueError``, ``KeyError``,
``RuntimeError``, ``FileNotFoundError``), so ``except ValueError`` and friends keep working.

Example:
    ```python
    import fakezoo
    from fakezoo.errors import FakezooError

    try:
        fakezoo.get_spec("resnet5O")
    except FakezooError as err:
        print(err)   # Unknown model 'resnet5O'. Did you mean 'resnet50'? ...
    ```
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "CacheSpaceError",
    "DatasetError",
    "EvalRunError",
    "ExportCheckError",
    "ExportReadError",
    "FacesError",
    "FakezooError",
    "FileDecodeError",
    "FolderError",
    "FolderInUseError",
    "HubAuthError",
    "HubFileNotFoundError",
    "HubUnavailableError",
    "ImageDecodeError",
    "PerturbationError",
    "ProtocolError",
    "RankZeroError",
    "RunDirectoryError",
    "RunFormatError",
    "RunMismatchError",
    "StorageError",
    "UnknownModelError",
    "VideoDecodeError",
    "WeightsError",
]


class FakezooError(Exception):
    """Base class of every exception fakezoo raises on purpose."""


class UnknownModelError(FakezooError, KeyError):
    """A model name, or a module name in a freeze policy, that fakezoo does not know."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class WeightsError(FakezooError, RuntimeError):
    """Pretrained weights could not be found, downloaded or loaded."""


class DatasetError(FakezooError, ValueError):
    """The dataset cannot be used as given.

    Raised for an unknown folder layout, a malformed CSV file, an empty or single-class dataset,
    a class with too few images for the requested folds or subsample, or a folds file that does
    not match the dataset. The message says what was found and what to do.

    Example:
        ```python
        from fakezoo import load_dataset
        try:
            ds = load_dataset("photos/")
        except DatasetError as err:
            print(err)  # shows the expected layouts
        ```
    """


class FileDecodeError(FakezooError, ValueError):
    """One file (an image or a video) could not be decoded; `path` names the file and
    `reason` says why. Batch work catches this to skip the file and report it."""

    kind = ""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot decode {self.kind}{self.path}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.reason))


class ImageDecodeError(FileDecodeError):
    """One image could not be decoded; `path` names the file and `reason` says why.

    Example:
        ```python
        from fakezoo.data import decode_image
        try:
            decode_image("broken.jpg", 224)
        except ImageDecodeError as err:
            print(err.path, err.reason)
        ```
    """


class RunDirectoryError(FakezooError, RuntimeError):
    """An output directory holds a run made with other settings."""


class RunMismatchError(RunDirectoryError):
    """A run directory or stored study holds a run with another fingerprint.

    ``differences`` lists ``(field, stored value, asked value)`` for every differing field.
    """

    def __init__(self, message: str, differences: Sequence[tuple[str, Any, Any]] = ()):
        super().__init__(message)
        self.differences = list(differences)


class FolderError(FakezooError, ValueError):
    """An output folder fakezoo will not write into or remove: it holds files fakezoo did not
    write, it is another kind of fakezoo folder (a study given for a run...), or it lies inside
    the data or inside another fakezoo folder. The message names the folder, a file, and what
    to do.

    Example:
        ```python
        from fakezoo.errors import FolderError
        try:
            cv.run("resnet50", "faces/", out_dir="faces/real/run")
        except FolderError as err:
            print(err)   # 'faces/real/run' lies inside the data 'faces' ...
        ```
    """


class FolderInUseError(FakezooError, RuntimeError):
    """Another live fakezoo process writes this folder (or this SQLite study) right now: a
    second writer is refused, never interleaved. The message names the folder and the other
    process."""


class RunFormatError(FakezooError, ValueError):
    """Not a fakezoo run, or content fakezoo refuses to load or push.

    Raised for a missing or malformed ``config.json``, an unknown model, architecture or
    trainable module, weights that are not safetensors, weights that do not fit the model, and
    file or fold names that would leave the run directory.

    Example:
        ```python
        from fakezoo.errors import RunFormatError
        from fakezoo.runs import load_run
        try:
            load_run("some-org/not-a-fakezoo-model")
        except RunFormatError as err:
            print(err)   # Not a fakezoo run: ...
        ```
    """


class HubAuthError(FakezooError, RuntimeError):
    """No Hugging Face token, or the Hub refused it: pushing needs one with write access.

    Example:
        ```python
        from fakezoo.errors import HubAuthError
        from fakezoo.hub import push_to_hub
        try:
            push_to_hub("runs/resnet50", "my-org/fakezoo-resnet50")
        except HubAuthError as err:
            print(err)   # ... run `hf auth login`, set HF_TOKEN, or pass token=...
        ```
    """


class HubUnavailableError(FakezooError, RuntimeError):
    """The Hub cannot be reached (offline, or no network) and the file is not cached."""


class HubFileNotFoundError(FakezooError, FileNotFoundError):
    """The repository, revision or file does not exist on the Hub."""


class ProtocolError(FakezooError, RuntimeError):
    """The cross-dataset protocol cannot run as asked: a split it needs is missing, the data
    would not fit the memory budget, or the output folder holds a protocol run made with other
    settings. The message says what to do."""


class RankZeroError(FakezooError, RuntimeError):
    """Under ``torchrun``, rank 0 failed at a step it does alone (claiming the run directory,
    writing a fold): the other ranks stop with its message instead of waiting for it."""


class CacheSpaceError(FakezooError, OSError):
    """An out-of-core cache (decoded images or trunk output past the memory budget) would not
    fit on its disk; raised before anything is written, saying how much it needs and where."""


class StorageError(FakezooError, RuntimeError):
    """A study's storage cannot be used: a bad URL, a missing driver, an unreachable server."""


class FacesError(FakezooError, ValueError):
    """A face-related step failed for one input; the message names the file and the reason."""


class VideoDecodeError(FacesError, FileDecodeError):
    """A video could not be opened or decoded; the message names the file and the reason."""

    kind = "video "


class ExportCheckError(FakezooError, RuntimeError):
    """The exported file does not give the Detector's probabilities; it was not kept."""


class ExportReadError(FakezooError, ValueError):
    """A file given as an exported model is not one fakezoo export wrote."""


class EvalRunError(FakezooError, ValueError):
    """A run cannot be evaluated as given (no CV predictions, no weights, ...)."""


class PerturbationError(FakezooError, ValueError):
    """A perturbation spec that fakezoo cannot parse; the message shows the accepted forms."""
