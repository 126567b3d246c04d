"""Decoding a whole dataset once, in parallel, into one uint8 tensor, skipping (never
crashing on) broken files, with an optional on-disk cache of decoded images; past the memory
budget, into one memory-mapped file in fakezoo's cache instead.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from .._io import atomic_write
from .._progress import tqdm_disable
from ..errors import DatasetError, ImageDecodeError
from ..memory import default_memory_budget, format_size, parse_size
from .dataset import Dataset, SkippedFile, log_skipped
from .decode import (
    DECODER_VERSION,
    DEFAULT_MAX_PIXELS,
    check_image_size,
    decode_image,
    decode_image_bytes,
    read_image_bytes,
)
from .outofcore import BatchWriter, MappedArray, cache_home, key_of, locked, open_complete

if TYPE_CHECKING:  # torch is imported lazily so that decode worker processes start fast
    import torch

__all__ = ["DecodedImages", "decode_dataset", "decode_workers", "map_chunks"]


logger = logging.getLogger(__name__)


_POOL_MIN_FILES = 64  # below this, decode in-process: starting a pool costs more than it saves


@dataclass
class DecodedImages:
    """A dataset decoded into memory, ready for the model.

    Attributes:
        images: `(N, 3, S, S)` uint8 tensor, channels first, contiguous; past the memory
            budget a [`MappedArray`][fakezoo.data.outofcore.MappedArray] of that shape, whose
            `images[idx]` reads those rows from disk as a tensor.
        labels: `(N,)` int64 tensor.
        dataset: The dataset restricted to the images that decoded, in the same order as
            `images`; its `skipped` list also holds the files that failed to decode.
        image_size: The side `S` the images were resized to.
        n_decoded: How many files were decoded in this call (the rest came from the cache).

    Example:
        ```python
        decoded = decode_dataset(load_dataset("faces/"), 224)
        x = decoded.images[:8].float().div(255)  # (8, 3, 224, 224)
        ```
    """

    images: torch.Tensor | MappedArray
    labels: torch.Tensor
    dataset: Dataset
    image_size: int
    n_decoded: int

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def in_memory_bytes(self) -> int:
        """Bytes of decoded images held in memory (0 when they are on disk)."""
        return 0 if isinstance(self.images, MappedArray) else self.images.numel()

    @cached_property
    def data_sha256(self) -> str:
        """The decoded data's [`digest`][fakezoo.data.dataset.Dataset.digest], computed once."""
        return self.dataset.digest()

    def __repr__(self) -> str:
        return (
            f"DecodedImages(n={len(self)}, image_size={self.image_size}, "
            f"n_decoded={self.n_decoded}, skipped={len(self.dataset.skipped)})"
        )


def _cache_folder(cache_dir: str | os.PathLike[str], image_size: int) -> Path:
    return Path(cache_dir).expanduser() / f"decoded-v{DECODER_VERSION}-{image_size}px"


def _decode_one(
    path: Path, image_size: int, max_pixels: int, cache: Path | None
) -> tuple[np.ndarray | None, str | None, bool]:
    """Return `(array, None, decoded_now)` or `(None, reason, False)`; never raises."""
    try:
        if cache is None:
            return decode_image(path, image_size, max_pixels), None, True
        data = read_image_bytes(path)
        entry = cache / f"{hashlib.sha256(data).hexdigest()}.npy"
        if entry.is_file():
            try:
                arr = np.load(entry, allow_pickle=False)
                if arr.dtype == np.uint8 and arr.shape == (image_size, image_size, 3):
                    return arr, None, False
            except (OSError, ValueError, EOFError):
                pass  # a damaged cache entry is decoded again and overwritten
        arr = decode_image_bytes(data, path, image_size, max_pixels)
        try:
            atomic_write(
                entry, lambda handle: np.save(handle, arr, allow_pickle=False), durable=False
            )  # checked when read; decoded again if damaged
        except OSError as exc:
            logger.debug("cannot write cache entry %s: %s", entry, exc)
        return arr, None, True
    except ImageDecodeError as exc:
        return None, exc.reason, False
    except Exception as exc:  # never let one file stop a dataset
        return None, f"unexpected error ({type(exc).__name__}: {exc})", False


def _decode_chunk(
    jobs: list[tuple[int, str]], image_size: int, max_pixels: int, cache: str | None
) -> list[tuple[int, np.ndarray | None, str | None, bool]]:
    cache_path = None if cache is None else Path(cache)
    return [(i, *_decode_one(Path(p), image_size, max_pixels, cache_path)) for i, p in jobs]


def map_chunks(
    fn: Callable[..., Any], chunks: list[Any], args: tuple[Any, ...], workers: int
) -> Iterator[tuple[Any, Any]]:
    """Yield `(chunk, fn(chunk, *args))` as chunks finish, in worker processes when
    `workers > 1`; a chunk whose worker died is redone in this process."""
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            yield chunk, fn(chunk, *args)
        return
    pool = None
    try:
        pool = ProcessPoolExecutor(max_workers=min(workers, len(chunks)))
        futures = {pool.submit(fn, chunk, *args): chunk for chunk in chunks}
    except (OSError, NotImplementedError, RuntimeError) as exc:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        logger.warning("cannot start worker processes (%s); working in this process", exc)
        for chunk in chunks:
            yield chunk, fn(chunk, *args)
        return
    try:
        for future in as_completed(futures):
            chunk = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # a worker died (e.g. killed for memory): redo it here
                logger.warning(
                    "a worker process failed (%s: %s); redoing its %d items in this process",
                    type(exc).__name__,
                    exc,
                    len(chunk),
                )
                result = fn(chunk, *args)
            yield chunk, result
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def decode_workers(
    num_workers: int | None = None, device: Any = None, most: int | None = None
) -> int:
    """How many decoders to run: ``num_workers`` when given; else all cores (at most
    ``most``), except beside models on a CPU ``device``, where decoders get the cores that
    torch's own threads leave free.

    On a CPU the forward passes use ``torch.get_num_threads()`` cores; more decoders than the
    cores left over would only preempt them (and OpenMP threads that wait on each other slow
    down badly when preempted). At least one is kept, so the next batch still decodes while
    the models run.

    Example:
        ```python
        from fakezoo.data.cache import decode_workers
        decode_workers(2)                     # 2
        decode_workers(device="cpu") >= 1     # True
        ```
    """
    if num_workers is not None:
        return int(num_workers)
    cores = os.cpu_count() or 1
    if device is not None and str(getattr(device, "type", device)).split(":")[0] == "cpu":
        import torch  # only beside models, which have imported it already

        cores = max(1, cores - torch.get_num_threads())
    return cores if most is None else max(1, min(most, cores))


def decode_dataset(
    dataset: Dataset,
    image_size: int,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    num_workers: int | None = None,
    progress: bool | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    memory_budget: int | str | None = None,
) -> DecodedImages:
    """Decode every image of `dataset` once with [`decode_image`][fakezoo.data.decode.decode_image].

    Files are decoded in worker processes (in this process for `num_workers <= 1` or fewer than
    64 files). A file that fails is skipped with its reason and never stops the run; a summary
    of skipped files is logged as a warning. Keep the returned object to reuse the decoded
    images across folds and trials.

    With `cache_dir`, each decoded image is also stored as `.npy` under a key made of the
    SHA-256 of the file's bytes, `image_size` and
    [`DECODER_VERSION`][fakezoo.data.decode.DECODER_VERSION], so a later call (any process, any
    path to the same bytes) loads instead of decoding; a changed file gets a new key and is decoded
    again.

    When the decoded images would take more than `memory_budget` bytes, they are written into
    one memory-mapped file under `cache_dir` (default: fakezoo's cache, `$FAKEZOO_CACHE` or
    `~/.cache/fakezoo`), keyed by the files' content in order, the size and the decoder, and
    `images` reads them batch by batch; a later call with the same key maps that file again.
    The disk is checked first: a file that would not fit fails at once with
    [`CacheSpaceError`][fakezoo.errors.CacheSpaceError].

    Args:
        dataset: The images to decode.
        image_size: Output side `S` in pixels.
        cache_dir: Optional folder for the on-disk cache (created if needed).
        num_workers: Worker processes; default `os.cpu_count()`.
        progress: Show a progress bar; `None` shows one only when stderr is a terminal
            (`$TQDM_DISABLE=1` hides it).
        max_pixels: Largest accepted `width * height` (see `decode_image`).
        memory_budget: Bytes (or a size such as `"2GB"`) of decoded images held in memory;
            default: half the memory available (see
            [`default_memory_budget`][fakezoo.memory.default_memory_budget]).

    Returns:
        The decoded images, labels and the dataset restricted to the files that decoded.

    Raises:
        DatasetError: If the dataset is empty or no file could be decoded.

    Example:
        ```python
        decoded = decode_dataset(load_dataset("faces/"), 224, cache_dir="cache/")
        decoded.images.shape  # torch.Size([1000, 3, 224, 224])
        decoded.dataset.skipped  # files that could not be decoded, with reasons
        ```
    """
    import torch

    image_size = check_image_size(image_size)
    n = len(dataset)
    if n == 0:
        raise DatasetError(f"nothing to decode: the dataset from {dataset.root} is empty")
    budget = default_memory_budget() if memory_budget is None else parse_size(memory_budget)
    if n * 3 * image_size * image_size > budget:
        return _decode_to_disk(dataset, image_size, cache_dir, num_workers, progress, max_pixels)
    cache = None
    if cache_dir is not None:
        cache_path = _cache_folder(cache_dir, image_size)
        try:
            cache_path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(
                f"cannot create cache_dir {cache_path} ({exc.strerror or exc}); pass a writable "
                "folder or cache_dir=None"
            ) from exc
        if not os.access(cache_path, os.W_OK):
            raise ValueError(f"cache_dir {cache_path} is not writable; pass another cache_dir")
        cache = str(cache_path)

    out = np.empty((n, 3, image_size, image_size), dtype=np.uint8)

    def put(i: int, arr: np.ndarray) -> None:
        out[i] = arr.transpose(2, 0, 1)

    start = time.perf_counter()
    kept, reasons, n_decoded = _decode_into(
        put, dataset, image_size, cache, num_workers, progress, max_pixels
    )
    for j, i in enumerate(kept):  # compact in place: no second copy of the whole array
        if i != j:
            out[j] = out[i]
    images = torch.from_numpy(out[: kept.size])
    return _decoded(dataset, images, kept, reasons, image_size, n_decoded, start)


def _decode_into(
    put: Callable[[int, np.ndarray], None],
    dataset: Dataset,
    image_size: int,
    cache: str | None,
    num_workers: int | None,
    progress: bool | None,
    max_pixels: int,
) -> tuple[np.ndarray, dict[int, str], int]:
    """Decode every file, ``put(i, hwc_array)`` each image; return the indices that decoded,
    the reasons of the others and how many were decoded now (not read from the cache)."""
    n = len(dataset)
    workers = decode_workers(num_workers)
    if n < _POOL_MIN_FILES:
        workers = 1
    jobs = [(i, str(p)) for i, p in enumerate(dataset.paths)]
    chunk_size = 16 if workers <= 1 else max(1, min(64, math.ceil(n / (workers * 8))))
    chunks = [jobs[i : i + chunk_size] for i in range(0, n, chunk_size)]
    ok = np.zeros(n, dtype=bool)
    reasons: dict[int, str] = {}
    n_decoded = 0
    with tqdm(
        total=n, desc="decode", unit="img", disable=tqdm_disable(progress), leave=False
    ) as bar:
        args = (image_size, max_pixels, cache)
        for chunk, results in map_chunks(_decode_chunk, chunks, args, workers):
            for i, arr, reason, fresh in results:
                if arr is None:
                    reasons[i] = reason or "unknown error"
                else:
                    put(i, arr)
                    ok[i] = True
                    n_decoded += int(fresh)
            bar.update(len(chunk))
    kept = np.flatnonzero(ok)
    if kept.size == 0:
        examples = "; ".join(f"{dataset.paths[i]}: {r}" for i, r in sorted(reasons.items())[:3])
        log_skipped(
            [SkippedFile(dataset.paths[i], reasons[i]) for i in sorted(reasons)],
            f"of {n} files that could not be decoded",
        )
        raise DatasetError(f"none of the {n} files could be decoded ({examples})")
    return kept, reasons, n_decoded


def _decoded(
    dataset: Dataset,
    images: torch.Tensor | MappedArray,
    kept: np.ndarray,
    reasons: dict[int, str],
    image_size: int,
    n_decoded: int,
    start: float,
) -> DecodedImages:
    import torch

    new_skipped = [SkippedFile(dataset.paths[i], reasons[i]) for i in sorted(reasons)]
    if new_skipped:
        log_skipped(new_skipped, f"of {len(dataset)} files that could not be decoded")
    subset = dataset.subset(kept)
    subset.skipped = [*dataset.skipped, *new_skipped]
    logger.info(
        "decoded %d images at %dpx (%d from cache, %d skipped) in %.1fs",
        kept.size,
        image_size,
        kept.size - n_decoded,
        len(new_skipped),
        time.perf_counter() - start,
    )
    return DecodedImages(
        images=images,
        labels=torch.from_numpy(subset.labels.copy()),
        dataset=subset,
        image_size=image_size,
        n_decoded=n_decoded,
    )


def _decode_to_disk(
    dataset: Dataset,
    image_size: int,
    cache_dir: str | os.PathLike[str] | None,
    num_workers: int | None,
    progress: bool | None,
    max_pixels: int,
) -> DecodedImages:
    """``decode_dataset`` past the memory budget: the images go into one memory-mapped file,
    written under a temporary name and renamed with its completion marker when whole."""
    n, start = len(dataset), time.perf_counter()
    root = cache_home() if cache_dir is None else Path(cache_dir).expanduser()
    parts = {
        "kind": "decoded",
        "decoder": DECODER_VERSION,
        "image_size": image_size,
        "max_pixels": max_pixels,
        "files": hashlib.sha256("\n".join(dataset.sha256()).encode()).hexdigest(),
    }
    folder = root / "decoded" / key_of(parts)
    with locked(folder):
        found = open_complete(folder)
        if found is not None:
            images, extra = found
            reasons = {int(i): r for i, r in extra.get("reasons", {}).items()}
            kept = np.asarray(extra["kept"], dtype=np.int64)
            logger.info("decoded images of %d files mapped from %s", n, folder)
            return _decoded(dataset, images, kept, reasons, image_size, 0, start)
        shape = (n, 3, image_size, image_size)
        writer = BatchWriter.start(folder, shape, "uint8", n, "decoded images")
        logger.info(
            "%d decoded images (%s) exceed the memory budget: writing them to %s",
            n,
            format_size(writer.row_bytes * n),
            folder,
        )

        def put(i: int, arr: np.ndarray) -> None:
            writer.write(i, arr.transpose(2, 0, 1)[None])

        try:
            kept, reasons, n_decoded = _decode_into(
                put, dataset, image_size, None, num_workers, progress, max_pixels
            )
            for j, i in enumerate(kept):  # compact: the skipped files' rows are dropped
                if i != j:
                    writer.write(j, writer.read(int(i), 1))
            extra = {"kept": kept.tolist(), "reasons": {str(i): r for i, r in reasons.items()}}
            images = writer.finish(kept.size, extra)
        except BaseException:
            writer.close()
            raise
    return _decoded(dataset, images, kept, reasons, image_size, n_decoded, start)
