import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import fakezoo
from fakezoo.data import decode_image, load_dataset
from fakezoo.errors import DatasetError, RunDirectoryError
from fakezoo.train.cv import CrossValidator

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # as the session's runs were made

SETTINGS = dict(
    n_splits=3,
    epochs=2,
    batch_size=8,
    pretrained=False,
    image_size=32,
    device="cpu",
    progress=False,
)


def _without_timings(data: dict) -> dict:
    data = dict(data)
    data.pop("timings")
    data["folds"] = [{k: v for k, v in f.items() if k != "seconds"} for f in data["folds"]]
    return data


@pytest.fixture
def run_dir(finetune_run):
    """The session's fine-tuned run (conftest.py): ``SETTINGS``, fine-tuned, lr 3e-3."""
    return finetune_run


def test_run_directory_holds_folds_results_and_report(run_dir, demo_dir):
    for k in (1, 2, 3):
        cfg = json.loads((run_dir / f"fold_{k}" / "config.json").read_text())
        assert cfg["architecture"] == "mobilenetv2_100"
        assert cfg["fakezoo"]["model"] == "mobilenet_v2" and cfg["fakezoo"]["fold"] == k
        assert cfg["fakezoo"]["labels"] == ["real", "fake"]
        assert len(cfg["fakezoo"]["val_files_sha256"]) == 64
        assert (run_dir / f"fold_{k}" / "model.safetensors").stat().st_size > 0
    results = json.loads((run_dir / "results.json").read_text())
    index = json.loads((run_dir / "config.json").read_text())
    assert index["library_name"] == "fakezoo" and index["complete"] is True
    assert index["metrics"]["accuracy"] == pytest.approx(
        np.mean([f["metrics"]["accuracy"] for f in results["folds"]])
    )
    val = sorted(p for f in results["folds"] for p in f["val_files"])
    assert val == sorted(load_dataset(demo_dir).relpaths())  # each image validated once
    text = (run_dir / "report.md").read_text()
    assert "mean ± std" in text and "Image size 32 instead of the study's 224" in text
    assert (run_dir / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_fold_weights_reload_strictly_and_reproduce_predictions(run_dir, demo_dir):
    results = json.loads((run_dir / "results.json").read_text())
    for fold in results["folds"]:
        model = fakezoo.create("mobilenet_v2", pretrained=False, image_size=32)
        state = load_file(str(run_dir / f"fold_{fold['fold']}" / "model.safetensors"))
        model.load_state_dict(state, strict=True)
        images = np.stack([decode_image(demo_dir / p, 32) for p in fold["val_files"]])
        x = model.preprocessing.normalize(torch.from_numpy(images).permute(0, 3, 1, 2))
        with torch.no_grad():
            probs = model.eval()(x).softmax(1)[:, 1].numpy()
        # The trunk's output was cached in float16, hence the tolerance.
        np.testing.assert_allclose(probs, fold["y_prob"], atol=2e-3)


def test_other_settings_on_an_existing_directory_are_refused(run_dir, demo_dir):
    cv = CrossValidator(**SETTINGS)
    with pytest.raises(RunDirectoryError, match=r"lr: 0\.003 → 0\.001"):
        cv.run("mobilenet_v2", demo_dir, finetune=True, lr=1e-3, out_dir=run_dir)


def test_same_settings_resume_without_training(run_dir, demo_dir, monkeypatch, tmp_path):
    before = json.loads((run_dir / "results.json").read_text())
    shutil.copytree(run_dir, tmp_path / "run")  # the resumed run rewrites its results
    monkeypatch.setattr(CrossValidator, "fit_fold", lambda *a, **k: pytest.fail("retrained"))
    result = CrossValidator(**SETTINGS).run(
        "mobilenet_v2", demo_dir, finetune=True, lr=3e-3, out_dir=tmp_path / "run"
    )
    assert _without_timings(result.to_dict()) == _without_timings(before)


@pytest.fixture
def trained_folds(monkeypatch) -> list[int]:
    """The fold numbers that CrossValidator.fit_fold trains from now on, in order."""
    trained = []
    original = CrossValidator.fit_fold

    def spy(self, template, decoded, train_idx, val_idx, lr, fold, on_epoch=None):
        trained.append(fold)
        return original(self, template, decoded, train_idx, val_idx, lr, fold, on_epoch)

    monkeypatch.setattr(CrossValidator, "fit_fold", spy)
    return trained


def test_runs_without_weights_keep_the_numbers_and_say_why_they_cannot_load(
    run_dir, demo_dir, tmp_path, trained_folds
):
    out = tmp_path / "metrics-only"
    result = CrossValidator(**SETTINGS, save_weights=False).run(
        "mobilenet_v2", demo_dir, finetune=True, lr=3e-3, out_dir=out
    )
    before = json.loads((run_dir / "results.json").read_text())
    assert _without_timings(result.to_dict()) == _without_timings(before)
    assert not list(out.rglob("*.safetensors"))
    assert (out / "fold_3" / "config.json").exists() and (out / "report.md").exists()
    with pytest.raises(fakezoo.errors.RunFormatError, match="--save-weights"):
        fakezoo.load_run(out)

    # Asking for weights later retrains the folds that have none, rather than skip them.
    trained_folds.clear()
    CrossValidator(**SETTINGS).run("mobilenet_v2", demo_dir, finetune=True, lr=3e-3, out_dir=out)
    assert trained_folds == [1, 2, 3]
    assert len(fakezoo.load_run(out).folds) == 3


def test_augmentation_falls_back_to_the_full_forward_pass(demo_dir, caplog):
    flips = []

    def flip(images):
        flips.append(len(images))
        return images.flip(-1)

    with caplog.at_level("WARNING", logger="fakezoo"):
        cv = CrossValidator(**{**SETTINGS, "epochs": 1}, augment=flip)
    assert "runs the whole model on every step" in caplog.text
    result = cv.run("mobilenet_v2", demo_dir, finetune=False, lr=1e-3)
    assert cv.trunk_images == 0 and sum(flips) == 3 * 16  # every training image, every fold
    assert any(d.startswith("Random augmentation (the study had none)") for d in result.deviations)


def test_too_few_images_fail_before_training(tmp_path, demo_dir):
    subset = load_dataset(demo_dir).subsample(2, seed=0)
    with pytest.raises(DatasetError):
        CrossValidator(**SETTINGS).run("mobilenet_v2", subset, lr=1e-3)
