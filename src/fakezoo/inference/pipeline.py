"""Streaming inference: decode in parallel ahead of the model, in fixed-size batches.

[`score_stream`][fakezoo.inference.pipeline.score_stream] takes any iterable of items, a *decode
hook* that turns one item into one or more ``(S, S, 3)`` uint8 arrays, and a *forward* function on
``(B, 3, S, S)`` uint8 batches. A thread pool decodes the next items while the model computes the
current batch; at most ``prefetch`` batches of items are decoded or waiting at any time, so memory
stays bounded whatever the number of items. Arrays from consecutive items fill batches of exactly
``batch_size`` (the last one may be shorter), so one item may span two batches and an item that
gives several arrays (the faces of a photo, the frames of a video segment) is scored in the same
batches as the rest. Results come back one per item, in input order.

The decode hook is where other inputs plug in: a photo decoder returns one array; a face
cropper returns one crop per face; a video reader returns the frames of one segment (split
long videos into segment items upstream, so that no item holds a whole video).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["DecodeHook", "ItemResult", "score_stream"]

DecodeHook = Callable[[Any], "np.ndarray | list[np.ndarray]"]
"""One item -> one ``(S, S, 3)`` uint8 array or a list of them; raises when it cannot."""


@dataclass
class ItemResult:
    """The model's output for one item.

    Attributes:
        item: the item as it was given.
        outputs: ``(n_arrays, ...)`` rows of ``forward``'s output, one per array the decode
            hook gave (``None`` on error).
        error: why the item could not be decoded (``None`` when it was).
    """

    item: Any
    outputs: torch.Tensor | None
    error: str | None = None


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)  # fakezoo's ImageDecodeError says why in .reason
    if isinstance(reason, str):
        return reason
    return f"unexpected error ({type(exc).__name__}: {exc})"


def _decode(decode: DecodeHook, item: Any) -> tuple[list[np.ndarray] | None, str | None]:
    try:
        out = decode(item)
    except Exception as exc:  # one bad item never stops a stream
        return None, _describe(exc)
    arrays = [out] if isinstance(out, np.ndarray) else list(out)
    return arrays, None


class _Pending:
    """An item whose arrays are (partly) in batches not yet scored."""

    __slots__ = ("error", "item", "need", "rows")

    def __init__(self, item: Any, need: int, error: str | None) -> None:
        self.item, self.need, self.error = item, need, error
        self.rows: list[torch.Tensor] = []

    def result(self) -> ItemResult:
        if self.error is not None:
            return ItemResult(self.item, None, self.error)
        outputs = torch.cat(self.rows) if self.rows else torch.empty(0)
        return ItemResult(self.item, outputs)


def score_stream(
    items: Iterable[Any],
    decode: DecodeHook,
    forward: Callable[[torch.Tensor], torch.Tensor],
    *,
    batch_size: int = 32,
    workers: int = 1,
    prefetch: int = 2,
    pin_memory: bool = False,
    check: Callable[[Any], Any] | None = None,
) -> Iterator[ItemResult]:
    """Decode ``items`` with ``workers`` threads ahead of ``forward``; yield one result per
    item, in order.

    Args:
        items: any iterable (a generator is read lazily, at most ``prefetch`` batches ahead).
        decode: the decode hook, run in the worker threads.
        forward: ``(B, 3, S, S)`` uint8 tensor -> ``(B, ...)`` CPU tensor.
        batch_size: arrays per call of ``forward`` (all calls but the last get exactly this).
        workers: decoding threads; 0 decodes in the calling thread, between batches.
        prefetch: batches' worth of items decoded or waiting at most (at least 1).
        pin_memory: stage batches in pinned memory (for asynchronous copies to a GPU).
        check: called on each item as it is read (e.g. to raise ``TypeError`` early).

    Example:
        ```python
        import numpy as np, torch
        from fakezoo.inference.pipeline import score_stream
        decode = lambda n: np.full((8, 8, 3), n, dtype=np.uint8)
        forward = lambda x: x.float().mean(dim=(1, 2, 3), keepdim=False)[:, None]
        [r.outputs.item() for r in score_stream(range(5), decode, forward, batch_size=2)]
        # [0.0, 1.0, 2.0, 3.0, 4.0]
        ```
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    limit = max(1, prefetch) * batch_size
    source = iter(items)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="fakezoo-decode") if workers else None
    queued: deque[tuple[Any, Future | tuple]] = deque()  # read, not yet in a batch
    waiting: deque[_Pending] = deque()  # in a batch, not yet scored
    arrays: list[np.ndarray] = []
    owners: list[_Pending] = []
    exhausted = False
    buffer: torch.Tensor | None = None

    def top_up() -> None:
        nonlocal exhausted
        while not exhausted and len(queued) + len(arrays) < limit:
            try:
                item = next(source)
            except StopIteration:
                exhausted = True
                return
            if check is not None:
                check(item)
            job = pool.submit(_decode, decode, item) if pool else None
            queued.append((item, job))

    def run_batch() -> Iterator[ItemResult]:
        nonlocal buffer
        batch = np.stack(arrays)
        if pin_memory:
            if buffer is None or buffer.shape != batch.shape:
                buffer = torch.empty(batch.shape, dtype=torch.uint8).pin_memory()
            buffer.copy_(torch.from_numpy(batch))
            images = buffer
        else:
            images = torch.from_numpy(batch)
        out = forward(images.permute(0, 3, 1, 2))
        for row, owner in zip(out.split(1), owners, strict=True):
            owner.rows.append(row)
        arrays.clear()
        owners.clear()
        yield from _drain(waiting)

    try:
        top_up()
        while queued:
            item, job = queued.popleft()
            decoded, error = job.result() if job is not None else _decode(decode, item)
            pending = _Pending(item, 0 if decoded is None else len(decoded), error)
            waiting.append(pending)
            for array in decoded or ():
                arrays.append(array)
                owners.append(pending)
                if len(arrays) == batch_size:
                    yield from run_batch()
            top_up()
            if not arrays:
                yield from _drain(waiting)
        if arrays:
            yield from run_batch()
        yield from _drain(waiting)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _drain(waiting: deque[_Pending]) -> Iterator[ItemResult]:
    """Yield the finished items at the front, keeping the input order."""
    while waiting and len(waiting[0].rows) == waiting[0].need:
        yield waiting.popleft().result()
