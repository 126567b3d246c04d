"""torchvision state dicts convert to timm's names and load strictly, with equal logits."""

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

CASES = {  # fakezoo name: timm architecture, input size
    "resnet50": ("resnet50", 32),
    "mobilenet_v2": ("mobilenetv2_100", 32),
    "vgg16": ("vgg16", 32),
    "densenet121": ("densenet121", 32),
    "inception_v3": ("inception_v3", 75),
    "vit_b_16": ("vit_base_patch16_224", 32),
}


def _batchnorms(model: nn.Module) -> list[tuple[float, float]]:
    return [(m.eps, m.momentum) for n, m in model.named_modules()
            if isinstance(m, nn.BatchNorm2d) and not n.startswith("AuxLogits")]


# resnet50, vgg16 and mobilenet_v2 are also converted, loaded and trained in test_seed_mode.
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
        folded = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(
            1, 3, 1, 1)
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

    assert torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.url == TORCHVISION_WEIGHTS[
        "mobilenet_v2"].url
    assert torchvision.models.ViT_B_16_Weights.IMAGENET1K_V1.url == TORCHVISION_WEIGHTS[
        "vit_b_16"].url
    assert torchvision.models.Inception_V3_Weights.IMAGENET1K_V1.url == TORCHVISION_WEIGHTS[
        "inception_v3"].url
