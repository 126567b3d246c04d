"""Shared-trunk ensembles: one trunk pass per batch gives the per-fold probabilities."""

import pytest
import torch

import fakezoo
from fakezoo.inference.ensemble import FoldEnsemble, plan_groups
from fakezoo.models.stages import run_stages

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread (conftest)

# clip_vit_l14 splits as vit_b_16 does (its stages are checked in test_zoo_detectors); built
# twice here it would cost gigabytes for nothing new.
MODELS = [name for name in fakezoo.list_models() if name != "clip_vit_l14"]


def _perturb_tail(model, scale: float = 0.05):
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * scale)
    return model.eval()


def _per_fold(models, x):
    with torch.inference_mode():
        return torch.stack([m(x).float().softmax(dim=1)[:, 1] for m in models], dim=1)


@pytest.mark.slow
@pytest.mark.parametrize("finetune", [False, True], ids=["head", "finetune"])
@pytest.mark.parametrize("name", MODELS)
def test_shared_trunk_equals_per_fold_path(build, name, finetune):
    torch.manual_seed(1)
    first = build(name, finetune=finetune).eval()
    second = _perturb_tail(build(name, finetune=finetune))  # same trunk, another tail
    ensemble = FoldEnsemble([first, second])
    size = first.preprocessing.image_size
    x = torch.randn(2, 3, size, size) * 0.1
    if all(p.requires_grad for p in first.parameters()):  # the whole network trains: no trunk
        assert [g.folds for g in ensemble.groups] == [[0], [1]]
        with torch.inference_mode():
            torch.testing.assert_close(ensemble(x), _per_fold([first, second], x))
        return
    assert [g.folds for g in ensemble.groups] == [[0, 1]]
    assert ensemble.trunk_passes == 1
    with torch.inference_mode():
        shared = ensemble(x)
        torch.testing.assert_close(shared, _per_fold([first, second], x), atol=1e-5, rtol=1e-4)
        # the logits too (random networks often saturate the softmax), each fold its own
        group = ensemble.groups[0]
        features = group.run_trunk(x)
        logits = [run_stages(tail, features) for tail in group.tails]
        for model, got in zip([first, second], logits, strict=True):
            torch.testing.assert_close(got, model(x), atol=1e-4, rtol=1e-4)
        assert not torch.equal(logits[0], logits[1])  # the tails really differ


def test_folds_whose_trunks_differ_run_separately(build):
    torch.manual_seed(2)
    a = build("resnet50", finetune=False).eval()
    b = _perturb_tail(build("resnet50", finetune=False))
    edited = _perturb_tail(build("resnet50", finetune=False))
    with torch.no_grad():
        edited.conv1.weight[0, 0, 0, 0] += 1e-3  # one trunk weight edited
    other_policy = build("resnet50", finetune=True).eval()
    models = [a, edited, b, other_policy]
    ensemble = FoldEnsemble(models)
    assert [g.folds for g in ensemble.groups] == [[0, 2], [1], [3]]
    x = torch.randn(2, 3, 64, 64) * 0.1
    with torch.inference_mode():
        torch.testing.assert_close(ensemble(x), _per_fold(models, x), atol=1e-5, rtol=1e-4)


def test_buffers_count_too(build):
    a = build("mobilenet_v2", finetune=False).eval()
    b = build("mobilenet_v2", finetune=False).eval()
    with torch.no_grad():
        b.bn1.running_mean += 0.5  # a frozen BatchNorm statistic, not a parameter
    assert [g.folds for g in plan_groups([a, b])] == [[0], [1]]
    assert [g.folds for g in plan_groups([a, a])] == [[0, 1]]
    assert [g.folds for g in plan_groups([a, a], share=False)] == [[0], [1]]
