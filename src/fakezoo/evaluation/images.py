"""Decode an evaluation dataset once, at the images' own size, and feed a Detector batches.

The clean images are decoded once (threads; PIL releases the GIL) and held in memory as uint8
arrays at their own resolution, so that every perturbation starts from the same decoded pixels
and acts before the resize, and so that several runs share one decode. Perturbed copies exist
only one batch at a time and are never written anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..data.cache import decode_workers
from ..data.dataset import Dataset, SkippedFile
from ..data.decode import decode_image
from ..errors import ImageDecodeError

__all__ = ["DecodedSet", "decode_native", "model_batches", "resize_square"]


@dataclass
class DecodedSet:
    """The dataset's images that decoded, at their own size, with their labels and groups."""

    dataset: Dataset  # restricted to the decoded images; skipped holds every left-out file
    images: list[np.ndarray]
    skipped: list[SkippedFile] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.images)


def _decode_quietly(path: os.PathLike) -> tuple[np.ndarray | None, str | None]:
    try:
        return decode_image(path, None), None
    except ImageDecodeError as exc:
        return None, exc.reason
    except Exception as exc:  # one bad file never stops the evaluation
        return None, f"unexpected error ({type(exc).__name__}: {exc})"


def decode_native(dataset: Dataset, num_workers: int | None = None) -> DecodedSet:
    """Decode every image of ``dataset`` once (EXIF rotation, RGB), keeping its size.

    Files that fail are listed in ``skipped`` with their reason, beside those the dataset
    already skipped; the evaluation goes on without them.
    """
    workers = max(1, decode_workers(num_workers))
    if workers == 1:
        results = [_decode_quietly(p) for p in dataset.paths]
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="fakezoo-eval-decode") as pool:
            results = list(pool.map(_decode_quietly, dataset.paths))
    keep = [i for i, (arr, _) in enumerate(results) if arr is not None]
    failed = [
        SkippedFile(dataset.paths[i], reason)
        for i, (arr, reason) in enumerate(results)
        if arr is None
    ]
    subset = dataset.subset(keep)
    subset.skipped = list(dataset.skipped) + failed
    return DecodedSet(dataset=subset, images=[results[i][0] for i in keep], skipped=subset.skipped)


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """The last step of [`fakezoo.data.decode_image`][fakezoo.data.decode.decode_image]: bilinear
    resize to ``size``²."""
    if image.shape[:2] == (size, size):
        return image
    return np.asarray(
        Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8
    )


def model_batches(
    images: Sequence[np.ndarray],
    size: int,
    batch_size: int,
    perturb: Callable[[np.ndarray, int], np.ndarray] | None = None,
    num_workers: int = 1,
) -> Iterator[np.ndarray]:
    """Yield ``(n, 3, size, size)`` uint8 batches: each image perturbed (if asked), then
    resized; the next batch is prepared in threads while the caller scores this one."""

    def one(i: int) -> np.ndarray:
        img = images[i] if perturb is None else perturb(images[i], i)
        return resize_square(img, size)

    def build(start: int) -> np.ndarray:
        idx = range(start, min(start + batch_size, len(images)))
        arrays = list(pool.map(one, idx)) if pool is not None else [one(i) for i in idx]
        return np.ascontiguousarray(np.stack(arrays).transpose(0, 3, 1, 2))

    pool = ThreadPoolExecutor(num_workers) if num_workers > 1 else None
    try:
        starts = list(range(0, len(images), batch_size))
        if pool is None:
            for start in starts:
                yield build(start)
            return
        with ThreadPoolExecutor(1) as ahead:
            pending = ahead.submit(build, starts[0]) if starts else None
            for k in range(len(starts)):
                batch = pending.result()
                pending = ahead.submit(build, starts[k + 1]) if k + 1 < len(starts) else None
                yield batch
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
