"""Input dispatch for prediction: listing folders, decoding items, and streaming batches
with the next batch decoded while the models run on the current one.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from .._progress import tqdm_disable
from ..data.decode import decode_image, image_to_array
from ..errors import ImageDecodeError
from .prediction import Prediction

logger = logging.getLogger("fakezoo")


_ERRORS_SHOWN = 5
_PIL_NAME = "<PIL image>"


def _to_batch(arrays: list[np.ndarray]) -> torch.Tensor:
    """``(S, S, 3)`` uint8 arrays -> one ``(N, 3, S, S)`` uint8 tensor (channels_last memory)."""
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)


def _item_path(item: Any) -> str | None:
    return None if isinstance(item, Image.Image) else os.fspath(item)


def _check_item(item: Any) -> Any:
    if isinstance(item, str | os.PathLike | Image.Image):
        return item
    raise TypeError(
        f"a list to predict on holds paths or PIL images, got a "
        f"{type(item).__name__} ({item!r:.60})"
    )


def _pil_to_array(img: Image.Image, image_size: int) -> np.ndarray:
    """The steps of :func:`fakezoo.data.decode_image` after the file is open."""
    img.load()
    return image_to_array(img, image_size, _PIL_NAME)


def _decode_or_raise(item: Any, image_size: int) -> np.ndarray:
    if not isinstance(item, Image.Image):
        return decode_image(item, image_size)
    try:
        return _pil_to_array(item, image_size)
    except Exception as exc:
        raise ImageDecodeError(_PIL_NAME, f"{type(exc).__name__}: {exc}") from exc


def _bar(total: int | None, batch_size: int, progress: bool | None) -> tqdm:
    disable = tqdm_disable(progress)
    if progress is None and total is not None and total <= batch_size:
        disable = True  # a single batch needs no bar
    return tqdm(total=total, desc="fakezoo predict", unit="img", disable=disable, leave=False)


def _warn_errors(errors: list[Prediction], total: int) -> None:
    lines = "\n".join(f"  {p.path or _PIL_NAME}: {p.error}" for p in errors[:_ERRORS_SHOWN])
    more = len(errors) - _ERRORS_SHOWN
    tail = f"\n  ... and {more} more (see Prediction.error)" if more > 0 else ""
    logger.warning(
        "skipped %d of %d images that could not be decoded (their predictions have "
        "error set and label None):\n%s%s",
        len(errors),
        total,
        lines,
        tail,
    )
