"""Test-wide settings: no network, an isolated Hugging Face cache, one build per model."""

import contextlib
import copy
import functools
import os
import tempfile

# Before anything imports huggingface_hub: never touch the network, never the user's cache.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="fakezoo-test-hf-")
# fakezoo's own cache (converted weights, the demo data): one per session, not the user's.
os.environ["FAKEZOO_CACHE"] = tempfile.mkdtemp(prefix="fakezoo-test-cache-")
os.environ.setdefault("TQDM_DISABLE", "1")

import pytest

SMALL = {"vit_b_16": 32, "inception_v3": 75}  # smallest sizes each network accepts


def tiny_flags(*more: str, image_size: int = 32, batch_size: int | None = 8) -> list[str]:
    """The command-line flags of a tiny CPU run: 1 epoch, random weights, small images (and
    batches of ``batch_size`` unless None), then ``more``. Test modules import it.

    Example:
        ```python
        from conftest import tiny_flags
        argv = ["cv", "data", "--model", "mobilenet_v2", *tiny_flags("--no-finetune")]
        ```
    """
    flags = ["--epochs", "1", "--no-pretrained", "--image-size", str(image_size)]
    if batch_size is not None:
        flags += ["--batch-size", str(batch_size)]
    return [*flags, "--device", "cpu", *more]


@functools.cache
def _built(name: str, finetune: bool, image_size: int):
    import torch

    import fakezoo

    torch.manual_seed(0)  # the same weights whatever order the tests run in
    return fakezoo.create(name, finetune=finetune, pretrained=False, image_size=image_size)


@pytest.fixture
def build():
    """Return a fresh copy of a zoo model; each architecture is built once per session."""

    def make(name: str, finetune: bool = True, image_size: int | None = None):
        return copy.deepcopy(_built(name, finetune, image_size or SMALL.get(name, 64)))

    return make


@pytest.fixture
def cli(capsys):
    """Run ``fakezoo ARGV`` in this process: returns (exit code, stdout, stderr).

    The same code path as the console script, without a new interpreter (importing torch
    takes seconds). Log lines go to ``caplog``, not to stderr. Use a subprocess only where the
    process itself is under test (signals, a killed run, the installed command, start-up).
    """
    from fakezoo.cli import main

    def run(*argv):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exit:  # argparse: --help, --version, usage errors
            code = exit.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """A small demo dataset (12 real, 12 fake, 64x64 JPGs), made once per session."""
    from fakezoo.synth.demo import make_demo_dataset

    return make_demo_dataset(tmp_path_factory.mktemp("demo"), n_per_class=12, seed=0, image_size=64)


@contextlib.contextmanager
def _torch_threads(n: int):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _train_once(out, data, *, image_size: int, finetune: bool, lr: float, epochs: int):
    """A 3-fold MobileNet-V2 run from random initial weights, batch 8, on one torch thread."""
    import fakezoo

    cv = fakezoo.CrossValidator(
        n_splits=3,
        epochs=epochs,
        batch_size=8,
        pretrained=False,
        image_size=image_size,
        device="cpu",
        progress=False,
        num_workers=1,
    )
    with _torch_threads(1):
        cv.run("mobilenet_v2", fakezoo.load_dataset(data), finetune=finetune, lr=lr, out_dir=out)
    return out


# The session's runs, trained once on `demo_dir`. They are shared: read them, never change
# them; a test that writes into a run works on its own copy (shutil.copytree).


@pytest.fixture(scope="session")
def tiny_run(demo_dir, tmp_path_factory):
    """Head-only MobileNet-V2, 64 px, 1 epoch, lr 1e-3 (the app and face-explanation tests
    need 64 px: a 2x2 map for Grad-CAM)."""
    out = tmp_path_factory.mktemp("tiny-run") / "run"
    return _train_once(out, demo_dir, image_size=64, finetune=False, lr=1e-3, epochs=1)


@pytest.fixture(scope="session")
def head_run(demo_dir, tmp_path_factory):
    """Head-only MobileNet-V2, 32 px, 1 epoch, lr 1e-3; the same as
    ``fakezoo cv DEMO --model mobilenet_v2 --no-finetune --lr 1e-3 --epochs 1 --batch-size 8
    --image-size 32 --no-pretrained --device cpu``."""
    out = tmp_path_factory.mktemp("head-run") / "run"
    return _train_once(out, demo_dir, image_size=32, finetune=False, lr=1e-3, epochs=1)


@pytest.fixture(scope="session")
def finetune_run(demo_dir, tmp_path_factory):
    """Fine-tuned MobileNet-V2, 32 px, 2 epochs, lr 3e-3; the same as
    ``fakezoo cv DEMO --model mobilenet_v2 --lr 3e-3 --epochs 2 --batch-size 8
    --image-size 32 --no-pretrained --device cpu``."""
    out = tmp_path_factory.mktemp("finetune-run") / "run"
    return _train_once(out, demo_dir, image_size=32, finetune=True, lr=3e-3, epochs=2)


@pytest.fixture(scope="session")
def tiny_study(demo_dir, tmp_path_factory):
    """The study's two MobileNet-V2 rows (head only, fine-tuned), 1 trial, 1 epoch, 32 px,
    batch 8, one torch thread; the same as ``fakezoo benchmark DEMO --models mobilenet_v2
    --trials 1 --epochs 1 --batch-size 8 --image-size 32 --no-pretrained --device cpu``."""
    from fakezoo.study import run_study

    out = tmp_path_factory.mktemp("tiny-study") / "study"
    with _torch_threads(1):
        run_study(
            demo_dir,
            out,
            models=["mobilenet_v2"],
            n_trials=1,
            epochs=1,
            image_size=32,
            pretrained=False,
            batch_size=8,
            device="cpu",
            progress=False,
        )
    return out


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module (``pytestmark = pytest.mark.usefixtures(...)``): tiny
    models and MTCNN's many small ops gain nothing from threads; on a busy machine they spin."""
    with _torch_threads(1):
        yield


@pytest.fixture
def one_thread():
    """One torch thread for a single test (``one_torch_thread`` is for a whole module)."""
    with _torch_threads(1):
        yield


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server on 127.0.0.1 (see ``tests/pgserver.py``).

    Without PostgreSQL's binaries the tests using it are skipped, except in CI (``CI=true``),
    where they fail: CI must test against a real server.
    """
    from pgserver import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer()
    except PostgresUnavailable as err:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI needs a real PostgreSQL server: {err}")
        pytest.skip(str(err))
    with server:
        yield server


@pytest.fixture
def postgres_url(postgres_server, request):
    """The URL of a fresh, empty database on the throwaway server, one per test."""
    import re

    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:50]
    return postgres_server.create_database(name)


# -- in CI, a skip is a failure -------------------------------------------------------------------
# CI installs every optional piece (the `test` extra) and starts every service, so a test that
# skips there hides a broken install. Only the CUDA tests may skip: CI has no GPU.


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _fail_skip_in_ci(report) -> None:
    if _in_ci() and report.skipped and "CUDA" not in str(report.longrepr):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where nothing may be missing: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_skip_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_skip_in_ci(outcome.get_result())
