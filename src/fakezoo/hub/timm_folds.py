"""Each pushed fold as a branch ``fold-<k>`` that plain timm loads from the Hub.

timm's ``hf-hub:`` loader reads ``config.json`` and ``model.safetensors`` at the root of a
revision, so [`fakezoo.hub.push_to_hub`][fakezoo.hub.push.push_to_hub] also publishes every fold of
a run on its own branch, with that fold's files at the root::

    main        config.json (the run's index), README.md, fold_1/..., fold_2/..., ...
    fold-1      config.json (timm + fakezoo fields), model.safetensors, README.md
    fold-2      ...

so that ``timm.create_model("hf-hub:org/name@fold-2", pretrained=True)`` builds fold 2 with
the same logits as fakezoo. With a ``tag`` the fold commits are tagged ``<tag>-fold-<k>``,
for pinned loads. ``resnet50_mlp`` has a two-layer head that timm's ``resnet50`` cannot build:
its folds get no branches, and the card says to use ``fakezoo.load``.

Example:
    ```python
    # needs: a pushed run on the Hub
    import timm
    model = timm.create_model("hf-hub:my-org/fakezoo-resnet50@fold-2", pretrained=True).eval()
    ```
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = [
    "fold_branch",
    "fold_card",
    "push_fold_branches",
    "timm_config",
    "timm_loadable",
]


def fold_branch(fold: str | int) -> str:
    """``"fold_2"`` or ``2`` -> ``"fold-2"``, the branch that holds that fold at its root."""
    k = fold if isinstance(fold, int) else int(str(fold).removeprefix("fold_"))
    return f"fold-{k}"


def timm_loadable(model: str) -> bool:
    """Whether plain timm can build a zoo model from its config (not ``resnet50_mlp``)."""
    from ..models.registry import get_spec

    return get_spec(model).hidden is None


def timm_config(fold_config: dict) -> dict:
    """A fold's ``config.json`` for its branch: timm's fields, ``model_args`` where the
    architecture needs them (a ViT's input size), and the fakezoo section unchanged."""
    cfg = json.loads(json.dumps(fold_config))  # a deep copy of plain JSON
    size = cfg["fakezoo"]["preprocessing"]["image_size"]
    if cfg["architecture"].startswith("vit_"):
        cfg["model_args"] = {**cfg.get("model_args", {}), "img_size": size}
    cfg["pretrained_cfg"]["input_size"] = [3, size, size]
    cfg.setdefault("label_names", cfg["fakezoo"]["labels"])
    return cfg


def fold_card(repo_id: str, fold: str, index: dict, main_commit: str) -> str:
    """The short ``README.md`` of a fold branch."""
    from huggingface_hub import ModelCardData

    k = int(fold.removeprefix("fold_"))
    data = ModelCardData(
        library_name="timm",
        pipeline_tag="image-classification",
        tags=["deepfake-detection", "image-classification", "fakezoo", "timm"],
    )
    body = "\n".join(
        [
            f"# Fold {k} of [{repo_id}](../../tree/main)",
            "",
            f"One of the {len(index['folds'])} cross-validation models of the fakezoo run on this "
            f"repo's `main` branch (commit `{main_commit}`), with its files at the root so that "
            "timm loads it. The run's card on `main` has its metrics and training details; the "
            "ensemble of all folds is what fakezoo predicts with.",
            "",
            "```python",
            "import timm",
            "",
            f'model = timm.create_model("hf-hub:{repo_id}@{fold_branch(k)}",',
            "                          pretrained=True).eval()",
            "",
            "import fakezoo",
            "",
            f'ensemble = fakezoo.load("{repo_id}")   # every fold, from main',
            "```",
            "",
        ]
    )
    return f"---\n{data.to_yaml()}\n---\n\n{body}"


def push_fold_branches(
    api: Any, repo_id: str, root: Path, index: dict, main_commit: str, *, tag: str | None = None
) -> dict[str, str]:
    """Put each fold of a pushed run on its branch ``fold-<k>``; return branch -> commit.

    A branch starts from ``main_commit``; its commit removes the run's other files and adds
    the fold's ``model.safetensors``, its timm ``config.json`` and a short card. Pushing the
    same run again changes nothing (no new commits). With ``tag``, each fold commit is tagged
    ``<tag>-fold-<k>``.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    if not timm_loadable(index["model"]):
        return {}
    commits = {}
    for fold in index["folds"]:
        branch = fold_branch(fold)
        folder = root / fold
        fold_cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        files = {
            "config.json": (json.dumps(timm_config(fold_cfg), indent=2) + "\n").encode(),
            "README.md": fold_card(repo_id, fold, index, main_commit).encode(),
            "model.safetensors": str(folder / "model.safetensors"),
        }
        api.create_branch(
            repo_id, branch=branch, revision=main_commit, exist_ok=True, repo_type="model"
        )
        present = api.list_repo_files(repo_id, revision=branch, repo_type="model")
        operations = [
            CommitOperationDelete(path_in_repo=p)
            for p in present
            if p not in files and p != ".gitattributes"
        ]
        operations += [
            CommitOperationAdd(path_in_repo=name, path_or_fileobj=content)
            for name, content in files.items()
        ]
        info = api.create_commit(
            repo_id,
            operations,
            revision=branch,
            repo_type="model",
            commit_message=f"fakezoo: {fold} at the root, for timm (run {main_commit[:10]})",
        )
        commits[branch] = info.oid
        if tag:
            tag_commit(api, repo_id, f"{tag}-{branch}", info.oid)
    return commits


def tag_commit(api: Any, repo_id: str, tag: str, commit: str) -> None:
    """Create ``tag`` on ``commit``; nothing to do if it already points there.

    Raises:
        ValueError: the tag exists on another commit (tags are never moved).
    """
    from huggingface_hub.errors import HfHubHTTPError

    try:
        api.create_tag(repo_id, tag=tag, revision=commit, repo_type="model")
    except HfHubHTTPError as err:
        if err.response is None or err.response.status_code != 409:
            raise
        tagged = api.model_info(repo_id, revision=tag).sha
        if tagged != commit:
            raise ValueError(
                f"Tag '{tag}' already exists in '{repo_id}', on commit {tagged}. The run was "
                f"pushed as commit {commit} without the tag; choose another tag and create it "
                f"on that commit."
            ) from err
