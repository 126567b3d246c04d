"""``kill -9`` in the middle of ``fakezoo cv``, ``fakezoo tune`` and ``fakezoo benchmark``,
then the same command: nothing finished is recomputed and the results equal an uninterrupted
run's.

The test polls the run directory (or the Optuna storage) for the moment to kill; the library
has no test hooks.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fakezoo.cli import EXIT_OK, main
from fakezoo.train.cv import CrossValidator

pytestmark = pytest.mark.slow

TINY = [
    "--epochs",
    "1",
    "--batch-size",
    "8",
    "--no-pretrained",
    "--image-size",
    "32",
    "--device",
    "cpu",
]


def _start(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "TQDM_DISABLE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "fakezoo.cli", "-q", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 600) -> None:
    """Poll ``ready()`` every few milliseconds; kill -9 the process the moment it is true."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the command ended before the kill: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("timed out waiting for the moment to kill")
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL


@pytest.fixture
def trained(monkeypatch) -> list[tuple[str, int]]:
    """(model, fold) of every fold trained in this process from now on."""
    seen = []
    original = CrossValidator.fit_fold

    def spy(self, template, decoded, train_idx, val_idx, lr, fold=1, on_epoch=None):
        seen.append((template.spec.name, fold))
        return original(self, template, decoded, train_idx, val_idx, lr, fold, on_epoch)

    monkeypatch.setattr(CrossValidator, "fit_fold", spy)
    return seen


def _results(root: Path) -> dict:
    data = json.loads((root / "results.json").read_text())
    data.pop("timings")
    for fold in data["folds"]:
        fold.pop("seconds")
    return data


def test_killed_cv_resumes_with_the_same_command(demo_dir, tmp_path, trained):
    argv = ["cv", str(demo_dir), "--model", "mobilenet_v2", "--lr", "3e-3", *TINY]
    killed = tmp_path / "killed"
    proc = _start([*argv, "--out", str(killed)])
    _kill_when(proc, lambda: (killed / "fold_1" / "config.json").exists())
    finished = [k for k in (1, 2, 3) if (killed / f"fold_{k}" / "config.json").exists()]
    assert 3 not in finished and not (killed / "results.json").exists()
    stamp = (killed / "fold_1" / "model.safetensors").stat().st_mtime_ns

    assert main(["-q", *argv, "--out", str(killed)]) == EXIT_OK
    assert [k for _, k in trained] == [k for k in (1, 2, 3) if k not in finished]
    assert (killed / "fold_1" / "model.safetensors").stat().st_mtime_ns == stamp
    assert main(["-q", *argv, "--out", str(tmp_path / "whole")]) == EXIT_OK
    assert _results(killed) == _results(tmp_path / "whole")  # same metrics and predictions


def _trials(storage: Path) -> list[tuple[int, str, float | None]]:
    """(number, state, lr) of every trial in an Optuna SQLite file, read without Optuna."""
    if not storage.exists():
        return []
    try:
        with sqlite3.connect(f"file:{storage}?mode=ro", uri=True, timeout=1) as db:
            rows = db.execute(
                "SELECT t.number, t.state, p.param_value FROM trials t LEFT JOIN trial_params "
                "p ON p.trial_id = t.trial_id AND p.param_name = 'lr' ORDER BY t.number"
            ).fetchall()
    except sqlite3.Error:
        return []
    return [(n, s, v) for n, s, v in rows]


def test_killed_tune_keeps_its_finished_trials(demo_dir, tmp_path, trained):
    argv = [
        "tune",
        str(demo_dir),
        "--model",
        "mobilenet_v2",
        "--no-finetune",
        "--trials",
        "3",
        "--pruner",
        "none",
        *TINY,
    ]
    storage = tmp_path / "killed.db"
    proc = _start([*argv, "--out", str(tmp_path / "killed"), "--storage", str(storage)])

    def second_trial_running() -> bool:
        states = [s for _, s, _ in _trials(storage)]
        return states.count("COMPLETE") == 1 and "RUNNING" in states

    _kill_when(proc, second_trial_running)
    before = _trials(storage)
    assert (
        main(["-q", *argv, "--out", str(tmp_path / "killed"), "--storage", str(storage)]) == EXIT_OK
    )
    after = _trials(storage)
    assert after[0] == before[0]  # the finished trial is kept, not rerun
    assert trained.count(("mobilenet_v2", 1)) == 2 + 1  # two more trials, then the final CV
    complete = [lr for _, s, lr in after if s == "COMPLETE"]
    assert len(complete) == 3

    whole = tmp_path / "whole.db"
    assert main(["-q", *argv, "--out", str(tmp_path / "whole"), "--storage", str(whole)]) == EXIT_OK
    assert complete == [lr for _, s, lr in _trials(whole) if s == "COMPLETE"]  # same lrs
    assert _results(tmp_path / "killed") == _results(tmp_path / "whole")


def test_killed_benchmark_resumes_at_row_three(demo_dir, tmp_path, trained):
    # Rows: mobilenet_v2 head, mobilenet_v2 finetune, resnet50_mlp (finetune).
    argv = [
        "benchmark",
        str(demo_dir),
        "--models",
        "mobilenet_v2",
        "resnet50_mlp",
        "--trials",
        "1",
        *TINY,
    ]
    killed = tmp_path / "killed"
    proc = _start([*argv, "--out", str(killed)])
    row3 = killed / "rows" / "resnet50_mlp-finetune"
    _kill_when(proc, lambda: (row3 / "search.db").exists())
    assert (killed / "rows" / "mobilenet_v2-finetune" / "results.json").exists()
    assert not (row3 / "results.json").exists()

    assert main(["-q", *argv, "--out", str(killed)]) == EXIT_OK
    assert {m for m, _ in trained} == {"resnet50_mlp"}  # rows 1 and 2 are not redone
    assert main(["-q", *argv, "--out", str(tmp_path / "whole")]) == EXIT_OK
    study = [
        json.loads((root / "study.json").read_text())["rows"]
        for root in (killed, tmp_path / "whole")
    ]
    assert study[0] == study[1]
    for row in ("mobilenet_v2-head", "mobilenet_v2-finetune", "resnet50_mlp-finetune"):
        assert _results(killed / "rows" / row) == _results(tmp_path / "whole" / "rows" / row)
