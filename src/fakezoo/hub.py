"""Sharing cross-validation runs on the Hugging Face Hub, and loading them back.

A run directory written by :meth:`fakezoo.cv.CrossValidator.run` is pushed as one commit with a
generated model card, and pulled back at a pinned revision. Loading is deliberately narrow:

* only ``config.json``, ``results.json``, ``report.md``, ``README.md`` and each fold's
  ``config.json`` and ``model.safetensors`` are ever downloaded;
* weights are read with safetensors only: nothing is unpickled, imported or executed;
* each fold is rebuilt from fakezoo's own model specs with ``pretrained=False`` (the config only
  names a known zoo model and known modules) and then loaded strictly.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ._download import HubFileNotFoundError, HubUnavailableError, download_snapshot
from .zoo import SEED_MEAN, SEED_STD, Preprocessing, UnknownModelError, create, get_spec

__all__ = [
    "PULL_PATTERNS",
    "PUSH_PATTERNS",
    "FoldModel",
    "HubAuthError",
    "HubFileNotFoundError",
    "HubUnavailableError",
    "LoadedRun",
    "RunFormatError",
    "load_fold",
    "load_run",
    "model_card",
    "push_to_hub",
    "read_run",
    "resolve_run",
]

PULL_PATTERNS = ["config.json", "results.json", "report.md", "README.md",
                 "fold_*/config.json", "fold_*/model.safetensors"]
"""The only files :func:`resolve_run` downloads from a Hub repo."""

PUSH_PATTERNS = ["config.json", "results.json", "report.md", "*.png",
                 "fold_*/model.safetensors", "fold_*/config.json", "fold_*/predictions.json"]
"""The only files :func:`push_to_hub` uploads from a run directory (plus ``README.md``)."""

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".npy",
                   ".npz", ".h5", ".msgpack")
"""Weight formats fakezoo refuses: they can run code when loaded, or are not safetensors."""

_FOLD_RE = re.compile(r"fold_[1-9][0-9]{0,3}")
_REPO_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95})?")
_PULL_HINT = ("Run once with network access to fill the local Hugging Face cache, or pass a "
              "local run directory.")


class RunFormatError(ValueError):
    """Not a fakezoo run, or content fakezoo refuses to load or push.

    Raised for a missing or malformed ``config.json``, an unknown model, architecture or
    trainable module, weights that are not safetensors, weights that do not fit the model, and
    file or fold names that would leave the run directory.

    Example:
        ```python
        from fakezoo.hub import RunFormatError, load_run
        try:
            load_run("some-org/not-a-fakezoo-model")
        except RunFormatError as err:
            print(err)   # Not a fakezoo run: ...
        ```
    """


class HubAuthError(RuntimeError):
    """No Hugging Face token, or the Hub refused it: pushing needs one with write access.

    Example:
        ```python
        from fakezoo.hub import HubAuthError, push_to_hub
        try:
            push_to_hub("runs/resnet50", "my-org/fakezoo-resnet50")
        except HubAuthError as err:
            print(err)   # ... run `hf auth login`, set HF_TOKEN, or pass token=...
        ```
    """


@dataclass
class FoldModel:
    """One fold of a run, rebuilt and loaded.

    Attributes:
        fold: the fold's folder name, e.g. ``"fold_1"``.
        model: the zoo model in eval mode, on the requested device, with ``model.spec``,
            ``model.preprocessing`` and ``model.transform`` like :func:`fakezoo.create`.
        config: the fold's validated ``config.json``.

    Example:
        ```python
        from fakezoo.hub import load_run
        fold = load_run("runs/resnet50", folds=1, device="cpu").folds[0]
        fold.fold, fold.config["fakezoo"]["metrics"]["accuracy"]
        ```
    """

    fold: str
    model: torch.nn.Module
    config: dict


@dataclass
class LoadedRun:
    """A run loaded by :func:`load_run`.

    Attributes:
        path: the local run directory (a Hub snapshot folder for a pulled run).
        config: the run's validated root ``config.json``.
        folds: the loaded folds, in the order asked for (that of ``config["folds"]`` for
            ``folds="all"``).
        revision: the Hub commit hash the files come from; ``None`` for a local directory.

    Example:
        ```python
        from fakezoo.hub import load_run
        run = load_run("my-org/fakezoo-resnet50@v1", device="cpu")
        run.revision, [f.fold for f in run.folds]   # ('3f2a...', ['fold_1', 'fold_2', 'fold_3'])
        ```
    """

    path: Path
    config: dict
    folds: list[FoldModel]
    revision: str | None


# -- validation -----------------------------------------------------------------------------

def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise RunFormatError(f"Not a fakezoo run: '{path}' is missing ({what}). A run directory "
                             f"is written by fakezoo's CrossValidator.run(..., out_dir=DIR).")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunFormatError(f"'{path}' is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise RunFormatError(f"'{path}' must hold a JSON object, not {type(data).__name__}.")
    return data


def _inside(root: Path, name: str) -> Path:
    """``root / name``, refusing names that leave ``root`` (``..``, absolute paths, links)."""
    if not isinstance(name, str) or not _FOLD_RE.fullmatch(name):
        raise RunFormatError(f"Fold name {name!r} is not of the form 'fold_<k>': refusing it.")
    base = root.resolve()
    folder = (root / name).resolve()
    if folder.parent != base:
        raise RunFormatError(f"Fold '{name}' resolves to '{folder}', outside the run "
                             f"directory '{base}': refusing it.")
    return root / name


def _floats3(value: Any, where: str) -> tuple[float, float, float]:
    ok = (isinstance(value, list | tuple) and len(value) == 3
          and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                  for v in value))
    if not ok:
        raise RunFormatError(f"{where}: expected three finite numbers, got {value!r}.")
    return tuple(float(v) for v in value)  # type: ignore[return-value]


def _check_model(cfg: dict, where: str) -> Any:
    """The :class:`fakezoo.zoo.ModelSpec` a config names; it must match the architecture."""
    name = cfg.get("model")
    if not isinstance(name, str):
        raise RunFormatError(f"{where}: 'model' must be a fakezoo model name, got {name!r}.")
    try:
        spec = get_spec(name)
    except UnknownModelError as err:
        raise RunFormatError(f"{where}: {err}") from err
    arch = cfg.get("architecture", spec.architecture)
    if arch != spec.architecture:
        raise RunFormatError(f"{where}: architecture {arch!r} is not the architecture of "
                             f"fakezoo model '{name}' ({spec.architecture!r}); fakezoo only "
                             f"builds its own architectures.")
    return spec


def _check_preprocessing(pre: Any, where: str) -> dict:
    if not isinstance(pre, dict):
        raise RunFormatError(f"{where}: 'preprocessing' must be an object, got {pre!r}.")
    size = pre.get("image_size")
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 4096:
        raise RunFormatError(f"{where}: preprocessing.image_size must be an integer in "
                             f"[1, 4096], got {size!r}.")
    _floats3(pre.get("mean"), f"{where}: preprocessing.mean")
    std = _floats3(pre.get("std"), f"{where}: preprocessing.std")
    if min(std) <= 0:
        raise RunFormatError(f"{where}: preprocessing.std must be positive, got {std}.")
    return pre


def _check_trainable(value: Any, where: str) -> list[str]:
    if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
        raise RunFormatError(f"{where}: 'trainable' must be a non-empty list of module names, "
                             f"got {value!r}.")
    return value


def read_run(path: str | os.PathLike[str]) -> dict:
    """Read and validate a run directory's root ``config.json``.

    Args:
        path: a run directory (local, or a snapshot folder from :func:`resolve_run`).

    Returns:
        The config as a dict: ``model``, ``architecture``, ``finetune``, ``trainable``,
        ``preprocessing``, ``labels``, ``folds``, ``complete``, ``metrics``...

    Raises:
        RunFormatError: no ``config.json``, not a fakezoo run, an unknown model or architecture,
            or a malformed field.

    Example:
        ```python
        from fakezoo.hub import read_run
        cfg = read_run("runs/mobilenet_v2")
        cfg["model"], cfg["folds"]   # ('mobilenet_v2', ['fold_1', 'fold_2', 'fold_3'])
        ```
    """
    root = Path(path)
    if not root.is_dir():
        raise RunFormatError(f"'{root}' is not a directory: expected a fakezoo run directory.")
    where = str(root / "config.json")
    cfg = _read_json(root / "config.json", "the run's index")
    if cfg.get("library_name") != "fakezoo":
        raise RunFormatError(f"Not a fakezoo run: {where} has library_name="
                             f"{cfg.get('library_name')!r} (expected 'fakezoo').")
    _check_model(cfg, where)
    _check_trainable(cfg.get("trainable"), where)
    _check_preprocessing(cfg.get("preprocessing"), where)
    labels = cfg.get("labels")
    if not (isinstance(labels, list) and len(labels) >= 2
            and all(isinstance(v, str) for v in labels)):
        raise RunFormatError(f"{where}: 'labels' must be a list of class names, got {labels!r}.")
    folds = cfg.get("folds")
    if not (isinstance(folds, list) and folds):
        raise RunFormatError(f"{where}: 'folds' must be a non-empty list, got {folds!r}.")
    if len(set(map(str, folds))) != len(folds):
        raise RunFormatError(f"{where}: 'folds' lists a fold twice: {folds!r}.")
    for fold in folds:
        _inside(root, fold)
    return cfg


# -- resolving a source -------------------------------------------------------------------------

def _parse_source(source: str, revision: str | None) -> tuple[str, str | None]:
    repo = source.removeprefix("hf-hub:").removeprefix("hf://")
    if "@" in repo:
        repo, _, pinned = repo.partition("@")
        if not pinned:
            raise ValueError(f"'{source}': nothing after '@'; give a revision or drop the '@'.")
        if revision is not None and revision != pinned:
            raise ValueError(f"'{source}' pins revision '{pinned}' but revision='{revision}' "
                             f"was also given; give one.")
        revision = pinned
    return repo, revision


def resolve_run(source: str | os.PathLike[str], *, revision: str | None = None
                ) -> tuple[Path, str | None]:
    """Find a run directory locally, or download it from the Hub at a pinned revision.

    A Hub run is fetched with huggingface_hub into its normal cache; only the files in
    :data:`PULL_PATTERNS` are downloaded (never pickles, code or predictions). With
    ``HF_HUB_OFFLINE=1`` a warm cache is used without any network access.

    Args:
        source: a local run directory, ``"org/name"``, ``"hf-hub:org/name"`` or
            ``"org/name@revision"`` (a branch, tag or commit hash).
        revision: the revision to pin, if ``source`` does not carry one.

    Returns:
        ``(folder, commit)``: the local folder holding the run, and the commit hash it was
        downloaded at (``None`` for a local directory).

    Raises:
        HubUnavailableError: offline or unreachable, and the run is not in the cache.
        HubFileNotFoundError: the repo or revision does not exist (or needs a token).
        RunFormatError: the repo has no ``config.json``: not a fakezoo run.
        FileNotFoundError: a path-like source that is neither a directory nor a repo id.
        ValueError: two different revisions (``@rev`` and ``revision=``), or a revision for
            a local directory.

    Example:
        ```python
        from fakezoo.hub import resolve_run
        folder, commit = resolve_run("my-org/fakezoo-mobilenet-v2@v1")
        folder, commit = resolve_run("runs/mobilenet_v2")   # (Path('runs/mobilenet_v2'), None)
        ```
    """
    if isinstance(source, str) and source.startswith("~"):
        source = Path(source).expanduser()
    if Path(str(source)).is_file():
        raise FileNotFoundError(f"'{source}' is a file: pass the run directory that holds "
                                f"config.json and the fold_<k> folders.")
    if isinstance(source, os.PathLike) or Path(str(source)).is_dir():
        path = Path(source)
        if not path.is_dir():
            raise FileNotFoundError(f"'{path}' is not a directory: expected a fakezoo run "
                                    f"directory.")
        if revision is not None:
            raise ValueError(f"revision='{revision}' applies to Hub repos, not to the local "
                             f"directory '{path}'.")
        return path, None
    repo, rev = _parse_source(str(source), revision)
    if not _REPO_RE.fullmatch(repo) or ".." in repo:
        raise FileNotFoundError(f"'{source}' is neither a run directory nor a Hub repo id "
                                f"('org/name', 'hf-hub:org/name@revision').")
    folder = download_snapshot(repo, revision=rev, allow_patterns=PULL_PATTERNS,
                               hint=_PULL_HINT)
    commit = folder.name if re.fullmatch(r"[0-9a-f]{40}", folder.name) else None
    if not (folder / "config.json").is_file():
        found = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                       if p.is_file())
        raise RunFormatError(f"'{repo}'" + (f" at '{rev}'" if rev else "") + " is not a fakezoo"
                             f" run: it has no config.json (found: {found[:5] or 'nothing'}). "
                             f"Push one with fakezoo.hub.push_to_hub / `fakezoo push`.")
    return folder, commit


# -- loading -----------------------------------------------------------------------------------

def _select_folds(cfg: dict, root: Path, folds: str | int | Sequence[int]) -> list[str]:
    names: list[str] = list(cfg["folds"])
    if isinstance(folds, str):
        if folds != "all":
            raise ValueError(f"folds={folds!r}: use 'all', a fold number or a list of them.")
        if cfg.get("complete") is False:  # a fold's config.json is written last
            names = [n for n in names if (root / n / "config.json").is_file()]
            if not names:
                raise RunFormatError(f"'{root}' is an incomplete run with no finished fold.")
        return names
    wanted = [folds] if isinstance(folds, int) else list(folds)
    if not wanted:
        raise ValueError("folds=[]: give at least one fold number.")
    chosen = []
    for k in wanted:
        if isinstance(k, bool) or not isinstance(k, int) or f"fold_{k}" not in names:
            raise ValueError(f"folds={folds!r}: fold {k!r} is not in this run "
                             f"(folds 1..{len(names)}).")
        chosen.append(f"fold_{k}")
    return chosen


def _fold_config(root: Path, fold: str, index: dict) -> dict:
    folder = _inside(root, fold)
    path = folder / "config.json"
    where = str(path)
    cfg = _read_json(path, f"the config of {fold}")
    fz = cfg.get("fakezoo")
    if not isinstance(fz, dict):
        raise RunFormatError(f"Not a fakezoo fold: {where} has no 'fakezoo' section.")
    spec = _check_model({"model": fz.get("model"), "architecture": cfg.get("architecture")},
                        where)
    if spec.name != index["model"]:
        raise RunFormatError(f"{where}: model '{spec.name}' differs from the run's "
                             f"'{index['model']}'.")
    _check_trainable(fz.get("trainable"), where)
    pre = _check_preprocessing(fz.get("preprocessing"), where)
    root_pre = index["preprocessing"]
    if any(pre.get(k) != root_pre.get(k) for k in ("image_size", "mean", "std")):
        raise RunFormatError(f"{where}: preprocessing {pre} differs from the run's "
                             f"{root_pre}; every fold of a run must share it.")
    if fz.get("finetune") not in (True, False, None):
        raise RunFormatError(f"{where}: 'finetune' must be true, false or null.")
    labels = fz.get("labels", index["labels"])
    num_classes = cfg.get("num_classes", 2)
    if labels != index["labels"] or not (isinstance(num_classes, int)
                                         and num_classes == len(labels) >= 2):
        raise RunFormatError(f"{where}: num_classes={num_classes!r} and labels {labels!r} "
                             f"do not match each other or the run's labels {index['labels']}.")
    return cfg


def _weights_path(folder: Path) -> Path:
    path = folder / "model.safetensors"
    if path.is_file():
        return path
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES
                     ) if folder.is_dir() else []
    if pickles:
        raise RunFormatError(f"'{folder}' has {', '.join(pickles)} but no model.safetensors: "
                             f"fakezoo loads safetensors only and never pickles (they can run "
                             f"code). Convert the weights to safetensors first.")
    raise RunFormatError(f"'{path}' is missing: each fold needs its model.safetensors. Runs made "
                         f"with save_weights=False (the `fakezoo benchmark` demo's default) "
                         f"keep metrics only; rerun with --save-weights to keep the weights.")


def _build(cfg: dict, where: str) -> torch.nn.Module:
    """A fresh zoo model as the fold config describes it, with ``pretrained=False``."""
    fz = cfg["fakezoo"]
    spec = get_spec(fz["model"])
    pre = fz["preprocessing"]
    mean, std = _floats3(pre["mean"], where), _floats3(pre["std"], where)
    finetune, trainable = fz.get("finetune"), list(fz["trainable"])
    seed_norm = all(math.isclose(a, b, abs_tol=1e-6)
                    for a, b in zip(mean + std, SEED_MEAN + SEED_STD, strict=True))
    policy: dict[str, Any] = {"finetune": True, "trainable": trainable}
    if isinstance(finetune, bool) and trainable == list(spec.trainable(finetune)):
        policy = {"finetune": finetune, "trainable": None}
    try:
        # Building draws random initial weights: keep the caller's random state untouched.
        with torch.random.fork_rng(devices=[]):
            model = create(spec.name, pretrained=False, num_classes=cfg.get("num_classes", 2),
                           image_size=pre["image_size"],
                           normalization="seed" if seed_norm else "pretrained", **policy)
    except UnknownModelError as err:
        raise RunFormatError(f"{where}: {err}") from err
    except ValueError as err:  # e.g. an image size the network cannot take
        raise RunFormatError(f"{where}: {err}") from err
    built = model.preprocessing
    if not all(math.isclose(a, b, abs_tol=1e-6)
               for a, b in zip(built.mean + built.std, mean + std, strict=True)):
        raise RunFormatError(f"{where}: normalization mean={list(mean)} std={list(std)} is "
                             f"neither the seed's 0.5/0.5 nor the weights' own "
                             f"({list(built.mean)}, {list(built.std)}).")
    model.preprocessing = Preprocessing(built.image_size, mean, std)
    model.transform = model.preprocessing.transform()
    return model


def _load_weights(model: torch.nn.Module, path: Path) -> None:
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise RunFormatError(f"Cannot read '{path}' as safetensors: {err}") from err
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise RunFormatError(f"'{path}' does not fit {model.spec.name}: missing keys "
                             f"{missing[:5]}{' ...' if len(missing) > 5 else ''}, unexpected "
                             f"keys {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}.")
    bad = [f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
           if tuple(state[k].shape) != tuple(v.shape)]
    if bad:
        raise RunFormatError(f"'{path}' does not fit {model.spec.name}: shape mismatch "
                             f"({'; '.join(bad[:3])}).")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise RunFormatError(f"'{path}' does not fit {model.spec.name}: {err}") from err


def load_fold(root: str | os.PathLike[str], fold: str, *, index: dict | None = None,
              device: str | torch.device = "auto") -> FoldModel:
    """Rebuild and load one fold of a run directory.

    Args:
        root: the run directory.
        fold: the fold's folder name, e.g. ``"fold_2"``.
        index: the run's root config (read with :func:`read_run` when not given).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...

    Returns:
        A :class:`FoldModel` with the model in eval mode.

    Example:
        ```python
        from fakezoo.hub import load_fold
        fold = load_fold("runs/mobilenet_v2", "fold_1", device="cpu")
        fold.model.preprocessing.image_size
        ```
    """
    from .engine import resolve_device

    root = Path(root)
    index = read_run(root) if index is None else index
    cfg = _fold_config(root, fold, index)
    folder = _inside(root, fold)
    model = _build(cfg, str(folder / "config.json"))
    _load_weights(model, _weights_path(folder))
    return FoldModel(fold=fold, model=model.eval().to(resolve_device(device)), config=cfg)


def load_run(source: str | os.PathLike[str], *, revision: str | None = None,
             folds: str | int | Sequence[int] = "all", device: str | torch.device = "auto"
             ) -> LoadedRun:
    """Load a run's fold models from a local run directory or a Hub repo.

    Each fold is rebuilt from its validated ``config.json`` with ``pretrained=False`` (the
    config may only name a fakezoo model and its modules) and its ``model.safetensors`` is
    loaded strictly: missing or unexpected keys and shape mismatches are errors.

    Args:
        source: a run directory, ``"org/name"`` or ``"hf-hub:org/name@revision"``.
        revision: the Hub revision (branch, tag or commit hash) to pin.
        folds: ``"all"``, a fold number (1-based) or a list of them.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:1"``...

    Returns:
        A :class:`LoadedRun` with the eval-mode models and the commit they come from.

    Raises:
        RunFormatError: not a fakezoo run, or content fakezoo refuses.
        HubUnavailableError: offline with a cold cache.
        HubFileNotFoundError: missing repo or revision.

    Example:
        ```python
        import torch
        from fakezoo.hub import load_run
        run = load_run("my-org/fakezoo-mobilenet-v2", revision="v1", device="cpu")
        x = torch.zeros(1, 3, 64, 64)
        probs = [f.model(x).softmax(1)[:, 1] for f in run.folds]
        ```
    """
    path, commit = resolve_run(source, revision=revision)
    cfg = read_run(path)
    names = _select_folds(cfg, path, folds)
    loaded = [load_fold(path, name, index=cfg, device=device) for name in names]
    return LoadedRun(path=path, config=cfg, folds=loaded, revision=commit)


# -- pushing -----------------------------------------------------------------------------------

_METRICS = ("accuracy", "f1", "precision", "recall", "roc_auc")
_DEMO_FILE = re.compile(r"(real|fake)/(real|fake)_\d{5}\.jpg")


def _allowed_in_cache(path: Path, root: Path) -> bool:
    """A file (or link) inside the run directory, or a link into the Hugging Face cache."""
    from huggingface_hub import constants

    target = path.resolve()
    return any(target.is_relative_to(base) for base in
               (root.resolve(), Path(constants.HF_HUB_CACHE).resolve()))


def _push_files(root: Path) -> tuple[dict, list[tuple[str, Path]]]:
    """Validate a run directory for pushing; return its config and ``(path_in_repo, file)``."""
    cfg = read_run(root)
    if cfg.get("complete") is not True:
        raise RunFormatError(f"'{root}' is an incomplete run (config.json has complete="
                             f"{cfg.get('complete')!r}). Run the same CrossValidator settings "
                             f"again with out_dir='{root}' to finish it (it resumes), then push.")
    pickles = sorted(str(p.relative_to(root)) for p in root.rglob("*")
                     if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise RunFormatError(f"'{root}' contains {', '.join(pickles[:5])}: fakezoo shares "
                             f"safetensors weights only and never pickles (they can run code "
                             f"when loaded). Remove these files before pushing.")
    if not (root / "results.json").is_file():
        raise RunFormatError(f"'{root}' has no results.json: not a finished fakezoo run.")
    wanted = [("config.json", True), ("results.json", True), ("report.md", False)]
    wanted += [(p.name, False) for p in sorted(root.glob("*.png"))]
    for fold in cfg["folds"]:
        folder = _inside(root, fold)
        _fold_config(root, fold, cfg)
        weights = _weights_path(folder)
        try:
            from safetensors import safe_open

            with safe_open(str(weights), framework="pt") as handle:
                handle.keys()
        except (SafetensorError, OSError) as err:
            raise RunFormatError(f"Cannot read '{weights}' as safetensors: {err}") from err
        wanted += [(f"{fold}/model.safetensors", True), (f"{fold}/config.json", True),
                   (f"{fold}/predictions.json", False)]
    files = []
    for name, required in wanted:
        path = root / name
        if not path.is_file():
            if required:
                raise RunFormatError(f"'{path}' is missing.")
            continue
        if not _allowed_in_cache(path, root):
            raise RunFormatError(f"'{path}' links to '{path.resolve()}', outside the run "
                                 f"directory: refusing to upload it.")
        files.append((name, path))
    return cfg, files


def _policy(cfg: dict) -> str:
    if cfg.get("finetune") is True:
        return "fine-tuned (the seed's last layers)"
    if cfg.get("finetune") is False:
        return "head only (frozen backbone)"
    return "custom freeze policy"


def _finite(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _eval_results(results: dict, dataset: str) -> list:
    from huggingface_hub import EvalResult

    def result(metric: str, value: float, split: str, name: str) -> EvalResult:
        return EvalResult(task_type="image-classification", task_name="Deepfake detection",
                          dataset_type="custom", dataset_name=dataset, dataset_split=split,
                          metric_type=metric, metric_value=float(value),
                          metric_name=f"{metric} ({name})")

    folds = results.get("folds") or []
    out = []
    mean = (results.get("summary") or {}).get("mean") or {}
    for metric in _METRICS:
        if _finite(mean.get(metric)):
            out.append(result(metric, mean[metric], "cv_mean", f"mean of {len(folds)} folds"))
    for fold in folds:
        k = fold.get("fold")
        for metric in _METRICS:
            value = (fold.get("metrics") or {}).get(metric)
            if _finite(value):
                out.append(result(metric, value, f"fold_{k}", f"fold {k}"))
    return out


def _looks_like_demo(results: dict, data_description: str | None) -> bool:
    text = (data_description or "").lower()
    if "demo" in text or "synthetic" in text or "procedural" in text:
        return True
    files = [f for fold in results.get("folds") or [] for f in fold.get("val_files") or []]
    return bool(files) and all(_DEMO_FILE.fullmatch(f) for f in files)


def model_card(run_dir: str | os.PathLike[str], repo_id: str, *,
               data_description: str | None = None, license: str = "other") -> str:
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

    from . import report

    root = Path(run_dir)
    cfg = read_run(root)
    results = _read_json(root / "results.json", "the run's results")
    search = (_read_json(root / "search.json", "LR search")
              if (root / "search.json").is_file() else None)
    spec = get_spec(cfg["model"])
    settings = cfg.get("settings") or results.get("settings") or {}
    description = (data_description or "").strip()
    dataset = description.splitlines()[0][:80] if description else "custom"
    display = report.display_name(cfg["model"])
    folds = results.get("folds") or []
    mean = (results.get("summary") or {}).get("mean") or cfg.get("metrics") or {}
    pre = cfg["preprocessing"]

    data = ModelCardData(
        library_name="fakezoo", license=license, pipeline_tag="image-classification",
        tags=["deepfake-detection", "image-classification", "fakezoo", "timm",
              spec.architecture],
        base_model=f"timm/{cfg['weights']}" if cfg.get("weights") else None,
        metrics=list(_METRICS), model_name=repo_id,
        eval_results=_eval_results(results, dataset) or None,
    )

    def num(key: str) -> str:
        value = mean.get(key)
        return f"{value:.4f}" if _finite(value) else "n/a"

    init = settings.get("pretrained", bool(cfg.get("weights")))
    if cfg.get("weights"):
        weights = f"ImageNet weights `{cfg['weights']}` (timm)"
    elif isinstance(init, str):  # a local .safetensors file: name it, not its path
        weights = f"the author's own weights file `{Path(init).name}`"
    else:
        weights = "random initialisation (no pretrained weights)"
    lines = [
        f"# {display} deepfake detector: {_policy(cfg)}", "",
        f"A real-vs-fake face image classifier: **{display}** (timm `{spec.architecture}`), "
        f"trained with fakezoo and evaluated by "
        f"{len(folds)}-fold stratified cross-validation. The repo holds one model per fold "
        f"(`fold_<k>/model.safetensors` with its `config.json`); fakezoo averages their "
        f"probabilities. Labels: `0` = {cfg['labels'][0]}, `1` = {cfg['labels'][1]}.", "",
        f"Mean over folds: accuracy **{num('accuracy')}**, F1 {num('f1')}, "
        f"ROC-AUC {num('roc_auc')}.", "",
        "## Cross-validation results", "",
        report.fold_block(results).replace("### ", "### Per fold: ", 1).rstrip(), "",
        "## Training details", "",
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
    ]
    if search:
        trials = search.get("trials") or []
        lines.append(f"- **Learning-rate search**: {len(trials)} Optuna trials, "
                     f"protocol `{search.get('protocol')}`, best LR "
                     f"{float(search.get('best_lr', cfg['lr'])):.6g}.")
    if settings.get("protocol") == "nested":
        lrs = ", ".join(f"{float(v):.3g}" for v in settings.get("lr_per_fold") or [])
        lines.append(f"- **Learning-rate search**: nested, each outer fold's LR chosen by an "
                     f"inner CV on its training part ({lrs}); the LR above is their "
                     f"geometric mean.")
    lines += [
        "", "## How to use", "",
        "```python", "import fakezoo", "",
        f'run = fakezoo.load("{repo_id}")            # all folds, safetensors only',
        f'result = fakezoo.predict("face.jpg", model="{repo_id}")',
        "```", "",
        "From the command line:", "",
        "```bash", f"fakezoo predict face.jpg --model {repo_id}", "```", "",
        f"Pin a revision for reproducible results: `\"{repo_id}@<tag or commit>\"`. Loading "
        "rebuilds each fold from fakezoo's own model definitions and reads only "
        "`model.safetensors`: nothing from the repo is imported, executed or unpickled.", "",
        "## Limitations", "",
        "- The numbers are cross-validation estimates on the author's data, not a test on "
        "independent data: expect lower accuracy on faces, generators and image pipelines "
        "the training data did not cover.",
    ]
    if search and search.get("protocol") == "seed":
        lines.append("- The learning rate was chosen on the same folds that are reported "
                     "(the seed study's protocol), so these numbers are optimistic.")
    if _looks_like_demo(results, data_description):
        lines.append("- **Trained on synthetic demo data** (fakezoo's procedural faces): this "
                     "model is a demonstration and does not detect real deepfakes.")
    if init is False:
        lines.append("- Trained from a random initialisation, not from ImageNet weights.")
    lines.append("- A deepfake detector's output is evidence, not proof: do not use it alone "
                 "for decisions about people.")
    body = "\n".join(lines) + "\n"
    return f"---\n{data.to_yaml()}\n---\n\n{body}"


def _token(token: str | None) -> str:
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise HubAuthError("Pushing to the Hugging Face Hub needs a token with write access: "
                           "run `hf auth login`, set HF_TOKEN, or pass token=...")
    return token


def push_to_hub(run_dir: str | os.PathLike[str], repo_id: str, *, private: bool = False,
                token: str | None = None, commit_message: str | None = None,
                tag: str | None = None, data_description: str | None = None,
                license: str = "other", endpoint: str | None = None) -> str:
    """Upload a finished run directory to a Hub model repo as one commit, with a model card.

    Uploads only ``config.json``, ``results.json``, ``report.md``, the ``*.png`` plots and each
    fold's ``model.safetensors``, ``config.json`` and ``predictions.json``, plus a generated
    ``README.md`` (:func:`model_card`). Refuses incomplete runs, runs holding pickled weights
    and directories that are not fakezoo runs, before any network access.

    Args:
        run_dir: the run directory written by :meth:`fakezoo.cv.CrossValidator.run`.
        repo_id: ``"org/name"``; the repo is created if needed (an existing repo keeps its
            visibility).
        private: create the repo private.
        token: a Hub token with write access (default: ``HF_TOKEN`` or the saved login).
        commit_message: defaults to a summary of the run.
        tag: also create this tag on the new commit, e.g. ``"v1"``.
        data_description: what the model was trained on, for the model card.
        license: the card's license id.
        endpoint: another Hub endpoint (default: ``HF_ENDPOINT`` or huggingface.co).

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

    from ._download import _offline, hub_reachable

    root = Path(run_dir)
    cfg, files = _push_files(root)
    token = _token(token)
    card = model_card(root, repo_id, data_description=data_description, license=license)
    if _offline():
        raise HubUnavailableError("Cannot push: HF_HUB_OFFLINE=1 is set. Unset it (or set "
                                  "HF_HUB_OFFLINE=0) on a machine with network access.")
    api = HfApi(endpoint=endpoint, token=token)
    if not hub_reachable(api.endpoint):
        raise HubUnavailableError(f"Cannot push: {api.endpoint} cannot be reached. Check the "
                                  f"network connection (or the endpoint) and try again.")
    mean = cfg.get("metrics") or {}
    message = commit_message or (
        f"fakezoo: {cfg['model']} {_policy(cfg)}, {len(cfg['folds'])}-fold CV"
        + (f" (accuracy {mean['accuracy']:.4f})" if _finite(mean.get("accuracy")) else ""))
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path))
                  for name, path in files]
    operations.append(CommitOperationAdd(path_in_repo="README.md",
                                         path_or_fileobj=card.encode("utf-8")))
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        commit = api.create_commit(repo_id, operations, commit_message=message,
                                   repo_type="model")
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        if status in (401, 403):
            raise HubAuthError(f"The Hub refused the token for '{repo_id}' (HTTP {status}): "
                               f"use a token with write access to that namespace (`hf auth "
                               f"login`, HF_TOKEN or token=...).") from err
        raise
    if tag:
        try:
            api.create_tag(repo_id, tag=tag, revision=commit.oid, repo_type="model")
        except HfHubHTTPError as err:
            if err.response is not None and err.response.status_code == 409:
                raise ValueError(f"Tag '{tag}' already exists in '{repo_id}'. The run was "
                                 f"pushed as commit {commit.oid} without the tag; choose "
                                 f"another tag and create it on that commit.") from err
            raise
    return commit.oid
