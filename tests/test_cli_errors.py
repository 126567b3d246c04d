"""A user's mistakes and a machine's limits, through the real `fakezoo` command: one line on
stderr that names the argument or file and says what to do, the right exit code, no traceback
(unless --debug or FAKEZOO_DEBUG=1 asks for it)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import tiny_flags

TINY = tiny_flags()


def fakezoo(*argv: str, env: dict | None = None, timeout: float = 300):
    exe = shutil.which("fakezoo")
    assert exe, "the fakezoo console script is not installed"
    return subprocess.run(
        [exe, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def one_line_error(proc, code: int = 1) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def in_small_mount(tmp_path: Path, options: str, *argv: str):
    """Run `fakezoo ARGV` with a fresh tmpfs mounted at tmp_path/mnt (own mount namespace)."""
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) is needed to mount a private tmpfs")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    exe = shutil.which("fakezoo")
    script = f'mount -t tmpfs -o {options} tmpfs "{mnt}" && exec "$@"'
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", exe, *argv],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if "mount:" in proc.stderr and "fakezoo" not in proc.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    return proc, mnt


def cv_args(data, out, *extra):
    return [
        "cv",
        str(data),
        "--model",
        "mobilenet_v2",
        "--no-finetune",
        "--lr",
        "1e-3",
        "--out",
        str(out),
        *TINY,
        *extra,
    ]


def test_unknown_storage_scheme_names_the_argument(demo_dir, tmp_path):
    proc = fakezoo(
        "tune",
        str(demo_dir),
        "--model",
        "mobilenet_v2",
        "--trials",
        "1",
        "--out",
        str(tmp_path / "o"),
        "--storage",
        "redis://localhost/x",
        *TINY,
    )
    line = one_line_error(proc)
    assert "--storage redis://localhost/x" in line and "postgresql://" in line
    assert "decoded" not in proc.stderr and not (tmp_path / "o").exists()  # before any work


def test_storage_is_checked_without_creating_or_connecting(tmp_path):
    from fakezoo.train.storage import check_storage

    check_storage(None)
    check_storage(tmp_path / "new" / "study.log")
    check_storage("postgresql://user@127.0.0.1:9/nowhere")  # port 9: nothing listens
    assert not (tmp_path / "new").exists()
    for bad, says in [
        ("redis://localhost/x", "not 'redis://'"),
        ("study.txt", ".log/.journal"),
        ("postgres://h/db", "write postgresql://"),
    ]:
        with pytest.raises(ValueError, match=says):
            check_storage(bad)


def test_debug_shows_the_traceback(demo_dir, tmp_path):
    args = [
        "tune",
        str(demo_dir),
        "--model",
        "mobilenet_v2",
        "--trials",
        "1",
        "--out",
        str(tmp_path / "o"),
        "--storage",
        "redis://localhost/x",
        *TINY,
    ]
    for proc in (fakezoo("--debug", *args), fakezoo(*args, env={"FAKEZOO_DEBUG": "1"})):
        assert proc.returncode == 1 and "Traceback" in proc.stderr
        assert "ValueError: storage=" in proc.stderr


def test_read_only_out_says_choose_a_writable_out(demo_dir, tmp_path):
    proc, mnt = in_small_mount(tmp_path, "ro,size=1m", *cv_args(demo_dir, tmp_path / "mnt/run"))
    line = one_line_error(proc)
    assert str(mnt) in line and "--out" in line and "Read-only" in line


def test_full_disk_says_free_space_and_rerun(demo_dir, tmp_path):
    proc, mnt = in_small_mount(tmp_path, "size=1m", *cv_args(demo_dir, tmp_path / "mnt/run"))
    line = one_line_error(proc)
    assert "disk is full" in line and str(mnt) in line and "same command" in line


def test_missing_optional_module_names_the_extra(demo_dir, tmp_path):
    # matplotlib hidden: the CV still runs, and says once (not once per fold/row) that the
    # plots need the `plots` extra.
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from fakezoo.cli import main\n"
        f"sys.exit(main({cv_args(demo_dir, tmp_path / 'run', '--folds', '2')!r}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if "matplotlib is not installed" in line]
    assert notes == ['matplotlib is not installed: no plots (pip install "fakezoo[plots]").']


def test_ctrl_c_says_how_to_resume_and_the_rerun_resumes(demo_dir, tmp_path, cli):
    # A real process, because Ctrl-C (SIGINT) is what is under test. It is frozen (SIGSTOP)
    # once fold 1 is written, checked to be short of its last fold, and interrupted there:
    # SIGINT waits while it is stopped and lands as soon as SIGCONT lets it run, with a fold
    # and the run's results still to write, so the interrupt always comes before the end.
    # Six folds leave about a second (more on a busy machine) to catch it in.
    out = tmp_path / "run"
    args = cv_args(demo_dir, out, "--folds", "6")
    exe = shutil.which("fakezoo")
    # A shell starts background jobs with SIGINT ignored, and a child inherits that (then
    # Python installs no KeyboardInterrupt handler): the child gets the default disposition.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 240
    while not (out / "fold_1" / "config.json").exists():  # fold 1 is done
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "fold 1 never finished"
        time.sleep(0.002)
    proc.send_signal(signal.SIGSTOP)
    try:
        assert not (out / "fold_6" / "config.json").exists(), "caught only after the last fold"
        proc.send_signal(signal.SIGINT)
    finally:
        proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "interrupted" in err and "run the same command again to resume" in err
    done = (out / "fold_1" / "config.json").stat().st_mtime_ns

    code, _, err = cli(*args)  # the rerun needs no process of its own
    assert code == 0, err
    assert (out / "fold_1" / "config.json").stat().st_mtime_ns == done  # not recomputed
    assert (out / "fold_6" / "config.json").is_file()
