"""Data-parallel training on the real ``torchrun`` with Gloo on this CPU: two processes, and two
"nodes" on loopback, train to one process's weights; a killed rank fails the job and a rerun
resumes; ``tune`` runs each trial on both processes, rank 0 alone talking to Optuna."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import fakezoo
from fakezoo.cli import main as cli_main

# The runs in this process use one torch thread, as each torchrun worker (OMP_NUM_THREADS=1).
pytestmark = pytest.mark.usefixtures("one_torch_thread")

TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
FOLDS = 2
# 24 images, 2 folds: 12 training images a fold in global batches of 5, 5 and 2 (a share of 1
# per process in the last one); 20 epochs, so that fold 2 is still training when rank 1 dies.
FLAGS = dict(epochs=20, batch_size=5, seed=3, drop_rate=0.0, image_size=32)


def _argv(data: Path, out: Path, **changes) -> list[str]:
    flags = {**FLAGS, **changes}
    argv = ["cv", str(data), "--model", "mobilenet_v2", "--no-finetune", "--lr", "3e-3"]
    argv += ["--folds", str(FOLDS), "--no-pretrained", "--device", "cpu", "--out", str(out)]
    for name, value in flags.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "FAKEZOO_PROGRESS": "0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _weights(run: Path) -> list[dict[str, torch.Tensor]]:
    return [load_file(run / f"fold_{k}" / "model.safetensors") for k in range(1, FOLDS + 1)]


def _assert_same_weights(run: Path, reference: Path) -> None:
    for k, (got, want) in enumerate(zip(_weights(run), _weights(reference), strict=True), 1):
        assert got.keys() == want.keys()
        for name in want:
            torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-6, msg=f"fold {k}")


@pytest.fixture(scope="module")
def one_process(demo_dir, tmp_path_factory, one_torch_thread):
    """The same run on one process, in this process (one torch thread, as the workers)."""
    out = tmp_path_factory.mktemp("one") / "run"
    cv = fakezoo.CrossValidator(
        n_splits=FOLDS, pretrained=False, device="cpu", progress=False, **FLAGS
    )
    cv.run("mobilenet_v2", demo_dir, finetune=False, lr=3e-3, out_dir=out)
    return out


def _torchrun(*launch: str, argv: list[str], cache: Path | None = None) -> subprocess.Popen:
    env = _env() if cache is None else {**_env(), "FAKEZOO_CACHE": str(cache)}
    return subprocess.Popen(
        [TORCHRUN, *launch, "-m", "fakezoo", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_two_nodes_on_loopback_out_of_core_train_one_process_weights(
    demo_dir, one_process, tmp_path
):
    """Two nodes of one process each, past the memory budget: both use the same memory-mapped
    caches (one writes each, the other waits on its lock, then maps it), and the weights are
    one process's."""
    out, cache = tmp_path / "run", tmp_path / "cache"
    argv = [*_argv(demo_dir, out), "--memory-budget", "1KB"]
    rdzv = ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{_free_port()}"]
    nodes = [
        _torchrun(
            "--nnodes", "2", "--nproc-per-node", "1", *rdzv, argv=argv, cache=cache
        )
        for _ in range(2)
    ]  # fmt: skip
    logs = [node.communicate(timeout=300)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], logs
    _assert_same_weights(out, one_process)
    assert sum(log.count("run directory:") for log in logs) == 1
    for kind in ("decoded", "trunk"):
        assert len(list((cache / kind).glob("*/complete.json"))) == 1, kind
        assert not list((cache / kind).glob("*/data.partial")), kind


def _rank_pid(agent: subprocess.Popen, rank: int, timeout: float = 120) -> int:
    """The pid of the torchrun worker with ``RANK=rank`` (read from its environment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = Path(f"/proc/{agent.pid}/task/{agent.pid}/children")
        for pid in children.read_text().split() if children.exists() else []:
            try:
                env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"RANK={rank}".encode() in env:
                return int(pid)
        time.sleep(0.1)
    raise AssertionError(f"no worker with RANK={rank}")


@pytest.fixture(scope="module")
def killed_and_resumed(demo_dir, tmp_path_factory):
    """Two processes: rank 1 killed while fold 2 trains, then the same command again.

    Returns the run directory, both logs and fold 1's weights from the first launch.
    """
    out = tmp_path_factory.mktemp("two") / "run"
    argv = _argv(demo_dir, out)
    job = _torchrun("--nproc-per-node", "2", argv=argv)
    rank1 = _rank_pid(job, 1)
    deadline = time.monotonic() + 240
    while not (out / "fold_1" / "config.json").exists():
        assert job.poll() is None and time.monotonic() < deadline, job.communicate()[0]
        time.sleep(0.02)
    os.kill(rank1, signal.SIGKILL)
    killed, _ = job.communicate(timeout=120)
    assert not (out / "fold_2" / "config.json").exists(), "fold 2 finished before the kill"
    fold_1 = (out / "fold_1" / "model.safetensors").read_bytes()
    done = (out / "results.json").exists()
    rerun = _torchrun("--nproc-per-node", "2", argv=argv)
    resumed, _ = rerun.communicate(timeout=300)
    return dict(
        out=out,
        killed=killed,
        killed_code=job.returncode,
        done_after_kill=done,
        resumed=resumed,
        resumed_code=rerun.returncode,
        fold_1=fold_1,
    )


def test_two_processes_train_one_process_weights(killed_and_resumed, one_process):
    run = killed_and_resumed
    assert run["resumed_code"] == 0, run["resumed"]
    out = run["out"]
    _assert_same_weights(out, one_process)  # fold 1 from the first launch, fold 2 the rerun
    config = json.loads((out / "config.json").read_text())
    assert config["complete"] and config["fingerprint"]["world_size"] == 2
    assert json.loads((one_process / "config.json").read_text())["fingerprint"]["world_size"] == 1
    # Rank 0 reports once; the validation predictions were gathered from both processes.
    assert run["resumed"].count("run directory:") == 1
    for k in range(1, FOLDS + 1):
        want = json.loads((one_process / f"fold_{k}" / "predictions.json").read_text())
        got = json.loads((out / f"fold_{k}" / "predictions.json").read_text())
        assert got["val_files"] == want["val_files"]
        assert got["y_prob"] == pytest.approx(want["y_prob"], abs=1e-5)


def test_killed_rank_fails_the_job_and_a_rerun_resumes(killed_and_resumed):
    run = killed_and_resumed
    assert run["killed_code"] != 0 and not run["done_after_kill"]
    assert "Signal 9 (SIGKILL) received by PID" in run["killed"], run["killed"]
    assert run["resumed_code"] == 0, run["resumed"]
    assert "fold 1/2: already done, loaded from" in run["resumed"]
    assert (run["out"] / "fold_1" / "model.safetensors").read_bytes() == run["fold_1"]
    assert (run["out"] / "results.json").exists()


# tune: 2 trials x 2 folds x 2 epochs, then the CV at the best lr; SQLite in the run folder.
TUNE_FLAGS = dict(epochs=2, batch_size=5, seed=3, drop_rate=0.0, image_size=32, trials=2)


def _tune_argv(data: Path, out: Path) -> list[str]:
    argv = ["tune", str(data), "--model", "mobilenet_v2", "--no-finetune", "--pruner", "none"]
    argv += ["--folds", str(FOLDS), "--no-pretrained", "--device", "cpu", "--out", str(out)]
    argv += ["--storage", str(out / "search.db"), "--lr-range", "1e-4", "1e-2"]
    for name, value in TUNE_FLAGS.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


@pytest.fixture(scope="module")
def tuned(demo_dir, tmp_path_factory, one_torch_thread):
    """``fakezoo tune`` on one process (in this process, one thread) and on two (torchrun)."""
    one = tmp_path_factory.mktemp("tune1") / "study"
    assert cli_main(_tune_argv(demo_dir, one)) == 0
    two = tmp_path_factory.mktemp("tune2") / "study"
    log, _ = _torchrun("--nproc-per-node", "2", argv=_tune_argv(demo_dir, two)).communicate(
        timeout=300
    )
    return one, two, log


def test_tune_trains_each_trial_on_two_processes(tuned):
    one, two, log = tuned
    assert (two / "results.json").exists(), log
    assert log.count("run directory:") == 1  # rank 0 reports, once
    assert log.count("trial 0 complete") == 1 and log.count("trial 1 complete") == 1, log
    want, got = (json.loads((d / "search.json").read_text()) for d in (one, two))
    assert got["best_lr"] == pytest.approx(want["best_lr"], rel=1e-12)
    assert [t["lr"] for t in got["trials"]] == pytest.approx([t["lr"] for t in want["trials"]])
    for g, w in zip(got["trials"], want["trials"], strict=True):
        assert g["state"] == w["state"] == "COMPLETE"
        assert g["fold_accuracies"] == pytest.approx(w["fold_accuracies"], abs=1e-6)
    assert (two / "trials.csv").read_text().count("\n") == 3  # a header and the 2 trials
    config = json.loads((two / "config.json").read_text())
    assert config["complete"] and config["fingerprint"]["world_size"] == 2
    _assert_same_weights(two, one)
    for k in range(1, FOLDS + 1):
        w, g = (json.loads((d / f"fold_{k}" / "predictions.json").read_text()) for d in (one, two))
        assert g["val_files"] == w["val_files"]
        assert g["y_prob"] == pytest.approx(w["y_prob"], abs=1e-5)


def _benchmark_argv(data: Path, out: Path) -> list[str]:
    argv = ["benchmark", str(data), "--models", "mobilenet_v2", "--trials", "1", "--epochs", "1"]
    argv += ["--folds", str(FOLDS), "--no-pretrained", "--device", "cpu", "--out", str(out)]
    return [*argv, "--batch-size", "6", "--image-size", "32", "--drop-rate", "0", "--seed", "3"]


def test_benchmark_rows_train_on_two_processes(demo_dir, tmp_path):
    """mobilenet_v2's two rows: one study.md; the head-only row has one process's numbers (the
    fine-tune row trains BatchNorm, which on CPUs normalises each process's share: warned)."""
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli_main(_benchmark_argv(demo_dir, one)) == 0
    job = _torchrun("--nproc-per-node", "2", argv=_benchmark_argv(demo_dir, two))
    log, _ = job.communicate(timeout=300)
    assert job.returncode == 0, log
    assert log.count("full report:") == 1 and (two / "study.md").exists()
    want, got = (json.loads((d / "study.json").read_text())["rows"] for d in (one, two))
    assert [r["fingerprint"]["world_size"] for r in got] == [2, 2]
    assert [r["fine_tuning"] for r in got] == [r["fine_tuning"] for r in want]
    assert sorted(r["fine_tuning"] for r in got) == ["With", "Without"]
    # Said once for the model, not for each of its 4 folds (1 trial x 2 folds, then the CV)
    assert log.count("trained BatchNorm layers normalise each process's share") == 1, log
    (g,), (w,) = ([r for r in rows if r["fine_tuning"] == "Without"] for rows in (got, want))
    for key in ("best_lr", "accuracy", "f1", "roc_auc"):
        assert g[key] == pytest.approx(w[key], abs=1e-6), key


def test_nested_tune_on_two_processes_equals_one(demo_dir, tmp_path):
    """The nested protocol: inner searches and the outer folds, every fold on both processes."""
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli_main([*_tune_argv(demo_dir, one), "--protocol", "nested"]) == 0
    job = _torchrun(
        "--nproc-per-node", "2", argv=[*_tune_argv(demo_dir, two), "--protocol", "nested"]
    )
    log, _ = job.communicate(timeout=300)
    assert job.returncode == 0, log
    want, got = (json.loads((d / "search.json").read_text()) for d in (one, two))
    assert got["protocol"] == "nested" and len(got["fold_lrs"]) == FOLDS
    assert got["fold_lrs"] == pytest.approx(want["fold_lrs"], rel=1e-12)
    assert [t["fold_accuracies"] for t in got["trials"]] == [
        pytest.approx(t["fold_accuracies"], abs=1e-6) for t in want["trials"]
    ]
    assert json.loads((two / "config.json").read_text())["fingerprint"]["world_size"] == 2
    _assert_same_weights(two, one)


def test_tune_workers_under_torchrun_is_refused(demo_dir, tmp_path, monkeypatch, capsys):
    """Found from torchrun's environment before any process group or storage is made."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    journal = tmp_path / "search.log"  # --workers with SQLite is already the parser's error
    argv = [*_tune_argv(demo_dir, tmp_path), "--workers", "2", "--storage", str(journal)]
    assert cli_main(argv) == 1
    err = capsys.readouterr().err
    assert "fakezoo tune: error: --workers 2 under torchrun: each trial already trains" in err
    assert not journal.exists() and not torch.distributed.is_initialized()


def test_killed_tune_resumes_on_two_processes(demo_dir, tmp_path):
    """Rank 1 killed after trial 0: the job fails; the rerun keeps trial 0, runs the interrupted
    trial's lr again, and ends with one process's complete trials (rank 0's SQLite study)."""
    flags = ["--epochs", "10", "--trials", "3"]  # after _tune_argv's: the last ones win
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli_main([*_tune_argv(demo_dir, one), *flags]) == 0
    argv = [*_tune_argv(demo_dir, two), *flags]
    job = _torchrun("--nproc-per-node", "2", argv=argv)
    rank1, seen = _rank_pid(job, 1), []
    for line in job.stdout:
        seen.append(line)
        if "trial 0 complete" in line:
            os.kill(rank1, signal.SIGKILL)
            break
    killed = "".join(seen) + job.communicate(timeout=120)[0]
    assert job.returncode != 0 and not (two / "results.json").exists(), killed
    rerun = _torchrun("--nproc-per-node", "2", argv=argv)
    log, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, log
    # Trial 1 failed when its collective lost rank 1 (or, were rank 0 stopped first, the
    # rerun fails it as interrupted); either way its lr is drawn again for the next trial.
    assert "trial 0 complete" not in log and "trial 1 complete" not in log, log
    rows = [json.loads((d / "search.json").read_text())["trials"] for d in (one, two)]
    done = [[t["lr"] for t in trials if t["state"] == "COMPLETE"] for trials in rows]
    assert len(done[1]) == 3 and done[1] == pytest.approx(done[0], rel=1e-12)
    assert [t["state"] for t in rows[1]].count("FAIL") == 1
