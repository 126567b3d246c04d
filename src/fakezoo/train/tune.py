"""The learning-rate search: the study's protocol, a nested protocol, and shared studies.

``protocol="study"`` reproduces the study's protocol: every trial runs the k-fold CV at one
learning rate and scores the mean validation accuracy; the best LR's CV is then reported.
Because the LR is chosen on the same folds that are reported, those numbers are optimistic.

``protocol="nested"`` is unbiased: for each outer fold the LR is searched with an inner CV on
the outer training part only, and the outer fold is scored once, at the LR chosen for it.

Trials train only the tail of the model; the frozen trunk runs once per image for the whole
search (see [`fakezoo.train.engine`][fakezoo.train.engine]).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from .._io import atomic_write_text, write_json
from ..data.cache import DecodedImages
from ..data.dataset import Dataset
from ..data.folds import make_folds as _make_folds
from ..report import plots
from ..runs.folders import RUN, hold_folder, remove_owned
from ..runs.schema import Fingerprint, check_same
from ..runs.writer import RunWriter
from .cv import CrossValidator, RunDescription
from .results import CVResult, FoldResult
from .storage import (
    DEFAULT_GRACE_PERIOD,
    WORKER,
    is_sqlite,
    keep_alive,
    make_storage,
    single_writer,
)
from .trial_loop import FINISHED as _FINISHED
from .trial_loop import SurplusTrial, quiet_optuna, run_until_finished
from .trial_ranks import Leader, follow, leading

__all__ = ["LRSearchResult", "optuna_lr_search"]


logger = logging.getLogger("fakezoo")


@dataclass
class LRSearchResult:
    """What [`optuna_lr_search`][fakezoo.train.tune.optuna_lr_search] found.

    Attributes:
        best_lr: the chosen learning rate (study protocol); ``None`` for the nested
            protocol, where each outer fold has its own (``fold_lrs``) and no one rate
            stands for the run.
        best_value: the best trial's mean validation accuracy (study protocol), or the outer
            folds' mean accuracy (nested).
        trials: one dict per trial: number, lr, value, state, fold accuracies (and the outer
            fold, for the nested protocol).
        cv_result: the CV at the best LR (study protocol) or the outer folds, each scored once
            (nested); ``None`` with ``search_only``.
        study: the Optuna study (study protocol) or the list of per-fold studies (nested);
            ``None`` on the ``torchrun`` ranks other than 0, which never talk to Optuna.
        protocol: ``"study"`` or ``"nested"``.
        fold_lrs: the LR chosen for each outer fold (nested protocol only).
    """

    best_lr: float | None
    best_value: float
    trials: list[dict]
    cv_result: CVResult | None
    study: optuna.Study | list[optuna.Study]
    protocol: str
    fold_lrs: list[float] = field(default_factory=list)

    def trials_csv(self) -> str:
        """The trials as CSV text (one row per trial)."""
        buffer = io.StringIO()
        keys = ["study", "number", "lr", "value", "state", "fold_accuracies"]
        writer = csv.DictWriter(buffer, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        for trial in self.trials:
            row = dict(trial)
            row["fold_accuracies"] = " ".join(f"{a:.4f}" for a in trial["fold_accuracies"])
            writer.writerow(row)
        return buffer.getvalue()

    def to_dict(self) -> dict:
        """Plain JSON types (``search.json``); the Optuna study itself is left out."""
        plain = {k: getattr(self, k) for k in ("protocol", "best_lr", "best_value", "fold_lrs")}
        cv = None if self.cv_result is None else self.cv_result.to_dict()
        return {**plain, "trials": self.trials, "cv": cv}


def _pruner(pruner) -> optuna.pruners.BasePruner:
    if pruner is None or pruner == "none":
        return optuna.pruners.NopPruner()
    if pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    raise ValueError(f"pruner={pruner!r}: use 'median', 'none' or an optuna pruner.")


def _trial_rows(study: optuna.Study) -> list[dict]:
    return [
        {
            "study": study.study_name,
            "number": t.number,
            "lr": t.params.get("lr"),
            "value": t.value,
            "state": t.state.name,
            "fold_accuracies": t.user_attrs.get("fold_accuracies", []),
        }
        for t in study.get_trials(deepcopy=False)
    ]


WAYS_OUT = (
    "Use a new --study name (study_name=...) or another --storage, a new --out / "
    "out_dir, or --overwrite / overwrite=True to delete the stored study and run first."
)


class _PerTrialTPE(optuna.samplers.BaseSampler):
    """TPE whose randomness for a trial depends only on the search's seed and the trials before it.

    Each trial gets a fresh ``TPESampler(seed=seed + k)``, where ``k`` counts the trials that
    finished before it (complete, pruned, or failed by diverging). A trial killed midway and
    retried therefore draws what it would have drawn, from the same history, so a resumed
    search proposes the learning rates of an uninterrupted one. Workers sharing a study use
    the trial number instead, so no two of them propose the same rate.
    """

    def __init__(self, seed: int, shared: bool = False):
        self.seed, self.shared = seed, shared
        self._tpe = optuna.samplers.TPESampler(seed=seed)

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if self.shared:
            k = trial.number
        else:
            k = sum(
                1
                for t in study.get_trials(deepcopy=False)
                if t.number < trial.number
                and (t.state in _FINISHED or t.user_attrs.get("diverged"))
            )
        self._tpe = optuna.samplers.TPESampler(seed=self.seed + k)

    def infer_relative_search_space(self, study, trial):
        return self._tpe.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._tpe.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._tpe.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values):
        self._tpe.after_trial(study, trial, state, values)


def _claim_study(study: optuna.Study, fingerprint: Fingerprint, storage) -> None:
    """Record the search's fingerprint in a new study, or check a stored study's."""
    stored = study.user_attrs.get("fingerprint")
    if stored is None and not study.get_trials(deepcopy=False):
        study.set_user_attr("fingerprint", fingerprint.to_dict())
        return
    where = f"Study '{study.study_name}'" + (
        f" in {getattr(storage, 'url', storage)}" if storage is not None else ""
    )
    check_same(
        None if stored is None else Fingerprint.from_dict(stored, where),
        fingerprint,
        where,
        WAYS_OUT,
    )


def _search(
    cv: CrossValidator,
    template,
    decoded: DecodedImages,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    study_name: str,
    storage,
    n_trials: int,
    lr_range: tuple[float, float],
    seed: int,
    pruner,
    fingerprint: Fingerprint,
    leader: Leader,
) -> optuna.Study:
    """Run (or join, or resume) one study until it has ``n_trials`` finished trials.

    A stored study is resumed (or joined) only when its fingerprint equals ``fingerprint``.
    Each fold trains on every ``torchrun`` rank (``leader``).
    """
    # One process (memory or SQLite) is reproducible; workers sharing a Journal file or a
    # database draw per trial number, or they would all propose the same LRs.
    shared = storage is not None and not is_sqlite(storage)
    with quiet_optuna():  # "A new study created in memory with name: ..."
        study = optuna.create_study(
            study_name=study_name,
            storage=storage,
            direction="maximize",
            sampler=_PerTrialTPE(seed, shared=shared),
            pruner=_pruner(pruner),
            load_if_exists=True,
        )
    _claim_study(study, fingerprint, storage)
    epochs = cv.settings.epochs
    worker = f"{socket.gethostname()}:{os.getpid()}"

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", lr_range[0], lr_range[1], log=True)
        trial.set_user_attr(WORKER, worker)
        accuracies = []
        with keep_alive(trial, storage):  # a Journal file's lease; databases beat themselves
            for k, (train_idx, val_idx) in enumerate(folds):

                def report(epoch: int, accuracy: float, k: int = k) -> None:
                    trial.report(accuracy, k * epochs + epoch)
                    if trial.should_prune():
                        trial.set_user_attr("fold_accuracies", accuracies)
                        raise optuna.TrialPruned(f"fold {k + 1}, epoch {epoch + 1}: {accuracy:.3f}")

                try:
                    _, fold = leader.fit_fold(
                        template, decoded, train_idx, val_idx, lr, k + 1, report
                    )
                except FloatingPointError as err:
                    trial.set_user_attr("diverged", str(err))  # finished, as failed: not retried
                    raise
                accuracies.append(fold.metrics["accuracy"])
        trial.set_user_attr("fold_accuracies", accuracies)
        return float(np.mean(accuracies))

    if is_sqlite(storage):
        # SQLite serves one process at a time (single_writer holds the file): a trial left
        # running was interrupted. It is
        # failed at once, and _PerTrialTPE draws its lr again for the next trial. Not by
        # Optuna's heartbeat and RetryHeartbeatStaleTrialCallback: tried, they fail it only
        # after the grace period and queue its lr once more, so that lr ran twice and the
        # search no longer equals an uninterrupted one
        # (tests/test_resume.py::test_killed_tune_keeps_its_finished_trials).
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            logger.info("%s trial %d was interrupted; it will be run again", study_name, t.number)

    def objective_or_surplus(trial: optuna.Trial) -> float:
        # Workers sharing a study may ask for the last trial at the same moment; the later
        # one gives its trial back unrun, so the study ends with exactly n_trials.
        ahead = [
            t
            for t in study.get_trials(deepcopy=False, states=(*_FINISHED, TrialState.RUNNING))
            if t.number < trial.number
        ]
        if len(ahead) >= n_trials:
            trial.set_user_attr("fail_reason", f"surplus: the study already had {n_trials}")
            raise SurplusTrial(f"trial {trial.number}: the study already has {n_trials}")
        return objective(trial)

    failures: list[int] = []  # this worker's diverged trials

    def log(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state in _FINISHED:
            logger.info(
                "%s trial %d %s: lr=%.3g, mean accuracy %s",
                study_name,
                trial.number,
                trial.state.name.lower(),
                trial.params["lr"],
                "-" if trial.value is None else f"{trial.value:.4f}",
            )
        elif trial.state == TrialState.FAIL and trial.user_attrs.get("diverged"):
            failures.append(trial.number)
            logger.warning(
                "%s trial %d failed (lr=%.3g): %s; the search goes on",
                study_name,
                trial.number,
                trial.params.get("lr", float("nan")),
                trial.user_attrs["diverged"],
            )

    # A diverged trial is recorded as failed and the search goes on to n_trials finished ones.
    run_until_finished(study, storage, n_trials, objective_or_surplus, [log], failures)
    return study


def _pruner_name(pruner) -> str:
    if pruner is None or isinstance(pruner, str):
        return str(pruner or "none")
    return type(pruner).__name__


def study_names(
    model_name: str,
    finetune: bool,
    trainable: Sequence[str] | None,
    protocol: str,
    study_name: str | None,
    n_outer: int,
) -> list[str]:
    """The stored studies of a search: its name (default ``"{model}-{policy}-{protocol}"``),
    or one per outer fold (``"{name}-outer{k}"``) for the nested protocol."""
    policy = "custom" if trainable is not None else ("finetune" if finetune else "head")
    name = study_name or f"{model_name}-{policy}-{protocol}"
    return [name] if protocol == "study" else [f"{name}-outer{k}" for k in range(1, n_outer + 1)]


def start_over(
    out: str | Path | None, storage, names: Sequence[str], grace_period: int = DEFAULT_GRACE_PERIOD
) -> None:
    """``overwrite=True``: remove the old run directory, then the stored studies (a storage
    file inside ``out`` goes with it)."""
    if out is not None:
        remove_owned(Path(out), RUN)
    storage = make_storage(storage, grace_period=grace_period)
    if storage is None:
        return
    for name in names:
        try:
            optuna.delete_study(study_name=name, storage=storage)
            logger.warning("overwrite: deleted study '%s'", name)
        except KeyError:
            pass


def _check_out_dir(out: Path | None, fingerprint: Fingerprint) -> None:
    """Before any trial: a run in ``out`` must come from this very search (any lr)."""
    if out is None:
        return
    stored = RunWriter(out, fingerprint).stored_fingerprint()
    if stored is not False:
        check_same(
            None if stored is None else stored.replace(lr=None), fingerprint, f"'{out}'", WAYS_OUT
        )


def _best(study: optuna.Study) -> optuna.trial.FrozenTrial:
    # Not study.best_trial: it breaks ties by completion order (in memory, Journal) or not at all
    # (RDB); this takes the lowest trial number, the same on every storage and worker count.
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise RuntimeError(
            f"Study '{study.study_name}' has no complete trial (all pruned or "
            f"failed). Run more trials or use pruner='none'."
        )
    return max(complete, key=lambda t: (t.value, -t.number))


def optuna_lr_search(
    model_name: str,
    dataset: str | Path | Dataset | DecodedImages,
    finetune: bool = True,
    *,
    n_trials: int = 20,
    lr_range: tuple[float, float] = (1e-5, 1e-2),
    protocol: str = "study",
    storage: str | Path | optuna.storages.BaseStorage | None = None,
    study_name: str | None = None,
    pruner: str | optuna.pruners.BasePruner | None = "median",
    cv: CrossValidator | None = None,
    out_dir: str | Path | None = None,
    inner_splits: int | None = None,
    trainable: Sequence[str] | None = None,
    overwrite: bool = False,
    grace_period: int = DEFAULT_GRACE_PERIOD,
    search_only: bool = False,
    **changes: Any,
) -> LRSearchResult:
    """Choose the learning rate with Optuna, as the study did, or without its optimism.

    The training settings are those of ``cv`` (``cv.settings``), with ``changes`` applied to a
    copy: ``cv`` itself is never changed. Without ``cv``, a
    [`CrossValidator`][fakezoo.train.cv.CrossValidator] is built from ``changes``. Their seed
    also seeds the TPE sampler.

    Under ``torchrun`` every trial's folds train data-parallel on all the processes; rank 0 alone
    talks to Optuna and its storage and writes ``out_dir``, and every rank returns its result
    (see [`fakezoo.train.trial_ranks`][fakezoo.train.trial_ranks]).

    Args:
        model_name: one of [`list_models`][fakezoo.models.registry.list_models].
        dataset: a folder or CSV path, a Dataset, or decoded images.
        finetune: the study's "with fine-tune" policy, or head only.
        n_trials: trials in total (for the nested protocol: per outer fold). Workers sharing a
            storage and study name stop when the study has this many.
        lr_range: log-uniform search range.
        protocol: ``"study"`` (LR chosen on the reported folds, as the study did: optimistic)
            or ``"nested"`` (LR chosen inside each outer training part: unbiased).
        storage: ``None`` (memory), a SQLite or Journal file, or a database URL; see
            [`make_storage`][fakezoo.train.storage.make_storage].
        study_name: shared by workers; defaults to ``"{model}-{policy}-{protocol}"``.
        pruner: ``"median"`` (stop trials whose per-epoch validation accuracy falls below the
            median of earlier trials), ``"none"``, or an Optuna pruner.
        cv: the CrossValidator to train with (its decoded images and trunk output are reused
            when ``changes`` is empty).
        out_dir: write the best run's directory (study protocol: the CV at the best LR; nested:
            the outer folds), ``trials.csv``, ``search.json`` and, with the ``plots`` extra,
            ``lr_search.png`` (accuracy against LR, see
            [`lr_search_figure`][fakezoo.report.plots.lr_search_figure]) here.
        inner_splits: inner folds of the nested protocol (default: the settings' ``n_splits``).
        trainable: a custom freeze policy.
        overwrite: delete the stored study (and the run in ``out_dir``) first. Without it, a
            stored study or run made with another fingerprint (other data, folds, model,
            epochs, lr range, trials, protocol...) is refused before any trial, naming the
            fields that differ.
        grace_period: seconds without a heartbeat after which a shared study's running trial
            is declared dead (its worker crashed): it is marked failed and its learning rate is
            run again by the next worker that asks for a trial (see
            [`fakezoo.train.storage`][fakezoo.train.storage]).
        search_only: run (or join) the trials and wait until the study is complete, but skip
            the final cross-validation and ``out_dir``: ``cv_result`` is ``None``. What the
            workers of ``fakezoo tune --workers N`` do.
        **changes: fields of [`TrainSettings`][fakezoo.train.settings.TrainSettings]
            (``epochs``, ``seed``, ``mode``, ``image_size``...).

    Example:
        ```python
        import fakezoo
        found = fakezoo.optuna_lr_search(
            "mobilenet_v2", "demo", finetune=False, n_trials=4,
            epochs=2, pretrained=False, image_size=64, device="cpu",
        )
        found.best_lr, found.cv_result.mean["accuracy"]
        ```
    """
    if protocol not in {"study", "nested"}:
        raise ValueError(f"protocol='{protocol}': use 'study' or 'nested'.")
    if not 0 < lr_range[0] < lr_range[1]:
        raise ValueError(f"lr_range={lr_range}: need 0 < low < high.")
    if n_trials < 1:
        raise ValueError(f"n_trials={n_trials}: need at least one trial.")
    cv = CrossValidator(**changes) if cv is None else cv.replace(**changes) if changes else cv
    # The run directory and a SQLite study are this process's alone while it searches (under
    # torchrun: rank 0's, the one that talks to Optuna).
    hold = lambda: hold_folder(None if search_only else out_dir, RUN, data=dataset)  # noqa: E731
    with cv.world.main_holds(hold), cv.world.main_holds(lambda: single_writer(storage)):
        return _lr_search(
            model_name,
            dataset,
            finetune,
            n_trials=n_trials,
            lr_range=lr_range,
            protocol=protocol,
            storage=storage,
            study_name=study_name,
            pruner=pruner,
            cv=cv,
            out_dir=out_dir,
            inner_splits=inner_splits,
            trainable=trainable,
            overwrite=overwrite,
            grace_period=grace_period,
            search_only=search_only,
        )


def _lr_search(
    model_name: str,
    dataset: str | Path | Dataset | DecodedImages,
    finetune: bool,
    *,
    n_trials: int,
    lr_range: tuple[float, float],
    protocol: str,
    storage: str | Path | optuna.storages.BaseStorage | None,
    study_name: str | None,
    pruner: str | optuna.pruners.BasePruner | None,
    cv: CrossValidator,
    out_dir: str | Path | None,
    inner_splits: int | None,
    trainable: Sequence[str] | None,
    overwrite: bool,
    grace_period: int,
    search_only: bool,
) -> LRSearchResult:
    low, high = lr_range
    on_main = cv.world.on_main  # Optuna's storage and the files: rank 0's alone
    given = storage
    storage = on_main(lambda: make_storage(given, grace_period=grace_period))  # fails fast
    seed = cv.settings.seed
    policy = "custom" if trainable is not None else ("finetune" if finetune else "head")
    study_name = study_name or f"{model_name}-{policy}-{protocol}"
    template = cv.template(model_name, finetune, trainable)
    decoded = cv.decode(dataset, template.preprocessing.image_size)
    outer = cv.make_folds(decoded)
    inner_splits = inner_splits or cv.settings.n_splits
    out = Path(out_dir) if out_dir is not None else None
    if overwrite:
        names = study_names(model_name, finetune, trainable, protocol, study_name, len(outer))
        on_main(lambda: start_over(out, given, names, grace_period))
        storage = on_main(lambda: make_storage(given, grace_period=grace_period))  # file gone
    search = dict(
        lr_range=(low, high),
        n_trials=n_trials,
        protocol=protocol,
        sampler=f"tpe-per-trial(seed={seed})",
        pruner=_pruner_name(pruner),
        inner_splits=inner_splits if protocol == "nested" else None,
    )
    described = cv.describe(template, decoded, outer, None, search)
    fingerprint = described.fingerprint
    on_main(lambda: _check_out_dir(out, fingerprint))
    options = dict(
        storage=storage,
        n_trials=n_trials,
        lr_range=(low, high),
        seed=seed,
        pruner=pruner,
        fingerprint=fingerprint,
    )

    def final(lr: float) -> CVResult:  # the study protocol's CV at the best lr
        return cv.run(
            model_name, decoded, finetune, lr, out, trainable=trainable, folds=outer, search=search
        )

    if not cv.world.main:  # under torchrun: train rank 0's jobs, get its result
        return follow(cv, template, decoded, final)
    with leading(cv) as leader:
        options["leader"] = leader
        if search_only:
            found = _search_only(
                cv, template, decoded, outer, study_name, protocol, inner_splits, options
            )
        elif protocol == "study":
            found = _study_protocol(cv, template, decoded, outer, study_name, options, final)
        else:
            found = _nested(
                cv,
                model_name,
                finetune,
                trainable,
                template,
                decoded,
                outer,
                study_name,
                inner_splits,
                options,
                out,
                described,
            )
        if out is not None and not search_only:
            _write_search(out, found)
        leader.tell("done", replace(found, study=None))  # the Optuna study stays on rank 0
    return found


def _study_protocol(
    cv: CrossValidator, template, decoded, outer, study_name: str, options: dict, final
) -> LRSearchResult:
    """The study's protocol: the search on the reported folds, then their CV at the best lr."""
    study = _search(cv, template, decoded, outer, study_name=study_name, **options)
    best = _best(study)
    lr = float(best.params["lr"])
    logger.info(
        "%s: best lr %.3g (mean accuracy %.4f); cross-validating at it",
        study_name,
        lr,
        best.value,
    )
    return LRSearchResult(
        best_lr=lr,
        best_value=float(best.value),
        trials=_trial_rows(study),
        cv_result=options["leader"].run(final, lr),
        study=study,
        protocol="study",
    )


def _write_search(out: Path, found: LRSearchResult) -> None:
    """``trials.csv``, ``search.json`` and ``lr_search.png`` beside the run."""
    atomic_write_text(out / "trials.csv", found.trials_csv())
    write_json(out / "search.json", {k: v for k, v in found.to_dict().items() if k != "cv"})
    try:
        plots.plot_lr_search(found, out / "lr_search.png")
    except ImportError:
        plots.note_no_matplotlib()
    except ValueError as err:  # every trial pruned or failed
        logger.warning("No lr_search.png in %s: %s", out, err)


def _inner_folds(
    decoded: DecodedImages, train_idx: np.ndarray, inner_splits: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The nested protocol's inner folds of one outer training part, as global indices."""
    groups = decoded.dataset.groups
    inner = _make_folds(
        decoded.labels.numpy()[train_idx],
        inner_splits,
        seed,
        None if groups is None else np.asarray(groups)[train_idx],
    )
    return [(train_idx[a], train_idx[b]) for a, b in inner]


def _search_only(
    cv: CrossValidator,
    template,
    decoded: DecodedImages,
    outer,
    study_name: str,
    protocol: str,
    inner_splits: int,
    options: dict,
) -> LRSearchResult:
    """The trials alone (a worker of ``fakezoo tune --workers N``): no CV, nothing written."""
    if protocol == "study":
        study = _search(cv, template, decoded, outer, study_name=study_name, **options)
        best = _best(study)
        return LRSearchResult(
            best_lr=float(best.params["lr"]),
            best_value=float(best.value),
            trials=_trial_rows(study),
            cv_result=None,
            study=study,
            protocol="study",
        )
    studies, lrs, trials = [], [], []
    for k, (train_idx, _) in enumerate(outer, start=1):
        inner = _inner_folds(decoded, train_idx, inner_splits, options["seed"])
        study = _search(
            cv, template, decoded, inner, study_name=f"{study_name}-outer{k}", **options
        )
        studies.append(study)
        lrs.append(float(_best(study).params["lr"]))
        trials += [dict(row, outer_fold=k) for row in _trial_rows(study)]
    return LRSearchResult(
        best_lr=None,
        best_value=float("nan"),
        trials=trials,
        cv_result=None,
        study=studies,
        protocol="nested",
        fold_lrs=lrs,
    )


def _nested(
    cv: CrossValidator,
    model_name: str,
    finetune: bool,
    trainable,
    template,
    decoded: DecodedImages,
    outer,
    study_name: str,
    inner_splits: int,
    options: dict,
    out: Path | None,
    described: RunDescription,
) -> LRSearchResult:
    fingerprint: Fingerprint = options["fingerprint"]
    # No lr for the run: each outer fold has its own (its config.json, lr_per_fold)
    settings = {**described.settings, "protocol": "nested", "lr": None}
    described = replace(described, settings=settings)
    writer = None
    if out is not None:  # claimed before any work; each outer fold is written when done
        writer = cv.claim_run_dir(out, described, template, len(outer), ways_out=WAYS_OUT)
    studies, lrs, trials, folds = [], [], [], []
    for k, (train_idx, val_idx) in enumerate(outer, start=1):
        inner = _inner_folds(decoded, train_idx, inner_splits, options["seed"])
        done = writer.finished_fold(k, fingerprint.folds[k - 1]) if writer else None
        study = None  # a finished fold's study is only read back when it was stored
        if done is None or options["storage"] is not None:
            study = _search(
                cv, template, decoded, inner, study_name=f"{study_name}-outer{k}", **options
            )
        if done is not None:
            fold = FoldResult(**done)
            lr = float(fold.lr)
        else:
            lr = float(_best(study).params["lr"])
            model, fold = options["leader"].fit_fold(
                template, decoded, train_idx, val_idx, lr, fold=k
            )
            fold.lr = lr
            if writer is not None:
                cv.save_fold(writer, model, described, fold)
        logger.info(
            "outer fold %d: lr %.3g chosen on its training part; accuracy %.4f",
            k,
            lr,
            fold.metrics["accuracy"],
        )
        lrs.append(lr)
        if study is not None:
            studies.append(study)
            trials += [dict(row, outer_fold=k) for row in _trial_rows(study)]
        folds.append(fold)
    settings.update(lr_per_fold=lrs)
    result = CVResult(
        model=model_name,
        finetune=template.finetune,
        trainable=list(template.trainable),
        lr=None,
        settings=settings,
        folds=folds,
        deviations=cv.deviations(template, settings),
        timings={"trunk_images": cv.trunk_images},
        fingerprint=fingerprint.to_dict(),
        train_files_sha256=cv.trained_on(decoded, outer),
    )
    if writer is not None:
        cv.finish_run_dir(writer, result, template, described)
    return LRSearchResult(
        best_lr=None,
        best_value=float(result.mean["accuracy"]),
        trials=trials,
        cv_result=result,
        study=studies,
        protocol="nested",
        fold_lrs=lrs,
    )
