"""Each example script runs end to end in a tiny configuration, so the examples cannot rot."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hubserver import FakeHub

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TINY = ["--epochs", "1", "--image-size", "32", "--no-pretrained", "--device", "cpu"]


def _run(script, *args, env=None):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def hub():
    server = FakeHub()
    yield server
    server.close()


def test_train_one_model_then_push_then_predict(demo_dir, tmp_path, hub):
    out = tmp_path / "run"
    env = {
        "HF_HUB_OFFLINE": "0",
        "HF_ENDPOINT": hub.endpoint,
        "HF_TOKEN": hub.token,
        "HF_HUB_DISABLE_XET": "1",
    }
    text = _run(
        "train_one_model.py",
        demo_dir,
        "--model",
        "mobilenet_v2",
        "--no-finetune",
        "--out",
        out,
        "--trials",
        "2",
        "--repo-id",
        "tester/tiny",
        "--tag",
        "v1",
        *TINY,
        env=env,
    )
    assert "best learning rate" in text and "pushed to" in text
    assert "tester/tiny" in hub.repos and (out / "fold_3" / "model.safetensors").exists()

    image = sorted((demo_dir / "fake").glob("*.jpg"))[0]
    text = _run("predict.py", image, tmp_path / "missing.jpg", "--model", out)
    assert text.split()[0] in {"real", "fake"} and "skipped" in text
    # The pulled model predicts the same as the local run directory.
    pulled = _run("predict.py", image, "--model", "tester/tiny", env=env)
    assert pulled.split()[:2] == text.split()[:2]


def test_reproduce_benchmark(demo_dir, tmp_path):
    text = _run(
        "reproduce_benchmark.py",
        demo_dir,
        "--out",
        tmp_path,
        "--models",
        "vit_b_16",
        "--trials",
        "1",
        "--n-per-class",
        "100",
        *TINY,
    )
    assert "VIT (Vision Transformer)" in text and (tmp_path / "study.md").exists()
