"""Smoke tests of the benchmark scripts: they run end to end and report what they promise.

Each script's ``main(argv)`` runs in this process (a new interpreter would only add the
seconds of importing torch); what it prints is what ``python benchmarks/SCRIPT`` prints.
"""

import json
import re
import runpy
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cv_speed.py"
NUMBER = r"([0-9]+(?:\.[0-9]+)?)"

# The scripts' --threads 1 sets torch's thread count; the fixture gives it back afterwards.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _main(script: Path):
    return runpy.run_path(str(script))["main"]  # not as __main__: main() is called with argv


def test_cv_speed_smoke(tmp_path, capsys):
    # Tiny settings; one torch thread, because 2 OpenMP threads on a busy 2-core machine can
    # run many times slower than one.
    argv = [
        "--model",
        "mobilenet_v2",
        "--no-finetune",
        "--images-per-class",
        "8",
        "--source-size",
        "64",
        "--image-size",
        "32",
        "--trials",
        "2",
        "--folds",
        "2",
        "--epochs",
        "1",
        "--workers",
        "0",
        "--threads",
        "1",
        "--optuna-search",
        "--step-ratio",
        "--workdir",
        str(tmp_path),
        "--json",
        str(tmp_path / "out.json"),
    ]
    _main(SCRIPT)(argv)
    out = capsys.readouterr().out

    ratio = re.search(rf"^ratio:\s+{NUMBER}x", out, re.MULTILINE)
    assert ratio, out
    assert float(ratio.group(1)) > 0
    # The trunk once per image against, for each of 2 trials, 1 epoch over each training image
    # and 1 pass over each validation image of 2 folds: 2 x (1 + 1) = 4.
    passes = re.search(rf"^trunk passes per image: fakezoo {NUMBER} \| plain {NUMBER} ", out, re.M)
    assert passes and passes.groups() == ("1", "4"), out

    mean = re.search(
        rf"^accuracy, mean over trials: fakezoo {NUMBER}\s+plain {NUMBER}", out, re.MULTILINE
    )
    best = re.search(
        rf"^accuracy, best trial:\s+fakezoo {NUMBER} \(lr [^)]+\)\s+"
        rf"plain {NUMBER}",
        out,
        re.MULTILINE,
    )
    assert mean and best, out
    for value in (*mean.groups(), *best.groups()):
        assert 0.0 <= float(value) <= 1.0

    assert "same initial weights and trainable parameters: yes" in out
    assert re.search(r"^optuna_lr_search .* same lrs as above: yes$", out, re.MULTILINE), out

    step = re.search(
        rf"^one step .*whole model {NUMBER} s, tail {NUMBER} s, {NUMBER}x", out, re.MULTILINE
    )
    assert step, out
    report = json.loads((tmp_path / "out.json").read_text())
    assert abs(report["step_seconds"]["whole"] - float(step.group(1))) <= 5e-4
    assert report["step_seconds"]["tail"] > 0
    assert report["ratio"] > 0
    assert report["trunk_passes_per_image"] == {"fakezoo": 1.0, "plain": 4.0}
    assert set(report["median_seconds"]) == {"fakezoo", "plain"}
    assert abs(report["accuracy"]["plain"]["mean"] - float(mean.group(2))) < 1e-4
    assert len(report["lrs"]) == 2
    for way in ("fakezoo", "plain"):
        folds = report["accuracy"][way]["folds"]
        assert len(folds) == 2 and all(len(trial) == 2 for trial in folds)


def test_trunk_cache_speed_smoke(capsys):
    argv = [
        "--images",
        "8",
        "--image-size",
        "32",
        "--repeats",
        "1",
        "--threads",
        "1",
    ]
    _main(SCRIPT.with_name("trunk_cache_speed.py"))(argv)
    out = capsys.readouterr().out
    speed = re.search(
        rf"^speed-up: {NUMBER}x; max relative difference of the cache "
        rf"([0-9.e+-]+)$",
        out,
        re.MULTILINE,
    )
    assert speed, out
    assert float(speed.group(1)) > 0 and float(speed.group(2)) < 1e-4


def test_scale_smoke(capsys):
    rows = _main(SCRIPT.with_name("scale.py"))(["--sizes", "40", "80", "--ways", "disk"])
    out = capsys.readouterr().out
    assert [(r["n"], r["way"]) for r in rows] == [(40, "disk"), (80, "disk")]
    assert all(r["peak_mib"] > 0 and r["images_s"] > 0 for r in rows)
    assert re.search(rf"^ +80 +disk +{NUMBER} +{NUMBER}$", out, re.MULTILINE), out
    assert re.search(rf"^disk: peak RSS at N=80 is {NUMBER}x that at N=40$", out, re.MULTILINE)


def test_ddp_speed_smoke(tmp_path, capsys):
    """torchrun on 1 and 2 Gloo processes: 12 training images in global batches of 4, so 3 steps
    an epoch and 2 timed intervals (the one across validation is left out), 2 epochs."""
    script = SCRIPT.with_name("ddp_speed.py")
    argv = ["--n-per-class", "12", "--image-size", "32", "--batch-size", "4", "--epochs", "2"]
    argv += ["--repeats", "1", "--workdir", str(tmp_path), "--json", str(tmp_path / "out.json")]
    result = _main(script)(argv)
    out = capsys.readouterr().out
    for n in ("1 process", "2 processes"):
        assert re.search(rf"^{n}: median step {NUMBER} ms \(4 steps\)$", out, re.MULTILINE), out
    ratio = re.search(rf"^ratio: {NUMBER}x", out, re.MULTILINE)
    assert ratio and float(ratio.group(1)) == pytest.approx(result["ratio"], abs=0.01)
    saved = json.loads((tmp_path / "out.json").read_text())
    assert all(s > 0 for s in saved["steps_s"]["1"] + saved["steps_s"]["2"])
