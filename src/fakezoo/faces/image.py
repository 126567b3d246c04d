"""Whole photos as RGB arrays, at their own size (the face detector wants every pixel)."""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..data.decode import DEFAULT_MAX_PIXELS, _check_readable_file, _to_rgb
from ..errors import FakezooError, ImageDecodeError

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
    file = Path(path)
    _check_readable_file(file)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(file) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise ImageDecodeError(
                        file, f"the image declares {width}x{height} pixels, more than "
                        f"max_pixels={max_pixels:,}; pass a larger max_pixels if it is genuine")
                if img.tell() != 0:
                    img.seek(0)
                img.load()
                return pil_to_array(img)
    except ImageDecodeError:
        raise
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, ...
        raise ImageDecodeError(
            file, f"not a decodable image ({type(exc).__name__}: {exc})") from None


def pil_to_array(img: Image.Image) -> np.ndarray:
    """An in-memory PIL image as an upright `(H, W, 3)` uint8 RGB array.

    EXIF orientation and colour conversion follow :func:`fakezoo.data.decode_image`.
    """
    with contextlib.suppress(Exception):  # a broken EXIF block must not lose a good image
        img = ImageOps.exif_transpose(img)
    return np.array(_to_rgb(img), dtype=np.uint8)
