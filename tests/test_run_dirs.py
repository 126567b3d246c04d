"""Issue 27, items 1-6: the folders fakezoo writes are its own, and nothing in them is reused
or removed unless fakezoo wrote it.

* ``--overwrite`` removes only the files fakezoo's manifest names, in a folder its marker says
  fakezoo made; anything else is refused, naming one such file (item 1);
* an output folder of another kind, inside another fakezoo folder or inside the data is
  refused (item 2);
* a fold trained at another learning rate is never reused (item 3);
* a second live writer of a run directory or a SQLite study is refused (item 4);
* an edited predictions file or swapped weights are refused on resume and on load (item 5);
* a resumed run removes its own stale temporary files, and nothing else (item 6).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import tiny_flags

import fakezoo
from fakezoo.errors import (
    FacesError,
    FakezooError,
    FolderError,
    RunFormatError,
    RunMismatchError,
)

TINY = dict(  # the settings of the session's tiny_run (tests/conftest.py)
    n_splits=3,
    epochs=1,
    batch_size=8,
    pretrained=False,
    image_size=64,
    device="cpu",
    progress=False,
    num_workers=1,
)
TINY_ARGS = [
    "--model",
    "mobilenet_v2",
    "--no-finetune",
    "--lr",
    "1e-3",
    "--folds",
    "3",
    *tiny_flags(image_size=64),
]


def _tiny_cv() -> fakezoo.CrossValidator:
    return fakezoo.CrossValidator(**TINY)


def _files(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    """A copy of the session's tiny run, to change."""
    return shutil.copytree(tiny_run, tmp_path / "run")


def _users_folder(root):
    """The issue's folder: a key, a picture and a folder of photos that fakezoo never wrote."""
    (root / ".ssh").mkdir(parents=True)
    (root / ".ssh" / "id_rsa").write_text("k\n")
    (root / "a.png").write_bytes(b"")
    (root / "fold_photos").mkdir()
    (root / "fold_photos" / "me.jpg").write_bytes(b"")
    return _files(root)


# -- item 1: --overwrite deletes only what fakezoo wrote --------------------------------------


def test_the_issues_overwrite_deletes_nothing_of_a_users_folder(cli, demo_dir, tmp_path):
    out = tmp_path / "u"
    before = _users_folder(out)
    code, _, err = cli("-q", "cv", demo_dir, *TINY_ARGS, "--out", out, "--overwrite")
    assert code == 1, err
    assert _files(out) == before  # the key, the picture and the photo are all there
    line = err.strip()
    assert "\n" not in line and str(out) in line
    assert any(name in line for name in (".ssh/id_rsa", "a.png", "fold_photos/me.jpg")), line


def test_overwrite_refuses_a_run_holding_a_file_fakezoo_did_not_write(cli, demo_dir, run_copy):
    (run_copy / "fold_2" / "notes.txt").write_text("mine")
    before = _files(run_copy)
    code, _, err = cli("-q", "cv", demo_dir, *TINY_ARGS, "--out", run_copy, "--overwrite")
    assert code == 1 and "fold_2/notes.txt" in err and "\n" not in err.strip(), err
    assert _files(run_copy) == before


def test_overwrite_removes_the_files_of_the_manifest(demo_dir, run_copy, caplog):
    (run_copy / "fold_1" / ".model.safetensors.k3j2h1g0.tmp").write_bytes(b"stale")
    result = _tiny_cv().run(
        "mobilenet_v2", demo_dir, finetune=False, lr=3e-3, out_dir=run_copy, overwrite=True
    )
    assert result.lr == 3e-3
    assert not (run_copy / "fold_1" / ".model.safetensors.k3j2h1g0.tmp").exists()
    index = json.loads((run_copy / "config.json").read_text())
    assert index["lr"] == 3e-3 and index["complete"] is True
    for k in (1, 2, 3):
        cfg = json.loads((run_copy / f"fold_{k}" / "config.json").read_text())
        assert cfg["fakezoo"]["lr"] == 3e-3


def test_a_folder_fakezoo_did_not_make_is_never_written_into(cli, demo_dir, tmp_path):
    """A file named like one of a run's (a report.md of one's own) is not a run's: only a
    folder that fakezoo marked as its own is resumed or overwritten."""
    out = tmp_path / "notes"
    out.mkdir()
    (out / "report.md").write_text("my notes")
    for extra in ([], ["--overwrite"]):
        code, _, err = cli("-q", "cv", demo_dir, *TINY_ARGS, "--out", out, *extra)
        assert code == 1 and "report.md" in err, err
    assert _files(out) == {"report.md": b"my notes"}


def test_a_runs_copy_without_its_marker_is_not_overwritten(cli, demo_dir, run_copy):
    for p in run_copy.glob(".fakezoo*"):  # a copy of what a run holds, without the marker
        p.unlink()
    before = _files(run_copy)
    code, _, err = cli("-q", "cv", demo_dir, *TINY_ARGS, "--out", run_copy, "--overwrite")
    assert code == 1 and "config.json" in err, err
    assert _files(run_copy) == before


def test_a_benchmark_study_overwrite_keeps_foreign_files(demo_dir, tmp_path):
    from fakezoo.study import run_study

    out = tmp_path / "study"
    (out / ".ssh").mkdir(parents=True)  # a hidden folder is no more fakezoo's than any other
    (out / ".ssh" / "id_rsa").write_text("k\n")
    before = _files(out)
    with pytest.raises(FakezooError, match=r"\.ssh/id_rsa"):
        run_study(
            demo_dir,
            out,
            models=["mobilenet_v2"],
            n_trials=1,
            epochs=1,
            image_size=32,
            pretrained=False,
            device="cpu",
            overwrite=True,
        )
    assert _files(out) == before


def test_a_tune_overwrite_keeps_foreign_files(demo_dir, tmp_path):
    out = tmp_path / "tuned"
    before = _users_folder(out)
    with pytest.raises(FakezooError, match=r"\.ssh/id_rsa|a\.png|fold_photos/me\.jpg"):
        fakezoo.optuna_lr_search(
            "mobilenet_v2", demo_dir, False, n_trials=1, cv=_tiny_cv(), out_dir=out, overwrite=True
        )
    assert _files(out) == before


def test_an_evaluation_never_writes_over_a_users_file(cli, tiny_run, demo_dir, tmp_path):
    out = tmp_path / "eval"
    out.mkdir()
    (out / "evaluate.md").write_text("my own evaluation")
    code, _, err = cli("-q", "evaluate", tiny_run, demo_dir, "--out", out, "--bootstrap", "0")
    assert code == 1 and "evaluate.md" in err, err
    assert _files(out) == {"evaluate.md": b"my own evaluation"}


# -- item 6: a resumed run removes its own stale temporary files ------------------------------


def test_a_resumed_run_removes_its_stale_temporary_files(demo_dir, run_copy):
    (run_copy / "fold_3" / "config.json").unlink()  # fold 3 was killed while being written
    stale = [
        run_copy / "fold_3" / ".model.safetensors.a1b2c3d4.tmp",
        run_copy / "fold_3" / ".predictions.json.zz_9y8x7.tmp",
        run_copy / ".results.json.q1w2e3r4.tmp",
    ]
    for path in stale:
        path.write_bytes(b"half a file")
    mine = [run_copy / "fold_3" / ".notes.tmp", run_copy / ".thesis.tex.a1b2c3d4.tmp"]
    for path in mine:
        path.write_text("mine")
    _tiny_cv().run("mobilenet_v2", demo_dir, finetune=False, lr=1e-3, out_dir=run_copy)
    assert [p.name for p in stale if p.exists()] == []
    assert all(p.read_text() == "mine" for p in mine)  # not named like fakezoo's temp files
    assert (run_copy / "fold_3" / "config.json").is_file()


# -- item 3: a fold trained at another learning rate is never reused --------------------------


@pytest.fixture(scope="module")
def fold_at_3e3(demo_dir, tmp_path_factory):
    """Fold 1 of the tiny run's folds, trained at 3e-3 (one job of a job array)."""
    out = tmp_path_factory.mktemp("lr3e-3") / "run"
    _tiny_cv().run("mobilenet_v2", demo_dir, finetune=False, lr=3e-3, out_dir=out, fold=1)
    return out / "fold_1"


def test_a_fold_trained_at_another_lr_is_never_reused(demo_dir, run_copy, fold_at_3e3):
    shutil.rmtree(run_copy / "fold_1")
    shutil.copytree(fold_at_3e3, run_copy / "fold_1")  # the index still says 1e-3
    with pytest.raises(RunMismatchError, match=r"lr: 0\.003 → 0\.001") as info:
        _tiny_cv().run("mobilenet_v2", demo_dir, finetune=False, lr=1e-3, out_dir=run_copy)
    assert "fold_1" in str(info.value)
    with pytest.raises(RunFormatError, match=r"fold_1.*lr"):  # nor loaded as part of the run
        fakezoo.load(run_copy, device="cpu")


def test_a_nested_search_resumes_with_each_folds_own_lr(demo_dir, tmp_path, monkeypatch):
    """The nested protocol trains each outer fold at its own lr, chosen on that fold's
    training part: the run and its folds record lr=None, each fold its lr. A rerun reuses
    every fold, and the run loads."""
    out = tmp_path / "nested"
    search = dict(
        n_trials=2,
        protocol="nested",
        inner_splits=2,
        pruner="none",
        storage=tmp_path / "nested.db",
        out_dir=out,
    )
    settings = {**TINY, "image_size": 32}
    first = fakezoo.optuna_lr_search(
        "mobilenet_v2", demo_dir, False, cv=fakezoo.CrossValidator(**settings), **search
    )
    monkeypatch.setattr(fakezoo.CrossValidator, "fit_fold", lambda *a, **k: pytest.fail("again"))
    again = fakezoo.optuna_lr_search(
        "mobilenet_v2", demo_dir, False, cv=fakezoo.CrossValidator(**settings), **search
    )
    assert again.fold_lrs == first.fold_lrs
    configs = [json.loads((out / f"fold_{k}" / "config.json").read_text()) for k in (1, 2, 3)]
    assert [c["fakezoo"]["lr"] for c in configs] == first.fold_lrs
    assert all(c["fakezoo"]["fingerprint"]["lr"] is None for c in configs)
    assert fakezoo.load(out, device="cpu").n_folds == 3


# -- item 5: edited files are never reused -----------------------------------------------------


def test_an_edited_predictions_file_is_refused_on_resume(demo_dir, run_copy):
    path = run_copy / "fold_1" / "predictions.json"
    predictions = json.loads(path.read_text())
    predictions["metrics"]["accuracy"] = 1.0
    path.write_text(json.dumps(predictions, indent=2) + "\n")
    with pytest.raises(RunFormatError) as info:
        _tiny_cv().run("mobilenet_v2", demo_dir, finetune=False, lr=1e-3, out_dir=run_copy)
    message = str(info.value)
    assert "fold_1/predictions.json" in message and "SHA-256" in message
    assert "--overwrite" in message and "\n" not in message


def test_swapped_fold_weights_are_refused_on_load_and_on_resume(cli, demo_dir, run_copy):
    first, second = (run_copy / f"fold_{k}" / "model.safetensors" for k in (1, 2))
    one, two = first.read_bytes(), second.read_bytes()
    first.write_bytes(two)
    second.write_bytes(one)
    with pytest.raises(RunFormatError, match=r"fold_1/model\.safetensors.*SHA-256"):
        fakezoo.load(run_copy, device="cpu")
    code, _, err = cli("-q", "predict", next((demo_dir / "real").iterdir()), "--model", run_copy)
    assert code == 1 and "fold_1/model.safetensors" in err and "\n" not in err.strip(), err
    with pytest.raises(RunFormatError, match=r"fold_1/model\.safetensors"):
        _tiny_cv().run("mobilenet_v2", demo_dir, finetune=False, lr=1e-3, out_dir=run_copy)


def test_every_fold_records_the_digests_of_its_files(tiny_run):
    from fakezoo._io import file_sha256

    for k in (1, 2, 3):
        folder = tiny_run / f"fold_{k}"
        recorded = json.loads((folder / "config.json").read_text())["fakezoo"]
        assert recorded["weights_sha256"] == file_sha256(folder / "model.safetensors")
        assert recorded["predictions_sha256"] == file_sha256(folder / "predictions.json")


# -- item 2: folders of different kinds are never mixed, nor written into the data -----------


def test_a_run_never_goes_into_a_benchmark_study(cli, demo_dir, tiny_study):
    before = _files(tiny_study)
    code, _, err = cli("-q", "cv", demo_dir, *TINY_ARGS, "--out", tiny_study)
    assert code == 1 and "is a fakezoo benchmark study, not a run directory" in err, err
    assert _files(tiny_study) == before


def test_a_study_never_goes_into_a_run(demo_dir, run_copy):
    from fakezoo.study import run_study

    before = _files(run_copy)
    with pytest.raises(FolderError, match="is a fakezoo run directory, not a benchmark study"):
        run_study(
            demo_dir,
            run_copy,
            models=["mobilenet_v2"],
            n_trials=1,
            epochs=1,
            image_size=32,
            pretrained=False,
            device="cpu",
        )
    assert _files(run_copy) == before


def test_an_evaluation_never_goes_into_a_run(cli, tiny_run, demo_dir, run_copy):
    before = _files(run_copy)
    code, _, err = cli("-q", "evaluate", tiny_run, demo_dir, "--out", run_copy, "--bootstrap", "0")
    assert code == 1 and "is a fakezoo run directory, not an evaluation folder" in err, err
    assert _files(run_copy) == before


def test_nothing_is_written_inside_another_fakezoo_folder(cli, demo_dir, run_copy):
    inside = run_copy / "fold_1" / "again"
    code, _, err = cli("-q", "cv", demo_dir, *TINY_ARGS, "--out", inside)
    assert code == 1 and "lies inside the fakezoo run directory" in err, err
    assert not inside.exists()


def test_nothing_is_written_inside_the_data(cli, demo_dir, tmp_path):
    data = shutil.copytree(demo_dir, tmp_path / "data")
    before = _files(data)
    search = ["--model", "mobilenet_v2", "--no-finetune", "--no-pretrained", "--trials", "1"]
    small = ["--epochs", "1", "--image-size", "32", "--device", "cpu"]
    benchmark = ["--models", "mobilenet_v2", "--trials", "1", "--no-pretrained", *small]
    commands = [
        ("cv", data, *TINY_ARGS, "--out", data / "real" / "run"),
        ("cv", data, *TINY_ARGS, "--out", data),
        ("tune", data, *search, *small, "--out", data / "fake" / "tuned"),
        ("benchmark", data, *benchmark, "--out", data / "study"),
    ]
    for argv in commands:
        code, _, err = cli("-q", *argv)
        assert code == 1 and "lies inside the data" in err and "\n" not in err.strip(), err
    assert _files(data) == before
    assert sorted(p.name for p in data.iterdir()) == sorted(p.name for p in demo_dir.iterdir())


def test_crop_never_writes_into_its_source_or_a_foreign_folder(demo_dir, tmp_path):
    from fakezoo.faces import crop_dataset

    source = shutil.copytree(demo_dir, tmp_path / "photos")
    with pytest.raises(FacesError, match="lies inside the source"):
        crop_dataset(source, source / "faces")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(FacesError, match=r"notes\.txt"):
        crop_dataset(source, mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert not (source / "faces").exists()


# -- item 4: one live writer per run directory and per SQLite study ---------------------------
# Two real processes: the first is frozen (SIGSTOP) mid-run, so that it is certainly alive
# and writing when the second one starts.


def _fakezoo(*argv) -> subprocess.Popen:
    env = {**os.environ, "TQDM_DISABLE": "1"}
    command = [sys.executable, "-m", "fakezoo.cli", "-q", *map(str, argv)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _freeze_when(proc: subprocess.Popen, ready, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the first process ended early: {proc.stderr.read().decode()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("timed out waiting for the first process")
        time.sleep(0.01)
    proc.send_signal(signal.SIGSTOP)


def _trial_states(db) -> list[str]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as connection:
            return [s for (s,) in connection.execute("SELECT state FROM trials ORDER BY number")]
    except sqlite3.Error:
        return []


@pytest.mark.slow
def test_a_second_cv_into_a_live_run_directory_is_refused(cli, demo_dir, tmp_path):
    out = tmp_path / "run"
    first = _fakezoo("cv", demo_dir, *TINY_ARGS, "--out", out)  # lr 1e-3
    _freeze_when(first, lambda: (out / "config.json").is_file())
    try:
        other = [a if a != "1e-3" else "3e-3" for a in TINY_ARGS]
        code, _, err = cli("-q", "cv", demo_dir, *other, "--out", out)
    finally:
        first.send_signal(signal.SIGCONT)
    line = err.strip()
    assert code == 1 and "\n" not in line, err
    assert f"'{out}' is in use by fakezoo process {first.pid}" in line and "--out" in line
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err.decode()
    index = json.loads((out / "config.json").read_text())
    assert index["complete"] is True and index["lr"] == 1e-3


@pytest.mark.slow
def test_a_second_tune_on_a_live_sqlite_study_is_refused(cli, demo_dir, tmp_path):
    db = tmp_path / "search.db"
    tune = [
        "tune",
        demo_dir,
        "--model",
        "mobilenet_v2",
        "--no-finetune",
        "--no-pretrained",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--image-size",
        "32",
        "--device",
        "cpu",
        "--trials",
        "2",
        "--pruner",
        "none",
        "--storage",
        db,
    ]
    first = _fakezoo(*tune, "--out", tmp_path / "first")
    _freeze_when(first, lambda: "RUNNING" in _trial_states(db))
    try:
        code, _, err = cli("-q", *tune, "--out", tmp_path / "second")
    finally:
        first.send_signal(signal.SIGCONT)
    line = err.strip()
    assert code == 1 and "\n" not in line, err
    assert f"'{db}' is in use by fakezoo process {first.pid}" in line and "Journal" in line
    assert not (tmp_path / "second").exists()  # refused before anything was written
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err.decode()
    assert _trial_states(db) == ["COMPLETE", "COMPLETE"]  # none of its trials was failed
