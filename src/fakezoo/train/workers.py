"""Local worker processes for ``fakezoo tune --workers N``.

Each worker is a ``fakezoo tune`` process of its own, on one shared study (a Journal file or
a database); there is no scheduler here, only processes and the storage. With several GPUs
visible, worker ``i`` sees only GPU ``i mod n`` (round robin over ``CUDA_VISIBLE_DEVICES``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence

logger = logging.getLogger("fakezoo")

__all__ = ["assign_devices", "run_workers"]


def _visible_gpus(device: str) -> list[str]:
    """The GPUs workers may share: ``CUDA_VISIBLE_DEVICES`` entries, else ``0..n-1``."""
    if device not in {"auto", "cuda"}:
        return []  # an explicit device (cpu, cuda:1, mps) is used as given by every worker
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def assign_devices(n_workers: int, gpus: Sequence[str]) -> list[str | None]:
    """``CUDA_VISIBLE_DEVICES`` for each worker: round robin when several GPUs are visible,
    else ``None`` (the worker inherits the parent's environment)."""
    if len(gpus) < 2:
        return [None] * n_workers
    return [gpus[i % len(gpus)] for i in range(n_workers)]


def run_workers(argv: Sequence[str], n_workers: int, device: str = "auto") -> list[tuple[int, int]]:
    """Start ``n_workers`` processes ``python -m fakezoo.cli *argv`` and wait for all.

    Their output goes to this process's terminal. Ctrl-C stops them all.

    Returns:
        ``(worker, exit code)`` of each worker that failed (its messages are above). The
        survivors finish a dead worker's trials, so a failed worker need not stop the caller.
    """
    devices = assign_devices(n_workers, _visible_gpus(device))
    processes = []
    try:
        for i, gpu in enumerate(devices, start=1):
            env = dict(os.environ, FAKEZOO_WORKER=str(i))
            if gpu is not None:
                env["CUDA_VISIBLE_DEVICES"] = gpu
            processes.append(
                subprocess.Popen([sys.executable, "-m", "fakezoo.cli", *argv], env=env)
            )
            logger.info(
                "worker %d/%d started (pid %d%s)",
                i,
                n_workers,
                processes[-1].pid,
                "" if gpu is None else f", GPU {gpu}",
            )
        codes = [p.wait() for p in processes]
    except BaseException:
        for p in processes:
            if p.poll() is None:
                p.terminate()
        for p in processes:
            p.wait()
        raise
    return [(i, c) for i, c in enumerate(codes, start=1) if c != 0]
