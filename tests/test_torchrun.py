"""Data-parallel cross-validation on the real ``torchrun`` with Gloo on this CPU: two processes,
and two "nodes" on loopback, train to one process's weights; a killed rank fails the job and a
rerun resumes."""

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
def one_process(demo_dir, tmp_path_factory):
    """The same run on one process, in this process (one torch thread, as the workers)."""
    out = tmp_path_factory.mktemp("one") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cv = fakezoo.CrossValidator(
            n_splits=FOLDS, pretrained=False, device="cpu", progress=False, **FLAGS
        )
        cv.run("mobilenet_v2", demo_dir, finetune=False, lr=3e-3, out_dir=out)
    finally:
        torch.set_num_threads(threads)
    return out


def _torchrun(*launch: str, argv: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [TORCHRUN, *launch, "-m", "fakezoo", *argv],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def test_two_nodes_on_loopback_train_one_process_weights(demo_dir, one_process, tmp_path):
    out = tmp_path / "run"
    rdzv = ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{_free_port()}"]
    nodes = [
        _torchrun("--nnodes", "2", "--nproc-per-node", "1", *rdzv, argv=_argv(demo_dir, out))
        for _ in range(2)
    ]
    logs = [node.communicate(timeout=300)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], logs
    _assert_same_weights(out, one_process)
    assert sum(log.count("run directory:") for log in logs) == 1


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


def test_two_processes_out_of_core_share_one_cache_and_train_one_process_weights(
    demo_dir, one_process, tmp_path
):
    """Past the memory budget both ranks use the same memory-mapped caches: one writes each
    (the other waits on its lock, then maps it), and the weights are one process's."""
    out, cache = tmp_path / "run", tmp_path / "cache"
    argv = [*_argv(demo_dir, out), "--memory-budget", "1KB"]
    job = subprocess.Popen(
        [TORCHRUN, "--nproc-per-node", "2", "-m", "fakezoo", *argv],
        env={**_env(), "FAKEZOO_CACHE": str(cache)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log = job.communicate(timeout=300)[0]
    assert job.returncode == 0, log
    _assert_same_weights(out, one_process)
    for kind in ("decoded", "trunk"):
        assert len(list((cache / kind).glob("*/complete.json"))) == 1, kind
        assert not list((cache / kind).glob("*/data.partial")), kind
