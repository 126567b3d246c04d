"""``mode="study"`` trains exactly like the study's plain PyTorch notebook."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from torchvision_reference import TRAINABLE, freeze_like_the_study, notebook_loop, torchvision_model

import fakezoo
from fakezoo import CrossValidator
from fakezoo.cli import main
from fakezoo.models.stages import split_trunk_tail
from fakezoo.models.torchvision_weights import torchvision_to_timm

SEED, FOLD, LR, EPOCHS, BATCH = 3, 1, 1e-3, 2, 4


def _key_map(name: str, state: dict) -> dict[str, str]:
    """torchvision key -> timm key."""
    return {k: next(iter(torchvision_to_timm(name, {k: v}))) for k, v in state.items()}


@pytest.mark.parametrize(
    ("name", "finetune"),
    [
        ("resnet50", False),  # the whole trunk's BatchNorm adapts, frozen as it is
        ("mobilenet_v2", True),  # BatchNorm frozen and trained, Dropout(0.2)
        pytest.param("vgg16", True, marks=pytest.mark.slow),  # two Dropout(0.5), no BatchNorm
    ],
)
def test_study_mode_reproduces_the_notebook_loop(tmp_path, demo_dir, name, finetune, one_thread):
    torch.manual_seed(0)
    reference = torchvision_model(name, num_classes=2)
    backbone = tmp_path / "torchvision.safetensors"  # torchvision's names, as the study had
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(backbone))

    cv = CrossValidator(
        n_splits=2,
        epochs=EPOCHS,
        batch_size=BATCH,
        seed=SEED,
        device="cpu",
        pretrained=backbone,
        weights="torchvision",
        mode="study",
        image_size=32,
        save_weights=False,
        progress=False,
    )
    template = cv.template(name, finetune)
    decoded = cv.decode(demo_dir, 32)
    (train_idx, val_idx), _ = cv.make_folds(decoded)

    # The same initial weights: fakezoo's new head goes into the torchvision model.
    keys = _key_map(name, reference.state_dict())
    start = {k: v.clone() for k, v in template.state_dict().items()}
    with torch.no_grad():
        for k, v in reference.state_dict().items():
            v.copy_(start[keys[k]].reshape(v.shape))
    freeze_like_the_study(reference, TRAINABLE[(name, finetune)])

    model, fold = cv.fit_fold(template, decoded, train_idx, val_idx, LR, fold=FOLD)
    expected = notebook_loop(
        reference,
        decoded.images,
        decoded.labels,
        train_idx,
        val_idx,
        lr=LR,
        epochs=EPOCHS,
        batch_size=BATCH,
        order_seed=SEED * 1000 + FOLD,
        dropout_seed=SEED * 1000 + FOLD,
        channels_last=True,
    )
    # channels_last, as fakezoo runs: the same rounding, so Adam (whose first steps are
    # +-lr whatever the gradient's size) cannot turn 1e-7 differences into 1e-3 ones.
    np.testing.assert_allclose(fold.y_prob, expected, atol=1e-5)
    trained = model.state_dict()
    moved = 0
    for k, v in reference.state_dict().items():
        got = trained[keys[k]].reshape(v.shape)
        if v.is_floating_point():  # torch.equal first: quick for VGG's 120M frozen weights
            assert torch.equal(got, v) or torch.allclose(got, v, rtol=1e-4, atol=1e-4), k
            moved += not torch.equal(v, start[keys[k]].reshape(v.shape))
        else:
            assert torch.equal(got, v), k  # num_batches_tracked
    running = [k for k in reference.state_dict() if k.endswith("running_mean")]
    frozen_running = [
        k for k in running if not any(k.startswith(t + ".") for t in TRAINABLE[(name, finetune)])
    ]
    assert name == "vgg16" or frozen_running  # the statistics of frozen layers moved too:
    for k in frozen_running:
        assert not torch.equal(trained[keys[k]], start[keys[k]]), k
    assert moved > 0


def test_study_mode_saves_runs_that_load_like_fast_ones(tmp_path, demo_dir, one_thread):
    """Study mode's adapted statistics go into the run directory, and predict uses them."""
    cv = CrossValidator(
        n_splits=2,
        epochs=1,
        batch_size=4,
        device="cpu",
        pretrained=False,
        image_size=32,
        mode="study",
        progress=False,
    )
    result = cv.run("mobilenet_v2", demo_dir, finetune=False, lr=1e-3, out_dir=tmp_path / "run")
    assert result.settings["mode"] == "study" and result.settings["drop_rate"] == 0.2
    assert not any(d.startswith("BatchNorm") for d in result.deviations)
    run = fakezoo.load(tmp_path / "run", device="cpu")
    saved = load_file(str(tmp_path / "run" / "fold_2" / "model.safetensors"))
    trained = cv.template("mobilenet_v2", False).state_dict()  # fold 2 was trained last
    assert torch.equal(saved["bn1.running_mean"], trained["bn1.running_mean"].cpu())
    fold = result.folds[1]
    probs = [p.fold_probs[1] for p in run.predict([demo_dir / f for f in fold.val_files])]
    np.testing.assert_allclose(probs, fold.y_prob, atol=1e-4)


@pytest.mark.parametrize("finetune", [False, True])
def test_fast_mode_equals_its_full_model_counterpart(demo_dir, finetune):
    """Caching the frozen trunk changes nothing: the same frozen BatchNorm, the same dropout
    masks (MobileNet-V2's Dropout(0.2) is in the tail; head-only, it starts the tail and
    runs on the cached trunk output)."""
    # torch's default threads: with one, oneDNN rounds the trunk differently for a batch of 4
    # and of 24 (1.6e-5 on this machine), and two epochs of Adam take that past the tolerance.
    runs = {}
    for cache, rate in ((True, None), (False, None), (True, 0.0)):
        cv = CrossValidator(
            n_splits=2,
            epochs=EPOCHS,
            batch_size=BATCH,
            seed=SEED,
            device="cpu",
            pretrained=False,
            image_size=32,
            cache_trunk=cache,
            drop_rate=rate,
            cache_dtype=torch.float32,
            trunk_backend="torch",
            save_weights=False,
            progress=False,
        )
        template = cv.template("mobilenet_v2", finetune)
        if cache and rate is None:
            assert any(stage.dropout for stage in split_trunk_tail(template)[1])
        decoded = cv.decode(demo_dir, 32)
        (train_idx, val_idx), _ = cv.make_folds(decoded)
        model, fold = cv.fit_fold(template, decoded, train_idx, val_idx, LR, fold=FOLD)
        assert cv.trunk_images == (len(decoded.images) if cache else 0)
        runs[cache, rate] = (
            np.array(fold.y_prob),
            {k: v.clone() for k, v in model.state_dict().items()},
        )
    (cached, cached_state), (full, full_state) = runs[True, None], runs[False, None]
    np.testing.assert_allclose(cached, full, atol=1e-5)
    for k, v in full_state.items():
        assert torch.allclose(cached_state[k], v, rtol=1e-4, atol=1e-5), k
    # ...and the dropout is really there: without it the numbers differ.
    assert np.abs(runs[True, 0.0][0] - cached).max() > 1e-4


def test_benchmark_runs_in_study_mode_and_refuses_another_mode(
    tmp_path, demo_dir, capsys, one_thread
):
    """``fakezoo benchmark`` on the demo data, through the real CLI, with tiny settings."""
    out = tmp_path / "study"
    args = [
        "-q",
        "benchmark",
        str(demo_dir),
        "--models",
        "mobilenet_v2",
        "--trials",
        "1",
        "--epochs",
        "1",
        "--image-size",
        "32",
        "--batch-size",
        "8",
        "--no-pretrained",
        "--out",
        str(out),
    ]
    assert main([*args, "--mode", "study"]) == 0
    for row in ("mobilenet_v2-head", "mobilenet_v2-finetune"):
        results = json.loads((out / "rows" / row / "results.json").read_text())
        assert results["settings"]["mode"] == "study"
        assert results["fingerprint"]["mode"] == "study"
        assert not any(d.startswith("BatchNorm") for d in results["deviations"])
    assert "Unstated in the study" in (out / "study.md").read_text()
    capsys.readouterr()
    assert main([*args, "--mode", "fast"]) == 1  # the stored study was made in study mode
    assert "mode: study → fast" in capsys.readouterr().err
