import time

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file
from torchvision.ops.misc import FrozenBatchNorm2d

import fakezoo
from fakezoo.errors import UnknownModelError, WeightsError
from fakezoo.models.stages import model_stages, split_trunk_tail

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread (conftest)

# DESIGN.md's freeze-policy table, transcribed independently of zoo.py.
POLICIES = {
    "resnet50": (["layer4", "fc"], ["fc"]),
    "densenet121": (
        [
            "features.transition2",
            "features.denseblock3",
            "features.transition3",
            "features.denseblock4",
            "features.norm5",
            "classifier",
        ],
        ["classifier"],
    ),
    "vgg16": (["pre_logits.fc2", "head.fc"], ["head.fc"]),
    "inception_v3": (["Mixed_7a", "Mixed_7b", "Mixed_7c", "fc"], ["fc"]),
    "mobilenet_v2": (["blocks.5", "blocks.6", "conv_head", "bn2", "classifier"], ["classifier"]),
    "vit_b_16": (["blocks.11", "norm", "head"], ["head"]),
    "resnet50_mlp": (["layer4", "fc"], ["fc"]),
    # fakezoo's addition (not in DESIGN.md's table): MobileNet-V2's reading of "the last blocks"
    "efficientnet_lite0": (
        ["blocks.5", "blocks.6", "conv_head", "bn2", "classifier"],
        ["classifier"],
    ),
}
CASES = [(name, ft) for name in POLICIES for ft in (True, False)]


def _under(name, prefixes):
    return any(name == p or name.startswith(p + ".") for p in prefixes)


# The detectors of issue 30, tested in test_zoo_detectors.py (their builds are large).
DETECTORS = ["efficientnet_b4", "xception", "clip_vit_l14"]


def test_list_models_has_the_seven_models_in_study_order_then_the_additions():
    assert fakezoo.list_models() == list(POLICIES) + DETECTORS
    in_study = [fakezoo.get_spec(name).in_study for name in fakezoo.list_models()]
    assert in_study == [True] * 7 + [False] * 4


@pytest.mark.parametrize(("name", "finetune"), CASES)
def test_policy_trains_exactly_the_documented_modules(build, name, finetune):
    model = build(name, finetune)
    policy = POLICIES[name][0 if finetune else 1]
    expected = {n for n, _ in model.named_parameters() if _under(n, policy)}
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert expected and trained == expected
    assert model.trainable == tuple(policy)
    x = torch.randn(2, 3, model.preprocessing.image_size, model.preprocessing.image_size)
    assert model.eval()(x).shape == (2, 2)


@pytest.mark.parametrize(("name", "finetune"), CASES)
def test_frozen_batchnorm_statistics_do_not_move_in_train_mode(build, name, finetune):
    model = build(name, finetune)
    frozen_stats = {
        k: v.clone()
        for k, v in model.state_dict().items()
        if "running" in k and not _under(k, model.trainable)
    }
    trainable_stats = {
        k: v.clone()
        for k, v in model.state_dict().items()
        if "running_mean" in k and _under(k, model.trainable)
    }
    model.train()
    size = model.preprocessing.image_size
    model(torch.randn(4, 3, size, size) * 3 + 1).sum().backward()
    after = model.state_dict()
    for key, value in frozen_stats.items():
        assert torch.equal(after[key], value), key
    # Trainable BatchNorm layers still learn their statistics.
    assert all(not torch.equal(after[k], v) for k, v in trainable_stats.items())
    assert all(p.grad is None for p in model.parameters() if not p.requires_grad)


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2"])
def test_one_pass_frozen_batchnorm_matches_the_parent_classes(build, name):
    model = build(name, False)
    frozen = [m for m in model.modules() if type(m).__name__.startswith("FrozenBatchNorm")]
    assert frozen and all(type(m).__module__ == "fakezoo.models.freeze" for m in frozen)
    generator = torch.Generator().manual_seed(0)
    for module in frozen:
        for buffer in (module.weight, module.bias, module.running_mean):
            buffer.copy_(torch.randn(buffer.shape, generator=generator))
        module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
        parent = type(module).__mro__[1]
        x = torch.randn(2, module.num_features, 5, 5, generator=generator, requires_grad=True)
        ours, theirs = module(x), parent.forward(module, x)
        torch.testing.assert_close(ours, theirs)
        ours.sum().backward()  # gradients reach the input (needed when augmenting)
        assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", list(POLICIES))
def test_stages_reproduce_the_forward_pass_and_own_every_parameter(build, name):
    model = build(name, True).eval()
    stages = model_stages(model)
    owned = [n for n, _ in model.named_parameters() if sum(_under(n, s.owns) for s in stages) == 1]
    assert len(owned) == len(list(model.parameters()))
    size = model.preprocessing.image_size
    x = torch.randn(2, 3, size, size)
    y = x
    with torch.no_grad():
        for stage in stages:
            y = stage.fn(y)
        assert torch.allclose(y, model(x), atol=1e-5)
    trunk, tail = split_trunk_tail(model)
    # A dropout right before the first trained stage starts the tail (it runs on the cache).
    first = next(s for s in tail if not s.dropout)
    assert first.name == POLICIES[name][0][0]
    assert all(s.dropout for s in tail[: tail.index(first)])
    assert all(
        not p.requires_grad
        for s in trunk
        for o in s.owns
        for n, p in model.named_parameters()
        if _under(n, [o])
    )


def test_transform_gives_study_size_and_range():
    model = fakezoo.create("mobilenet_v2", pretrained=False)
    image = Image.new("RGB", (256, 256), (255, 0, 128))
    x = model.transform(image)
    assert x.shape == (3, 224, 224)
    assert x.min() >= -1 and x.max() <= 1
    assert torch.allclose(x[:, 0, 0], torch.tensor([1.0, -1.0, 128 / 255 * 2 - 1]), atol=1e-6)
    assert model.preprocessing.mean == (0.5, 0.5, 0.5)
    inception = fakezoo.create("inception_v3", finetune=False, pretrained=False)
    assert inception.transform(image).shape == (3, 299, 299)


def test_uint8_normalize_matches_pil_transform():
    pre = fakezoo.create("resnet50", pretrained=False, image_size=32).preprocessing
    image = Image.fromarray(torch.randint(0, 256, (32, 32, 3), dtype=torch.uint8).numpy())
    batch = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None]
    assert torch.allclose(pre.normalize(batch)[0], pre.transform()(image), atol=1e-6)


@pytest.mark.parametrize(
    "name, options",
    [
        ("mobilenet_v2", {"image_size": 64}),
        ("resnet50", {"image_size": 48, "normalization": "pretrained"}),
        ("inception_v3", {"finetune": False, "weights": "torchvision"}),  # transform_input
    ],
)
def test_timm_resolves_the_same_transform_as_fakezoo(name, options):
    """The preprocessing record is mirrored into timm's pretrained_cfg: timm's own data config
    and transform give what ``model.transform`` gives."""
    model = fakezoo.create(name, pretrained=False, **options)
    pre = model.preprocessing
    cfg = timm.data.resolve_data_config({}, model=model)
    assert cfg["input_size"] == (3, pre.image_size, pre.image_size)
    assert cfg["mean"] == pytest.approx(pre.mean) and cfg["std"] == pytest.approx(pre.std)
    assert (cfg["interpolation"], cfg["crop_pct"], cfg["crop_mode"]) == ("bilinear", 1.0, "squash")
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (90, 140, 3), dtype=np.uint8))  # not square
    ours, theirs = model.transform(image), timm.data.create_transform(**cfg)(image)
    assert ours.shape == theirs.shape == (3, pre.image_size, pre.image_size)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_pretrained_normalization_uses_the_weights_statistics():
    model = fakezoo.create("resnet50", pretrained=False, normalization="pretrained")
    assert model.preprocessing.mean == pytest.approx((0.485, 0.456, 0.406))
    assert model.preprocessing.normalization == "pretrained"  # recorded by name, not guessed
    with pytest.raises(ValueError, match="normalization"):
        fakezoo.create("resnet50", pretrained=False, normalization="imagenet")


def test_custom_trainable_list(build):
    model = fakezoo.create("resnet50", pretrained=False, trainable=["layer3.5", "fc"])
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained == {n for n, _ in model.named_parameters() if _under(n, ["layer3.5", "fc"])}
    assert split_trunk_tail(model)[1][0].name == "layer3"
    vit = fakezoo.create(
        "vit_b_16", pretrained=False, image_size=32, trainable=["pos_embed", "head"]
    )
    assert {n for n, p in vit.named_parameters() if p.requires_grad} == {
        "pos_embed",
        "head.weight",
        "head.bias",
    }


def test_unknown_names_give_clear_errors():
    with pytest.raises(UnknownModelError, match="Valid names: resnet50, densenet121"):
        fakezoo.create("resnet51", pretrained=False)
    with pytest.raises(UnknownModelError, match="Did you mean 'resnet50'"):
        fakezoo.create("resnet5", pretrained=False)
    with pytest.raises(UnknownModelError, match="'layer5' is not a module of resnet50"):
        fakezoo.create("resnet50", pretrained=False, trainable=["layer5"])
    with pytest.raises(ValueError, match="image_size=40"):
        fakezoo.create("vit_b_16", pretrained=False, image_size=40)


def test_image_sizes_outside_the_models_range_are_refused_in_words():
    for name, size in [("mobilenet_v2", 16), ("mobilenet_v2", 0), ("mobilenet_v2", 5000)]:
        with pytest.raises(ValueError) as info:
            fakezoo.create(name, pretrained=False, image_size=size)  # 0 is not "the default"
        assert str(info.value).startswith(f"image_size={size}: mobilenet_v2 takes 32 to 4096")
        assert "multiple of 1" not in str(info.value)
    with pytest.raises(ValueError, match=r"image_size=40: vit_b_16 takes a multiple of 16"):
        fakezoo.create("vit_b_16", pretrained=False, image_size=40)


def test_offline_pretrained_fails_fast_and_says_what_to_do():
    start = time.perf_counter()
    with pytest.raises(WeightsError) as info:
        fakezoo.create("resnet50", pretrained=True)
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert "resnet50.tv_in1k" in message and "HF_HUB_OFFLINE" in message
    assert "pretrained='path/to/model.safetensors'" in message


def test_unreachable_hub_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    start = time.perf_counter()
    with pytest.raises(WeightsError, match="cannot be reached"):
        fakezoo.create("mobilenet_v2", pretrained=True)
    assert time.perf_counter() - start < 1.0


def test_local_safetensors_sets_the_backbone_weights(tmp_path):
    torch.manual_seed(1)
    source = timm.create_model("resnet50", num_classes=1000)  # ImageNet-shaped head
    path = tmp_path / "resnet50.safetensors"
    save_file(source.state_dict(), str(path))
    model = fakezoo.create("resnet50", pretrained=path, finetune=False)
    theirs = source.state_dict()
    for key, value in model.state_dict().items():
        if key.startswith("fc."):
            assert value.shape[0] == 2
        elif key in theirs:
            assert torch.equal(value, theirs[key]), key
    assert isinstance(model.layer1[0].bn1, FrozenBatchNorm2d)
    mlp = fakezoo.create("resnet50_mlp", pretrained=path)
    assert torch.equal(mlp.conv1.weight, theirs["conv1.weight"])


def test_local_weights_refuse_pickles_and_mismatches(tmp_path):
    pickle = tmp_path / "weights.pth"
    pickle.write_bytes(b"not really")
    with pytest.raises(WeightsError, match="safetensors files only"):
        fakezoo.create("resnet50", pretrained=pickle)
    with pytest.raises(WeightsError, match="no such file"):
        fakezoo.create("resnet50", pretrained=tmp_path / "missing.safetensors")
    wrong = tmp_path / "mobilenet.safetensors"
    save_file(timm.create_model("mobilenetv2_100").state_dict(), str(wrong))
    with pytest.raises(WeightsError, match="does not match resnet50") as info:
        fakezoo.create("resnet50", pretrained=wrong)
    message = str(info.value)  # torch's strict report, in one line naming the file
    assert "\n" not in message and str(wrong) in message and '"conv1.weight"' in message
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x80\x04not safetensors")
    with pytest.raises(WeightsError, match="as safetensors"):
        fakezoo.create("resnet50", pretrained=corrupt)


def test_pretrained_true_downloads_the_safetensors_file_that_timm_loads(tmp_path, monkeypatch):
    """The ImageNet file comes from the (loopback) Hub into the cache, safetensors only, then
    from the cache with no request; timm loads it into the model, head aside."""
    from hubserver import FakeHub, connect
    from huggingface_hub import constants
    from safetensors.torch import save

    torch.manual_seed(2)
    source = timm.create_model("mobilenetv2_100")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    with FakeHub() as hub:
        files = {"model.safetensors": save(source.state_dict()), "pytorch_model.bin": b"x"}
        hub.add_repo("timm/mobilenetv2_100.ra_in1k", files)
        with monkeypatch.context() as mp:
            connect(mp, hub.endpoint)
            model = fakezoo.create("mobilenet_v2", pretrained=True, image_size=32)
        fetched = [path for _, path in hub.requests]
        assert any(p.endswith("/resolve/main/model.safetensors") for p in fetched)
        assert not any(p.endswith(".bin") for p in fetched)  # never a pickle
        assert torch.equal(model.conv_stem.weight, source.conv_stem.weight)
        assert model.classifier.out_features == 2
        assert model.pretrained_cfg["file"].startswith(str(tmp_path / "hf-cache"))
        before = len(hub.requests)
        again = fakezoo.create("mobilenet_v2", pretrained=True, image_size=32)  # offline: cache
        assert len(hub.requests) == before
        assert torch.equal(again.blocks[6][0].bn3.running_var, source.blocks[6][0].bn3.running_var)
