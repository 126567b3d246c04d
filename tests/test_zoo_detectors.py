"""The detectors of issue 30 in the zoo: EfficientNet-B4 (Self-Blended Images), Xception
(DeepfakeBench) and CLIP ViT-L/14 (linear probe, LayerNorm tuning).

Their policies and counts are checked on PyTorch's ``meta`` device (shapes only, no memory);
each is built for real once, at a small input, for its forward pass and its stages. ViT-L/14
at random init costs about 1.2 GB, so it is built once for the module.
"""

from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from torch import nn

import fakezoo
from fakezoo.errors import UnknownModelError, WeightsError
from fakezoo.explain.gradcam import cam_layer
from fakezoo.models.freeze import kind_parameters
from fakezoo.models.stages import model_stages, split_trunk_tail

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DETECTORS = ["efficientnet_b4", "xception", "clip_vit_l14"]
EFFNET_B4_ALL = ["conv_stem", "bn1", "blocks", "conv_head", "bn2", "classifier"]
XCEPTION_EXIT_FLOW = ["block12", "conv3", "bn3", "conv4", "bn4", "fc"]
# Counts worked out by hand: heads are Linear(features, 2), the LayerNorm policy is 50 norms
# (pre-norm, 2 per block x 24, final norm) of 1024 weights and 1024 biases, plus the head.
COUNTS = {
    ("efficientnet_b4", True): 17_552_202,  # everything
    ("efficientnet_b4", False): 1792 * 2 + 2,
    ("xception", True): 6_792_482,
    ("xception", False): 2048 * 2 + 2,
    ("clip_vit_l14", True): 50 * 2 * 1024 + 1024 * 2 + 2,
    ("clip_vit_l14", False): 1024 * 2 + 2,
}
SIZES = {"efficientnet_b4": 64, "xception": 64, "clip_vit_l14": 28}  # small, each accepted


def _under(name, prefixes):
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _meta(name, finetune=True, **options):
    with torch.device("meta"):
        return fakezoo.create(name, finetune=finetune, pretrained=False, **options)


def _trained(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def _layernorm_parameters(model):
    """Every LayerNorm's affine parameters, found by walking the modules (not by name)."""
    return {
        f"{name}.{pname}"
        for name, module in model.named_modules()
        if isinstance(module, nn.LayerNorm)
        for pname, _ in module.named_parameters(recurse=False)
    }


@pytest.fixture(scope="module")
def built():
    """Each detector built once for real (random weights, small input), finetune=False."""
    torch.manual_seed(0)
    models = {
        name: fakezoo.create(name, finetune=False, pretrained=False, image_size=SIZES[name])
        for name in DETECTORS
    }
    yield models
    models.clear()


@pytest.mark.parametrize(("name", "finetune"), list(COUNTS))
def test_parameter_counts_under_every_policy(name, finetune):
    model = _meta(name, finetune)
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trained == COUNTS[name, finetune]
    spec = fakezoo.get_spec(name)
    assert spec.param_counts[0 if finetune else 1] == trained
    frozen_bn = sum(
        m.weight.numel() + m.bias.numel()
        for m in model.modules()
        if type(m).__name__.startswith("FrozenBatchNorm")
    )
    assert spec.param_counts[2] == sum(p.numel() for p in model.parameters()) + frozen_bn


def test_efficientnet_b4_trains_all_of_it_or_its_head():
    spec = fakezoo.get_spec("efficientnet_b4")
    assert spec.pretrained_tag == "tf_efficientnet_b4.ap_in1k" and spec.image_size == 380
    whole = _meta("efficientnet_b4", True)
    assert whole.trainable == tuple(EFFNET_B4_ALL)
    assert _trained(whole) == {n for n, _ in whole.named_parameters()}
    assert not any(type(m).__name__.startswith("Frozen") for m in whole.modules())
    head = _meta("efficientnet_b4", False)
    assert _trained(head) == {"classifier.weight", "classifier.bias"}
    assert whole.preprocessing.image_size == 380
    assert whole.preprocessing.mean == whole.preprocessing.std == (0.5, 0.5, 0.5)
    assert whole.pretrained_cfg["mean"] == (0.5, 0.5, 0.5)  # AdvProp's own: the same numbers


def test_xception_at_deepfakebenchs_size_and_policies():
    spec = fakezoo.get_spec("xception")
    assert spec.pretrained_tag == "legacy_xception.tf_in1k" and spec.image_size == 256
    model = _meta("xception", True)
    assert model.preprocessing.image_size == 256
    assert model.preprocessing.mean == model.preprocessing.std == (0.5, 0.5, 0.5)
    expected = {n for n, _ in model.named_parameters() if _under(n, XCEPTION_EXIT_FLOW)}
    assert _trained(model) == expected
    assert _trained(_meta("xception", False)) == {"fc.weight", "fc.bias"}


def test_xception_pretrained_says_how_to_get_its_weights():
    assert fakezoo.get_spec("xception").hf_hub_id is None  # timm lists no Hub repo for it
    with pytest.raises(WeightsError) as info:
        fakezoo.create("xception", pretrained=True)
    message = str(info.value)
    assert "\n" not in message and "xception-43020ad28.pth" in message
    assert "weights_only=True" in message and "pretrained='xception.safetensors'" in message


@pytest.mark.parametrize("name", DETECTORS)
def test_torchvision_weights_are_refused_in_one_line(name):
    with pytest.raises(WeightsError, match=r"torchvision has no .* weights for") as info:
        fakezoo.create(name, pretrained=True, weights="torchvision")
    assert "weights='timm'" in str(info.value) and "\n" not in str(info.value)


def test_clip_is_openais_network_with_quickgelu_and_clips_normalisation():
    spec = fakezoo.get_spec("clip_vit_l14")
    assert spec.hf_hub_id == "timm/vit_large_patch14_clip_224.openai"
    model = _meta("clip_vit_l14", False)
    acts = {type(block.mlp.act) for block in model.blocks}
    assert acts == {timm.layers.QuickGELU} and len(model.blocks) == 24
    # timm's openai tag of the plain architecture would build exact GELU
    with torch.device("meta"):
        plain = timm.create_model("vit_large_patch14_clip_224.openai", pretrained=False)
    assert isinstance(plain.blocks[0].mlp.act, nn.GELU)
    clip_mean, clip_std = timm.data.OPENAI_CLIP_MEAN, timm.data.OPENAI_CLIP_STD
    for normalization in ("study", "pretrained"):
        pre = _meta("clip_vit_l14", False, normalization=normalization).preprocessing
        assert (pre.mean, pre.std) == (tuple(clip_mean), tuple(clip_std))
        assert pre.normalization == normalization
    assert model.preprocessing.image_size == 224 and model.patch_embed.patch_size == (14, 14)


def test_layernorm_policy_trains_exactly_every_layernorm_and_the_head():
    model = _meta("clip_vit_l14", True)
    layernorms = _layernorm_parameters(model)
    assert len(layernorms) == 2 * 50
    assert _trained(model) == layernorms | {"head.weight", "head.bias"}
    assert model.trainable == ("kind:layernorm", "head")
    assert model.finetune is True
    probe = _meta("clip_vit_l14", False)
    assert _trained(probe) == {"head.weight", "head.bias"}


def test_the_custom_policy_api_takes_a_parameter_kind(tmp_path):
    vit = fakezoo.create(
        "vit_b_16", pretrained=False, image_size=32, trainable=["kind:layernorm", "blocks.11.attn"]
    )
    attn = {n for n, _ in vit.named_parameters() if _under(n, ["blocks.11.attn"])}
    assert _trained(vit) == _layernorm_parameters(vit) | attn
    assert vit.finetune is None and vit.trainable == ("kind:layernorm", "blocks.11.attn")
    assert set(kind_parameters(vit, "kind:layernorm")) == _layernorm_parameters(vit)
    # the trunk is cut before the first trained LayerNorm: block 0's norm1
    assert split_trunk_tail(vit)[1][0].name == "blocks.0"
    with pytest.raises(UnknownModelError, match=r"'kind:batchnorm' is not a parameter kind"):
        fakezoo.create("vit_b_16", pretrained=False, trainable=["kind:batchnorm"])
    with pytest.raises(UnknownModelError, match="resnet50 has no parameters of that kind"):
        fakezoo.create("resnet50", pretrained=False, trainable=["kind:layernorm", "fc"])


def test_a_run_with_a_kind_policy_records_and_reloads_it(demo_dir, tmp_path):
    from fakezoo.train.cv import CrossValidator

    cv = CrossValidator(
        n_splits=2, epochs=1, batch_size=8, image_size=32, pretrained=False, device="cpu"
    )
    out = tmp_path / "run"
    result = cv.run(
        "vit_b_16", demo_dir, trainable=["kind:layernorm", "head"], lr=1e-3, out_dir=out
    )
    assert result.trainable == ["kind:layernorm", "head"] and result.finetune is None
    detector = fakezoo.load(out)
    model = detector.models[0]
    assert _trained(model) == _layernorm_parameters(model) | {"head.weight", "head.bias"}


@pytest.mark.parametrize("name", DETECTORS)
def test_stages_reproduce_the_forward_pass_and_the_trunk_is_frozen(built, name):
    model = built[name].eval()
    size = SIZES[name]
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    stages = model_stages(model)
    owned = [n for n, _ in model.named_parameters() if sum(_under(n, s.owns) for s in stages) == 1]
    assert len(owned) == len(list(model.parameters()))
    with torch.no_grad():
        y = x
        for stage in stages:
            y = stage.fn(y)
        torch.testing.assert_close(y, model(x), atol=1e-4, rtol=1e-4)
    assert y.shape == (2, 2)
    trunk, tail = split_trunk_tail(model)
    assert [s.name for s in tail if not s.dropout] == [fakezoo.get_spec(name).head[0]]
    assert trunk and all(
        not p.requires_grad for n, p in model.named_parameters() if not _under(n, model.trainable)
    )


def test_policies_that_train_the_first_layer_leave_no_trunk():
    """Whole-network B4 and LayerNorm tuning (the pre-norm is in the embedding step) run the
    full forward every step: nothing to cache."""
    for name in ("efficientnet_b4", "clip_vit_l14"):
        trunk, tail = split_trunk_tail(_meta(name, True))
        assert trunk == [] and tail, name


@pytest.mark.parametrize("name", DETECTORS)
def test_grad_cam_layer_exists_and_gets_a_gradient(built, name):
    model = built[name]
    layer_name, layer = cam_layer(model)
    assert layer_name == fakezoo.get_spec(name).cam_layer
    seen = {}

    def keep(module, inputs, out):
        out.retain_grad()
        seen["out"] = out

    hook = layer.register_forward_hook(keep)
    try:
        size = SIZES[name]
        x = torch.randn(1, 3, size, size, requires_grad=True)  # the trunk is frozen
        model.eval()(x)[0, 1].backward()
    finally:
        hook.remove()
        model.zero_grad(set_to_none=True)
    out = seen["out"]  # CNN maps (N, C, h, w), ViT tokens (N, 1 + h * w, C)
    assert out.ndim == (3 if name == "clip_vit_l14" else 4)
    assert out.grad is not None and out.grad.abs().sum() > 0


def test_study_runner_and_benchmark_accept_the_new_names():
    import fakezoo.study
    from fakezoo.study import ADDED_ROWS, DEMO_ROWS, STUDY_ROWS

    _rows, _row_size = fakezoo.study._rows, fakezoo.study._row_size  # as test_study.py does

    keys = [r.key for r in _rows(["resnet50", "clip_vit_l14", "xception"], demo=False)]
    assert keys == [
        "resnet50-head",
        "resnet50-finetune",
        "xception-head",
        "xception-finetune",
        "clip_vit_l14-head",
        "clip_vit_l14-finetune",
    ]
    assert {r.model for r in ADDED_ROWS} >= set(DETECTORS)
    # The defaults are unchanged: the study's 12 rows; the demo adds only the wheel's model.
    assert _rows(None, demo=False) == list(STUDY_ROWS) and len(STUDY_ROWS) == 12
    assert {r.model for r in _rows(None, demo=True)} - {r.model for r in STUDY_ROWS} == {
        "efficientnet_lite0"
    }
    assert {r.model for r in DEMO_ROWS} == {"efficientnet_lite0"}
    assert _row_size("clip_vit_l14", 64) == 70 and _row_size("xception", 64) == 64
    with pytest.raises(UnknownModelError, match="Did you mean 'xception'"):
        _rows(["xceptoin"], demo=False)


def test_benchmark_demo_runs_a_new_entry_by_name(tmp_path, monkeypatch, cli):
    """`fakezoo benchmark --models xception` on the demo: its two rows, random weights."""
    import fakezoo.study

    monkeypatch.setenv("FAKEZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(fakezoo.study.DEMO, "n_per_class", 6)
    monkeypatch.setitem(fakezoo.study.DEMO, "demo_image_size", 48)
    monkeypatch.setitem(fakezoo.study.DEMO, "image_size", 32)
    monkeypatch.setitem(fakezoo.study.DEMO, "n_trials", 1)
    monkeypatch.setitem(fakezoo.study.DEMO, "epochs", 1)
    code, out, _ = cli(
        "benchmark", "--models", "xception", "--out", tmp_path / "out", "--device", "cpu"
    )
    assert code == 0
    assert "Xception" in out and "Pipeline check" in out and "Pretrained:" not in out
    rows = sorted(p.name for p in (tmp_path / "out" / "rows").iterdir())
    assert rows == ["xception-finetune", "xception-head"]


def test_fakezoo_models_lists_the_new_entries_with_their_policies(cli):
    import json

    code, out, _ = cli("models", "--format", "json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and set(DETECTORS) <= set(rows)
    clip = rows["clip_vit_l14"]
    assert clip["policies"] == {"finetune": "LayerNorm tuning", "head": "linear probe"}
    assert clip["finetune_trains"] == ["kind:layernorm", "head"] and clip["head_trains"] == ["head"]
    assert (clip["trainable_finetune"], clip["trainable_head"]) == (104_450, 2050)
    assert rows["efficientnet_b4"]["policies"]["finetune"] == "whole network"
    assert rows["resnet50"]["policies"] == {"finetune": "With", "head": "Without"}  # the study's
    assert rows["xception"]["input_size"] == 256 and not rows["xception"]["in_study"]
    code, out, _ = cli("models")
    assert "clip_vit_l14 *" in out
    assert "clip_vit_l14: finetune=True is LayerNorm tuning (kind:layernorm, head)" in out
    assert "finetune=False is linear probe (head)" in out
    assert "efficientnet_b4: finetune=True is whole network" in out


def test_the_models_page_quotes_the_papers_numbers_as_theirs():
    page = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text("utf-8")
    section = page[page.index("## The detectors of recent papers") :]
    for number in ("0.93", "0.74", "about 0.96"):
        assert number in section
    assert "not measured by fakezoo" in section and "has not measured" in section


@pytest.mark.parametrize(("name", "finetune"), [("xception", False), ("efficientnet_b4", True)])
def test_cv_predict_evaluate_export_on_tiny_inputs(demo_dir, tmp_path, name, finetune):
    """A cached-trunk policy (Xception's head) and a no-trunk one (B4's whole network) run
    end to end with random weights; the exported file predicts what the run predicts.
    (CLIP ViT-L/14 is left out: its folds and ONNX file would be gigabytes.)"""
    from fakezoo.data.decode import decode_image
    from fakezoo.evaluation import evaluate
    from fakezoo.inference.api import clear_cache, predict
    from fakezoo.inference.export import export_onnx, run_onnx
    from fakezoo.train.cv import CrossValidator

    cv = CrossValidator(
        n_splits=2,
        epochs=1,
        batch_size=8,
        image_size=32,
        pretrained=False,
        device="cpu",
        progress=False,
    )
    out = tmp_path / "run"
    result = cv.run(name, demo_dir, finetune=finetune, lr=1e-3, out_dir=out)
    assert result.model == name and len(result.folds) == 2
    clear_cache()
    preds = predict(demo_dir, model=out, device="cpu")
    assert len(preds) == 24 and all(0 <= p.prob_fake <= 1 for p in preds)
    want = np.array([p.fold_probs for p in preds])
    scored = evaluate(out, demo_dir, bootstrap=0, num_workers=1)
    relative = [str(Path(p.path).relative_to(demo_dir)) for p in preds]
    assert scored.predictions["paths"] == relative
    assert np.abs(np.array(scored.predictions["fold_probs"]["clean"]) - want).max() <= 1e-4
    detector = fakezoo.load(out)
    onnx_file = tmp_path / "detector.onnx"
    export_onnx(detector, onnx_file)
    files = [p.path for p in preds]
    pixels = np.stack([decode_image(f, 32) for f in files]).transpose(0, 3, 1, 2)
    got = run_onnx(onnx_file, np.ascontiguousarray(pixels))
    assert got.shape == want.shape == (24, 2) and np.abs(got - want).max() <= 1e-4
