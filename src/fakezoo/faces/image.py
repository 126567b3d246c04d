"""Whole photos as RGB arrays, at their own size (the face finder wants every pixel)."""

from __future__ import annotations

import os

import numpy as np

from ..data.decode import DEFAULT_MAX_PIXELS, decode_image

__all__ = ["load_image"]


def load_image(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a whole photo: [`fakezoo.data.decode_image`][fakezoo.data.decode.decode_image] without
    the final resize.

    PIL decode (first frame of an animated image), EXIF orientation, RGB conversion with the
    same rules as training, and the same decompression-bomb guard.

    Returns:
        `(H, W, 3)` uint8 array, upright.

    Raises:
        ImageDecodeError: If the file is missing, unreadable, not an image or too large.
    """
    return decode_image(path, None, max_pixels)
