"""Decoding one image: *the* image transform used for training and for prediction.

PIL decode, EXIF rotation, RGB conversion and a bilinear resize (identical to
torchvision's `Resize((S, S))` on a PIL image).
"""

from __future__ import annotations

import errno
import io
import logging
import os
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageDecodeError

__all__ = [
    "DECODER_VERSION",
    "DEFAULT_MAX_PIXELS",
    "PIL_NAME",
    "check_image_size",
    "decode_image",
    "decode_image_bytes",
    "decode_pil",
    "file_problem",
    "image_to_array",
    "read_image_bytes",
]


logger = logging.getLogger(__name__)


DEFAULT_MAX_PIXELS = 89_478_485
"""Largest `width * height` decoded by default (PIL's own decompression-bomb limit)."""

DECODER_VERSION = 1
"""Version of the decode transform; part of every cache key. Bump it when decoding changes."""


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def decode_image(
    path: str | os.PathLike[str], image_size: int | None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode one image file exactly as fakezoo does for training and prediction.

    Steps: open with PIL; refuse images whose declared `width * height` exceeds `max_pixels`
    before any pixel is read (decompression-bomb guard); take the first frame of an animated
    image; load all pixel data (a truncated file is an error, not a grey patch); apply the EXIF
    orientation; convert to RGB; resize to `(image_size, image_size)` with PIL's bilinear filter
    (the same as torchvision's `Resize((S, S))` on a PIL image).

    Colour conversion: alpha is dropped (the colour under a transparent pixel is kept, like
    torchvision's default loader, which calls `convert("RGB")`); palette images with
    transparency go through RGBA; 16-bit images (`I;16*`) keep their top 8 bits (`value >> 8`);
    32-bit integer images (`I`) are treated as 16-bit when their maximum exceeds 255; float
    images (`F`) are scaled by 255 when their values lie in [0, 1], else clipped to [0, 255].

    Args:
        path: The image file.
        image_size: Output side `S` in pixels; `None` keeps the image's own size (every step
            but the resize; `fakezoo.evaluate` perturbs such images before resizing them).
        max_pixels: Largest accepted `width * height`. PIL's global `Image.MAX_IMAGE_PIXELS`
            still applies on top (twice that raises in PIL itself).

    Returns:
        `(S, S, 3)` uint8 array.

    Raises:
        ImageDecodeError: If the file is missing, empty, unreadable, not an image, truncated,
            too large or in an unsupported mode. The message names the file and the reason.

    Example:
        ```python
        arr = decode_image("faces/real/0001.jpg", 224)
        arr.shape, arr.dtype  # ((224, 224, 3), dtype('uint8'))
        ```
    """
    image_size = None if image_size is None else check_image_size(image_size)
    file = Path(path)
    _check_readable_file(file)
    return _decode(file, file, image_size, max_pixels)


def check_image_size(image_size: int) -> int:
    """``image_size`` as an ``int`` when it is a positive integer, else a ``ValueError``."""
    if isinstance(image_size, bool) or int(image_size) != image_size or image_size < 1:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
    return int(image_size)


def file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be read as an image file, found from its metadata alone (nothing is
    read, so a named pipe never blocks); ``None`` for a regular, non-empty file.

    Example:
        ```python
        from fakezoo.data.decode import file_problem
        file_problem("faces/real/0001.jpg")  # None
        file_problem("missing.jpg")          # 'file not found'
        ```
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            return f"broken symbolic link (its target {_link_target(path)} does not exist)"
        return "file not found"
    except PermissionError:
        return "permission denied; check the file's permissions"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop (the link leads back to itself)"
        return f"cannot read the file ({exc.strerror or exc})"
    if stat.S_ISDIR(info.st_mode):
        return "is a directory, not an image file"
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a named pipe"
            if stat.S_ISFIFO(info.st_mode)
            else "a socket"
            if stat.S_ISSOCK(info.st_mode)
            else "a device"
        )
        return f"not a regular file ({kind}); only image files are read"
    if info.st_size == 0:
        return "empty file (0 bytes)"
    return None


def _link_target(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _check_readable_file(path: Path) -> None:
    reason = file_problem(path)
    if reason is not None:
        raise ImageDecodeError(path, reason)


def read_image_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of an image file, with [`decode_image`][fakezoo.data.decode.decode_image]'s
    errors for a missing, unreadable, empty or directory path (``ImageDecodeError``)."""
    path = Path(path)
    _check_readable_file(path)
    try:
        return path.read_bytes()
    except PermissionError:
        raise ImageDecodeError(path, "permission denied; check the file's permissions") from None
    except OSError as exc:
        raise ImageDecodeError(path, f"cannot read the file ({exc.strerror or exc})") from None


def decode_image_bytes(
    data: bytes,
    path: str | os.PathLike[str],
    image_size: int | None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """[`decode_image`][fakezoo.data.decode.decode_image] of a file's bytes (read once, e.g. to
    hash them too); `path` only names the file in messages."""
    return _decode(io.BytesIO(data), Path(path), image_size, max_pixels)


def _decode(
    source: Path | io.BytesIO, path: Path, image_size: int | None, max_pixels: int
) -> np.ndarray:
    """Decode `source` (a path or the file's bytes); `path` is only used in messages."""
    try:
        with warnings.catch_warnings():
            # PIL warns between MAX_IMAGE_PIXELS and twice that; `max_pixels` decides instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise ImageDecodeError(
                        path,
                        f"the image declares {width}x{height} = {width * height:,} pixels, more "
                        f"than max_pixels={max_pixels:,} (possible decompression bomb); pass a "
                        "larger max_pixels if the file is genuine",
                    )
                if img.tell() != 0:  # animated images: always the first frame
                    img.seek(0)
                img.load()
                return image_to_array(img, image_size, path)
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(path, f"{exc} (possible decompression bomb)") from None
    except UnidentifiedImageError:
        raise ImageDecodeError(
            path, "not a recognised image format (the file is corrupt or not an image)"
        ) from None
    except PermissionError:
        raise ImageDecodeError(path, "permission denied; check the file's permissions") from None
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, EOFError, ...
        message = str(exc) or type(exc).__name__
        if "truncated" in message.lower():
            reason = f"truncated image data ({message})"
        else:
            reason = f"corrupt or unsupported image data ({type(exc).__name__}: {message})"
        raise ImageDecodeError(path, reason) from None


PIL_NAME = "<PIL image>"
"""How messages name an image given in memory rather than as a file."""


def decode_pil(img: Image.Image, image_size: int | None) -> np.ndarray:
    """[`decode_image`][fakezoo.data.decode.decode_image] for an image already open in memory:
    load its pixels, then [`image_to_array`][fakezoo.data.decode.image_to_array]. Any failure
    (truncated data, an unsupported mode) is an ``ImageDecodeError`` for ``"<PIL image>"``.

    Example:
        ```python
        from PIL import Image
        from fakezoo.data.decode import decode_pil
        decode_pil(Image.new("RGBA", (40, 30)), 32).shape  # (32, 32, 3)
        ```
    """
    try:
        img.load()
        return image_to_array(img, image_size, PIL_NAME)
    except Exception as exc:
        raise ImageDecodeError(PIL_NAME, f"{type(exc).__name__}: {exc}") from exc


def image_to_array(
    img: Image.Image, image_size: int | None, path: str | os.PathLike[str] = PIL_NAME
) -> np.ndarray:
    """The steps of [`decode_image`][fakezoo.data.decode.decode_image] after a file is open, for an
    image already in memory.

    EXIF orientation, RGB conversion (see [`decode_image`][fakezoo.data.decode.decode_image]), then
    a bilinear resize to `(image_size, image_size)` (no resize for `image_size=None`); `path` only
    names the image in messages.

    Example:
        ```python
        from PIL import Image
        from fakezoo.data import image_to_array
        image_to_array(Image.new("L", (40, 30)), 32).shape  # (32, 32, 3)
        ```
    """
    rgb = _to_rgb(_exif_transpose(img, Path(path)))
    if image_size is not None:
        rgb = rgb.resize((image_size, image_size), Image.Resampling.BILINEAR)
    return np.array(rgb, dtype=np.uint8)


def _exif_transpose(img: Image.Image, path: Path) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img)
    except Exception as exc:  # a broken EXIF block should not lose an otherwise good image
        logger.debug("ignoring unreadable EXIF orientation of %s: %s", path, exc)
        return img


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(img).astype(np.int64)
        if mode.startswith("I;16") or values.max(initial=0) > 255:
            values = np.clip(values, 0, 65535) >> 8
        return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8)).convert("RGB")
    if mode == "F":
        values = np.nan_to_num(np.asarray(img, dtype=np.float64))
        if values.size and values.min() >= 0.0 and values.max() <= 1.0:
            values = values * 255.0
        return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8)).convert("RGB")
    if (mode == "P" and "transparency" in img.info) or mode in ("LA", "La", "PA", "RGBa"):
        img = img.convert("RGBA")
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ValueError(f"unsupported image mode {mode!r}") from exc
