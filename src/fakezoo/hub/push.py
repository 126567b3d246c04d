"""Pushing a run directory to the Hugging Face Hub as one commit with a model card."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from safetensors import SafetensorError

from .._version import __version__
from ..errors import HubAuthError, HubUnavailableError, RunFormatError
from ..metrics import is_missing
from ..models.registry import policy_name
from ..runs.loader import (
    PICKLE_SUFFIXES,
    fold_folder,
    fold_weights_file,
    read_fold_config,
    read_run,
)
from ..runs.schema import check_digest
from .card import model_card
from .timm_folds import push_fold_branches, tag_commit

__all__ = ["PUSH_PATTERNS", "push_to_hub"]

logger = logging.getLogger("fakezoo")


PUSH_PATTERNS = [
    "config.json",
    "results.json",
    "report.md",
    "*.png",
    "fold_*/model.safetensors",
    "fold_*/config.json",
    "fold_*/predictions.json",
]
"""The only files [`push_to_hub`][fakezoo.hub.push.push_to_hub] uploads from a run directory (plus
``README.md``)."""


def _allowed_in_cache(path: Path, root: Path) -> bool:
    """A file (or link) inside the run directory, or a link into the Hugging Face cache."""
    from huggingface_hub import constants

    target = path.resolve()
    return any(
        target.is_relative_to(base)
        for base in (root.resolve(), Path(constants.HF_HUB_CACHE).resolve())
    )


def _push_files(root: Path) -> tuple[dict, list[tuple[str, Path]]]:
    """Validate a run directory for pushing; return its config and ``(path_in_repo, file)``."""
    cfg = read_run(root)
    if cfg.get("complete") is not True:
        raise RunFormatError(
            f"'{root}' is an incomplete run (config.json has complete="
            f"{cfg.get('complete')!r}). Run the same CrossValidator settings "
            f"again with out_dir='{root}' to finish it (it resumes), then push."
        )
    pickles = sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES
    )
    if pickles:
        raise RunFormatError(
            f"'{root}' contains {', '.join(pickles[:5])}: fakezoo shares "
            f"safetensors weights only and never pickles (they can run code "
            f"when loaded). Remove these files before pushing."
        )
    if not (root / "results.json").is_file():
        raise RunFormatError(f"'{root}' has no results.json: not a finished fakezoo run.")
    wanted = [("config.json", True), ("results.json", True), ("report.md", False)]
    wanted += [(p.name, False) for p in sorted(root.glob("*.png"))]
    for fold in cfg["folds"]:
        folder = fold_folder(root, fold)
        recorded = read_fold_config(root, fold, cfg)["fakezoo"].get("weights_sha256")
        weights = fold_weights_file(folder)
        check_digest(weights, recorded, str(folder / "config.json"), "Train the fold again.")
        try:
            from safetensors import safe_open

            with safe_open(str(weights), framework="pt") as handle:
                handle.keys()
        except (SafetensorError, OSError) as err:
            raise RunFormatError(f"Cannot read '{weights}' as safetensors: {err}") from err
        wanted += [
            (f"{fold}/model.safetensors", True),
            (f"{fold}/config.json", True),
            (f"{fold}/predictions.json", False),
        ]
    files = []
    for name, required in wanted:
        path = root / name
        if not path.is_file():
            if required:
                raise RunFormatError(f"'{path}' is missing.")
            continue
        if not _allowed_in_cache(path, root):
            raise RunFormatError(
                f"'{path}' links to '{path.resolve()}', outside the run "
                f"directory: refusing to upload it."
            )
        files.append((name, path))
    return cfg, files


@contextlib.contextmanager
def _unchanged_commits() -> Iterator[list[str]]:
    """Collect, instead of printing, huggingface_hub's warning for each commit it skipped
    because nothing changed (one per branch when the same run is pushed again)."""
    skipped: list[str] = []

    def keep(record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("No files have been modified since last commit"):
            skipped.append(record.getMessage())
            return False
        return True

    hf_api = logging.getLogger("huggingface_hub.hf_api")
    hf_api.addFilter(keep)
    try:
        yield skipped
    finally:
        hf_api.removeFilter(keep)


def _token(token: str | None) -> str:
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise HubAuthError(
            "Pushing to the Hugging Face Hub needs a token with write access: "
            "run `hf auth login`, set HF_TOKEN, or pass token=..."
        )
    return token


def push_to_hub(
    run_dir: str | os.PathLike[str],
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
    tag: str | None = None,
    data_description: str | None = None,
    license: str = "other",
    endpoint: str | None = None,
    fold_branches: bool = True,
    evaluations: Sequence[str | os.PathLike[str]] | None = None,
) -> str:
    """Upload a finished run directory to a Hub model repo as one commit, with a model card.

    Uploads only ``config.json``, ``results.json``, ``report.md``, the ``*.png`` plots and each
    fold's ``model.safetensors``, ``config.json`` and ``predictions.json``, plus a generated
    ``README.md`` ([`model_card`][fakezoo.hub.card.model_card]). Refuses incomplete runs, runs
    holding pickled weights and directories that are not fakezoo runs, before any network access.

    Args:
        run_dir: the run directory written by
            [`fakezoo.train.cv.CrossValidator.run`][fakezoo.train.cv.CrossValidator.run].
        repo_id: ``"org/name"``; the repo is created if needed (an existing repo keeps its
            visibility).
        private: create the repo private.
        token: a Hub token with write access (default: ``HF_TOKEN`` or the saved login).
        commit_message: defaults to a summary of the run.
        tag: also create this tag on the new commit, e.g. ``"v1"``; pushing the same run
            again with the same tag changes nothing. A tag on another commit is never moved.
        data_description: what the model was trained on, for the model card.
        license: the card's license id.
        endpoint: another Hub endpoint (default: ``HF_ENDPOINT`` or huggingface.co).
        fold_branches: also put each fold at the root of a branch ``fold-<k>`` (tagged
            ``<tag>-fold-<k>`` with ``tag``), where plain timm loads it:
            ``timm.create_model("hf-hub:org/name@fold-2", pretrained=True)`` (see
            [`fakezoo.hub.timm_folds`][fakezoo.hub.timm_folds]; not for ``resnet50_mlp``, which timm
            cannot build).
        evaluations: ``fakezoo evaluate --out`` folders whose results for this run go into
            the card's model-index (under each evaluation dataset's name) and body.

    Returns:
        The commit id (40 hex digits); pin it with ``load_run(repo_id, revision=commit)``.

    Raises:
        RunFormatError: not a fakezoo run, incomplete, or holding pickles.
        HubAuthError: no token, or the Hub refused it.
        HubUnavailableError: offline or the endpoint cannot be reached.

    Example:
        ```python
        from fakezoo.hub import push_to_hub
        commit = push_to_hub("runs/resnet50", "my-org/fakezoo-resnet50", tag="v1",
                             data_description="FaceForensics++ c23 frames, 3-fold CV")
        ```
    """
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from ..download import hub_offline, hub_reachable

    root = Path(run_dir)
    cfg, files = _push_files(root)
    card = model_card(
        root, repo_id, data_description=data_description, license=license, evaluations=evaluations
    )  # checks the evaluations before any request
    token = _token(token)
    if hub_offline():
        raise HubUnavailableError(
            "Cannot push: HF_HUB_OFFLINE=1 is set. Unset it (or set "
            "HF_HUB_OFFLINE=0) on a machine with network access."
        )
    api = HfApi(
        endpoint=endpoint, token=token, library_name="fakezoo", library_version=__version__
    )  # the Hub's user agent names fakezoo
    if not hub_reachable(api.endpoint):
        raise HubUnavailableError(
            f"Cannot push: {api.endpoint} cannot be reached. Check the "
            f"network connection (or the endpoint) and try again."
        )
    mean = cfg.get("metrics") or {}
    message = commit_message or (
        f"fakezoo: {cfg['model']} {policy_name(cfg['model'], cfg.get('finetune'), 'words')}, "
        f"{len(cfg['folds'])}-fold CV"
        + (f" (accuracy {mean['accuracy']:.4f})" if not is_missing(mean.get("accuracy")) else "")
    )
    operations = [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in files
    ]
    operations.append(
        CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card.encode("utf-8"))
    )
    with _unchanged_commits() as skipped:
        try:
            api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
            commit = api.create_commit(
                repo_id, operations, commit_message=message, repo_type="model"
            )
        except HfHubHTTPError as err:
            status = err.response.status_code if err.response is not None else None
            if status in (401, 403):
                raise HubAuthError(
                    f"The Hub refused the token for '{repo_id}' (HTTP {status}): "
                    f"use a token with write access to that namespace (`hf auth "
                    f"login`, HF_TOKEN or token=...)."
                ) from err
            raise
        unchanged = bool(skipped)
        if tag:
            tag_commit(api, repo_id, tag, commit.oid)
        if fold_branches:
            push_fold_branches(api, repo_id, root, cfg, commit.oid, tag=tag)
    if unchanged:
        logger.info("%s already holds this run: nothing changed (commit %s)", repo_id, commit.oid)
    return commit.oid
