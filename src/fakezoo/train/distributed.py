"""Data-parallel training on ``torchrun``: one process per device, one fold at a time.

Started by ``torchrun`` (its ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` are in the
environment), [`join_world`][fakezoo.train.distributed.join_world] initialises PyTorch's
process group (NCCL on GPUs, Gloo on CPUs) and gives each process its device.
[`train_fold`][fakezoo.train.engine.train_fold] then splits every global batch between the
processes, all-reduces the gradients with ``DistributedDataParallel`` and gathers the
validation predictions; rank 0 alone writes the run directory.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from torch import distributed as dist

from ..errors import RankZeroError

__all__ = ["World", "join_world", "world"]

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """The processes that train together: ``size`` 1 outside ``torchrun``.

    Example:
        ```python
        from fakezoo.train.distributed import world
        world().size, world().main  # (1, True) outside torchrun
        ```
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process is rank 0, the one that writes files and talks to Optuna."""
        return self.rank == 0

    def share(self, value: T) -> T:
        """Rank 0's ``value``, on every rank (pickled; for small objects)."""
        if self.size == 1:
            return value
        box = [value if self.main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def on_main(self, fn: Callable[[], T]) -> T | None:
        """Run ``fn`` on rank 0 alone and return its result there (``None`` elsewhere); when
        it fails, every other rank raises [`RankZeroError`][fakezoo.errors.RankZeroError]
        with its message, so that none waits for a rank that has stopped."""
        if self.size == 1:
            return fn()
        if not self.main:
            message = self.share(None)
            if message is not None:
                raise RankZeroError(f"rank 0 stopped: {message}")
            return None
        try:
            value = fn()
        except BaseException as err:
            self.share(f"{type(err).__name__}: {err}")
            raise
        self.share(None)
        return value

    @contextlib.contextmanager
    def main_holds(self, context: Callable[[], contextlib.AbstractContextManager]) -> Iterator[Any]:
        """Enter ``context()`` on rank 0 alone, as
        [`on_main`][fakezoo.train.distributed.World.on_main] runs a function."""
        with contextlib.ExitStack() as stack:
            yield self.on_main(lambda: stack.enter_context(context()))

    def gather_strided(self, part: np.ndarray, n: int) -> np.ndarray:
        """Put back together an array of length ``n`` whose rank ``r`` holds ``[r::size]``."""
        if self.size == 1:
            return part
        parts: list[Any] = [None] * self.size
        dist.all_gather_object(parts, part)
        whole = np.empty(n, dtype=part.dtype)
        for r, p in enumerate(parts):
            whole[r :: self.size] = p
        return whole


def world() -> World:
    """This process's place among the ``torchrun`` processes (joined by
    [`join_world`][fakezoo.train.distributed.join_world]); ``World()`` outside ``torchrun``."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def join_world(device: torch.device) -> tuple[World, torch.device]:
    """Join ``torchrun``'s process group once (NCCL for CUDA, Gloo otherwise) and return the
    world and this process's device (``cuda:LOCAL_RANK`` for CUDA).

    Outside ``torchrun`` (or with one process) nothing is initialised and ``device`` is kept.

    Example:
        ```python
        import torch
        from fakezoo.train.distributed import join_world
        join_world(torch.device("cpu"))  # (World(rank=0, size=1, local_rank=0), device(type='cpu'))
        ```
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1 and not dist.is_initialized():
        return World(), device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if device.index is not None and size > 1:
            raise ValueError(
                f"--device {device}: under torchrun each process uses its own GPU "
                f"(cuda:LOCAL_RANK); use --device cuda or auto."
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        # Left to the interpreter's exit, Gloo's threads can outlive the group and abort the
        # process ("terminate called without an active exception") after the work is done.
        atexit.register(dist.destroy_process_group)
        if dist.get_rank() != 0:  # rank 0 tells what happens; the others only warn
            logging.getLogger("fakezoo").setLevel(logging.WARNING)
    return world(), device
