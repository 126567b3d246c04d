"""A web demo of a trained run: ``fakezoo app --model RUN_OR_HUB_ID`` (Gradio, ``fakezoo[app]``).

Upload an image and see the ensemble's label, the fake probability of every fold and of the
ensemble, and the Grad-CAM heatmap of the fake class ([`fakezoo.explain`][fakezoo.explain]).
With faces on (``faces=True``, ``--faces``, or a run trained on ``fakezoo crop`` faces) a whole
photo's faces are found, boxed with their scores and explained one by one; a video upload
always goes the faces way: sampled frames, their faces boxed, a verdict for the video
([`fakezoo.inference.faces`][fakezoo.inference.faces]), and the heatmaps of its most fake frame
([`fakezoo.explain.faces`][fakezoo.explain.faces]). The page
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import gradio
    import numpy as np

    from .inference.detector import Detector

logger = logging.getLogger("fakezoo")

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_FILE_SIZE",
    "DEFAULT_PORT",
    "Analysis",
    "analyze",
    "build_app",
    "launch",
]

DEFAULT_HOST = "127.0.0.1"
"""Loopback only: pass ``host="0.0.0.0"`` (``--host 0.0.0.0``) to serve other machines."""

DEFAULT_PORT = 7860
DEFAULT_MAX_FILE_SIZE = "20mb"
"""Largest upload Gradio accepts (``--max-file-size``); bigger files are refused in the page."""

DEFAULT_QUEUE_SIZE = 32
"""Requests that may wait for the models; more are refused with a "queue full" message."""

SUMMARY_ID, LABEL_ID, FOLDS_ID, HEATMAP_ID, UPLOAD_ID, BOXES_ID, FACES_ID = (
    "fakezoo-summary",
    "fakezoo-label",
    "fakezoo-folds",
    "fakezoo-heatmap",
    "fakezoo-upload",
    "fakezoo-boxes",
    "fakezoo-faces",
)

FACE_HEADERS = ["frame", "face", "box (x0, y0, x1, y1)", "face score", "P(fake)"]
"""Columns of the page's face table: ``photo`` or ``frame N``, the face's number, its box,
and the two scores written with 4 decimals."""

SHOWN_SIDE = 1024
"""Longest side of the boxed photos and frames sent to the page (larger ones are shrunk)."""

IMAGE_TYPES = "JPEG, PNG, WebP, BMP, GIF or TIFF"


@dataclass
class Analysis:
    """What the page shows for one upload.

    Attributes:
        summary: Markdown: the label and the ensemble's fake probability, or why the file
            could not be read.
        confidences: ``{"fake": p, "real": 1 - p}`` for Gradio's label component (``None`` on
            error).
        folds: ``[[fold name, p_fake], ..., ["ensemble", p]]`` rows.
        heatmap: The Grad-CAM overlay (``(D, D, 3)`` uint8), or ``None``; with faces, the
            photo (or the video's most fake frame) with each face's map in its box.
        error: The message for a file that could not be read, else ``None``.
        boxes: With faces: ``(photo or frame with numbered boxes, caption)`` per photo/sampled
            frame.
        faces: With faces: a [`FACE_HEADERS`][fakezoo.app.FACE_HEADERS] row per face.
    """

    summary: str
    confidences: dict[str, float] | None
    folds: list[list[Any]]
    heatmap: np.ndarray | None
    error: str | None = None
    boxes: list[tuple[np.ndarray, str]] = field(default_factory=list)
    faces: list[list[Any]] = field(default_factory=list)


def _name(path: str | os.PathLike[str] | None) -> str:
    return Path(path).name if path else "the upload"


def analyze(
    detector: Detector,
    path: str | os.PathLike[str] | None,
    *,
    explain: bool = True,
    faces: bool = False,
) -> Analysis:
    """Score one uploaded file; never raises for a bad file (the message goes in ``error``).

    With ``faces`` (and always for a video) the faces are found and scored as
    ``predict(..., faces=True)`` does; a file without a face gets a message.

    Example:
        ```python
        from fakezoo.app import analyze
        a = analyze(detector, "face.jpg")
        a.summary, a.folds[-1]          # ('**fake** ...', ['ensemble', 0.93])
        ```
    """
    from .errors import FacesError, ImageDecodeError, VideoDecodeError
    from .explain import explain as explain_image
    from .faces.video import VIDEO_EXTENSIONS, is_video

    if path is None:
        return _failed(f"No file received: upload an image ({IMAGE_TYPES}) or a video.")
    try:
        if faces or is_video(path):
            return _analyze_faces(detector, path, explain)
        if explain:
            e = explain_image(detector, path)
            prediction, heatmap = e.prediction, e.overlay()
        else:
            prediction, heatmap = detector.predict(path), None
    except (ImageDecodeError, FileNotFoundError) as err:
        reason = err.reason if isinstance(err, ImageDecodeError) else str(err)
        return _failed(
            f"Could not read {_name(path)}: {reason}. Upload an image file ({IMAGE_TYPES})."
        )
    except VideoDecodeError as err:
        kinds = ", ".join(e.lstrip(".").upper() for e in VIDEO_EXTENSIONS)
        reason = err.reason.replace(f"'{os.fspath(path)}'", _name(path))
        return _failed(
            f"Could not read {_name(path)}: {reason}. Upload a video file ({kinds}) that plays."
        )
    except FacesError as err:  # facenet-pytorch or PyAV missing
        return _failed(f"Could not analyse {_name(path)}: {err}")
    except ModuleNotFoundError as err:
        from ._optional import install_hint

        logger.warning("no heatmap: %s is not installed", err.name)
        if not explain:
            raise
        result = analyze(detector, path, explain=False, faces=faces)
        result.summary += (
            f"\n\nNo heatmap: {err.name} is not installed on the server "
            f"(`{install_hint(err.name)}`)."
        )
        return result
    except Exception as err:  # the page gets one line; the log gets the traceback
        logger.exception("fakezoo app: analysing %s failed", path)
        return _failed(f"Could not analyse {_name(path)} ({type(err).__name__}: {err}).")
    result = _scored(detector, float(prediction.prob_fake), prediction.label, prediction.fold_probs)
    result.heatmap = heatmap
    return result


def _fit(image: np.ndarray, side: int = SHOWN_SIDE) -> np.ndarray:
    import numpy as np
    from PIL import Image

    if max(image.shape[:2]) <= side:
        return image
    shown = Image.fromarray(image)
    shown.thumbnail((side, side), Image.Resampling.BILINEAR)
    return np.asarray(shown)


def _analyze_faces(detector: Detector, path: str | os.PathLike[str], explain: bool) -> Analysis:
    """A photo's faces, or a video's sampled frames and their faces (see
    [`analyze`][fakezoo.app.analyze])."""
    from .explain import draw_faces, explain_media
    from .inference.faces import NO_FACE, media_faces, score_media

    _, scanned = media_faces(detector, path, keep_images=True)
    media = next(scanned)
    prediction = score_media(detector, media, 8, detector.threshold)
    if prediction.error is not None:  # no face (decode errors raise for one file)
        where = prediction.error.removeprefix(NO_FACE).strip()
        return _failed(
            f"No face found in {_name(path)}{f' ({where})' if where else ''}: "
            f"MTCNN found no face of 20 pixels or more with a score of 0.9 or "
            f"more. Upload a photo or video in which a face is clearly visible."
        )
    result = _scored(detector, prediction.prob_fake, prediction.label, prediction.fold_probs)
    per_frame = (
        [(f.frame, f.prob_fake, f.faces) for f in prediction.frames]
        if media.video
        else [(None, prediction.prob_fake, prediction.faces)]
    )
    images = {index: image for index, image, _ in media.frames}
    for frame, prob, found in per_frame:
        where = "photo" if frame is None else f"frame {frame}"
        caption = (
            f"{where}: no face"
            if prob is None
            else f"{where}: {len(found)} face{'s' * (len(found) > 1)}, P(fake) {prob:.4f}"
        )
        boxes = [(f.box, f"{k}: {f.prob_fake:.2f}") for k, f in enumerate(found, 1)]
        result.boxes.append((_fit(draw_faces(images[frame], boxes)), caption))
        result.faces += [
            [where, k, ", ".join(f"{v:g}" for v in f.box), f"{f.score:.4f}", f"{f.prob_fake:.4f}"]
            for k, f in enumerate(found, 1)
        ]
    n_faces = len(result.faces)
    if media.video:
        with_face = [row for row in per_frame if row[1] is not None]
        top = max(with_face, key=lambda row: row[1])[0]
        result.summary += (
            f"  \nVideo: the mean of {len(with_face)} of {len(per_frame)} "
            f"sampled frames that show a face, each frame scored by its most "
            f"fake face ({n_faces} faces in all)."
        )
    else:
        top = None
        result.summary += (
            f"  \nPhoto: its most fake face of {n_faces} "
            f"(each face boxed with its number and P(fake))."
        )
    if explain:
        fx = explain_media(detector, media, prediction, frames=[top])
        result.heatmap = _fit(fx.overview(top))
        result.summary += (
            "" if top is None else f"  \nHeatmaps: frame {top}, the most fake sampled frame."
        )
    return result


def _scored(detector: Detector, p: float, label: str, fold_probs: list[float]) -> Analysis:
    real, fake = detector.labels
    rows = [
        [name, round(float(q), 4)] for name, q in zip(detector.fold_names, fold_probs, strict=True)
    ]
    rows.append(["ensemble", round(float(p), 4)])
    summary = (
        f"Label: **{label}** · P(fake): **{p:.4f}** "
        f"(mean of {detector.n_folds} fold model{'s' * (detector.n_folds > 1)}, "
        f"threshold {detector.threshold:g})"
    )
    return Analysis(summary, {fake: float(p), real: 1.0 - float(p)}, rows, None)


def _failed(message: str) -> Analysis:
    return Analysis(f"**Error:** {message}", None, [], None, error=message)


def _detector(
    model: Detector | str | os.PathLike[str], revision: str | None, device: str
) -> Detector:
    from .inference.api import load
    from .inference.detector import Detector

    detector = (
        model if isinstance(model, Detector) else load(model, revision=revision, device=device)
    )
    if not detector.models:
        raise ValueError(
            f"the app shows Grad-CAM heatmaps, which need a run's torch fold models; "
            f"{detector!r} is an exported file: pass its run directory or Hub id"
        )
    return detector


def _describe(detector: Detector, faces: bool) -> str:
    from .faces.sources import DEFAULT_FRAMES

    cfg = detector.config
    name = cfg.get("model", type(detector.models[0]).__name__)
    how = (
        "Faces: each face of a photo is found (MTCNN), boxed and scored; the photo is its "
        "most fake face."
        if faces
        else "Photos are scored whole."
    )
    return (
        f"Model: `{name}`, {detector.n_folds} fold model(s), input "
        f"{detector.image_size}×{detector.image_size}. {how} A video is scored by its "
        f"faces in {DEFAULT_FRAMES} evenly spaced frames (the mean over the frames that show "
        f"a face). The heatmap is Grad-CAM of the *fake* class at "
        f"`{getattr(detector.models[0].spec, 'cam_layer', '?')}`, averaged over the folds. "
        f"The output is evidence, not proof."
    )


def build_app(
    model: Detector | str | os.PathLike[str],
    *,
    revision: str | None = None,
    device: str = "auto",
    title: str = "fakezoo: real or fake?",
    faces: bool | None = None,
) -> gradio.Blocks:
    """The Gradio ``Blocks`` page for a run (a Detector, a run directory or a Hub id).

    The page has one event, exposed to programs as ``api_name="/predict"``: a file in, and
    out the summary (Markdown), the label confidences, the per-fold table, the heatmap, the
    boxed photo or frames (a gallery) and the face table.

    Args:
        faces: Find and score the faces of photos; ``None``: when the run was trained on a
            ``fakezoo crop`` face dataset. Videos always go by their faces.

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
    faces = detector.preprocessing.face_crop is not None if faces is None else bool(faces)

    def run(path: str | None):
        a = analyze(detector, path, faces=faces)
        table = {"headers": ["model", "P(fake)"], "data": a.folds or [["", None]]}
        face_table = {"headers": FACE_HEADERS, "data": a.faces or [["", None, "", None, None]]}
        return a.summary, a.confidences, table, a.heatmap, a.boxes or None, face_table

    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        gr.Markdown(f"# {title}\n\n{_describe(detector, faces)}")
        with gr.Row():
            with gr.Column():
                upload = gr.File(
                    label="Image or video", file_count="single", type="filepath", elem_id=UPLOAD_ID
                )
                button = gr.Button("Analyse", variant="primary")
            with gr.Column():
                summary = gr.Markdown(
                    "Upload an image or a video to see what the models say.",
                    label="Summary",
                    elem_id=SUMMARY_ID,
                )
                label = gr.Label(label="Ensemble", num_top_classes=2, elem_id=LABEL_ID)
                folds = gr.Dataframe(
                    headers=["model", "P(fake)"],
                    label="Per fold",
                    interactive=False,
                    elem_id=FOLDS_ID,
                )
            heatmap = gr.Image(
                label="Grad-CAM heatmap (fake class)",
                type="numpy",
                format="png",
                interactive=False,
                elem_id=HEATMAP_ID,
            )
        with gr.Row():
            boxes = gr.Gallery(
                label="Faces found (number: P(fake))",
                format="png",
                columns=3,
                object_fit="contain",
                preview=False,
                elem_id=BOXES_ID,
            )
            face_table = gr.Dataframe(
                headers=FACE_HEADERS, label="Per face", interactive=False, elem_id=FACES_ID
            )
        outputs = [summary, label, folds, heatmap, boxes, face_table]
        button.click(run, inputs=upload, outputs=outputs, api_name="predict")
        upload.upload(run, inputs=upload, outputs=outputs, api_visibility="private")
    demo.fakezoo_detector = detector
    return demo


def _port_taken(host: str, port: int) -> OSError:
    return OSError(
        f"port {port} on {host} is in use or not allowed: pass another port=, or port=None "
        f"for a free one from {DEFAULT_PORT} up."
    )


def _check_port(host: str, port: int | None) -> None:
    """Refuse a port that cannot be listened on, the way Gradio tries it, before any work."""
    import errno
    import socket

    if port is None:
        return
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port={port!r}: use a port from 1 to 65535, or None for a free one.")
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host if host != "0.0.0.0" else "127.0.0.1", port))
        except OSError as err:
            if err.errno in (errno.EADDRINUSE, errno.EACCES):
                raise _port_taken(host, port) from err
            raise


def launch(
    model: Detector | str | os.PathLike[str],
    *,
    host: str = DEFAULT_HOST,
    port: int | None = DEFAULT_PORT,
    max_file_size: str | int = DEFAULT_MAX_FILE_SIZE,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    revision: str | None = None,
    device: str = "auto",
    block: bool = True,
    quiet: bool = False,
    faces: bool | None = None,
) -> gradio.Blocks:
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
        quiet: Do not print the URL (one line on stdout).
        faces: Find and score the faces of photos (see [`build_app`][fakezoo.app.build_app]).

    Returns:
        The running ``gradio.Blocks``; its ``local_url`` is where it listens.
    """
    _check_port(host, port)  # before the models load
    demo = build_app(model, revision=revision, device=device, faces=faces)
    demo.queue(max_size=queue_size, default_concurrency_limit=1)
    try:
        demo.launch(
            server_name=host,
            server_port=port,
            max_file_size=max_file_size,
            prevent_thread_lock=True,
            quiet=True,  # Gradio's lines give advice for its own API (`share=True` in `launch()`)
            ssr_mode=False,
            share=False,
            show_error=False,
            footer_links=["api"],
        )
    except OSError as err:  # taken since the check; Gradio's advice names its own parameter
        if port is None or "Cannot find empty port" not in str(err):
            raise
        raise _port_taken(host, port) from err
    if not quiet:
        print(f"fakezoo app: serving at {demo.local_url} (Ctrl-C stops it)", flush=True)
    if block:
        demo.block_thread()
    return demo
