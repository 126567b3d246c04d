"""Issue 14: a result never comes from other data or settings; runs load as what they are.

Each scenario of the issue, through the public API and the CLI: refused with the differing
fields named, or handled as described, and never the old numbers.
"""

import json
import logging
import shutil

import numpy as np
import pytest
import torch

import fakezoo
from fakezoo.cli import EXIT_ERROR, EXIT_OK, main
from fakezoo.errors import FolderError, RunDirectoryError, RunFormatError, RunMismatchError

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread (conftest)

SETTINGS = dict(
    n_splits=3,
    epochs=1,
    batch_size=8,
    pretrained=False,
    image_size=32,
    device="cpu",
    progress=False,
)
LR = 2e-3


def _cv(**changes):
    return fakezoo.CrossValidator(**{**SETTINGS, **changes})


def _snapshot(root):
    """Every file's time of change, but the lock's: each command holding the run says in it
    who holds it."""
    return {
        p.relative_to(root).as_posix(): p.stat().st_mtime_ns
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".fakezoo.lock"
    }


@pytest.fixture(scope="module")
def run_a(demo_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("trust") / "run"
    _cv().run("mobilenet_v2", demo_dir, finetune=False, lr=LR, out_dir=out)
    return out


@pytest.fixture
def copy_a(run_a, tmp_path):
    dest = tmp_path / "copy"
    shutil.copytree(run_a, dest)
    return dest


def _edit(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


# -- the fingerprint is everywhere ------------------------------------------------------------


def test_every_file_carries_the_fingerprint(run_a):
    index = json.loads((run_a / "config.json").read_text())
    fp = index["fingerprint"]
    assert fp["n_images"] == 24 and len(fp["folds"]) == 3 and fp["lr"] == LR
    assert {fp["cache_dtype"], fp["amp"], fp["device_type"]} == {"float16", "off", "cpu"}
    assert fp["cache_trunk"] is True and fp["weights"] == "random"
    assert fp["trunk_backend"] == "onnxruntime"  # mobilenet_v2's trunk on a CPU (onnx extra)
    assert json.loads((run_a / "results.json").read_text())["fingerprint"] == fp
    for k in (1, 2, 3):
        cfg = json.loads((run_a / f"fold_{k}" / "config.json").read_text())["fakezoo"]
        assert cfg["fingerprint"] == fp
        assert cfg["val_files_sha256"] == fp["folds"][k - 1]
        preds = json.loads((run_a / f"fold_{k}" / "predictions.json").read_text())
        assert len(preds["val_files"]) == len(preds["y_prob"]) == cfg["n_val"]
    settings = index["settings"]
    assert {"cache_dtype", "cache_trunk", "trunk_backend", "amp", "device"} <= set(settings)


# -- resume only on an exact match --------------------------------------------------------------


@pytest.mark.parametrize(
    "cv_changes, run_changes, named",
    [
        ({}, {"lr": 1e-3}, "lr: 0.002 → 0.001"),
        ({"epochs": 2}, {}, "epochs: 1 → 2"),
        ({"cache_dtype": torch.float32}, {}, "cache_dtype: float16 → float32"),
        ({"cache_trunk": False}, {}, "cache_trunk: true → false"),
        ({"seed": 1}, {}, "seed: 0 → 1"),
        ({"trunk_backend": "torch"}, {}, "trunk_backend: onnxruntime → torch"),
        (
            {"mode": "study"},
            {},
            "mode: fast → study",
        ),  # study mode shapes the numbers: never reused
        ({"drop_rate": 0.0}, {}, "drop_rate: 0.2 → 0.0"),
    ],
)
def test_other_settings_are_refused_before_any_work(
    run_a, demo_dir, cv_changes, run_changes, named
):
    before = _snapshot(run_a)
    cv = _cv(**cv_changes)
    with pytest.raises(RunMismatchError) as info:
        cv.run("mobilenet_v2", demo_dir, finetune=False, out_dir=run_a, **{"lr": LR, **run_changes})
    assert named in str(info.value) and "overwrite" in str(info.value)
    assert isinstance(info.value, RunDirectoryError)
    assert cv.trunk_images == 0 and _snapshot(run_a) == before


def test_other_folds_are_refused(run_a, demo_dir):
    labels = fakezoo.load_dataset(demo_dir).labels
    other = fakezoo.make_folds(labels, 3, seed=7)
    with pytest.raises(RunMismatchError, match="folds: 3 folds"):
        _cv().run("mobilenet_v2", demo_dir, finetune=False, lr=LR, out_dir=run_a, folds=other)


def test_other_data_with_the_same_file_names_is_refused(run_a, demo_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo_dir, data)
    first = sorted((data / "real").iterdir())[0]
    shutil.copy(sorted((data / "real").iterdir())[1], first)  # new bytes, same name
    with pytest.raises(RunMismatchError, match="data_sha256"):
        _cv().run("mobilenet_v2", data, finetune=False, lr=LR, out_dir=run_a)


def test_overwrite_removes_the_old_run_first(copy_a, demo_dir):
    old = json.loads((copy_a / "results.json").read_text())
    result = _cv().run(
        "mobilenet_v2", demo_dir, finetune=False, lr=1e-2, out_dir=copy_a, overwrite=True
    )
    new = json.loads((copy_a / "results.json").read_text())
    assert new["fingerprint"]["lr"] == 1e-2 and result.lr == 1e-2
    assert new["folds"][0]["y_prob"] != old["folds"][0]["y_prob"]


def test_overwrite_never_deletes_foreign_files(tmp_path, demo_dir):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(FolderError, match=r"thesis\.tex"):
        _cv().run("mobilenet_v2", demo_dir, finetune=False, lr=LR, out_dir=out, overwrite=True)
    assert (out / "thesis.tex").read_text() == "precious"


def test_cli_names_the_differences_and_the_ways_out(run_a, demo_dir, capsys, tmp_path):
    out = tmp_path / "cli"
    shutil.copytree(run_a, out)
    argv = [
        "-q",
        "cv",
        str(demo_dir),
        "--model",
        "mobilenet_v2",
        "--no-finetune",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--no-pretrained",
        "--image-size",
        "32",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    assert main([*argv, "--lr", "0.001"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "lr: 0.002 → 0.001" in err and "--overwrite" in err and "--out" in err
    assert main([*argv, "--lr", "0.001", "--overwrite"]) == EXIT_OK
    capsys.readouterr()
    assert json.loads((out / "config.json").read_text())["lr"] == 0.001


# -- folds as given -----------------------------------------------------------------------------


def test_folds_as_given_whatever_n_splits_says(demo_dir, tmp_path):
    labels = fakezoo.load_dataset(demo_dir).labels
    folds = fakezoo.make_folds(labels, 4, seed=0)
    out = tmp_path / "four"
    result = _cv(n_splits=3).run(
        "mobilenet_v2", demo_dir, finetune=False, lr=LR, out_dir=out, folds=folds
    )
    index = json.loads((out / "config.json").read_text())
    assert len(result.folds) == 4 and index["n_splits"] == 4
    assert index["folds"] == ["fold_1", "fold_2", "fold_3", "fold_4"]
    detector = fakezoo.load(out, device="cpu")
    assert detector.n_folds == 4
    assert result.to_dict()["n_splits"] == 4


# -- what a loaded run is ----------------------------------------------------------------------


def test_swapped_labels_are_refused(copy_a):
    for name in ("config.json", "fold_1/config.json"):
        _edit(copy_a / name, lambda c: (c.get("fakezoo", c)).update(labels=["fake", "real"]))
    with pytest.raises(RunFormatError, match="labels must be exactly"):
        fakezoo.load(copy_a, device="cpu")


def test_unfinished_run_names_the_missing_folds(copy_a, caplog):
    (copy_a / "fold_3" / "config.json").unlink()
    _edit(copy_a / "config.json", lambda c: c.update(complete=False))
    with pytest.raises(RunFormatError, match=r"fold_3.*allow_partial=True"):
        fakezoo.load(copy_a, device="cpu")
    with caplog.at_level(logging.WARNING, logger="fakezoo"):
        detector = fakezoo.load(copy_a, device="cpu", allow_partial=True)
    assert detector.n_folds == 2
    assert sum("unfinished" in r.message for r in caplog.records) == 1


def test_predict_cache_follows_the_content_of_the_folds(copy_a, demo_dir):
    from fakezoo.inference.api import clear_cache

    image = sorted((demo_dir / "fake").iterdir())[0]
    config = copy_a / "fold_3" / "config.json"
    aside = copy_a / "fold3-config.json"
    shutil.move(config, aside)
    clear_cache()
    first = fakezoo.predict(image, model=copy_a, device="cpu", allow_partial=True)
    assert len(first.fold_probs) == 2
    shutil.move(aside, config)  # fold 3 finishes later: the long-lived process sees it
    second = fakezoo.predict(image, model=copy_a, device="cpu")
    assert len(second.fold_probs) == 3 and second.fold_probs[:2] == first.fold_probs
    # New weights for fold 1 (same file names, same index mtime) are seen, and refused: they
    # are not the ones fold 1's config records.
    shutil.copy(copy_a / "fold_2" / "model.safetensors", copy_a / "fold_1" / "model.safetensors")
    with pytest.raises(RunFormatError, match=r"fold_1/model\.safetensors.*SHA-256"):
        fakezoo.predict(image, model=copy_a, device="cpu")
    clear_cache()


def test_loaded_run_reproduces_the_stored_out_of_fold_predictions(run_a, demo_dir):
    detector = fakezoo.load(run_a, device="cpu")
    for k in (1, 2, 3):
        preds = json.loads((run_a / f"fold_{k}" / "predictions.json").read_text())
        rows = fakezoo.predict([demo_dir / f for f in preds["val_files"]], model=detector)
        np.testing.assert_allclose([r.fold_probs[k - 1] for r in rows], preds["y_prob"], atol=2e-3)
