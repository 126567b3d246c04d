"""``kill -9`` in the middle of ``fakezoo cv``, ``fakezoo tune`` and ``fakezoo benchmark``,
then the same command: nothing finished is recomputed and the results equal an uninterrupted
run's.

The killed command is a real process (the kill is what is under test); the rerun runs in this
process. The test polls the run directory (or the Optuna storage) for the moment to kill,
freezes the process (SIGSTOP), checks that the moment still holds and kills it there; the
library has no test hooks. One torch thread everywhere: the uninterrupted runs compared
against are the session's (conftest.py), made with one thread.
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
from conftest import tiny_flags

from fakezoo.cli import EXIT_OK, main
from fakezoo.train.cv import CrossValidator

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

TINY = tiny_flags()


def _start(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "fakezoo.cli", "-q", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 600) -> None:
    """Poll ``ready()`` every few milliseconds; once it is true, freeze the process, check it
    is still true (else let it go on) and kill -9 it in exactly that state."""
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            proc.send_signal(signal.SIGSTOP)
            if ready():
                break
            proc.send_signal(signal.SIGCONT)  # it moved on in between: wait for the next time
        if proc.poll() is not None:
            pytest.fail(f"the command ended before the kill: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("timed out waiting for the moment to kill")
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL


@pytest.fixture
def trained(monkeypatch) -> list[tuple[str, bool, int]]:
    """(model, fine-tuned, fold) of every fold trained in this process from now on."""
    seen = []
    original = CrossValidator.fit_fold

    def spy(self, template, decoded, train_idx, val_idx, lr, fold=1, on_epoch=None):
        seen.append((template.spec.name, template.finetune, fold))
        return original(self, template, decoded, train_idx, val_idx, lr, fold, on_epoch)

    monkeypatch.setattr(CrossValidator, "fit_fold", spy)
    return seen


def _results(root: Path) -> dict:
    data = json.loads((root / "results.json").read_text())
    data.pop("timings")
    for fold in data["folds"]:
        fold.pop("seconds")
    return data


def test_killed_cv_resumes_with_the_same_command(demo_dir, tmp_path, trained, finetune_run):
    # The session's `finetune_run` is this command, uninterrupted.
    argv = ["cv", str(demo_dir), "--model", "mobilenet_v2", "--lr", "3e-3", *TINY]
    argv[argv.index("--epochs") + 1] = "2"
    killed = tmp_path / "killed"
    proc = _start([*argv, "--out", str(killed)])
    _kill_when(
        proc,
        lambda: (
            (killed / "fold_1" / "config.json").exists()
            and not (killed / "fold_2" / "config.json").exists()
        ),
    )
    assert not (killed / "fold_2" / "config.json").exists()
    assert not (killed / "results.json").exists()
    stamp = (killed / "fold_1" / "model.safetensors").stat().st_mtime_ns

    assert main(["-q", *argv, "--out", str(killed)]) == EXIT_OK
    assert trained == [("mobilenet_v2", True, 2), ("mobilenet_v2", True, 3)]  # not fold 1
    assert (killed / "fold_1" / "model.safetensors").stat().st_mtime_ns == stamp
    assert _results(killed) == _results(finetune_run)  # same metrics and predictions


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
    """Killed inside its second trial: the first is kept, the second is failed as stale and
    its lr run again, and the study completes as an uninterrupted one does."""
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

    def in_second_trial() -> bool:  # the first trial done, the second running with its lr
        trials = _trials(storage)
        return [s for _, s, _ in trials] == ["COMPLETE", "RUNNING"] and trials[1][2] is not None

    _kill_when(proc, in_second_trial)
    before = _trials(storage)
    assert [s for _, s, _ in before] == ["COMPLETE", "RUNNING"]
    assert (
        main(["-q", *argv, "--out", str(tmp_path / "killed"), "--storage", str(storage)]) == EXIT_OK
    )
    after = _trials(storage)
    assert after[0] == before[0]  # the finished trial is kept, not rerun
    assert after[1][1] == "FAIL" and after[2][2] == after[1][2]  # the interrupted lr, again
    assert trained.count(("mobilenet_v2", False, 1)) == 2 + 1  # 2 more trials, the final CV
    complete = [lr for _, s, lr in after if s == "COMPLETE"]
    assert len(complete) == 3

    whole = tmp_path / "whole.db"
    assert main(["-q", *argv, "--out", str(tmp_path / "whole"), "--storage", str(whole)]) == EXIT_OK
    assert complete == [lr for _, s, lr in _trials(whole) if s == "COMPLETE"]  # same lrs
    assert _results(tmp_path / "killed") == _results(tmp_path / "whole")


def test_killed_benchmark_resumes_at_its_unfinished_row(demo_dir, tmp_path, trained, tiny_study):
    # Rows: mobilenet_v2 head, mobilenet_v2 fine-tuned; the session's `tiny_study` is this
    # command, uninterrupted.
    argv = ["benchmark", str(demo_dir), "--models", "mobilenet_v2", "--trials", "1", *TINY]
    killed = tmp_path / "killed"
    proc = _start([*argv, "--out", str(killed)])
    row2 = killed / "rows" / "mobilenet_v2-finetune"
    _kill_when(proc, lambda: (row2 / "search.db").exists() and not (row2 / "results.json").exists())
    assert (killed / "rows" / "mobilenet_v2-head" / "results.json").exists()
    assert not (row2 / "results.json").exists()

    assert main(["-q", *argv, "--out", str(killed)]) == EXIT_OK
    assert {(m, f) for m, f, _ in trained} == {("mobilenet_v2", True)}  # row 1 is not redone
    study = [json.loads((root / "study.json").read_text())["rows"] for root in (killed, tiny_study)]
    assert study[0] == study[1]
    for row in ("mobilenet_v2-head", "mobilenet_v2-finetune"):
        assert _results(killed / "rows" / row) == _results(tiny_study / "rows" / row)
