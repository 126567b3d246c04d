"""Asking a study for trials until it has ``n_trials`` finished ones, whatever crashes.

[`run_until_finished`][fakezoo.train.trial_loop.run_until_finished] is the loop of every worker of a
learning-rate search, alone or sharing a study with others (see
[`fakezoo.train.storage`][fakezoo.train.storage] for heartbeats and leases):

- before each trial, the running trials of dead workers are failed and their learning rates
  queued again ([`recover_stale_trials`][fakezoo.train.storage.recover_stale_trials]);
- when the last trials run on other workers, it waits for them to finish, or for their
  heartbeats to stop, which queues their learning rates again, so the study ends with exactly
  ``n_trials`` finished (complete or pruned) trials;
- a worker whose own trial was declared dead (it paused longer than the grace period) drops
  that result with a warning and goes on: the rerun of its learning rate counts instead.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence

import optuna
from optuna.trial import TrialState

from .storage import has_heartbeat, recover_stale_trials

logger = logging.getLogger("fakezoo")

__all__ = ["FINISHED", "SurplusTrial", "quiet_optuna", "run_until_finished"]

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class SurplusTrial(Exception):
    """Raised for a trial asked after the study already had all its trials."""


def run_until_finished(
    study: optuna.Study,
    storage: optuna.storages.BaseStorage | None,
    n_trials: int,
    objective: Callable[[optuna.Trial], float],
    callbacks: Sequence[Callable],
    failures: list[int],
) -> None:
    """Run ``objective`` one trial at a time until ``study`` has ``n_trials`` finished trials.

    Args:
        study: the study, alone or shared with other workers through ``storage``.
        storage: the study's storage (``None``: in memory).
        n_trials: finished (complete or pruned) trials the study must end with.
        objective: the trial's objective; ``SurplusTrial`` and ``FloatingPointError`` (a
            diverged trial) are recorded as failed trials and the loop goes on.
        callbacks: Optuna callbacks, called after each trial of this worker.
        failures: the numbers of this worker's failed (diverged) trials; the callbacks append
            to it. More than ``n_trials`` of them is an error.
    """
    name = study.study_name
    waiting = False
    mine: dict = {}  # this worker's current trial, and whether its objective itself failed

    def tracked(trial: optuna.Trial) -> float:
        mine.update(trial_id=trial._trial_id, own_error=False)
        try:
            return objective(trial)
        except optuna.exceptions.UpdateFinishedTrialError:
            raise  # another worker declared this trial dead
        except BaseException:
            mine["own_error"] = True
            raise

    # Not optuna.study.MaxTrialsCallback(n_trials, states=FINISHED) with one optimize() call:
    # it stops a worker only after a trial of its own, so a worker whose last trials run on
    # others keeps asking for trials, each given back as surplus, instead of waiting (tried:
    # 23 failed trials beside the 4 of tests/test_scale.py::test_workers_share_one_journal_file,
    # which allows one surplus). Nor does it end a resumed study that already has n_trials
    # before running one more (it is called after each trial).
    while True:
        recover_stale_trials(study, storage)
        trials = study.get_trials(deepcopy=False)
        finished = sum(t.state in FINISHED for t in trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        if finished >= n_trials:
            return
        if finished + running >= n_trials:
            if not has_heartbeat(storage):  # nobody could ever tell a dead worker's trial
                logger.warning(
                    "%s: %d trial(s) still marked running, by no heartbeat; the "
                    "study ends with %d finished trials",
                    name,
                    running,
                    finished,
                )
                return
            if not waiting:
                logger.info("%s: waiting for %d trial(s) running on other workers", name, running)
                waiting = True
            time.sleep(_poll_seconds(storage))
            continue
        waiting = False
        if len(failures) > n_trials:
            raise RuntimeError(
                f"Study '{name}': {len(failures)} trials failed on this worker "
                f"(trials {failures[:5]}...); see the messages above."
            )
        mine.clear()
        try:
            with quiet_optuna():
                study.optimize(
                    tracked,
                    n_trials=1,
                    catch=(SurplusTrial, FloatingPointError),
                    callbacks=list(callbacks),
                    gc_after_trial=False,
                    show_progress_bar=False,
                )
        except Exception:
            # A trial declared dead (its heartbeat late) cannot be told; Optuna raises one of
            # several errors then. Drop its result; its learning rate runs again.
            if not _declared_dead(storage, mine):
                raise
            logger.warning(
                "%s: this worker's trial was declared dead by another worker (no "
                "heartbeat within the grace period); its result is dropped and its "
                "learning rate runs again. Raise the grace period if workers pause "
                "that long.",
                name,
            )


def _declared_dead(storage, mine: dict) -> bool:
    """Whether this worker's last trial was failed by another worker, not by its own error."""
    if storage is None or not mine or mine["own_error"]:
        return False
    return storage.get_trial(mine["trial_id"]).state == TrialState.FAIL


def _poll_seconds(storage) -> float:
    """How often a worker that waits for others looks at the study again."""
    return float(min(5, getattr(storage, "heartbeat_interval", None) or 5))


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's INFO lines and per-trial warnings off the terminal for a block (fakezoo
    reports each trial itself); the caller's verbosity is given back."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(level, optuna.logging.ERROR))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)
