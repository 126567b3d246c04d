"""The items prediction takes (paths and PIL images): checking and decoding one, stacking
decoded arrays into a batch, the progress bar, and one warning for the items that could not be
decoded. Streaming them through the models is
[`fakezoo.inference.pipeline`][fakezoo.inference.pipeline].
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
from ..data.decode import PIL_NAME, decode_image, decode_pil
from .prediction import Prediction

__all__ = ["check_item", "decode_item", "item_path", "progress_bar", "to_batch", "warn_skipped"]

logger = logging.getLogger("fakezoo")


_ERRORS_SHOWN = 5


def to_batch(arrays: list[np.ndarray]) -> torch.Tensor:
    """``(S, S, 3)`` uint8 arrays -> one ``(N, 3, S, S)`` uint8 tensor (channels_last memory)."""
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)


def item_path(item: Any) -> str | None:
    """An input's file path, or ``None`` for a PIL image."""
    return None if isinstance(item, Image.Image) else os.fspath(item)


def check_item(item: Any) -> Any:
    """``item`` when it is a path or a PIL image, else a ``TypeError`` that says so."""
    if isinstance(item, str | os.PathLike | Image.Image):
        return item
    raise TypeError(
        f"a list to predict on holds paths or PIL images, got a "
        f"{type(item).__name__} ({item!r:.60})"
    )


def decode_item(item: Any, image_size: int) -> np.ndarray:
    """A path or a PIL image, decoded to ``(S, S, 3)`` uint8 the training way; an
    ``ImageDecodeError`` (naming the file, or ``"<PIL image>"``) when it cannot be."""
    if isinstance(item, Image.Image):
        return decode_pil(item, image_size)
    return decode_image(item, image_size)


def progress_bar(total: int | None, batch_size: int, progress: bool | None) -> tqdm:
    """The prediction progress bar; a single batch gets none unless ``progress`` asks."""
    disable = tqdm_disable(progress)
    if progress is None and total is not None and total <= batch_size:
        disable = True  # a single batch needs no bar
    return tqdm(total=total, desc="fakezoo predict", unit="img", disable=disable, leave=False)


def warn_skipped(errors: list[Prediction], total: int) -> None:
    """One warning on the ``"fakezoo"`` logger for the images that could not be decoded."""
    lines = "\n".join(f"  {p.path or PIL_NAME}: {p.error}" for p in errors[:_ERRORS_SHOWN])
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
