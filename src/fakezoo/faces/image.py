"""Whole photos as RGB arrays, at their own size (the face finder wants every pixel)."""

from __future__ import annotations

import contextlib
import os

import numpy as np
from PIL import Image, ImageOps

from ..data.decode import DEFAULT_MAX_PIXELS, _to_rgb, decode_image
from ..errors import FakezooError

__all__ = ["FacesError", "load_image"]


class FacesError(FakezooError, ValueError):
    """A face-related step failed for one input; the message names the file and the reason."""


def load_image(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a whole photo: :func:`fakezoo.data.decode_image` without the final resize.

    PIL decode (first frame of an animated image), EXIF orientation, RGB conversion with the
    same rules as training, and the same decompression-bomb guard.

    Returns:
        `(H, W, 3)` uint8 array, upright.

    Raises:
        ImageDecodeError: If the file is missing, unreadable, not an image or too large.
    """
    return decode_image(path, None, max_pixels)


def pil_to_array(img: Image.Image) -> np.ndarray:
    """An in-memory PIL image as an upright `(H, W, 3)` uint8 RGB array.

    EXIF orientation and colour conversion follow :func:`fakezoo.data.decode_image`.
    """
    with contextlib.suppress(Exception):  # a broken EXIF block must not lose a good image
        img = ImageOps.exif_transpose(img)
    return np.array(_to_rgb(img), dtype=np.uint8)
