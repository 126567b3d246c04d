"""Shared Optuna storages against a real PostgreSQL server: start-up races and one-line errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import optuna
import pytest
from optuna.trial import TrialState

from fakezoo.train.storage import StorageError, make_storage

GRACE = 3  # seconds: short, so that the crash tests wait little for a dead worker
TRAINING = ["--model", "mobilenet_v2", "--no-finetune", "--epochs", "1", "--folds", "3",
            "--batch-size", "8", "--image-size", "32", "--no-pretrained", "--device", "cpu"]

# Workers that start at the same instant, whatever their import times: each imports, says
# "ready" and reads the start time from stdin; `_start_together` sends it once all are ready.
BARRIER = """
import sys, time
print("ready", flush=True)
start = float(sys.stdin.readline())
while time.time() < start:
    time.sleep(0.001)
"""
AT_ONCE = ("import fakezoo.cli, fakezoo.train.tune" + BARRIER
           + "sys.exit(fakezoo.cli.main(sys.argv[1:]))")


def _start_together(*commands: list[str]) -> list[subprocess.Popen]:
    workers = [subprocess.Popen([sys.executable, "-c", *c], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for c in commands]
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


def _no_warnings(stderr: str) -> None:
    """No Python warning and no Optuna log line reached the terminal."""
    assert "Warning" not in stderr and "optuna" not in stderr.lower(), stderr


def test_two_workers_create_the_schema_at_the_same_instant(postgres_url):
    """A fresh database: two processes create Optuna's tables and one study at once."""
    imports = "import optuna\nfrom fakezoo.train.storage import make_storage"
    child = imports + BARRIER + textwrap.dedent("""
        study = optuna.create_study(study_name="s", storage=make_storage(sys.argv[1]),
                                    load_if_exists=True)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    """)
    workers = _start_together(*[[child, postgres_url]] * 2)
    for w in workers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
        _no_warnings(err)
    trials = _trials(make_storage(postgres_url), "s")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2


def test_unreachable_server_is_one_line(postgres_server, capsys, demo_dir):
    from pgserver import free_port

    from fakezoo.cli import EXIT_ERROR, main

    port = free_port()  # nothing listens there
    url = f"postgresql://fakezoo:secret@127.0.0.1:{port}/optuna"
    with pytest.raises(StorageError, match=f"cannot reach the database server at 127.0.0.1:"
                                           f"{port}"):
        make_storage(url)
    code = main(["tune", str(demo_dir), "--model", "mobilenet_v2", "--storage", url, "--out", "x",
                 "--device", "cpu", "--no-pretrained"])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR
    assert err.count("\n") == 1 and f"127.0.0.1:{port}" in err and "secret" not in err, err


def test_missing_driver_is_one_line(postgres_url, demo_dir):
    # The driver is hidden from the process, as if psycopg were not installed.
    hide = ("import sys; sys.modules['psycopg'] = None; from fakezoo.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", hide, "-q", "tune", str(demo_dir), "--model",
                             "mobilenet_v2", "--storage", postgres_url, "--out", "x",
                             "--device", "cpu", "--no-pretrained"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "driver 'psycopg' is not installed" in result.stderr
    assert 'pip install "fakezoo[postgres]"' in result.stderr


def test_bad_urls():
    with pytest.raises(ValueError, match="supports postgresql://"):
        make_storage("oracle://user@host/db")
    with pytest.raises(ValueError, match="write postgresql://"):
        make_storage("postgres://user@host/db")
    with pytest.raises(ValueError, match="not a database URL"):
        make_storage("postgresql://user@host:notaport/db")


