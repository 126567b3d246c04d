"""Where does the ensemble see a fake? Grad-CAM maps averaged over the fold models.

Each fold model of a [`Detector`][fakezoo.inference.detector.Detector] gets a Grad-CAM map
(from the maintained [grad-cam](https://github.com/jacobgil/pytorch-grad-cam) package,
`pip install 'fakezoo[explain]'`) at the layer its
[`ModelSpec`][fakezoo.models.registry.ModelSpec] names in `cam_layer`: the last convolutional
stage, or for ViT the input norm of the last block, whose patch tokens are reshaped to a grid.
Grad-CAM scales each fold's map to [0, 1]; the explanation's `heatmap` is their mean, at the
model's input size.

The map explains the `"fake"` class by default (`target="predicted"` explains the class the
ensemble chose, `"real"` the real class). Images go through exactly the steps used in training
and prediction, so `explanation.prediction` equals [`fakezoo.predict`][fakezoo.predict]'s.

Example:
    ```python
    import fakezoo
    from fakezoo.explain import explain
    det = fakezoo.load("runs/resnet50", device="cpu")
    e = explain(det, "face.jpg")
    e.prediction.label, e.heatmap.shape      # ('fake', (224, 224))
    png, npy = e.save("explanations/", "face")
    ```
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from .._optional import install_hint
from ..data.decode import decode_image, image_to_array
from ..data.discovery import list_images
from ..errors import ImageDecodeError
from ..inference.detector import Detector
from ..inference.prediction import Prediction
from ..inference.stream import decode_item
from ..report.plots import new_figure, note_no_matplotlib, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DISPLAY_SIZE",
    "TARGETS",
    "Explanation",
    "cam_layer",
    "explain",
    "explain_many",
    "explain_to_folder",
    "overlay",
]

TARGETS = ("fake", "real", "predicted")
"""What a map can explain: one class for every image, or each image's predicted class."""

DISPLAY_SIZE = 256
"""Side of the image under the overlay (at least the model's input size)."""

_LOCK = threading.Lock()  # the hooks grad-cam puts on a model must not overlap


@dataclass
class Explanation:
    """A prediction with the Grad-CAM map that explains it.

    Attributes:
        prediction: The ensemble's [`Prediction`][fakezoo.inference.prediction.Prediction] for the
            image; its ``error`` is set (and the arrays are ``None``) when the image could not
            be read.
        heatmap: ``(S, S)`` float32 in [0, 1], the mean of the folds' maps at the model's
            input size ``S`` (1 where the explained class draws most on the image).
        fold_heatmaps: ``(n_folds, S, S)`` float32, each fold's own map.
        image: ``(D, D, 3)`` uint8, the image as the model saw it (square, resized), at the
            display size ``D = max(S, DISPLAY_SIZE)``; the overlay is drawn on it.
        layer: The module the maps were taken at (``ModelSpec.cam_layer``).
        target: The class explained: ``"fake"``, ``"real"``, or the predicted label when
            ``target="predicted"``.

    Example:
        ```python
        e = explain(detector, "face.jpg")
        rgb = e.overlay()          # (D, D, 3) uint8, heatmap over the image
        e.save("out/", "face")     # out/face.png and out/face.npy
        ```
    """

    prediction: Prediction
    heatmap: np.ndarray | None
    fold_heatmaps: np.ndarray | None
    image: np.ndarray | None
    layer: str
    target: str

    @property
    def ok(self) -> bool:
        """``True`` when the image was read and explained."""
        return self.prediction.error is None

    def overlay(self, alpha: float = 0.5) -> np.ndarray:
        """The heatmap drawn over the image (``(D, D, 3)`` uint8 RGB, jet colour map).

        Args:
            alpha: Weight of the heatmap against the image, in [0, 1].
        """
        if not self.ok:
            raise ValueError(f"no overlay: {self.prediction.path}: {self.prediction.error}")
        return overlay(self.image, self.heatmap, alpha=alpha)

    def caption(self, fold: int | None = None) -> str:
        """The figure's caption: label, P(fake) and which folds' map it shows."""
        p = self.prediction
        n = len(p.fold_probs or [])
        text = f"{p.label} · P(fake) {p.prob_fake:.3f}"
        if fold is None:
            return f"{text} · mean of {n} folds"
        return f"fold {fold} of {n} · P(fake) {p.fold_probs[fold - 1]:.3f} (ensemble: {text})"

    def figure(self, fold: int | None = None, alpha: float = 0.5) -> Figure:
        """The heatmap over the image as a matplotlib Figure, with a caption (label, P(fake),
        the folds shown) and a colour bar (needs the ``plots`` extra).

        Args:
            fold: ``None`` for the mean map of the folds, or ``1..n_folds`` for that fold's own
                map and probability.
            alpha: Weight of the heatmap against the image, in [0, 1].

        Returns:
            A Figure on its own Agg canvas: ``axes[0]`` the image (``images[1]`` the map, at
            the model's input size), ``axes[1]`` the colour bar.

        Raises:
            ImportError: Without matplotlib (``pip install 'fakezoo[plots]'``).
        """
        if not self.ok:
            raise ValueError(f"no figure: {self.prediction.path}: {self.prediction.error}")
        n = len(self.fold_heatmaps)
        if fold is not None and not 1 <= fold <= n:
            raise ValueError(f"fold={fold}: this explanation has folds 1 to {n}.")
        heat = self.heatmap if fold is None else self.fold_heatmaps[fold - 1]
        side = self.image.shape[0]
        fig = new_figure((4.4, 4.0))
        ax = fig.add_subplot()
        ax.imshow(self.image)
        shown = ax.imshow(
            heat,
            cmap="jet",
            vmin=0.0,
            vmax=1.0,
            alpha=alpha,
            interpolation="bilinear",
            extent=(-0.5, side - 0.5, side - 0.5, -0.5),
        )
        ax.set_axis_off()
        ax.set_title(self.caption(fold), fontsize=8)
        bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)
        bar.set_label(f"Grad-CAM, {self.target} class", fontsize=8)
        return fig

    def save(
        self, out_dir: str | os.PathLike[str], name: str, caption: bool = True
    ) -> tuple[Path, Path]:
        """Write ``out_dir/name.png`` (the overlay) and ``out_dir/name.npy`` (``heatmap``).

        With ``caption`` and the ``plots`` extra the PNG is
        [`figure()`][fakezoo.explain.gradcam.Explanation.figure] (caption and colour bar);
        without matplotlib, or with ``caption=False``, it is ``overlay()`` alone, pixel for pixel.

        Returns:
            The two paths. Folders are created as needed.
        """
        folder = Path(out_dir)
        png, npy = folder / f"{name}.png", folder / f"{name}.npy"
        png.parent.mkdir(parents=True, exist_ok=True)
        figure = None
        if caption:
            try:
                figure = self.figure()
            except ImportError:
                note_no_matplotlib()
        if figure is None:
            Image.fromarray(self.overlay()).save(png)
        else:
            save_figure(figure, png)
        np.save(npy, self.heatmap.astype(np.float32), allow_pickle=False)
        return png, npy


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Draw a [0, 1] heatmap over an RGB uint8 image (the heatmap is resized to the image).

    Example:
        ```python
        import numpy as np
        from fakezoo.explain import overlay
        overlay(np.zeros((64, 64, 3), np.uint8), np.eye(32, dtype=np.float32)).shape
        ```
    """
    from pytorch_grad_cam.utils.image import show_cam_on_image

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
    height, width = image.shape[:2]
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.shape != (height, width):
        heat = np.asarray(
            Image.fromarray(heat, mode="F").resize((width, height), Image.Resampling.BILINEAR)
        )
    rgb = image.astype(np.float32) / 255.0
    return show_cam_on_image(rgb, np.clip(heat, 0.0, 1.0), use_rgb=True, image_weight=1 - alpha)


def cam_layer(model: nn.Module) -> tuple[str, nn.Module]:
    """The name and module a zoo model is explained at (its spec's ``cam_layer``).

    Example:
        ```python
        import fakezoo
        from fakezoo.explain import cam_layer
        cam_layer(fakezoo.create("resnet50", pretrained=False))[0]   # 'layer4'
        ```
    """
    spec = getattr(model, "spec", None)
    name = getattr(spec, "cam_layer", "")
    if not name:
        raise ValueError(
            f"{type(model).__name__} has no Grad-CAM layer: explanations need a "
            f"fakezoo zoo model (fakezoo.create or fakezoo.load), whose ModelSpec "
            f"names cam_layer."
        )
    return name, model.get_submodule(name)


def _reshape_for(model: nn.Module):
    """ViT tokens ``(N, prefix + h*w, C)`` -> ``(N, C, h, w)``; ``None`` for CNNs."""
    if not model.spec.architecture.startswith("vit_"):
        return None
    prefix = int(getattr(model, "num_prefix_tokens", 1))
    grid = tuple(model.patch_embed.grid_size)

    def reshape(tokens: torch.Tensor) -> torch.Tensor:
        patches = tokens[:, prefix:, :]
        return patches.reshape(len(patches), *grid, patches.shape[-1]).permute(0, 3, 1, 2)

    return reshape


def _fold_maps(model: nn.Module, x: torch.Tensor, classes: list[int]) -> np.ndarray:
    """One fold's Grad-CAM maps, ``(N, S, S)`` float32 in [0, 1]."""
    try:
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"explanations need the grad-cam package: {install_hint('pytorch_grad_cam')}",
            name=err.name,
        ) from err
    _, layer = cam_layer(model)
    # The trunk is frozen (no parameter needs a gradient there), so the input carries the
    # gradient through to the target layer.
    cam = GradCAM(model=model, target_layers=[layer], reshape_transform=_reshape_for(model))
    cam.compute_input_gradient = True  # BaseCAM's option, not passed on by GradCAM
    try:
        with torch.enable_grad():
            maps = cam(input_tensor=x, targets=[ClassifierOutputTarget(c) for c in classes])
    finally:
        cam.activations_and_grads.release()
        model.zero_grad(set_to_none=True)
    return np.nan_to_num(np.asarray(maps, dtype=np.float32))


def check_target(target: str) -> str:
    """``target`` when it is one of [`TARGETS`][fakezoo.explain.gradcam.TARGETS], else a
    ``ValueError`` that lists them."""
    if target not in TARGETS:
        raise ValueError(f"target={target!r}: use one of {', '.join(TARGETS)}.")
    return target


def _display(item: Any, size: int, model_image: np.ndarray) -> np.ndarray:
    if size == model_image.shape[0]:
        return model_image
    if isinstance(item, Image.Image):
        return image_to_array(item, size)
    if isinstance(item, str | os.PathLike):
        return decode_image(item, size)
    return np.asarray(Image.fromarray(model_image).resize((size, size), Image.Resampling.BILINEAR))


def _path(item: Any) -> str | None:
    return os.fspath(item) if isinstance(item, str | os.PathLike) else None


def _decode(item: Any, size: int) -> np.ndarray:
    if isinstance(item, Image.Image | str | os.PathLike):
        return decode_item(item, size)
    if isinstance(item, torch.Tensor):
        if item.dtype != torch.uint8 or tuple(item.shape) != (3, size, size):
            raise ValueError(
                f"expected a uint8 image tensor of shape (3, {size}, {size}), got "
                f"{item.dtype} {tuple(item.shape)}"
            )
        return item.permute(1, 2, 0).numpy()
    raise TypeError(
        f"cannot explain a {type(item).__name__}: pass an image path, a PIL image "
        f"or a (3, S, S) uint8 tensor"
    )


def _explain_batch(
    detector: Detector,
    items: list[Any],
    arrays: list[np.ndarray],
    target: str,
    threshold: float,
    display_size: int,
) -> list[Explanation]:
    if not detector.models:
        raise ValueError(
            f"{detector!r} has no torch fold models (an exported file): Grad-CAM needs their "
            f"gradients; explain with the run directory instead"
        )
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
    probs = detector.predict_tensor(batch)
    preds = [
        detector.prediction(_path(item), fold_probs, threshold)
        for item, fold_probs in zip(items, probs, strict=True)
    ]
    if target == "predicted":
        classes = [detector.labels.index(p.label) for p in preds]
    else:
        classes = [0 if target == "real" else 1] * len(preds)
    x = detector.preprocessing.normalize(batch.to(detector.device))
    with _LOCK:
        folds = np.stack([_fold_maps(m, x, classes) for m in detector.models], axis=1)
    layer = cam_layer(detector.models[0])[0]
    size = max(detector.image_size, display_size)
    return [
        Explanation(
            prediction=pred,
            heatmap=folds[i].mean(axis=0),
            fold_heatmaps=folds[i],
            image=_display(items[i], size, arrays[i]),
            layer=layer,
            target=detector.labels[classes[i]],
        )
        for i, pred in enumerate(preds)
    ]


def explain(
    detector: Detector,
    image: Any,
    *,
    target: str = "fake",
    threshold: float | None = None,
    display_size: int = DISPLAY_SIZE,
) -> Explanation:
    """Explain one image with a detector's folds.

    Args:
        detector: The fold ensemble.
        image: An image path, a PIL image, or a ``(3, S, S)`` uint8 tensor at the model's size.
        target: ``"fake"`` (default), ``"real"`` or ``"predicted"``.
        threshold: ``prob_fake >= threshold`` is labelled fake; ``None``: the detector's.
        display_size: Side of the image under the overlay (at least the model's size).

    Returns:
        An [`Explanation`][fakezoo.explain.gradcam.Explanation]: the prediction, the mean
        `heatmap`, each fold's map, `overlay()` and `save(dir, name)`.

    Raises:
        FileNotFoundError, fakezoo.errors.ImageDecodeError: The image cannot be read (the
            message names it).
        ImportError: grad-cam is not installed (``pip install 'fakezoo[explain]'``).

    Example:
        ```python
        from fakezoo.explain import explain
        e = explain(detector, "face.jpg", target="predicted")
        e.target, float(e.heatmap.max())   # ('fake', 1.0)
        ```
    """
    check_target(target)
    threshold = detector.threshold if threshold is None else float(threshold)
    array = _decode(image, detector.image_size)
    return _explain_batch(detector, [image], [array], target, threshold, display_size)[0]


def explain_many(
    detector: Detector,
    items: Iterable[Any],
    *,
    target: str = "fake",
    threshold: float | None = None,
    batch_size: int = 8,
    display_size: int = DISPLAY_SIZE,
) -> Iterator[Explanation]:
    """Explain images one batch at a time; an unreadable one gives an explanation with
    ``prediction.error`` set (and no maps) instead of stopping the others.

    Example:
        ```python
        from fakezoo.explain import explain_many
        for e in explain_many(detector, ["a.jpg", "b.jpg"]):
            print(e.prediction.path, e.prediction.label if e.ok else e.prediction.error)
        ```
    """
    check_target(target)
    threshold = detector.threshold if threshold is None else float(threshold)
    chunk: list[Any] = []

    def flush() -> Iterator[Explanation]:
        good: list[tuple[Any, np.ndarray]] = []
        out: list[Explanation | Any] = []
        for item in chunk:
            try:
                good.append((item, _decode(item, detector.image_size)))
                out.append(None)
            except (OSError, ValueError, TypeError) as err:
                reason = err.reason if isinstance(err, ImageDecodeError) else str(err)
                out.append(
                    Explanation(
                        Prediction(_path(item), None, None, None, error=reason),
                        None,
                        None,
                        None,
                        "",
                        target,
                    )
                )
        done = (
            iter(
                _explain_batch(
                    detector,
                    [g[0] for g in good],
                    [g[1] for g in good],
                    target,
                    threshold,
                    display_size,
                )
            )
            if good
            else iter(())
        )
        for entry in out:
            yield next(done) if entry is None else entry
        chunk.clear()

    for item in items:
        chunk.append(item)
        if len(chunk) >= batch_size:
            yield from flush()
    if chunk:
        yield from flush()


def output_names(inputs: list[str], lister: Any = None) -> list[tuple[str, str]]:
    """``(file path, output name)`` per input: a folder's files (``lister(folder)``, by default
    its images) keep their path below the folder; a repeated name gets ``-2``, ``-3``..."""
    lister = list_images if lister is None else lister
    pairs: list[tuple[str, str]] = []
    for given in inputs:
        root = Path(given)
        if root.is_dir():
            pairs += [
                (str(p), p.relative_to(root).with_suffix("").as_posix()) for p in lister(root)
            ]
        else:
            pairs.append((given, root.stem))
    taken: dict[str, int] = {}
    named = []
    for path, name in pairs:
        count = taken.get(name, 0) + 1
        taken[name] = count
        named.append((path, name if count == 1 else f"{name}-{count}"))
    return named


def explain_to_folder(
    detector: Detector,
    inputs: list[str],
    out_dir: str | os.PathLike[str],
    *,
    target: str = "fake",
    threshold: float | None = None,
    batch_size: int = 8,
) -> list[tuple[Explanation, Path | None]]:
    """Explain image files and folders; write ``NAME.cam.png`` and ``NAME.cam.npy`` per image.

    ``NAME`` is a file's stem, or for a folder's images their path below the folder (so
    ``photos/a/x.jpg`` given as ``photos`` gives ``out_dir/a/x.cam.png``); a repeated name gets
    ``-2``, ``-3``... Unreadable images are reported in their explanation and skipped.

    Returns:
        ``(explanation, png path or None)`` per image, in input order.

    Example:
        ```python
        from fakezoo.explain import explain_to_folder
        for e, png in explain_to_folder(detector, ["photos/"], "explanations/"):
            print(e.prediction.path, png)
        ```
    """
    named = output_names(list(inputs))
    out = []
    explained = explain_many(
        detector, (p for p, _ in named), target=target, threshold=threshold, batch_size=batch_size
    )
    for (_, name), e in zip(named, explained, strict=True):
        png = e.save(out_dir, f"{name}.cam")[0] if e.ok else None
        out.append((e, png))
    return out
