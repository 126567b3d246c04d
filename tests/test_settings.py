"""One settings object: TrainSettings is what a run records and fingerprints, derived once."""

import dataclasses

import pytest
import torch
from safetensors.torch import save_file

import fakezoo
from fakezoo.train.settings import TrainSettings, callable_name

BASE = TrainSettings(
    n_splits=3, epochs=2, batch_size=8, pretrained=False, image_size=32, trunk_backend="torch"
)


def flip(images: torch.Tensor) -> torch.Tensor:
    return images.flip(-1)


# Each setting that shapes a run's numbers, a changed value, and the fingerprint fields that
# change with it (the recorded settings change too, always).
CHANGES = {
    "n_splits": (2, {"folds"}),
    "epochs": (3, {"epochs"}),
    "batch_size": (4, {"batch_size"}),
    "optimizer": ("sgd", {"optimizer"}),
    "weight_decay": (0.01, {"weight_decay"}),
    "seed": (1, {"seed", "folds"}),
    "mode": ("study", {"mode", "cache_trunk"}),
    "image_size": (64, {"image_size"}),
    "normalization": ("pretrained", {"mean", "std"}),
    "drop_rate": (0.5, {"drop_rate"}),
    "augment": (flip, {"augment", "cache_trunk"}),
    "cache_trunk": (False, {"cache_trunk"}),
    "cache_dtype": ("float32", {"cache_dtype"}),
    "pretrained": ("weights", {"weights", "weights_sha256"}),  # a local file, made below
    "trunk_backend": ("onnxruntime", {"trunk_backend"}),  # what ran the cached trunk
}
# Settings that cannot change this CPU run's numbers: the fingerprint stays, the record may not.
SAME_NUMBERS_HERE = {
    "device": "cpu",  # "auto" is the CPU on this machine
    "amp": False,  # autocast is for CUDA
    "weights": "torchvision",  # which ImageNet file loads: none does with pretrained=False
    "memory_budget": "1KB",  # out of core, with the same numbers (tests/test_outofcore.py)
}

# The self-blend recipe's settings need real faces alone; tests/test_self_blend_recipe.py checks
# that each changes the fingerprint.
RECIPE = ("fakes", "blend_mode", "blends_per_image")


@pytest.fixture(scope="module")
def base(demo_dir):
    cv = fakezoo.CrossValidator(BASE, device="cpu", progress=False)
    return cv, cv.decode(demo_dir, 32)


def _describe(cv, decoded):
    template = cv.template("mobilenet_v2", finetune=False)
    size = template.preprocessing.image_size
    decoded = decoded if decoded.image_size == size else cv.decode(decoded.dataset, size)
    return cv.describe(template, decoded, cv.make_folds(decoded), 1e-3)


def test_every_setting_is_classified():
    names = {f.name for f in dataclasses.fields(TrainSettings)}
    assert set(CHANGES) | set(SAME_NUMBERS_HERE) | set(RECIPE) == names


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_a_changed_setting_changes_the_fingerprint_and_the_record(base, name, tmp_path):
    cv, decoded = base
    value, fields = CHANGES[name]
    if name == "pretrained":
        value = str(tmp_path / "weights.safetensors")
        save_file(fakezoo.create("mobilenet_v2", pretrained=False).state_dict(), value)
    before, after = _describe(cv, decoded), _describe(cv.replace(**{name: value}), decoded)
    assert {d[0] for d in before.fingerprint.diff(after.fingerprint)} == fields
    assert after.settings[name] == (callable_name(value) if callable(value) else value)
    assert before.settings[name] != after.settings[name]


def test_the_same_settings_describe_the_same_run(base):
    cv, decoded = base
    first = _describe(cv, decoded)
    again = _describe(fakezoo.CrossValidator(BASE, device="cpu"), decoded)
    assert again.fingerprint == first.fingerprint and again.settings == first.settings
    for name, value in SAME_NUMBERS_HERE.items():
        other = _describe(cv.replace(**{name: value}), decoded)
        assert other.fingerprint == first.fingerprint, name
    # The record and the fingerprint say the same thing where both say it.
    for key in ("epochs", "batch_size", "seed", "mode", "image_size", "drop_rate", "amp"):
        assert first.settings[key] == getattr(first.fingerprint, key)


def test_keywords_build_the_settings_and_nothing_changes_a_given_object():
    short = fakezoo.CrossValidator(epochs=2, image_size=64, device="cpu")
    given = fakezoo.CrossValidator(TrainSettings(epochs=2, image_size=64, device="cpu"))
    assert short.settings == given.settings
    longer = short.replace(epochs=5)
    assert (short.settings.epochs, longer.settings.epochs) == (2, 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        short.settings.epochs = 9
    variant = dataclasses.replace(BASE, seed=3)
    assert BASE.seed == 0 and variant.seed == 3


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"epoch": 2}, "unknown training setting epoch; TrainSettings has: n_splits"),
        ({"mode": "seed"}, "mode='seed': use 'fast'"),
        ({"n_splits": 1}, "n_splits=1: use an integer of at least 2"),
        ({"normalization": "imagenet"}, "normalization='imagenet': use 'study'"),
        ({"cache_dtype": "int8"}, "cache_dtype='int8'"),
        ({"trunk_backend": "tensorrt"}, "trunk_backend='tensorrt'"),
    ],
)
def test_bad_settings_are_refused_in_one_line(changes, match):
    with pytest.raises((TypeError, ValueError), match=match) as err:
        fakezoo.CrossValidator(**changes)
    assert "\n" not in str(err.value)
