"""The CUDA paths: autocast with the GradScaler, channels_last, the trunk cache kept on the GPU
and shared-trunk prediction. Every test here is marked ``cuda`` and skips without a device;
``benchmarks/device_check.sh`` runs them (``pytest -m cuda``) on a machine that has one."""

import copy

import numpy as np
import pytest
import torch

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _folds(build, name="resnet50", finetune=False, k=3):
    torch.manual_seed(0)
    first = build(name, finetune=finetune).eval()
    models = [first]
    for _ in range(k - 1):
        other = copy.deepcopy(first)
        with torch.no_grad():
            for p in other.parameters():
                if p.requires_grad:
                    p.add_(torch.randn_like(p) * 0.05)
        models.append(other)
    return models


def test_autocast_training_with_grad_scaler(build):
    """bf16 where the GPU has it, else fp16 with the GradScaler (``amp_mode``)."""
    from fakezoo.train.engine import compute_trunk, train_fold
    from fakezoo.train.settings import TrainSettings

    model = build("resnet50", finetune=True)
    torch.manual_seed(0)
    images = torch.randint(0, 256, (24, 3, 64, 64), dtype=torch.uint8)
    labels = torch.tensor([0, 1] * 12)
    settings = TrainSettings(epochs=2, batch_size=8, amp=True)
    feats = compute_trunk(model, images, device="cuda", amp=True)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    out = train_fold(
        model, feats, labels, np.arange(16), np.arange(16, 24), 1e-3, settings, device="cuda"
    )
    assert np.isfinite(out.y_prob).all() and out.y_prob.shape == (8,)
    changed = [
        not torch.equal(before[n], p.detach())
        for n, p in model.named_parameters()
        if p.requires_grad
    ]
    assert all(changed), "every trainable tensor moves (no step skipped for good)"


def test_trunk_cache_stays_on_the_gpu(build):
    from fakezoo.train.engine import compute_trunk

    model = build("mobilenet_v2", finetune=False)
    images = torch.randint(0, 256, (10, 3, 64, 64), dtype=torch.uint8)
    on_gpu = compute_trunk(model, images, device="cuda", batch_size=4)
    assert on_gpu.device.type == "cuda" and on_gpu.shape[0] == 10
    on_cpu = compute_trunk(model, images, device="cuda", batch_size=4, keep_on_device=False)
    assert on_cpu.device.type == "cpu"
    torch.testing.assert_close(on_gpu.cpu(), on_cpu)


def test_channels_last_and_shared_trunk_prediction(build):
    from fakezoo.inference.detector import Detector

    models = _folds(build)
    cpu = Detector(copy.deepcopy(models), models[0].preprocessing, device="cpu")
    exact = Detector(copy.deepcopy(models), models[0].preprocessing, device="cuda", amp=False)
    fast = Detector(models, models[0].preprocessing, device="cuda", amp=True)
    assert fast.ensemble.trunk_passes == 1
    conv = fast.models[0].conv1.weight
    assert conv.is_cuda and conv.is_contiguous(memory_format=torch.channels_last)
    torch.manual_seed(1)
    images = torch.randint(0, 256, (16, 3, 64, 64), dtype=torch.uint8)
    expected = cpu.predict_tensor(images)
    torch.testing.assert_close(exact.predict_tensor(images), expected, atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(fast.predict_tensor(images), expected, atol=3e-2, rtol=0)
    per_fold = Detector(
        copy.deepcopy(models), models[0].preprocessing, device="cuda", amp=False, share_trunk=False
    )
    assert per_fold.ensemble.trunk_passes == 3
    torch.testing.assert_close(per_fold.predict_tensor(images), expected, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("mode", ["cached", "online"])
def test_self_blend_trains_on_the_gpu(tmp_path, mode):
    """Both recipes on CUDA: the cached fakes' trunk output and the online fakes' labels live
    on the device beside the real faces'."""
    import shutil

    import fakezoo

    root = fakezoo.make_demo_dataset(tmp_path / "faces", n_per_class=6, image_size=48)
    shutil.rmtree(root / "fake")
    cv = fakezoo.CrossValidator(
        epochs=1, pretrained=False, image_size=32, device="cuda", progress=False,
        fakes="self-blend", blend_mode=mode, blends_per_image=1, batch_size=4,
    )  # fmt: skip
    result = cv.run("mobilenet_v2", root, finetune=False, lr=1e-3)
    assert result.fingerprint["fakes"].startswith(f"self-blend ({mode}")
    assert all(np.isfinite(f.y_prob).all() for f in result.folds)
