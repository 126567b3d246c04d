"""Test images with a real face at known places: skimage's astronaut (public domain) pasted on
grey canvases, stored sideways with an EXIF rotation, tiled, and moving in a short video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# The astronaut photo scaled to SIDE px and pasted at OFFSET on a CANVAS (w, h).
SIDE = 320
OFFSET = (140, 30)
CANVAS = (520, 380)
TOL = 6  # pixels
VIDEO_SIZE = (320, 240)
VIDEO_SIDE = 200


def astronaut(side: int) -> np.ndarray:
    img = Image.fromarray(_astronaut_pixels()).resize((side, side), Image.Resampling.BILINEAR)
    return np.asarray(img)


def placed(canvas=CANVAS, side=SIDE, offset=OFFSET) -> np.ndarray:
    out = np.full((canvas[1], canvas[0], 3), 90, np.uint8)
    out[offset[1] : offset[1] + side, offset[0] : offset[0] + side] = astronaut(side)
    return out


def save_with_exif_rotation(upright: np.ndarray, path: Path) -> None:
    """Store the image turned on its side, with EXIF orientation 6 saying how to turn it back."""
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(path, exif=exif, quality=95)


def no_face(size=(200, 160)) -> np.ndarray:
    x = np.linspace(0, 255, size[0], dtype=np.float32)
    y = np.linspace(0, 120, size[1], dtype=np.float32)[:, None]
    return np.stack(
        [
            np.broadcast_to(x, (size[1], size[0])),
            np.broadcast_to(y, (size[1], size[0])),
            np.full((size[1], size[0]), 60.0),
        ],
        -1,
    ).astype(np.uint8)


def write_video(path: Path, n_frames: int = 12, step: int = 6, start: int = 10) -> list[int]:
    """A short mpeg4 video of the astronaut moving right; returns each frame's x offset."""
    face = astronaut(VIDEO_SIDE)
    xs = [start + step * i for i in range(n_frames)]
    with _av().open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = *VIDEO_SIZE, "yuv420p"
        stream.options = {"qscale": "2"}
        for x in xs:
            frame = np.full((VIDEO_SIZE[1], VIDEO_SIZE[0], 3), 90, np.uint8)
            frame[20 : 20 + VIDEO_SIDE, x : x + VIDEO_SIDE] = face
            for packet in stream.encode(_av().VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return xs


def face_media(folder: Path) -> dict[str, Path]:
    """A photo with two faces, a short video with one, a photo without a face and a broken
    video, written to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        key: folder / name
        for key, name in (
            ("two", "two.png"),
            ("clip", "clip.mp4"),
            ("empty", "empty.png"),
            ("broken", "broken.mp4"),
        )
    }
    Image.fromarray(np.concatenate([placed(), placed()], axis=1)).save(paths["two"])
    write_video(paths["clip"], n_frames=6, step=8)
    Image.fromarray(no_face()).save(paths["empty"])
    paths["broken"].write_bytes(b"\x00\x00\x00\x18ftypmp42 but nothing else")
    return paths


def _astronaut_pixels() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def _av():
    import av

    return av
