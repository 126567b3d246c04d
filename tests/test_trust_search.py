"""Issue 14 for searches and studies: a stored study or study row is reused only for the very
same data and settings, else refused naming the differences (old → new)."""

import json
import shutil

import optuna
import pytest

import fakezoo
from fakezoo.cli import EXIT_ERROR, EXIT_OK, main
from fakezoo.errors import RunMismatchError
from fakezoo.study import run_study

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
TINY = dict(
    n_trials=1,
    epochs=1,
    image_size=32,
    pretrained=False,
    batch_size=8,
    device="cpu",
    progress=False,
)


@pytest.fixture(scope="module")
def small_dir(demo_dir, tmp_path_factory):
    """The demo data with 9 images per class instead of 12 (another dataset)."""
    root = tmp_path_factory.mktemp("small")
    for label in ("real", "fake"):
        (root / label).mkdir()
        for path in sorted((demo_dir / label).iterdir())[:9]:
            shutil.copy(path, root / label / path.name)
    return root


def test_search_on_other_data_and_settings_is_refused(demo_dir, small_dir, tmp_path):
    storage = tmp_path / "search.db"
    first = fakezoo.optuna_lr_search(
        "mobilenet_v2",
        demo_dir,
        finetune=False,
        n_trials=1,
        storage=storage,
        study_name="s",
        pruner="none",
        cv=fakezoo.CrossValidator(**SETTINGS),
    )
    stored = optuna.load_study(study_name="s", storage=f"sqlite:///{storage}")
    assert stored.user_attrs["fingerprint"]["n_trials"] == 1
    assert stored.user_attrs["fingerprint"]["lr"] is None
    with pytest.raises(RunMismatchError) as info:
        fakezoo.optuna_lr_search(
            "mobilenet_v2",
            small_dir,
            finetune=False,
            n_trials=1,
            storage=storage,
            study_name="s",
            pruner="none",
            lr_range=(1e-2, 1e-1),
            cv=fakezoo.CrossValidator(**{**SETTINGS, "epochs": 2}),
        )
    text = str(info.value)
    for named in (
        "n_images: 24 → 18",
        "epochs: 1 → 2",
        "lr_range: [1e-05, 0.01] → [0.01, 0.1]",
        "--study",
        "--overwrite",
    ):
        assert named in text
    assert len(optuna.load_study(study_name="s", storage=f"sqlite:///{storage}").trials) == 1

    # overwrite=True starts the study again: the lr now lies in B's range.
    found = fakezoo.optuna_lr_search(
        "mobilenet_v2",
        small_dir,
        finetune=False,
        n_trials=1,
        storage=storage,
        study_name="s",
        pruner="none",
        lr_range=(1e-2, 1e-1),
        overwrite=True,
        cv=fakezoo.CrossValidator(**{**SETTINGS, "epochs": 2}),
    )
    assert 1e-2 <= found.best_lr <= 1e-1 and found.best_lr != first.best_lr
    assert all(1e-2 <= t["lr"] <= 1e-1 for t in found.trials)


def test_tune_cli_refuses_another_search_on_the_same_storage(demo_dir, small_dir, tmp_path, capsys):
    common = [
        "-q",
        "tune",
        "--model",
        "mobilenet_v2",
        "--no-finetune",
        "--trials",
        "1",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--no-pretrained",
        "--image-size",
        "32",
        "--device",
        "cpu",
        "--storage",
        str(tmp_path / "s.db"),
        "--study",
        "x",
    ]
    assert main([*common, str(demo_dir), "--out", str(tmp_path / "a")]) == EXIT_OK
    capsys.readouterr()
    assert main([*common, str(small_dir), "--out", str(tmp_path / "b")]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "n_images: 24 → 18" in err and "data_sha256" in err and "--study" in err
    assert not (tmp_path / "b").exists()


def test_study_on_other_data_and_epochs_is_refused(small_dir, tmp_path, tiny_study):
    shutil.copytree(tiny_study, tmp_path, dirs_exist_ok=True)  # made with TINY on the demo data
    before = json.loads((tmp_path / "study.json").read_text())
    with pytest.raises(RunMismatchError) as info:
        run_study(small_dir, tmp_path, models=["mobilenet_v2"], **{**TINY, "epochs": 3})
    text = str(info.value)
    assert "n_images: 24 → 18" in text and "epochs: 1 → 3" in text and "--overwrite" in text
    assert json.loads((tmp_path / "study.json").read_text()) == before
    rows = before["rows"]
    assert all(row["fingerprint"]["n_images"] == 24 for row in rows)


def test_benchmark_cli_refuses_then_overwrites(demo_dir, small_dir, tmp_path, capsys, tiny_study):
    shutil.copytree(tiny_study, tmp_path, dirs_exist_ok=True)  # this command's own study
    argv = [
        "-q",
        "benchmark",
        "--models",
        "mobilenet_v2",
        "--trials",
        "1",
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
        str(tmp_path),
    ]
    assert main([*argv, str(demo_dir)]) == EXIT_OK
    capsys.readouterr()
    assert main([*argv, str(small_dir)]) == EXIT_ERROR
    assert "n_images: 24 → 18" in capsys.readouterr().err
    assert main([*argv, str(small_dir), "--overwrite"]) == EXIT_OK
    rows = json.loads((tmp_path / "study.json").read_text())["rows"]
    assert all(row["fingerprint"]["n_images"] == 18 for row in rows)
