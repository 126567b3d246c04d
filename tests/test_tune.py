import json
import sys

import numpy as np
import optuna
import pytest

import fakezoo.train.cv
from fakezoo.data import Dataset
from fakezoo.train.cv import CrossValidator
from fakezoo.train.storage import make_storage
from fakezoo.train.tune import optuna_lr_search

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread (conftest)

SETTINGS = dict(
    n_splits=3,
    epochs=2,
    batch_size=8,
    pretrained=False,
    image_size=32,
    device="cpu",
    progress=False,
)


def test_study_protocol_runs_the_trunk_once_for_the_whole_search(demo_dir, monkeypatch, tmp_path):
    calls = []
    original = fakezoo.train.cv.compute_trunk

    def counting(model, images, **kwargs):
        calls.append(len(images))
        return original(model, images, **kwargs)

    monkeypatch.setattr(fakezoo.train.cv, "compute_trunk", counting)
    digests = []
    digest = Dataset.digest
    monkeypatch.setattr(Dataset, "digest", lambda self: digests.append(1) or digest(self))
    cv = CrossValidator(**SETTINGS)
    found = optuna_lr_search(
        "mobilenet_v2",
        demo_dir,
        finetune=False,
        n_trials=4,
        lr_range=(1e-4, 1e-2),
        cv=cv,
        pruner="none",
        out_dir=tmp_path,
    )
    assert 1e-4 <= found.best_lr <= 1e-2
    assert calls == [24]  # 24 images, one trunk pass, for 4 trials x 3 folds + the final CV
    assert digests == [1]  # the data's digest: once, for the search's fingerprint and the CV's
    assert len(found.trials) == 4 and all(t["state"] == "COMPLETE" for t in found.trials)
    best = max(found.trials, key=lambda t: t["value"])
    assert found.best_lr == best["lr"] and found.best_value == best["value"]
    assert found.cv_result.lr == found.best_lr
    assert found.cv_result.mean["accuracy"] == pytest.approx(best["value"])
    assert (tmp_path / "trials.csv").read_text().count("\n") == 5
    assert (tmp_path / "fold_3" / "model.safetensors").exists()


def test_a_search_plots_accuracy_against_lr_into_its_folder(demo_dir, tmp_path, monkeypatch):
    from PIL import Image

    from fakezoo.report import lr_search_figure, plot_lr_search

    pytest.importorskip("matplotlib")
    cv = CrossValidator(**{**SETTINGS, "epochs": 1})
    run = tmp_path / "run"
    found = optuna_lr_search(
        "mobilenet_v2", demo_dir, finetune=False, n_trials=3, cv=cv, pruner="none", out_dir=run
    )
    with Image.open(run / "lr_search.png") as img:
        assert img.format == "PNG" and min(img.size) >= 300
    lrs = [t["lr"] for t in found.trials]
    stored = json.loads((run / "search.json").read_text())
    for search in (found, stored):  # the API draws it from the result or from search.json
        trials, best = lr_search_figure(search).axes[0].lines
        assert sorted(trials.get_xdata()) == sorted(lrs) and len(lrs) == 3
        assert list(best.get_xdata()) == [found.best_lr]
        assert list(best.get_ydata()) == [pytest.approx(100 * found.best_value)]
    assert plot_lr_search(found, tmp_path / "again.png").stat().st_size > 5000
    # without matplotlib the search still runs and writes its tables, only the plot is missing
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    bare = tmp_path / "bare"
    optuna_lr_search("mobilenet_v2", demo_dir, finetune=False, n_trials=1, cv=cv, out_dir=bare)
    assert (bare / "trials.csv").exists() and not (bare / "lr_search.png").exists()


def test_same_seed_same_search_and_the_given_cv_is_left_as_it_was(demo_dir):
    cvs = [CrossValidator(**SETTINGS) for _ in range(2)]
    runs = [
        optuna_lr_search("mobilenet_v2", demo_dir, finetune=False, n_trials=3, cv=cv, seed=5)
        for cv in cvs
    ]
    assert [t["lr"] for t in runs[0].trials] == [t["lr"] for t in runs[1].trials]
    assert runs[0].cv_result.mean == runs[1].cv_result.mean
    # seed=5 trained a copy: the caller's CrossValidator and its settings keep seed 0.
    assert runs[0].cv_result.settings["seed"] == runs[0].cv_result.fingerprint["seed"] == 5
    assert all(cv.settings == CrossValidator(**SETTINGS).settings for cv in cvs)
    assert all(cv.trunk_images == 0 for cv in cvs)  # nothing ran on them


def test_nested_protocol_never_trains_or_tunes_on_the_outer_fold(demo_dir, monkeypatch):
    seen = []
    original = CrossValidator.fit_fold

    def spy(self, template, decoded, train_idx, val_idx, lr, fold=1, on_epoch=None):
        seen.append((set(train_idx.tolist()), set(val_idx.tolist()), on_epoch is None))
        return original(self, template, decoded, train_idx, val_idx, lr, fold, on_epoch)

    monkeypatch.setattr(CrossValidator, "fit_fold", spy)
    cv = CrossValidator(**SETTINGS)
    found = optuna_lr_search(
        "mobilenet_v2",
        demo_dir,
        finetune=False,
        n_trials=2,
        cv=cv,
        protocol="nested",
        inner_splits=2,
        pruner="none",
    )
    outer = cv.make_folds(cv.decode(demo_dir, 32))
    scored = [s for s in seen if s[2]]  # the outer scoring runs report no epochs to Optuna
    inner = [s for s in seen if not s[2]]
    assert len(scored) == 3 and len(inner) == 3 * 2 * 2  # 3 outer x 2 trials x 2 inner folds
    for k, (train_idx, val_idx) in enumerate(outer):
        assert scored[k][1] == set(val_idx.tolist())
        for tr, va, _ in inner[k * 4 : (k + 1) * 4]:
            assert not (tr | va) & set(val_idx.tolist())
            assert (tr | va) == set(train_idx.tolist())
    assert len(found.fold_lrs) == 3
    assert found.best_value == pytest.approx(
        np.mean([f.metrics["accuracy"] for f in found.cv_result.folds])
    )


def test_a_search_prints_no_optuna_lines(demo_dir):
    """Optuna's INFO lines ("A new study created in memory...", "Trial 0 finished...") stay
    off a user's terminal at Optuna's default verbosity; fakezoo logs each trial itself."""
    import logging

    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)  # Optuna's default, whatever ran before
    logging.getLogger("optuna").addHandler(handler)
    try:
        optuna_lr_search(
            "mobilenet_v2", demo_dir, finetune=False, n_trials=1, cv=CrossValidator(**SETTINGS)
        )
    finally:
        logging.getLogger("optuna").removeHandler(handler)
        optuna.logging.set_verbosity(level)
    assert seen == []
    assert optuna.logging.get_verbosity() == level  # the caller's setting, given back


class PruneOdd(optuna.pruners.BasePruner):
    def prune(self, study, trial):
        return trial.number % 2 == 1


def test_pruned_trials_are_recorded_and_never_win(demo_dir):
    found = optuna_lr_search(
        "mobilenet_v2",
        demo_dir,
        finetune=False,
        n_trials=4,
        cv=CrossValidator(**SETTINGS),
        pruner=PruneOdd(),
    )
    states = {t["number"]: t["state"] for t in found.trials}
    assert states == {0: "COMPLETE", 1: "PRUNED", 2: "COMPLETE", 3: "PRUNED"}
    complete = [t for t in found.trials if t["state"] == "COMPLETE"]
    assert found.best_lr == max(complete, key=lambda t: t["value"])["lr"]


def test_bad_arguments(demo_dir):
    with pytest.raises(ValueError, match="protocol='best'"):
        optuna_lr_search("mobilenet_v2", demo_dir, protocol="best")
    with pytest.raises(ValueError, match="lr_range"):
        optuna_lr_search("mobilenet_v2", demo_dir, lr_range=(1e-2, 1e-4))
    with pytest.raises(ValueError, match=r"storage='study\.txt'"):
        make_storage("study.txt")
