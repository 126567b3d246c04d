"""Issue 27, items 1-6: the folders fakezoo writes are its own, and nothing in them is reused
or removed unless fakezoo wrote it.

* ``--overwrite`` removes only the files fakezoo's manifest names, in a folder its marker says
  fakezoo made; anything else is refused, naming one such file (item 1);
* a resumed run removes its own stale temporary files, and nothing else (item 6).
"""

from __future__ import annotations

import json
import shutil

import pytest

import fakezoo
from fakezoo.errors import FakezooError

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
    "--no-pretrained",
    "--lr",
    "1e-3",
    "--epochs",
    "1",
    "--batch-size",
    "8",
    "--image-size",
    "64",
    "--folds",
    "3",
    "--device",
    "cpu",
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
