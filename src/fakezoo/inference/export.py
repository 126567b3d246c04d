"""``fakezoo export``: a run as one self-contained ONNX file, checked against ``fakezoo.predict``.

The file holds the whole ensemble as one graph: uint8 pixels in, the normalisation, each
shared frozen trunk once, every fold's tail, and the fold and mean fake probabilities out.
Everything needed to prepare an input is in the model's metadata (``metadata_props``):
image size, resize filter, mean and std, labels, fold names and the decision threshold.
[`export_onnx`][fakezoo.inference.export.export_onnx] runs the exported file with ONNX Runtime on
check images and refuses to keep it unless its probabilities equal the Detector's within ``atol``.
Given the run's ``results.json``, the file also carries the run's out-of-fold CV predictions, so
that ``fakezoo evaluate`` can score the file alone.
[`OnnxDetector`][fakezoo.inference.export.OnnxDetector] reads it back: `fakezoo predict --model
FILE` and `fakezoo.load(FILE)` predict with it.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._version import __version__
from ..data.dataset import LABEL_NAMES
from ..errors import ExportCheckError, ExportReadError, RunFormatError
from ..models.preprocessing import Preprocessing
from ..runs.schema import check_labels, check_object, check_results
from .detector import Detector, check_threshold
from .ensemble import FoldEnsemble

__all__ = [
    "EXPORT_FORMATS",
    "Exported",
    "OnnxDetector",
    "export_onnx",
    "onnx_metadata",
    "run_onnx",
]

EXPORT_FORMATS = ("onnx",)
"""Formats ``fakezoo export`` writes."""

INPUT_NAME = "images"
OUTPUT_NAMES = ("fold_probs", "prob_fake")


@dataclass(frozen=True)
class Exported:
    """What [`export_onnx`][fakezoo.inference.export.export_onnx] wrote and how well it matched.

    Attributes:
        path: the ``.onnx`` file.
        max_diff: largest difference between its and the Detector's fold probabilities on
            the check images.
        checked: number of check images.
        trunk_passes: trunk passes in the graph (1 when every fold shares its trunk).
    """

    path: Path
    max_diff: float
    checked: int
    trunk_passes: int


class _Graph(nn.Module):
    """uint8 ``(N, 3, S, S)`` -> (fold probabilities ``(N, k)``, their mean ``(N,)``)."""

    def __init__(self, ensemble: FoldEnsemble, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.ensemble = ensemble
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (images.float() / 255 - self.mean) / self.std
        probs = self.ensemble(x)
        return probs, probs.mean(dim=1)


def onnx_metadata(detector: Any, cv_results: dict | None = None) -> dict[str, str]:
    """The metadata written into the exported file (all values are strings).

    ``cv_results`` (the run's ``results.json``) adds ``cv_results``: its out-of-fold
    predictions per fold, summary, settings and deviations, which ``fakezoo evaluate`` needs.
    """
    pre = detector.preprocessing
    groups = [[detector.fold_names[i] for i in g.folds] for g in detector.ensemble.groups]
    return {
        "fakezoo_version": __version__,
        "model": str(detector.config.get("model", "")),
        "input": f"{INPUT_NAME}: uint8 RGB (N, 3, {pre.image_size}, {pre.image_size}), the "
        f"image resized to a square with PIL's bilinear filter; normalisation is in "
        f"the graph",
        "preprocessing": json.dumps(pre.to_dict()),
        "outputs": "fold_probs: (N, folds) fake probability of each fold model; prob_fake: "
        "(N,) their mean",
        "labels": json.dumps(list(detector.labels)),
        "threshold": repr(detector.threshold),
        "fold_names": json.dumps(detector.fold_names),
        "shared_trunks": json.dumps(groups),
        "run_config": json.dumps(detector.config, default=str),
    } | ({} if cv_results is None else {"cv_results": json.dumps(_cv_part(cv_results))})


def _cv_part(results: dict) -> dict:
    """What an evaluation needs of ``results.json``: out-of-fold predictions and the summary."""
    folds = [
        {k: f.get(k) for k in ("fold", "y_true", "y_prob")} for f in results.get("folds") or []
    ]
    return {
        "folds": folds,
        **{
            k: results[k]
            for k in ("summary", "settings", "deviations", "train_files_sha256")
            if k in results
        },
    }


class OnnxDetector(Detector):
    """An exported file read back with ONNX Runtime on the CPU, as a
    [`Detector`][fakezoo.inference.detector.Detector]: the same predictions as its run, from
    the same decoding (``fakezoo.load("model.onnx")`` and ``fakezoo predict --model
    model.onnx`` make one), without torch's fold models.

    The file's metadata is checked when it is opened, before any image is decoded: its
    preprocessing, fold names, labels, run config and CV predictions must have their types, and
    its image size must be the graph's input size. What needs gradients (Grad-CAM) needs the
    run directory instead.

    Example:
        ```python
        # needs: an exported file and onnxruntime
        from fakezoo.inference.export import OnnxDetector
        det = OnnxDetector("resnet50.onnx")
        det.predict("face.jpg").prob_fake
        det.predict_tensor(images).mean(dim=1)   # prob_fake of uint8 (N, 3, S, S) images
        ```
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        threshold: float = 0.5,
        threads: int | None = None,
    ) -> None:
        try:
            import onnxruntime as ort
        except ModuleNotFoundError as err:
            raise ModuleNotFoundError(
                f"reading an exported .onnx file needs onnxruntime: "
                f'pip install "fakezoo[onnx]" ({err})'
            ) from err
        self.path = Path(path)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                os.fspath(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own classes for unreadable files
            raise ExportReadError(
                f"'{path}' is not a readable ONNX file ({err}); export it "
                f"again with `fakezoo export RUN --format onnx`."
            ) from err
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        meta = _ExportMetadata(self.path, self.metadata)
        self.preprocessing = meta.preprocessing()
        self.fold_names = meta.fold_names()
        self.labels = meta.labels()
        self.config = meta.run_config()
        self.cv_results = meta.cv_results()
        meta.check_graph(self.session, self.image_size, len(self.fold_names))
        self.threshold = check_threshold(threshold)
        self.device = torch.device("cpu")
        self.amp = False
        self.forward_batch_size = None
        self.models = []  # no torch models: the graph holds the folds
        self.backend = "onnxruntime"

    @property
    def n_folds(self) -> int:
        return len(self.fold_names)

    def _forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8:
            raise ValueError(
                f"'{self.path.name}' takes uint8 pixels (its normalisation is in the graph); "
                f"got {images.dtype}: pass the uint8 images, or use the run directory"
            )
        if len(images) == 0:
            return torch.empty(0, self.n_folds)
        array = np.ascontiguousarray(images.numpy())
        return torch.from_numpy(self.session.run([OUTPUT_NAMES[0]], {INPUT_NAME: array})[0])

    def __repr__(self) -> str:
        return (
            f"OnnxDetector({self.path.name}, folds={self.n_folds}, "
            f"image_size={self.image_size}, threshold={self.threshold})"
        )


class _ExportMetadata:
    """Reads one by one, with their types checked, the metadata fakezoo export writes."""

    def __init__(self, path: Path, metadata: dict[str, str]):
        self.path, self.metadata = path, metadata

    def _fail(self, key: str, problem: str) -> ExportReadError:
        return ExportReadError(
            f"'{self.path}': its metadata '{key}' {problem}; the file was not written by "
            f"this fakezoo's export, or was edited. Export the run again with `fakezoo export "
            f"RUN --format onnx`."
        )

    def _json(self, key: str, kind: type, default: Any = None) -> Any:
        if key not in self.metadata:
            if default is not None:
                return default
            raise self._fail(key, "is missing")
        try:
            value = json.loads(self.metadata[key])
        except (ValueError, RecursionError) as err:
            raise self._fail(key, f"is not JSON ({err})") from None
        if not isinstance(value, kind):
            raise self._fail(key, f"must be a JSON {kind.__name__}, got {value!r:.60}")
        return value

    def _checked(self, key: str, check: Any, value: Any) -> Any:
        try:
            return check(value, f"'{self.path}' metadata '{key}'")
        except RunFormatError as err:
            raise ExportReadError(
                f"{err} Export the run again with `fakezoo export RUN`."
            ) from None

    def preprocessing(self) -> Preprocessing:
        return self._checked(
            "preprocessing", Preprocessing.from_dict, self._json("preprocessing", dict)
        )

    def fold_names(self) -> list[str]:
        names = self._json("fold_names", list)
        if not names or not all(isinstance(n, str) for n in names):
            raise self._fail("fold_names", f"must be a non-empty list of names, got {names!r:.60}")
        return names

    def labels(self) -> tuple[str, str]:
        labels = self._json("labels", list, default=list(LABEL_NAMES))
        return tuple(self._checked("labels", check_labels, labels))  # type: ignore[return-value]

    def run_config(self) -> dict:
        config = self._json("run_config", dict, default={})
        for key in ("settings", "metrics", "metrics_std", "preprocessing"):
            self._checked(
                "run_config", lambda v, where, k=key: check_object(v, where, k), config.get(key)
            )
        return config

    def cv_results(self) -> dict | None:
        if "cv_results" not in self.metadata:
            return None
        return self._checked("cv_results", check_results, self._json("cv_results", dict))

    def check_graph(self, session: Any, image_size: int, n_folds: int) -> None:
        """The graph's input must be uint8 (N, 3, S, S) at the metadata's size, its fold
        output one column per fold name."""
        inputs = {i.name: i for i in session.get_inputs()}
        if INPUT_NAME not in inputs:
            raise self._fail("input", f"names no graph input '{INPUT_NAME}'")
        shape = list(inputs[INPUT_NAME].shape)
        if len(shape) != 4 or shape[1:] != [3, image_size, image_size]:
            raise ExportReadError(
                f"'{self.path}': its metadata says image_size {image_size}, but the graph takes "
                f"images of shape {shape[1:]} (N, 3, S, S); the metadata was edited. Export the "
                f"run again with `fakezoo export RUN --format onnx`."
            )
        outputs = {o.name: o for o in session.get_outputs()}
        folds = list(outputs[OUTPUT_NAMES[0]].shape) if OUTPUT_NAMES[0] in outputs else []
        if len(folds) != 2 or folds[1] != n_folds:
            raise self._fail("fold_names", f"lists {n_folds} folds; the graph gives {folds[1:]}")


def run_onnx(
    path: str | os.PathLike[str], images: np.ndarray | torch.Tensor, threads: int | None = None
) -> np.ndarray:
    """Fold probabilities ``(N, k)`` of an exported file on uint8 ``(N, 3, S, S)`` images.

    Example:
        ```python
        # needs: an exported file
        from fakezoo.inference.export import run_onnx
        run_onnx("resnet50.onnx", images).mean(axis=1)   # prob_fake
        ```
    """
    return OnnxDetector(path, threads=threads).predict_tensor(torch.as_tensor(images)).numpy()


def _check_images(detector: Any, images: torch.Tensor | None) -> torch.Tensor:
    if images is not None:
        return images
    size = detector.image_size
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (4, 3, size, size), dtype=torch.uint8, generator=generator)


def export_onnx(
    detector: Any,
    path: str | os.PathLike[str],
    *,
    opset: int = 17,
    check_images: torch.Tensor | None = None,
    atol: float = 1e-4,
    cv_results: dict | None = None,
) -> Exported:
    """Write the Detector's ensemble as one ONNX file and check it against the Detector.

    Args:
        detector: a [`Detector`][fakezoo.inference.detector.Detector] (its folds, preprocessing,
            labels and threshold go into the file).
        path: the ``.onnx`` file to write (its folder is created).
        opset: ONNX opset.
        check_images: uint8 ``(N, 3, S, S)`` images for the check; default four random ones.
        atol: largest accepted difference between the file's and the Detector's
            probabilities.
        cv_results: the run's ``results.json``; its out-of-fold predictions go into the file
            so that ``fakezoo evaluate FILE DATA`` can choose its threshold on them
            (``fakezoo export`` passes it).

    Returns:
        An [`Exported`][fakezoo.inference.export.Exported]: the path, the largest difference found,
        and more.

    Raises:
        ExportCheckError: the file's probabilities differ from the Detector's by more than
            ``atol`` (the file is removed).
        ModuleNotFoundError: onnx or onnxruntime is missing (``pip install "fakezoo[onnx]"``).

    Example:
        ```python
        # needs: a run directory
        import fakezoo
        from fakezoo.inference.export import export_onnx
        export_onnx(fakezoo.load("runs/resnet50", device="cpu"), "resnet50.onnx").max_diff
        ```
    """
    try:
        import onnx
        import onnxruntime  # noqa: F401
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"fakezoo export --format onnx needs onnx and onnxruntime: "
            f'pip install "fakezoo[onnx]" ({err})'
        ) from err
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pre = detector.preprocessing
    models = [_on_cpu(m) for m in detector.models]
    ensemble = FoldEnsemble(models).eval()
    graph = _Graph(ensemble, pre.mean, pre.std).eval()
    example = _check_images(detector, None)
    tmp = path.with_name(path.name + ".tmp")
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            graph,
            (example,),
            os.fspath(tmp),
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            opset_version=opset,
            dynamic_axes={
                INPUT_NAME: {0: "batch"},
                OUTPUT_NAMES[0]: {0: "batch"},
                OUTPUT_NAMES[1]: {0: "batch"},
            },
            dynamo=False,
        )
    proto = onnx.load(os.fspath(tmp))
    for key, value in onnx_metadata(detector, cv_results).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "fakezoo"
    proto.doc_string = "fakezoo fold ensemble (shared frozen trunk, fold tails)"
    onnx.save(proto, os.fspath(tmp))
    images = _check_images(detector, check_images)
    expected = detector.predict_tensor(images).numpy()
    got = run_onnx(tmp, images)
    diff = float(np.max(np.abs(got - expected))) if expected.size else 0.0
    if not diff <= atol:
        tmp.unlink(missing_ok=True)
        raise ExportCheckError(
            f"the ONNX export of {detector!r} gives probabilities up to "
            f"{diff:.2e} away from fakezoo.predict's (limit {atol:g}); "
            f"nothing was written to {path}."
        )
    os.replace(tmp, path)
    return Exported(path, diff, len(images), ensemble.trunk_passes)


def _on_cpu(model: nn.Module) -> nn.Module:
    """The model itself when it is on the CPU in float32, else a CPU float32 copy."""
    first = next(model.parameters(), None)
    if first is None or (first.device.type == "cpu" and first.dtype == torch.float32):
        return model
    return copy.deepcopy(model).float().cpu()
