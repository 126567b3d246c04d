"""Rank 0 leads a search's jobs, the other rank follows: on a real two-process Gloo group.

A stand-in for the CrossValidator trains "epochs" that each all-reduce a tensor, as
train_fold does every step, so a rank that left a job early would hang the other one.
"""

from __future__ import annotations

import multiprocessing
import socket

import optuna
import pytest
import torch
from torch import distributed as dist

EPOCHS = 3


class _CV:
    """``fit_fold`` of EPOCHS epochs, one collective each; ``jobs`` records what it trained."""

    def __init__(self, world):
        self.world, self.jobs = world, []

    def fit_fold(self, template, decoded, train_idx, val_idx, lr, fold=1, on_epoch=None):
        done = 0
        try:
            for epoch in range(EPOCHS):
                total = torch.tensor([float(lr)])
                dist.all_reduce(total)
                if fold == 3 and epoch == 1:
                    raise FloatingPointError("the loss became nan")  # on every rank, as there
                done += 1
                if on_epoch is not None:
                    on_epoch(epoch, 0.5)
        finally:
            self.jobs.append((fold, float(lr), list(train_idx), done))
        return None, done


def _prune_at_1(epoch: int, accuracy: float) -> None:
    if epoch == 1:
        raise optuna.TrialPruned("epoch 2")


def _rank(rank: int, port: int, results) -> None:
    from fakezoo.errors import RankZeroError
    from fakezoo.train.distributed import world
    from fakezoo.train.trial_ranks import follow, leading

    dist.init_process_group("gloo", f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        cv = _CV(world())
        if rank == 0:
            with leading(cv) as leader:
                leader.fit_fold(None, None, [1, 2], [3], 0.1, 1)
                with pytest.raises(optuna.TrialPruned):
                    leader.fit_fold(None, None, [4], [5], 0.2, 2, _prune_at_1)
                with pytest.raises(FloatingPointError):
                    leader.fit_fold(None, None, [6], [7], 0.3, 3, lambda e, a: None)
                leader.tell("done", {"best": 0.1})
            out = "led"
            with pytest.raises(ValueError), leading(cv):
                raise ValueError("the storage is gone")
        else:
            out = follow(cv, None, None, final=None)
            try:
                follow(cv, None, None, final=None)
            except RankZeroError as err:
                out = (out, str(err))
        results.put((rank, cv.jobs, out))
    finally:
        dist.destroy_process_group()


def test_the_other_rank_trains_rank_zeros_jobs_and_stops_with_it():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    ranks = [ctx.Process(target=_rank, args=(r, port, results)) for r in range(2)]
    for p in ranks:
        p.start()
    got = dict((rank, (jobs, out)) for rank, jobs, out in (results.get(timeout=120) for _ in ranks))
    for p in ranks:
        p.join(timeout=60)
    assert [p.exitcode for p in ranks] == [0, 0]
    # The whole job, the pruned trial's fold left after its second epoch, the diverged one's
    # first: both ranks trained the same jobs, epoch for epoch.
    want = [(1, 0.1, [1, 2], 3), (2, 0.2, [4], 2), (3, 0.3, [6], 1)]
    assert got[0][0] == got[1][0] == want
    assert got[0][1] == "led"
    assert got[1][1] == ({"best": 0.1}, "rank 0 stopped: ValueError: the storage is gone")
