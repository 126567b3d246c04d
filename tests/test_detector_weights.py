"""Trained detectors' original checkpoints convert to the zoo's timm models (issue 30, item 3).

The original networks are built from their own packages with random weights (no download):
Self-Blended Images' ``Detector`` holds ``efficientnet_pytorch``'s EfficientNet-B4 as ``net``;
DeepfakeBench's ``XceptionDetector`` holds, as ``backbone``, their Xception, which is Cadene's
(``pretrainedmodels``) with a 2-class ``last_linear`` and an unused ``adjust_channel`` block.
Each is saved as its project saves it, converted, and must give the same logits.
"""

import hashlib
import json

import numpy as np
import pytest
import torch
from efficientnet_pytorch import EfficientNet
from pretrainedmodels.models.xception import xception
from safetensors import safe_open
from torch import nn

import fakezoo
from fakezoo.errors import WeightsError
from fakezoo.faces.policy import named_policy
from fakezoo.models.detector_weights import (
    convert_checkpoint,
    convert_state,
    is_detector_file,
    load_detector,
    read_checkpoint,
)

# efficientnet_pytorch pads "same" statically for the image_size it is built with, timm's tf_
# models dynamically for the input: at the size the original is built for, both pad alike.
SIZE = 64


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _random_statistics(model: nn.Module) -> None:
    """Random BatchNorm statistics and a larger head, so that every tensor shows in the logits."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
            module.num_batches_tracked.fill_(7)
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.5)


class SBIDetector(nn.Module):
    """The module tree of SBI's ``src/model.py`` ``Detector`` (its optimizer and loss hold no
    tensors of the state dict): ``from_name`` instead of ``from_pretrained``, no download."""

    def __init__(self, num_classes: int = 2):
        super().__init__()
        self.net = EfficientNet.from_name(
            "efficientnet-b4", num_classes=num_classes, image_size=SIZE
        )

    def forward(self, x):
        return self.net(x)


class DeepfakeBenchXception(nn.Module):
    """The module tree of DeepfakeBench's ``XceptionDetector`` with xception.yaml's backbone
    config (mode original, 2 classes, no dropout): Cadene's Xception with a 2-class
    ``last_linear`` and the ``adjust_channel`` block their Xception always builds."""

    def __init__(self):
        super().__init__()
        backbone = xception(num_classes=1000, pretrained=None)
        backbone.last_linear = nn.Linear(2048, 2)
        backbone.adjust_channel = nn.Sequential(
            nn.Conv2d(2048, 512, 1, 1), nn.BatchNorm2d(512), nn.ReLU(inplace=False)
        )
        self.backbone = backbone
        self.loss_func = nn.CrossEntropyLoss()

    def forward(self, x):
        # DeepfakeBench's features() then classifier(): ReLU, average pool, last_linear (the
        # same computation as Cadene's logits()).
        features = self.backbone.features(x)
        pooled = nn.functional.adaptive_avg_pool2d(nn.functional.relu(features), 1)
        return self.backbone.last_linear(pooled.flatten(1))


@pytest.fixture(scope="module")
def sbi(tmp_path_factory):
    """SBI's network and its checkpoint as train_sbi.py saves it."""
    torch.manual_seed(0)
    detector = SBIDetector()
    _random_statistics(detector)
    optimizer = torch.optim.SGD(detector.parameters(), lr=0.001, momentum=0.9)
    path = tmp_path_factory.mktemp("sbi") / "FFc23.tar"
    torch.save(
        {"model": detector.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 12}, path
    )
    return detector.eval(), path


@pytest.fixture(scope="module")
def deepfakebench(tmp_path_factory):
    """DeepfakeBench's Xception detector and its checkpoint as trainer.save_ckpt saves it."""
    torch.manual_seed(1)
    detector = DeepfakeBenchXception()
    _random_statistics(detector)
    path = tmp_path_factory.mktemp("dfb") / "xception_best.pth"
    torch.save(detector.state_dict(), path)
    return detector.eval(), path


def test_sbi_checkpoint_converts_to_efficientnet_b4_with_equal_logits(sbi, tmp_path):
    detector, path = sbi
    out = convert_checkpoint(
        "efficientnet_b4", path, tmp_path / "sbi.safetensors", layout="sbi", sha256=_sha256(path)
    )
    model = load_detector(out)
    x = torch.rand(1, 3, SIZE, SIZE)
    with torch.no_grad():
        want, got = detector(x), model(x)
    assert want.abs().max() > 0.05  # the head's numbers show
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert model.preprocessing.mean == (0.0, 0.0, 0.0)  # SBI feeds pixels / 255
    assert model.preprocessing.std == (1.0, 1.0, 1.0)
    with safe_open(str(out), framework="pt") as handle:
        meta = handle.metadata()
    assert meta["layout"] == "sbi"
    assert meta["fakezoo_model"] == "efficientnet_b4"
    assert meta["source"] == "FFc23.tar"
    assert meta["source_sha256"] == _sha256(path)
    # The same file is weights to train from: every tensor but the head, strictly.
    start = fakezoo.create("efficientnet_b4", pretrained=out, image_size=SIZE)
    assert torch.equal(start.conv_stem.weight, detector.net._conv_stem.weight)
    assert torch.equal(
        start.blocks[6][1].conv_pwl.weight, detector.net._blocks[31]._project_conv.weight
    )


def test_deepfakebench_checkpoint_converts_to_xception_with_equal_logits(deepfakebench, tmp_path):
    detector, path = deepfakebench
    out = convert_checkpoint(
        "xception",
        path,
        tmp_path / "dfb.safetensors",
        layout="deepfakebench",
        sha256=_sha256(path).upper(),  # as some sites print it
    )
    model = load_detector(out)
    x = torch.rand(2, 3, SIZE, SIZE) * 2 - 1
    with torch.no_grad():
        want, got = detector(x), model(x)
    assert want.abs().max() > 0.05
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert model.preprocessing.mean == (0.5, 0.5, 0.5)
    assert model.preprocessing.image_size == 256

    # Its other saved forms: under DDP (module.), with xception.yaml's dropout (last_linear.1),
    # and pointwise convolutions as (out, in) matrices, as in the ImageNet file they start from.
    own = model.state_dict()
    plain = read_checkpoint(path, "deepfakebench", sha256=_sha256(path))
    variant = {
        ("last_linear.1." + k.rsplit(".", 1)[1] if k.startswith("last_linear.") else k): (
            v[:, :, 0, 0] if "pointwise" in k else v
        )
        for k, v in plain.items()
    }
    converted = convert_state("deepfakebench", variant, own)
    assert all(torch.equal(converted[k], own[k]) for k in own)
    ddp = tmp_path / "ddp.pth"
    torch.save({"module." + k: v for k, v in detector.state_dict().items()}, ddp)
    assert read_checkpoint(ddp, "deepfakebench", sha256=_sha256(ddp)).keys() == plain.keys()


def test_a_wrong_hash_is_refused_before_the_file_is_read(sbi, tmp_path, monkeypatch):
    _, path = sbi
    wrong = "0" * 64

    def no_load(*args, **kwargs):
        raise AssertionError("torch.load ran before the hash was checked")

    monkeypatch.setattr(torch, "load", no_load)
    with pytest.raises(WeightsError) as info:
        convert_checkpoint(
            "efficientnet_b4", path, tmp_path / "x.safetensors", layout="sbi", sha256=wrong
        )
    message = str(info.value)
    assert _sha256(path) in message and wrong in message and str(path) in message
    assert "\n" not in message
    assert not (tmp_path / "x.safetensors").exists()


class Payload:
    """Unpickling this object would create ``marker`` (harmless, and visible)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_checkpoint_with_code_is_refused_and_the_code_never_runs(sbi, tmp_path):
    detector, _ = sbi
    marker = tmp_path / "ran"
    path = tmp_path / "evil.tar"
    torch.save({"model": detector.state_dict(), "epoch": Payload(marker)}, path)
    with pytest.raises(WeightsError, match=r"weights_only=True\) reads \(it would import ") as info:
        convert_checkpoint(
            "efficientnet_b4", path, tmp_path / "x.safetensors", layout="sbi", sha256=_sha256(path)
        )
    assert "weights_only=False" not in str(info.value)  # torch's advice is not repeated
    assert not marker.exists()
    assert not (tmp_path / "x.safetensors").exists()
    # The payload is real: the unrestricted loader runs it.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_a_layout_that_does_not_fit_the_model_or_the_file_is_refused(sbi, deepfakebench, tmp_path):
    _, sbi_path = sbi
    _, dfb_path = deepfakebench
    out = tmp_path / "x.safetensors"
    with pytest.raises(ValueError, match="convert to 'efficientnet_b4' only"):
        convert_checkpoint("xception", sbi_path, out, layout="sbi", sha256=_sha256(sbi_path))
    with pytest.raises(ValueError, match="only the layouts sbi, deepfakebench"):
        convert_checkpoint("xception", dfb_path, out, layout="timm", sha256=_sha256(dfb_path))
    with pytest.raises(WeightsError, match=r"it is a Self-Blended Images .* layout='sbi'"):
        convert_checkpoint(
            "xception", sbi_path, out, layout="deepfakebench", sha256=_sha256(sbi_path)
        )
    with pytest.raises(WeightsError, match=r"it is a DeepfakeBench Xception .* layout='deepfakeb"):
        convert_checkpoint("efficientnet_b4", dfb_path, out, layout="sbi", sha256=_sha256(dfb_path))
    assert not out.exists()


@pytest.mark.parametrize(
    ("edit", "reported"),
    [
        (
            lambda s: s.pop("net._blocks.31._bn2.running_var"),
            "missing tensors blocks.6.1.bn3.running_var",
        ),
        (
            lambda s: s.update({"net._extra.weight": torch.zeros(1)}),
            "unexpected tensors net._extra.weight",
        ),
        (
            lambda s: s.update({"net._fc.weight": torch.zeros(1000, 1792)}),
            "shapes differ: net._fc.weight (1000, 1792) for classifier.weight (2, 1792)",
        ),
    ],
    ids=["missing", "unexpected", "shape"],
)
def test_a_checkpoint_that_does_not_fill_the_model_exactly_is_refused(
    sbi, tmp_path, edit, reported
):
    detector, _ = sbi
    state = dict(detector.state_dict())
    edit(state)
    path = tmp_path / "edited.tar"
    torch.save({"model": state}, path)
    with pytest.raises(WeightsError) as info:
        convert_checkpoint(
            "efficientnet_b4", path, tmp_path / "x.safetensors", layout="sbi", sha256=_sha256(path)
        )
    assert reported in str(info.value)
    assert str(path) in str(info.value)
    assert not (tmp_path / "x.safetensors").exists()


def test_convert_weights_command_exit_codes(cli, sbi, tmp_path):
    _, path = sbi
    digest, out = _sha256(path), tmp_path / "sbi.safetensors"
    base = ["convert-weights", "efficientnet_b4", path, "--from", "sbi"]
    usage = [
        [*base, "-o", out],  # no --sha256
        [*base, "--sha256", "abc", "-o", out],
        [*base, "--sha256", digest],  # no --out
        [*base, "--sha256", digest, "-o", tmp_path / "x.pth"],
        ["convert-weights", "xception", path, "--from", "sbi", "--sha256", digest, "-o", out],
        ["convert-weights", "mobilenet_v2", path, "--sha256", digest],  # torchvision's: no hash
        ["convert-weights", "mobilenet_v2", path, "-o", out],
    ]
    for argv in usage:
        code, stdout, err = cli(*argv)
        assert code == 2, (argv, err)
        assert stdout == "" and "fakezoo convert-weights: error: argument" in err, err
    code, _, err = cli(*base, "--sha256", "f" * 64, "-o", out)
    assert code == 1
    assert f"has SHA-256 {digest}" in err and "Traceback" not in err
    assert not out.exists()
    code, stdout, _ = cli(*base, "--sha256", digest, "-o", out)
    assert code == 0
    assert f"wrote {out}" in stdout and f"fakezoo predict IMAGE --model {out}" in stdout
    assert f"--model efficientnet_b4 --weights {out}" in stdout
    assert load_detector(out).spec.name == "efficientnet_b4"


def test_load_detector_refuses_a_file_it_did_not_write(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "imagenet.safetensors"
    save_file({"w": torch.zeros(1)}, str(path))
    with pytest.raises(WeightsError, match=r"not written by fakezoo's convert_checkpoint"):
        load_detector(path)


def test_a_converted_detector_predicts_through_fakezoo_load_and_the_cli(sbi, tmp_path, cli):
    from PIL import Image

    from fakezoo.data import decode_image

    _, path = sbi
    out = convert_checkpoint(
        "efficientnet_b4", path, tmp_path / "sbi.safetensors", layout="sbi", sha256=_sha256(path)
    )
    image = tmp_path / "face.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(image)
    detector = fakezoo.load(out, device="cpu")
    assert detector.preprocessing.face_crop.to_dict() == named_policy("sbi").to_dict()
    got = detector.predict(image).prob_fake
    # what the original code computes: the 380-px image as pixels / 255, softmax's fake column
    model = load_detector(out)
    x = torch.from_numpy(decode_image(image, 380)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        want = model(x).softmax(dim=1)[0, 1].item()
    assert got == pytest.approx(want, abs=1e-4)
    code, text, err = cli("predict", image, "--model", out, "--device", "cpu", "--format", "json")
    assert code == 0, err
    assert json.loads(text)[0]["prob_fake"] == pytest.approx(want, abs=1e-4)
    with pytest.raises(ValueError, match="one converted detector"):
        fakezoo.load(out, folds=1)


def test_converting_onto_a_file_fakezoo_did_not_write_is_refused(sbi, tmp_path):
    _, path = sbi
    mine = tmp_path / "notes.safetensors"
    mine.write_bytes(b"the user's own file")
    with pytest.raises(FileExistsError, match="not a detector that convert-weights wrote"):
        convert_checkpoint("efficientnet_b4", path, mine, layout="sbi", sha256=_sha256(path))
    assert mine.read_bytes() == b"the user's own file"
    out = tmp_path / "sbi.safetensors"  # its own earlier output is replaced
    for _ in range(2):
        convert_checkpoint("efficientnet_b4", path, out, layout="sbi", sha256=_sha256(path))
    assert is_detector_file(out)
