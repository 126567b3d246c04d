"""torchvision state dicts convert to timm's names and load strictly, with equal logits."""

import re

import pytest
import timm
import torch
from torch import nn
from torchvision_reference import torchvision_model

from fakezoo.models.torchvision_weights import (
    TORCHVISION_WEIGHTS,
    torchvision_to_timm,
    transform_input_normalization,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread (conftest)

CASES = {  # fakezoo name: timm architecture, input size
    "resnet50": ("resnet50", 32),
    "mobilenet_v2": ("mobilenetv2_100", 32),
    "vgg16": ("vgg16", 32),
    "densenet121": ("densenet121", 32),
    "inception_v3": ("inception_v3", 75),
    "vit_b_16": ("vit_base_patch16_224", 32),
}


def _batchnorms(model: nn.Module) -> list[tuple[float, float]]:
    return [
        (m.eps, m.momentum)
        for n, m in model.named_modules()
        if isinstance(m, nn.BatchNorm2d) and not n.startswith("AuxLogits")
    ]


# resnet50, vgg16 and mobilenet_v2 are also converted, loaded and trained in test_study_mode.
@pytest.mark.slow
@pytest.mark.parametrize("name", ["densenet121", "inception_v3", "vit_b_16"])
def test_converted_torchvision_weights_load_strictly_with_equal_logits(name):
    arch, size = CASES[name]
    torch.manual_seed(0)
    kwargs = {"transform_input": True} if name == "inception_v3" else {}
    tv = torchvision_model(name, num_classes=10, **kwargs).eval()
    kwargs = {"img_size": size} if name == "vit_b_16" else {}
    tm = timm.create_model(arch, num_classes=10, **kwargs).eval()
    converted = torchvision_to_timm(name, tv.state_dict(), tm.state_dict())
    tm.load_state_dict(converted, strict=True)  # every key, every shape
    # The same BatchNorm settings, in the same order: the same batch statistics when training.
    assert _batchnorms(tm) == _batchnorms(tv)
    pixels = torch.rand(2, 3, size, size)
    x = (pixels - 0.5) / 0.5  # the study's Normalize(0.5)
    folded = x
    if name == "inception_v3":
        # torchvision's transform_input, folded into the mean and std of the preprocessing.
        assert TORCHVISION_WEIGHTS[name].transform_input
        mean, std = transform_input_normalization((0.5,) * 3, (0.5,) * 3)
        folded = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = tv(x)
        got = tm(folded)
        tol = 1e-4 * expected.abs().max().item()
        assert torch.allclose(got, expected, rtol=1e-4, atol=tol)
    assert name != "inception_v3" or (folded - x).abs().max() > 0.1  # a real re-normalisation


def test_a_timm_state_dict_is_not_taken_for_a_torchvision_one():
    tm = timm.create_model("vit_base_patch16_224", img_size=32)
    with pytest.raises(KeyError, match="not a torchvision vit_b_16 weight"):
        torchvision_to_timm("vit_b_16", tm.state_dict())


def test_urls_carry_torchvisions_hash_prefixes():
    assert TORCHVISION_WEIGHTS["mobilenet_v2"].sha256_prefix == "b0353104"
    import torchvision

    assert (
        torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.url
        == TORCHVISION_WEIGHTS["mobilenet_v2"].url
    )
    assert (
        torchvision.models.ViT_B_16_Weights.IMAGENET1K_V1.url == TORCHVISION_WEIGHTS["vit_b_16"].url
    )
    assert (
        torchvision.models.Inception_V3_Weights.IMAGENET1K_V1.url
        == TORCHVISION_WEIGHTS["inception_v3"].url
    )


def test_torchvision_weights_offline_fail_fast_saying_what_to_run(tmp_path, monkeypatch):
    import time

    import fakezoo
    from fakezoo.errors import WeightsError

    monkeypatch.setenv("FAKEZOO_CACHE", str(tmp_path / "cache"))
    for name, where in (
        ("mobilenet_v2", "run `fakezoo convert-weights mobilenet_v2 mobilenet_v2-b0353104.pth`"),
        ("vit_b_16", "https://download.pytorch.org/models/vit_b_16-c867db91.pth"),
        ("resnet50", "timm/resnet50.tv_in1k"),
    ):
        start = time.perf_counter()
        with pytest.raises(WeightsError, match=re.escape(where)) as info:
            fakezoo.create(name, pretrained=True, weights="torchvision")
        assert "\n" not in str(info.value)  # one line
        assert time.perf_counter() - start < 1.0  # HF_HUB_OFFLINE=1: no network attempt


def test_convert_weights_checks_the_hash_and_fills_the_cache(tmp_path, monkeypatch, capsys):
    """`fakezoo convert-weights` refuses a file that is not torchvision's; a converted file
    in the cache is what weights='torchvision' then loads (nothing is downloaded)."""
    import fakezoo
    from fakezoo.cli import main
    from fakezoo.models.torchvision_weights import convert_file, converted_file

    monkeypatch.setenv("FAKEZOO_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    tv = torchvision_model("mobilenet_v2")
    pth = tmp_path / "mobilenet_v2-b0353104.pth"
    torch.save(tv.state_dict(), pth)
    assert main(["convert-weights", "mobilenet_v2", str(pth)]) == 1
    assert "not torchvision's b0353104" in capsys.readouterr().err
    cache = tmp_path / "cache" / "weights" / "mobilenet_v2-b0353104.timm.safetensors"
    assert not cache.exists()
    convert_file("mobilenet_v2", pth, cache)  # what the command writes once the hash matches
    assert converted_file("mobilenet_v2") == cache
    model = fakezoo.create("mobilenet_v2", pretrained=True, weights="torchvision", image_size=32)
    assert torch.equal(model.conv_stem.weight, tv.features[0][0].weight)


def test_a_pth_file_converts_to_safetensors_that_load_strictly(tmp_path):
    import fakezoo
    from fakezoo.errors import WeightsError
    from fakezoo.models.torchvision_weights import convert_file

    torch.manual_seed(0)
    tv = torchvision_model("mobilenet_v2")
    pth = tmp_path / "mobilenet_v2-00000000.pth"
    torch.save(tv.state_dict(), pth)
    with pytest.raises(ValueError, match="not torchvision's 00000000"):
        convert_file("mobilenet_v2", pth, tmp_path / "x.safetensors", sha256_prefix="00000000")
    out = convert_file("mobilenet_v2", pth, tmp_path / "mobilenet_v2.safetensors")
    model = fakezoo.create("mobilenet_v2", pretrained=out, weights="torchvision", image_size=32)
    assert torch.equal(model.conv_stem.weight, tv.features[0][0].weight)
    assert torch.equal(model.blocks[6][0].bn3.running_var, tv.features[17].conv[3].running_var)
    # A file with other keys is refused, naming the first foreign key.
    from safetensors.torch import save_file

    save_file({"features.99.weight": torch.zeros(1)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(WeightsError, match="neither torchvision's nor timm's"):
        fakezoo.create(
            "mobilenet_v2",
            pretrained=tmp_path / "bad.safetensors",
            weights="torchvision",
            image_size=32,
        )
