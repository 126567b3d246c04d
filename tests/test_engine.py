import copy

import numpy as np
import pytest
import torch

import fakezoo
from fakezoo.metrics import binary_metrics
from fakezoo.models.stages import split_trunk_tail
from fakezoo.train.engine import compute_trunk, train_fold
from fakezoo.train.settings import TrainSettings

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread (conftest)


def _easy_images(n: int, size: int, seed: int = 0):
    """Real = dark, fake = bright, with noise: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    base = torch.where(labels[:, None, None, None] == 1, 170.0, 80.0)
    noise = torch.randn(n, 3, size, size, generator=g) * 30
    return (base + noise).clamp(0, 255).to(torch.uint8), labels


def _template(build, name: str, finetune: bool, size: int):
    if name != "clip_vit_l14":
        return build(name, finetune, image_size=size)
    # ViT-L/14 holds 1.2 GB at random init: built for this test only, not kept for the session.
    torch.manual_seed(0)
    return fakezoo.create(name, finetune=finetune, pretrained=False, image_size=size)


@pytest.mark.parametrize(
    ("name", "finetune", "size"),
    [
        ("mobilenet_v2", True, 32),
        ("vgg16", False, 32),
        ("xception", True, 32),  # the exit flow over the cached entry and middle flows
        ("clip_vit_l14", False, 28),  # the linear probe over the cached CLIP encoder
    ],
)
def test_tail_training_equals_full_model_training(build, name, finetune, size):
    images, labels = _easy_images(24, size)
    train_idx, val_idx = np.arange(16), np.arange(16, 24)
    settings = TrainSettings(epochs=2, batch_size=4, seed=3, cache_dtype=torch.float32)
    template = _template(build, name, finetune, size)

    full_model = copy.deepcopy(template)
    full = train_fold(
        full_model, images, labels, train_idx, val_idx, 1e-3, settings, device="cpu", full=True
    )
    tail_model = copy.deepcopy(template)
    feats = compute_trunk(
        tail_model, images, device="cpu", dtype=torch.float32, batch_size=7, backend="torch"
    )  # the same arithmetic as the full pass
    tail = train_fold(tail_model, feats, labels, train_idx, val_idx, 1e-3, settings, device="cpu")

    np.testing.assert_allclose(tail.y_prob, full.y_prob, atol=1e-4)
    assert tail.history == full.history
    assert binary_metrics(tail.y_true, tail.y_pred, tail.y_prob) == binary_metrics(
        full.y_true, full.y_pred, full.y_prob
    )
    for (k, a), b in zip(
        tail_model.state_dict().items(), full_model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b) or torch.allclose(a, b, atol=1e-4), k  # equal: quicker
    # Training moved the tail's weights and nothing else.
    trained = {n for n, p in template.named_parameters() if p.requires_grad}
    for n, p in tail_model.named_parameters():
        assert torch.equal(p, template.get_parameter(n)) != (n in trained), n


def test_trunk_output_is_what_the_tail_consumes(build):
    model = build("resnet50", False, image_size=32)
    images, _ = _easy_images(5, 32)
    feats = compute_trunk(model, images, device="cpu", dtype=torch.float32)
    assert feats.shape == (5, 2048)
    _, tail = split_trunk_tail(model)
    with torch.no_grad():
        x = model.preprocessing.normalize(images)
        logits = model.eval()(x)
        y = feats
        for stage in tail:
            y = stage.fn(y)
    assert torch.allclose(y, logits, atol=1e-4)
    half = compute_trunk(model, images, device="cpu")
    assert half.dtype == torch.float16
    assert torch.allclose(half.float(), feats, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet50"])
def test_the_trunk_cache_runs_on_predictions_backends(build, name):
    """Training's trunk pass uses the same runners as prediction: ONNX Runtime (chosen by
    "auto" on a CPU for mobilenet_v2) gives the eager trunk's output."""
    from fakezoo.models import backends

    model = build(name, True, image_size=32)
    images, _ = _easy_images(6, 32)
    eager = compute_trunk(model, images, device="cpu", dtype=torch.float32, backend="torch")
    ort = compute_trunk(model, images, device="cpu", dtype=torch.float32, backend="onnxruntime")
    assert ort.shape == eager.shape and torch.allclose(ort, eager, atol=1e-4)
    trunk, _ = split_trunk_tail(model)
    picked = backends.choose_backend("auto", torch.device("cpu"), model.spec.architecture)
    assert picked == ("onnxruntime" if name == "mobilenet_v2" else "torch")
    assert (backends.trunk_runner(trunk, picked, 32) is None) == (picked == "torch")
    with pytest.raises(ValueError, match="backend='tensorrt'"):
        compute_trunk(model, images, device="cpu", backend="tensorrt")


def test_engine_learns_an_easy_problem(build):
    images, labels = _easy_images(96, 32, seed=1)
    order = np.random.default_rng(0).permutation(96)
    model = build("mobilenet_v2", False, image_size=32)
    feats = compute_trunk(model, images, device="cpu")
    out = train_fold(
        model,
        feats,
        labels,
        order[:64],
        order[64:],
        3e-3,
        TrainSettings(epochs=12, batch_size=16),
        device="cpu",
    )
    assert out.history[-1] >= 0.85
    assert binary_metrics(out.y_true, out.y_pred, out.y_prob)["roc_auc"] >= 0.9


def test_on_epoch_can_stop_training(build):
    images, labels = _easy_images(12, 32)
    model = build("mobilenet_v2", False, image_size=32)
    feats = compute_trunk(model, images, device="cpu")
    seen = []

    class Stop(Exception):
        pass

    def hook(epoch, acc):
        seen.append((epoch, acc))
        raise Stop

    with pytest.raises(Stop):
        train_fold(
            model,
            feats,
            labels,
            np.arange(8),
            np.arange(8, 12),
            1e-3,
            TrainSettings(epochs=5, batch_size=4),
            device="cpu",
            on_epoch=hook,
        )
    assert len(seen) == 1 and 0 <= seen[0][1] <= 1


def test_bad_settings_and_augment_without_full_pass(build):
    with pytest.raises(ValueError, match="optimizer='rmsprop'"):
        TrainSettings(optimizer="rmsprop")
    model = build("mobilenet_v2", False, image_size=32)
    images, labels = _easy_images(4, 32)
    with pytest.raises(ValueError, match="augment needs full=True"):
        train_fold(
            model,
            images,
            labels,
            np.arange(2),
            np.arange(2, 4),
            1e-3,
            TrainSettings(epochs=1, augment=lambda x: x),
            device="cpu",
        )


def test_trunk_outputs_beyond_float16_are_cached_in_float32(build, caplog):
    model = build("inception_v3", False)  # random init: activations reach ~1e7
    images, _ = _easy_images(2, 75)
    with caplog.at_level("WARNING", logger="fakezoo"):
        feats = compute_trunk(model, images, device="cpu")
    assert feats.dtype == torch.float32 and torch.isfinite(feats).all()
    assert "exceed the float16 range" in caplog.text


def test_a_diverging_fold_stops_with_a_clear_error(build):
    images, labels = _easy_images(12, 32)
    model = build("mobilenet_v2", False, image_size=32)
    feats = compute_trunk(model, images, device="cpu")
    with pytest.raises(FloatingPointError, match=r"lr=1e\+30.*try a lower lr"):
        train_fold(
            model,
            feats * 1e30,
            labels,
            np.arange(8),
            np.arange(8, 12),
            1e30,
            TrainSettings(epochs=3, batch_size=4),
            device="cpu",
        )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("adam", lambda p: torch.optim.Adam(p, lr=1e-3, weight_decay=0.0)),
        ("adamw", lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01)),
        ("sgd", lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9, weight_decay=0.0)),
    ],
)
def test_timm_builds_the_same_optimiser_as_torch(name, expected):
    from fakezoo.train.engine import _optimizer

    settings = TrainSettings(optimizer=name, weight_decay=0.01 if name == "adamw" else 0.0)
    ours = _optimizer([torch.nn.Parameter(torch.zeros(3))], 1e-3, settings)
    plain = expected([torch.nn.Parameter(torch.zeros(3))])
    assert type(ours) is type(plain)
    assert [{k: v for k, v in g.items() if k != "params"} for g in ours.param_groups] == [
        {k: v for k, v in g.items() if k != "params"} for g in plain.param_groups
    ]
