"""A web demo of a trained run: ``fakezoo app --model RUN_OR_HUB_ID`` (Gradio, ``fakezoo[app]``).

Upload an image and see the ensemble's label, the fake probability of every fold and of the
ensemble, and the Grad-CAM heatmap of the fake class (:mod:`fakezoo.explain`). The page
serves on 127.0.0.1 unless told otherwise, caps the upload size, and queues the work so that
the models run one request at a time while uploads go on. A file that cannot be read gets a
one-line message in the page, never a traceback. Gradio's usage analytics are switched off
(``GRADIO_ANALYTICS_ENABLED=False``) and the page needs no network beyond the server itself.

The same code runs a Hugging Face Space: see ``docs/app.md``.

Example:
    ```python
    from fakezoo.app import build_app
    demo = build_app("runs/resnet50", device="cpu")
    demo.launch()                     # http://127.0.0.1:7860
    ```
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import gradio
    import numpy as np

    from .inference.detector import Detector

logger = logging.getLogger("fakezoo")

__all__ = ["DEFAULT_HOST", "DEFAULT_MAX_FILE_SIZE", "DEFAULT_PORT", "Analysis", "analyze",
           "build_app", "launch"]

DEFAULT_HOST = "127.0.0.1"
"""Loopback only: pass ``host="0.0.0.0"`` (``--host 0.0.0.0``) to serve other machines."""

DEFAULT_PORT = 7860
DEFAULT_MAX_FILE_SIZE = "20mb"
"""Largest upload Gradio accepts (``--max-file-size``); bigger files are refused in the page."""

DEFAULT_QUEUE_SIZE = 32
"""Requests that may wait for the models; more are refused with a "queue full" message."""

SUMMARY_ID, LABEL_ID, FOLDS_ID, HEATMAP_ID, UPLOAD_ID = (
    "fakezoo-summary", "fakezoo-label", "fakezoo-folds", "fakezoo-heatmap", "fakezoo-upload")


@dataclass
class Analysis:
    """What the page shows for one upload.

    Attributes:
        summary: Markdown: the label and the ensemble's fake probability, or why the file
            could not be read.
        confidences: ``{"fake": p, "real": 1 - p}`` for Gradio's label component (``None`` on
            error).
        folds: ``[[fold name, p_fake], ..., ["ensemble", p]]`` rows.
        heatmap: The Grad-CAM overlay (``(D, D, 3)`` uint8), or ``None``.
        error: The message for a file that could not be read, else ``None``.
    """

    summary: str
    confidences: dict[str, float] | None
    folds: list[list[Any]]
    heatmap: np.ndarray | None
    error: str | None = None


def _name(path: str | os.PathLike[str] | None) -> str:
    return Path(path).name if path else "the upload"


def analyze(detector: Detector, path: str | os.PathLike[str] | None, *,
            explain: bool = True) -> Analysis:
    """Score one uploaded file; never raises for a bad file (the message goes in ``error``).

    Example:
        ```python
        from fakezoo.app import analyze
        a = analyze(detector, "face.jpg")
        a.summary, a.folds[-1]          # ('**fake** ...', ['ensemble', 0.93])
        ```
    """
    from .errors import ImageDecodeError

    if path is None:
        return _failed("No file received: upload an image (JPEG, PNG, WebP, BMP, GIF or TIFF).")
    try:
        if explain:
            e = detector.explain(path)
            prediction, heatmap = e.prediction, e.overlay()
        else:
            prediction, heatmap = detector.predict(path), None
    except (ImageDecodeError, FileNotFoundError) as err:
        reason = err.reason if isinstance(err, ImageDecodeError) else str(err)
        return _failed(f"Could not read {_name(path)}: {reason}. Upload an image file "
                       f"(JPEG, PNG, WebP, BMP, GIF or TIFF).")
    except ModuleNotFoundError as err:
        from ._optional import install_hint

        logger.warning("no heatmap: %s is not installed", err.name)
        if not explain:
            raise
        result = analyze(detector, path, explain=False)
        result.summary += (f"\n\nNo heatmap: {err.name} is not installed on the server "
                           f"(`{install_hint(err.name)}`).")
        return result
    except Exception as err:  # the page gets one line; the log gets the traceback
        logger.exception("fakezoo app: analysing %s failed", path)
        return _failed(f"Could not analyse {_name(path)} ({type(err).__name__}: {err}).")
    p = float(prediction.prob_fake)
    real, fake = detector.labels
    rows = [[name, round(float(q), 4)]
            for name, q in zip(detector.fold_names, prediction.fold_probs, strict=True)]
    rows.append(["ensemble", round(p, 4)])
    summary = (f"Label: **{prediction.label}** · P(fake): **{p:.4f}** "
               f"(mean of {detector.n_folds} fold model{'s' * (detector.n_folds > 1)}, "
               f"threshold {detector.threshold:g})")
    return Analysis(summary, {fake: p, real: 1.0 - p}, rows, heatmap)


def _failed(message: str) -> Analysis:
    return Analysis(f"**Error:** {message}", None, [], None, error=message)


def _detector(model: Detector | str | os.PathLike[str], revision: str | None,
              device: str) -> Detector:
    from .inference.api import load
    from .inference.detector import Detector

    if isinstance(model, Detector):
        return model
    return load(model, revision=revision, device=device)


def _describe(detector: Detector) -> str:
    cfg = detector.config
    name = cfg.get("model", type(detector.models[0]).__name__)
    return (f"Model: `{name}`, {detector.n_folds} fold model(s), input "
            f"{detector.image_size}×{detector.image_size}. The heatmap is Grad-CAM of the "
            f"*fake* class at `{getattr(detector.models[0].spec, 'cam_layer', '?')}`, averaged "
            f"over the folds. The output is evidence, not proof.")


def build_app(model: Detector | str | os.PathLike[str], *, revision: str | None = None,
              device: str = "auto", title: str = "fakezoo: real or fake?") -> gradio.Blocks:
    """The Gradio ``Blocks`` page for a run (a Detector, a run directory or a Hub id).

    The page has one event, exposed to programs as ``api_name="/predict"``: a file in, and
    out the summary (Markdown), the label confidences, the per-fold table and the heatmap.

    Example:
        ```python
        from fakezoo.app import build_app
        demo = build_app("my-org/fakezoo-resnet50@v1")
        demo.queue().launch(server_name="127.0.0.1", server_port=7860)
        ```
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    detector = _detector(model, revision, device)

    def run(path: str | None):
        a = analyze(detector, path)
        table = {"headers": ["model", "P(fake)"], "data": a.folds or [["", None]]}
        return a.summary, a.confidences, table, a.heatmap

    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        gr.Markdown(f"# {title}\n\n{_describe(detector)}")
        with gr.Row():
            with gr.Column():
                upload = gr.File(label="Image", file_count="single", type="filepath",
                                 elem_id=UPLOAD_ID)
                button = gr.Button("Analyse", variant="primary")
            with gr.Column():
                summary = gr.Markdown("Upload an image to see what the models say.",
                                      label="Summary", elem_id=SUMMARY_ID)
                label = gr.Label(label="Ensemble", num_top_classes=2, elem_id=LABEL_ID)
                folds = gr.Dataframe(headers=["model", "P(fake)"], label="Per fold",
                                     interactive=False, elem_id=FOLDS_ID)
            heatmap = gr.Image(label="Grad-CAM heatmap (fake class)", type="numpy",
                               format="png", interactive=False, elem_id=HEATMAP_ID)
        outputs = [summary, label, folds, heatmap]
        button.click(run, inputs=upload, outputs=outputs, api_name="predict")
        upload.upload(run, inputs=upload, outputs=outputs, api_visibility="private")
    demo.fakezoo_detector = detector
    return demo


def launch(model: Detector | str | os.PathLike[str], *, host: str = DEFAULT_HOST,
           port: int | None = DEFAULT_PORT, max_file_size: str | int = DEFAULT_MAX_FILE_SIZE,
           queue_size: int = DEFAULT_QUEUE_SIZE, revision: str | None = None,
           device: str = "auto", block: bool = True, quiet: bool = False) -> gradio.Blocks:
    """Build the page and serve it (what ``fakezoo app`` runs).

    Args:
        model: A Detector, a run directory or a Hub id (``org/name@revision``).
        host: The address to listen on; 127.0.0.1 (this machine only) by default.
        port: The port; ``None`` lets Gradio pick a free one from 7860 up.
        max_file_size: Largest upload, e.g. ``"20mb"`` or a number of bytes.
        queue_size: Most requests waiting for the models (they run one at a time).
        revision: The Hub revision to pin.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        block: Serve until interrupted; ``False`` returns at once (the caller closes it
            with ``demo.close()``).
        quiet: Do not print the URL.

    Returns:
        The running ``gradio.Blocks``; its ``local_url`` is where it listens.
    """
    demo = build_app(model, revision=revision, device=device)
    demo.queue(max_size=queue_size, default_concurrency_limit=1)
    demo.launch(server_name=host, server_port=port, max_file_size=max_file_size,
                prevent_thread_lock=not block, quiet=quiet, ssr_mode=False, share=False,
                show_error=False, footer_links=["api"])
    return demo
