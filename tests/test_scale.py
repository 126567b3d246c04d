"""Many `fakezoo tune` workers on one study, against a real PostgreSQL server and Journal files.

Workers are real `fakezoo tune` processes. A worker is killed with SIGKILL while the storage
shows it running a trial: the test freezes it (SIGSTOP), checks that its trial is still
running, then kills it, so the kill always lands mid-trial. Folds as jobs: `fakezoo cv --fold K`.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import optuna
import pytest
from conftest import tiny_flags
from optuna.trial import TrialState

from fakezoo.errors import StorageError
from fakezoo.train.storage import WORKER, make_storage

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread (conftest)


def retried_trial_number(trial: optuna.trial.FrozenTrial) -> int | None:
    """The first trial of the chain whose learning rate ``trial`` reruns (Optuna's retry)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)


GRACE = 3  # seconds: short, so that the crash tests wait little for a dead worker
TRAINING = ["--model", "mobilenet_v2", "--no-finetune", "--folds", "3", *tiny_flags()]

# Workers that start at the same instant, whatever their import times: each imports, says
# "ready" and reads the start time from stdin; `_start_together` sends it once all are ready.
BARRIER = """
import sys, time
print("ready", flush=True)
start = float(sys.stdin.readline())
while time.time() < start:
    time.sleep(0.001)
"""
AT_ONCE = (
    "import fakezoo.cli, fakezoo.train.tune" + BARRIER + "sys.exit(fakezoo.cli.main(sys.argv[1:]))"
)


def _one_thread() -> dict:
    """The environment for worker processes, which run side by side: one torch thread each."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _start_together(*commands: list[str]) -> list[subprocess.Popen]:
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", *c],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_one_thread(),
        )
        for c in commands
    ]
    for w in workers:
        assert w.stdout.readline() == "ready\n", w.communicate()
    start = time.time() + 0.5
    for w in workers:
        w.stdin.write(f"{start}\n")
        w.stdin.close()
        w.stdin = None  # communicate() must not flush it
    return workers


def _trials(storage, name: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    except KeyError:  # the study is not created yet
        return []


def _kill_mid_trial(worker: subprocess.Popen, storage, name: str, timeout: float = 240):
    """SIGKILL ``worker`` while the storage shows it running a trial; return that trial."""
    tag = f":{worker.pid}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.poll() is None, worker.communicate()
        if any(
            t.state == TrialState.RUNNING and t.user_attrs.get(WORKER, "").endswith(tag)
            for t in _trials(storage, name)
        ):
            worker.send_signal(signal.SIGSTOP)  # frozen: its trial cannot finish now
            running = [
                t
                for t in _trials(storage, name)
                if t.state == TrialState.RUNNING and t.user_attrs.get(WORKER, "").endswith(tag)
            ]
            if running:
                worker.kill()
                worker.communicate()
                return running[0]
            worker.send_signal(signal.SIGCONT)  # it finished in between: try its next trial
        time.sleep(0.02)
    raise AssertionError("the worker never ran a trial")


def _no_warnings(stderr: str) -> None:
    """No Python warning and no Optuna log line reached the terminal."""
    assert "Warning" not in stderr and "optuna" not in stderr.lower(), stderr


def _crash_survived(demo_dir, tmp_path, storage_arg: str, storage, caplog=None) -> None:
    """One worker is killed mid-trial; the study still ends with exactly n_trials.

    Without ``caplog``: two worker processes start at once, and the survivor finishes the
    study. With it: the killed worker was alone, and the next worker to start (this process)
    fails its trial and reruns its learning rate.
    """
    name = "crash"
    common = [
        str(demo_dir),
        *TRAINING,
        "--trials",
        "4",
        "--pruner",
        "none",
        "--storage",
        storage_arg,
        "--study",
        name,
        "--grace-period",
        str(GRACE),
    ]
    starting = [[AT_ONCE, "tune", *common, "--out", str(tmp_path / "v")]]
    if caplog is None:
        starting.append([AT_ONCE, "tune", *common, "--out", str(tmp_path / "s")])
    victim, *survivor = _start_together(*starting)
    dead = _kill_mid_trial(victim, storage, name)
    assert victim.returncode == -signal.SIGKILL
    if survivor:
        _, err = survivor[0].communicate(timeout=300)
        assert survivor[0].returncode == 0, err
        _no_warnings(err)
        assert "stopped sending heartbeats" in err
    else:
        from fakezoo.cli import main

        gc.collect()  # earlier tests' database connections warn when collected
        with warnings.catch_warnings(record=True) as caught, caplog.at_level("INFO", "fakezoo"):
            warnings.simplefilter("always")
            assert main(["tune", *common, "--out", str(tmp_path / "s")]) == 0
        assert not caught, [str(w.message) for w in caught]
        assert "stopped sending heartbeats" in caplog.text

    trials = _trials(storage, name)
    finished = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(finished) == 4  # exactly n_trials, despite the crash
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.FAIL}
    stale = next(t for t in trials if t.number == dead.number)
    assert stale.state == TrialState.FAIL  # the dead worker's trial, failed as stale
    rerun = [t for t in finished if retried_trial_number(t) == dead.number]
    assert len(rerun) == 1 and rerun[0].params["lr"] == dead.params["lr"]  # its lr, again
    assert (tmp_path / "s" / "results.json").exists()


def test_two_workers_create_the_schema_at_the_same_instant(postgres_url):
    """A fresh database: two processes create Optuna's tables and one study at once."""
    imports = "import optuna\nfrom fakezoo.train.storage import make_storage"
    child = (
        imports
        + BARRIER
        + textwrap.dedent("""
        study = optuna.create_study(study_name="s", storage=make_storage(sys.argv[1]),
                                    load_if_exists=True)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    """)
    )
    workers = _start_together(*[[child, postgres_url]] * 2)
    for w in workers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
        _no_warnings(err)
    trials = _trials(make_storage(postgres_url), "s")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2


@pytest.mark.slow
def test_postgres_worker_killed_mid_trial(demo_dir, tmp_path, postgres_url):
    _crash_survived(demo_dir, tmp_path, postgres_url, make_storage(postgres_url))


@pytest.mark.slow
def test_journal_worker_killed_mid_trial(demo_dir, tmp_path, caplog):
    journal = tmp_path / "study.log"
    _crash_survived(demo_dir, tmp_path, str(journal), make_storage(journal), caplog)


def test_unreachable_server_is_one_line(postgres_server, capsys, demo_dir):
    from pgserver import free_port

    from fakezoo.cli import EXIT_ERROR, main

    port = free_port()  # nothing listens there
    url = f"postgresql://fakezoo:secret@127.0.0.1:{port}/optuna"
    with pytest.raises(StorageError, match=f"cannot reach the database server at 127.0.0.1:{port}"):
        make_storage(url)
    code = main(
        [
            "tune",
            str(demo_dir),
            "--model",
            "mobilenet_v2",
            "--storage",
            url,
            "--out",
            "x",
            "--device",
            "cpu",
            "--no-pretrained",
        ]
    )
    err = capsys.readouterr().err
    assert code == EXIT_ERROR
    assert err.count("\n") == 1 and f"127.0.0.1:{port}" in err and "secret" not in err, err


def test_missing_driver_is_one_line(postgres_url, demo_dir, tmp_path, cli, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if psycopg were not installed
    code, _, err = cli(
        "-q",
        "tune",
        demo_dir,
        "--model",
        "mobilenet_v2",
        "--storage",
        postgres_url,
        "--out",
        tmp_path / "x",
        "--device",
        "cpu",
        "--no-pretrained",
    )
    assert code == 1
    assert err.count("\n") == 1, err
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # nor a log line
    assert "driver 'psycopg' is not installed" in err
    assert 'pip install "fakezoo[postgres]"' in err


def test_bad_urls():
    with pytest.raises(ValueError, match="supports postgresql://"):
        make_storage("oracle://user@host/db")
    with pytest.raises(ValueError, match="write postgresql://"):
        make_storage("postgres://user@host/db")
    with pytest.raises(ValueError, match="not a database URL"):
        make_storage("postgresql://user@host:notaport/db")


def _cli(*argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fakezoo.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_one_thread(),
    )


def _same_fold(a: dict, b: dict) -> bool:
    """The same fold result, but for the seconds it took."""
    return {**a, "seconds": 0} == {**b, "seconds": 0}


@pytest.mark.slow
def test_folds_as_a_job_array(demo_dir, tmp_path, caplog, head_run):
    """`fakezoo cv --fold K` for K=1..3 at once, then the same command collects them; the run
    equals one made by a single process (the session's `head_run` is this command)."""
    from fakezoo.cli import main

    out = tmp_path / "run"
    command = ["cv", str(demo_dir), *TRAINING, "--lr", "1e-3", "--out", str(out)]
    single = json.loads((head_run / "results.json").read_text())  # one process, every fold
    job = _cli(*command, "--fold", "1")  # one job in another process, two in this one
    assert main([*command, "--fold", "2"]) == 0 and main([*command, "--fold", "3"]) == 0
    stdout, stderr = job.communicate(timeout=300)
    assert job.returncode == 0, stderr
    assert "fold 1/3: accuracy" in stdout
    assert not (out / "results.json").exists()  # not complete until collected
    written = {k: (out / f"fold_{k}" / "predictions.json").read_text() for k in (1, 2, 3)}

    caplog.clear()  # only what the collecting command logs
    with caplog.at_level("INFO", logger="fakezoo"):
        assert main(command) == 0
    assert caplog.text.count("already done") == 3
    assert "frozen trunk" not in caplog.text  # nothing was trained again
    results = json.loads((out / "results.json").read_text())
    for k in (1, 2, 3):
        assert (out / f"fold_{k}" / "predictions.json").read_text() == written[k]
        assert results["folds"][k - 1] == json.loads(written[k])
    assert json.loads((out / "config.json").read_text())["complete"] is True
    assert all(_same_fold(a, b) for a, b in zip(results["folds"], single["folds"], strict=True))
    assert results["summary"] == single["summary"]
    assert results["fingerprint"] == single["fingerprint"]


def test_fold_out_of_range_or_with_overwrite(demo_dir, tmp_path):
    from fakezoo.train.cv import CrossValidator

    cv = CrossValidator(n_splits=3, epochs=1, pretrained=False, image_size=32, device="cpu")
    with pytest.raises(ValueError, match="fold=4: choose a fold from 1 to 3"):
        cv.run("mobilenet_v2", demo_dir, finetune=False, out_dir=tmp_path, fold=4)
    with pytest.raises(ValueError, match="each job would remove the folds of the others"):
        cv.run("mobilenet_v2", demo_dir, finetune=False, out_dir=tmp_path, fold=1, overwrite=True)
    assert not any(tmp_path.iterdir())  # refused before anything was written


@pytest.mark.slow
def test_workers_share_one_journal_file(demo_dir, tmp_path, capfd, monkeypatch):
    """Two worker processes on one Journal file finish exactly the study's trials between
    them, each scored on every fold."""
    from fakezoo.cli import main

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the workers' environment
    out = tmp_path / "run"
    assert (
        main(
            [
                "tune",
                str(demo_dir),
                *TRAINING,
                "--trials",
                "4",
                "--pruner",
                "none",
                "--workers",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    stdout, stderr = capfd.readouterr()
    _no_warnings(stderr)
    assert "[worker 1]" in stderr and "[worker 2]" in stderr
    trials = _trials(make_storage(out / "study.log"), "mobilenet_v2-head-study")
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 4 and all(t.user_attrs[WORKER] for t in complete)
    done = [t for t in trials if t.state.is_finished() and t.state != TrialState.FAIL]
    assert len(done) == 4 and len({t.number for t in done}) == 4  # no trial beyond n_trials
    assert all(len(t.user_attrs["fold_accuracies"]) == 3 for t in complete)
    # A worker waits for the last trials running elsewhere instead of asking for more: at
    # most one surplus trial, when both asked for the last one at the same instant.
    assert sum(t.state == TrialState.FAIL for t in trials) <= 1
    best = max(complete, key=lambda t: (t.value, -t.number))
    assert json.loads((out / "search.json").read_text())["best_lr"] == best.params["lr"]
    assert f"best lr: {best.params['lr']:.4g}" in stdout
    assert (out / "results.json").exists()


def test_workers_round_robin_over_visible_gpus(monkeypatch):
    from fakezoo.train.workers import _visible_gpus, assign_devices

    assert assign_devices(3, ["0", "1"]) == ["0", "1", "0"]
    assert assign_devices(2, ["0"]) == [None, None]  # one GPU (or none): all share it
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert _visible_gpus("auto") == ["2", "3"]
    assert _visible_gpus("cpu") == [] and _visible_gpus("cuda:1") == []


def test_workers_refuse_sqlite(cli, tmp_path):
    code, _, err = cli(
        "tune", "data", "--model", "mobilenet_v2", "--workers", "2",
        "--storage", tmp_path / "s.db", "--out", tmp_path / "o",
    )  # fmt: skip
    assert code == 2  # a usage error, found by the parser before any work
    assert "--workers needs a Journal file" in err
    assert not (tmp_path / "o").exists()


def test_a_worker_declared_dead_drops_its_result_and_goes_on(tmp_path, caplog):
    """A live worker whose trial was failed as stale (it paused too long) cannot report it:
    its result is dropped with a warning, the rerun of its learning rate counts instead."""
    from fakezoo.train.storage import recover_stale_trials
    from fakezoo.train.trial_loop import run_until_finished

    storage = make_storage(tmp_path / "s.log", grace_period=1)
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    calls = []

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        calls.append(x)
        if len(calls) == 1:  # the first trial stalls past the grace period (no heartbeat)...
            time.sleep(1.5)
            assert recover_stale_trials(study, storage) == [trial.number]  # ...another worker
        return x

    with caplog.at_level("WARNING", logger="fakezoo"):
        run_until_finished(study, storage, 2, objective, [], [])
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert trials[1].params == trials[0].params and retried_trial_number(trials[1]) == 0
    assert "declared dead by another worker" in caplog.text


def test_a_rerun_is_not_failed_for_the_heartbeat_it_inherited(tmp_path):
    """Optuna's retry copies the dead trial's user attributes, its last lease time included:
    the rerun's lease counts from its own start, not from that old heartbeat."""
    from fakezoo.train.storage import HEARTBEAT, recover_stale_trials

    storage = make_storage(tmp_path / "s.log", grace_period=1)
    study = optuna.create_study(study_name="s", storage=storage)
    dead = study.ask()
    dead.suggest_float("x", 0, 1)
    dead.set_user_attr(HEARTBEAT, time.time() - 10)  # its worker stopped beating long ago
    time.sleep(1.2)
    assert recover_stale_trials(study, storage) == [dead.number]
    rerun = study.ask()  # the queued rerun, with the dead trial's heartbeat attribute
    assert rerun.user_attrs[HEARTBEAT] < time.time() - 10
    frozen = study.get_trials(deepcopy=False)[rerun.number]
    assert frozen.params == dead.params and retried_trial_number(frozen) == dead.number
    assert recover_stale_trials(study, storage) == []  # it has only just started
    assert study.get_trials(deepcopy=False)[rerun.number].state == TrialState.RUNNING


def test_a_worker_with_other_settings_is_refused(demo_dir, tmp_path, postgres_url, capsys):
    """A worker joins a stored study only with the study's fingerprint: one started with
    other settings is refused in one line, before any trial, naming the field."""
    from fakezoo.cli import EXIT_ERROR, main

    common = [
        "tune",
        str(demo_dir),
        *TRAINING,
        "--trials",
        "1",
        "--pruner",
        "none",
        "--storage",
        postgres_url,
        "--study",
        "fp",
        "--search-only",
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(common) == 0
    capsys.readouterr()
    assert main([*common, "--lr-range", "1e-3", "1e-1"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lr_range" in err, err
    assert len(_trials(make_storage(postgres_url), "fp")) == 1  # nothing was run
    assert not (tmp_path / "o").exists()  # a --search-only worker writes no run


def test_every_command_of_the_guide_parses():
    """docs/scale.md's `fakezoo` lines use flags that exist (they were run as written)."""
    import re
    import shlex
    from pathlib import Path

    from fakezoo.cli_parser import build_parser

    guide = (Path(__file__).resolve().parents[1] / "docs" / "scale.md").read_text()
    lines = re.sub(r"\\\n\s*", " ", "\n".join(re.findall(r"```bash\n(.*?)```", guide, re.S)))
    commands = [
        shlex.split(line.strip().rstrip("&"))
        for line in lines.splitlines()
        if line.strip().startswith("fakezoo ")
    ]
    assert len(commands) >= 6
    for words in commands:
        args = build_parser().parse_args([w if "$" not in w else "1" for w in words[1:]])
        assert args.command in {"tune", "cv"}
    # torchrun's own flags, then fakezoo's (`[srun] torchrun ... -m fakezoo ...`)
    from torch.distributed.run import get_args_parser

    launches = [
        shlex.split(line.strip().rstrip("&"))
        for line in lines.splitlines()
        if " -m fakezoo " in line
    ]
    assert len(launches) >= 6
    for words in launches:
        words = [w if "$" not in w else "1" for w in words[words.index("torchrun") + 1 :]]
        launch = get_args_parser().parse_args(words)
        assert launch.module and launch.training_script == "fakezoo"
        args = build_parser().parse_args(launch.training_script_args)
        assert args.command in {"tune", "cv", "benchmark"}
