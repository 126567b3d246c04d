"""Optuna searches on ``torchrun``: rank 0 searches, every rank trains each trial's folds.

Rank 0 alone talks to Optuna and its storage and writes files. Before each training job (one
fold at one learning rate) it sends the job to the other ranks, and after each epoch it tells
them whether the trial goes on (Optuna may prune it); they wait in
[`follow`][fakezoo.train.trial_ranks.follow] and train their share of every job with it, as
[`train_fold`][fakezoo.train.engine.train_fold] splits each global batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..errors import RankZeroError

__all__ = ["Leader", "follow", "leading"]


class _Stop(Exception):
    """Rank 0 stopped the job after an epoch (its trial was pruned, or it failed)."""


class Leader:
    """Rank 0's side: ``fit_fold`` and ``run`` tell the other ranks first, then do the job.

    With one process they only do the job.
    """

    def __init__(self, cv: Any):
        self.cv, self.world = cv, cv.world
        self.waiting = True  # the other ranks wait for a message, not inside a job

    def tell(self, *message: Any) -> None:
        """Send ``message`` to the ranks waiting in ``follow``."""
        if self.world.size > 1:
            self.world.share(message)

    def fit_fold(
        self,
        template: Any,
        decoded: Any,
        train_idx: np.ndarray,
        val_idx: np.ndarray,
        lr: float,
        fold: int = 1,
        on_epoch: Callable[[int, float], None] | None = None,
    ) -> tuple[Any, Any]:
        """[`CrossValidator.fit_fold`][fakezoo.train.cv.CrossValidator.fit_fold] on every rank."""
        if self.world.size == 1:
            return self.cv.fit_fold(template, decoded, train_idx, val_idx, lr, fold, on_epoch)
        self.tell("fit", train_idx, val_idx, float(lr), fold, on_epoch is not None)
        self.waiting = False
        hook = None
        if on_epoch is not None:

            def hook(epoch: int, accuracy: float) -> None:
                try:
                    on_epoch(epoch, accuracy)
                except BaseException:
                    self.world.share(True)  # the others leave the job at this epoch too
                    self.waiting = True
                    raise
                self.world.share(False)

        try:
            out = self.cv.fit_fold(template, decoded, train_idx, val_idx, lr, fold, hook)
        except FloatingPointError:  # every rank sees the all-reduced loss and stops on it
            self.waiting = True
            raise
        self.waiting = True
        return out

    def run(self, final: Callable[[float], Any], lr: float) -> Any:
        """``final(lr)`` (the CV at the chosen lr) on every rank."""
        self.tell("run", float(lr))
        self.waiting = False
        result = final(lr)
        self.waiting = True
        return result


@contextlib.contextmanager
def leading(cv: Any) -> Iterator[Leader]:
    """Rank 0's search: when it fails between jobs, the other ranks stop with its message."""
    leader = Leader(cv)
    try:
        yield leader
    except BaseException as err:
        if leader.waiting:  # inside a job they are in a collective; torchrun stops them
            leader.tell("error", f"{type(err).__name__}: {err}")
        raise


def follow(cv: Any, template: Any, decoded: Any, final: Callable[[float], Any] | None) -> Any:
    """The other ranks' side: do rank 0's jobs until it sends ``("done", value)``; returns
    ``value``.

    Raises:
        RankZeroError: rank 0 failed between jobs.
    """
    world = cv.world

    def told(epoch: int, accuracy: float) -> None:
        if world.share(None):
            raise _Stop

    while True:
        kind, *args = world.share(None)
        if kind == "fit":
            train_idx, val_idx, lr, fold, hooked = args
            hook = told if hooked else None
            with contextlib.suppress(_Stop, FloatingPointError):  # rank 0 goes on too
                cv.fit_fold(template, decoded, train_idx, val_idx, lr, fold, hook)
        elif kind == "run" and final is not None:
            final(args[0])
        elif kind == "done":
            return args[0]
        else:
            raise RankZeroError(f"rank 0 stopped: {args[0] if args else kind}")
