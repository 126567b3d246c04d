"""The model card pushed with a run: metadata, evaluation results and a description."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from ..metrics import METRIC_NAMES, is_missing
from ..models.registry import get_spec
from ..runs.loader import _read_json, read_run
from .timm_folds import timm_usage

__all__ = ["model_card"]


_DEMO_FILE = re.compile(r"(real|fake)/(real|fake)_\d{5}\.jpg")


def _policy(cfg: dict) -> str:
    if cfg.get("finetune") is True:
        return "fine-tuned (the seed's last layers)"
    if cfg.get("finetune") is False:
        return "head only (frozen backbone)"
    return "custom freeze policy"


def _eval_results(results: dict, dataset: str) -> list:
    from huggingface_hub import EvalResult

    def result(metric: str, value: float, split: str, name: str) -> EvalResult:
        return EvalResult(
            task_type="image-classification",
            task_name="Deepfake detection",
            dataset_type="custom",
            dataset_name=dataset,
            dataset_split=split,
            metric_type=metric,
            metric_value=float(value),
            metric_name=f"{metric} ({name})",
        )

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
    limitations.

    Args:
        run_dir: a finished run directory.
        repo_id: the Hub repo the card is for, e.g. ``"my-org/fakezoo-resnet50"``.
        data_description: what the model was trained on, in your words (also names the
            dataset in the model-index; ``"custom"`` when not given).
        license: an SPDX-like Hub license id (``"other"`` by default).

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
    from huggingface_hub import ModelCardData

    from ..report import seed, text
    from . import evals

    root = Path(run_dir)
    cfg = read_run(root)
    cross = evals.read_evaluations(evaluations or [], root)
    results = _read_json(root / "results.json", "the run's results")
    search = (
        _read_json(root / "search.json", "LR search") if (root / "search.json").is_file() else None
    )
    spec = get_spec(cfg["model"])
    settings = cfg.get("settings") or results.get("settings") or {}
    description = (data_description or "").strip()
    dataset = description.splitlines()[0][:80] if description else "custom"
    display = seed.display_name(cfg["model"])
    folds = results.get("folds") or []
    mean = (results.get("summary") or {}).get("mean") or cfg.get("metrics") or {}
    pre = cfg["preprocessing"]

    data = ModelCardData(
        library_name="fakezoo",
        license=license,
        pipeline_tag="image-classification",
        tags=["deepfake-detection", "image-classification", "fakezoo", "timm", spec.architecture],
        base_model=(
            f"timm/{cfg['weights']}"
            if cfg.get("weights") and not cfg["weights"].startswith("torchvision:")
            else None
        ),
        metrics=list(METRIC_NAMES),
        model_name=repo_id,
        eval_results=(_eval_results(results, dataset) + evals.eval_results(cross)) or None,
    )

    def num(key: str) -> str:
        value = mean.get(key)
        return f"{value:.4f}" if not is_missing(value) else "n/a"

    init = settings.get("pretrained", bool(cfg.get("weights")))
    if (cfg.get("weights") or "").startswith("torchvision:"):
        weights = f"torchvision's ImageNet weights `{cfg['weights'].split(':', 1)[1]}`"
    elif cfg.get("weights"):
        weights = f"ImageNet weights `{cfg['weights']}` (timm)"
    elif isinstance(init, str):  # a local .safetensors file: name it, not its path
        weights = f"the author's own weights file `{Path(init).name}`"
    else:
        weights = "random initialisation (no pretrained weights)"
    lines = [
        f"# {display} deepfake detector: {_policy(cfg)}",
        "",
        f"A real-vs-fake face image classifier: **{display}** (timm `{spec.architecture}`), "
        f"trained with fakezoo and evaluated by "
        f"{len(folds)}-fold stratified cross-validation. The repo holds one model per fold "
        f"(`fold_<k>/model.safetensors` with its `config.json`); fakezoo averages their "
        f"probabilities. Labels: `0` = {cfg['labels'][0]}, `1` = {cfg['labels'][1]}.",
        "",
        f"Mean over folds: accuracy **{num('accuracy')}**, F1 {num('f1')}, "
        f"ROC-AUC {num('roc_auc')}.",
        "",
        "## Cross-validation results",
        "",
        text.fold_block(results).replace("### ", "### Per fold: ", 1).rstrip(),
        "",
        "## Training details",
        "",
        f"- **Data**: {description or 'not described by the author.'}",
        f"- **Model**: {display}, timm `{spec.architecture}`, started from {weights}.",
        f"- **Policy**: {_policy(cfg)}; trained modules: "
        f"{', '.join(f'`{m}`' for m in cfg['trainable'])} (everything else frozen).",
        f"- **Preprocessing**: resize to {pre['image_size']}×{pre['image_size']} (bilinear), "
        f"normalize with mean {pre['mean']} and std {pre['std']}.",
        f"- **Optimisation**: {settings.get('optimizer', 'adam')}, learning rate "
        f"{float(cfg['lr']):.6g}, {settings.get('epochs', '?')} epoch(s), batch size "
        f"{settings.get('batch_size', '?')}.",
        f"- **Cross-validation**: {cfg['n_splits']} stratified folds, split seed "
        f"{cfg.get('split_seed')}.",
        f"- **Training mode**: `{settings.get('mode', 'fast')}` "
        + (
            "(the study's plain loop: BatchNorm in train mode, frozen or not)."
            if settings.get("mode") == "seed"
            else "(frozen BatchNorm, frozen trunk run once and cached)."
        )
        + f" Dropout before the trained layers: {settings.get('drop_rate', 0)}.",
    ]
    if search:
        trials = search.get("trials") or []
        lines.append(
            f"- **Learning-rate search**: {len(trials)} Optuna trials, "
            f"protocol `{search.get('protocol')}`, best LR "
            f"{float(search.get('best_lr', cfg['lr'])):.6g}."
        )
    if settings.get("protocol") == "nested":
        lrs = ", ".join(f"{float(v):.3g}" for v in settings.get("lr_per_fold") or [])
        lines.append(
            f"- **Learning-rate search**: nested, each outer fold's LR chosen by an "
            f"inner CV on its training part ({lrs}); the LR above is their "
            f"geometric mean."
        )
    lines.append("")
    if results.get("deviations"):  # fakezoo.deviations: one sentence each, with its effect
        lines += [
            "## How this run differs from the seed study",
            "",
            *(f"- {d}" for d in results["deviations"]),
            "",
        ]
    if cross:
        lines += evals.card_section(cross)
    lines += [
        "## How to use",
        "",
        "```python",
        "import fakezoo",
        "",
        f'run = fakezoo.load("{repo_id}")            # all folds, safetensors only',
        f'result = fakezoo.predict("face.jpg", model="{repo_id}")',
        "```",
        "",
        "From the command line:",
        "",
        "```bash",
        f"fakezoo predict face.jpg --model {repo_id}",
        "```",
        "",
        f'Pin a revision for reproducible results: `"{repo_id}@<tag or commit>"`. Loading '
        "rebuilds each fold from fakezoo's own model definitions and reads only "
        "`model.safetensors`: nothing from the repo is imported, executed or unpickled.",
        "",
        *timm_usage(repo_id, cfg),
        "",
        "## Limitations",
        "",
        "- The numbers are cross-validation estimates on the author's data"
        + (
            ", and tests on the datasets named above"
            if cross
            else ", not a test on independent data"
        )
        + ": expect lower accuracy on faces, generators and image "
        "pipelines the data did not cover.",
    ]
    if search and search.get("protocol") == "seed":
        lines.append(
            "- The learning rate was chosen on the same folds that are reported "
            "(the seed study's protocol), so these numbers are optimistic."
        )
    if _looks_like_demo(results, data_description):
        lines.append(
            "- **Trained on synthetic demo data** (fakezoo's procedural faces): this "
            "model is a demonstration and does not detect real deepfakes."
        )
    if init is False:
        lines.append("- Trained from a random initialisation, not from ImageNet weights.")
    lines.append(
        "- A deepfake detector's output is evidence, not proof: do not use it alone "
        "for decisions about people."
    )
    body = "\n".join(lines) + "\n"
    return f"---\n{data.to_yaml()}\n---\n\n{body}"
