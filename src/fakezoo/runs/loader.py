"""Reading, checking and loading run directories, local or pulled from the Hugging Face Hub.

A run directory written by
[`fakezoo.train.cv.CrossValidator.run`][fakezoo.train.cv.CrossValidator.run] is pushed as one commit
with a generated model card, and pulled back at a pinned revision. Loading is deliberately narrow:

* only ``config.json``, ``results.json``, ``report.md``, ``README.md`` and each fold's
  ``config.json`` and ``model.safetensors`` are ever downloaded;
* weights are read with safetensors only: nothing is unpickled, imported or executed;
* each fold is rebuilt from fakezoo's own model specs with ``pretrained=False`` (the config only
  names a known zoo model and known modules) and then loaded strictly.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import timm
import torch
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from safetensors import SafetensorError, safe_open

from .._io import file_sha256, read_json
from ..download import download_snapshot
from ..errors import RunFormatError, UnknownModelError
from ..models.build import create, load_error, set_preprocessing
from ..models.preprocessing import Preprocessing
from ..models.registry import get_spec
from .schema import FOLD_CONFIG, INDEX, WEIGHTS, FoldConfig, RunConfig, check_digest

logger = logging.getLogger("fakezoo")

__all__ = [
    "PICKLE_SUFFIXES",
    "PULL_PATTERNS",
    "FoldModel",
    "LoadedRun",
    "check_weights",
    "fold_folder",
    "fold_weights_file",
    "is_hub_id",
    "load_fold",
    "load_run",
    "read_fold_config",
    "read_run",
    "read_run_file",
    "resolve_run",
    "run_digest",
]


PULL_PATTERNS = [
    "config.json",
    "results.json",
    "report.md",
    "README.md",
    "fold_*/config.json",
    "fold_*/model.safetensors",
]
"""The only files [`resolve_run`][fakezoo.runs.loader.resolve_run] downloads from a Hub repo."""


PICKLE_SUFFIXES = (
    ".bin",
    ".pt",
    ".pth",
    ".ckpt",
    ".pkl",
    ".pickle",
    ".joblib",
    ".npy",
    ".npz",
    ".h5",
    ".msgpack",
)
"""Weight formats fakezoo refuses: they can run code when loaded, or are not safetensors."""

_FOLD_RE = re.compile(r"fold_[1-9][0-9]{0,3}")
_PULL_HINT = (
    "Run once with network access to fill the local Hugging Face cache, or pass a "
    "local run directory."
)


@dataclass
class FoldModel:
    """One fold of a run, rebuilt and loaded.

    Attributes:
        fold: the fold's folder name, e.g. ``"fold_1"``.
        model: the zoo model in eval mode, on the requested device, with ``model.spec``,
            ``model.preprocessing`` and ``model.transform`` like
            [`fakezoo.create`][fakezoo.models.build.create].
        config: the fold's validated ``config.json``.

    Example:
        ```python
        from fakezoo.runs import load_run
        fold = load_run("runs/resnet50", folds=1, device="cpu").folds[0]
        fold.fold, fold.config["fakezoo"]["metrics"]["accuracy"]
        ```
    """

    fold: str
    model: torch.nn.Module
    config: dict


@dataclass
class LoadedRun:
    """A run loaded by [`load_run`][fakezoo.runs.loader.load_run].

    Attributes:
        path: the local run directory (a Hub snapshot folder for a pulled run).
        config: the run's validated root ``config.json``.
        folds: the loaded folds, in the order asked for (that of ``config["folds"]`` for
            ``folds="all"``).
        revision: the Hub commit hash the files come from; ``None`` for a local directory.

    Example:
        ```python
        from fakezoo.runs import load_run
        run = load_run("my-org/fakezoo-resnet50@v1", device="cpu")
        run.revision, [f.fold for f in run.folds]   # ('3f2a...', ['fold_1', 'fold_2', 'fold_3'])
        ```
    """

    path: Path
    config: dict
    folds: list[FoldModel]
    revision: str | None


# -- validation -----------------------------------------------------------------------------


def read_run_file(path: Path, what: str) -> dict:
    """The JSON object in one file of a run (``what`` says which, in the messages); a missing,
    invalid or non-object file is a ``RunFormatError``."""
    if not path.is_file():
        raise RunFormatError(
            f"Not a fakezoo run: '{path}' is missing ({what}). A run directory "
            f"is written by fakezoo's CrossValidator.run(..., out_dir=DIR)."
        )
    try:
        data = read_json(path)
    except ValueError as err:  # not UTF-8, or not JSON
        raise RunFormatError(f"'{path}' is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise RunFormatError(f"'{path}' must hold a JSON object, not {type(data).__name__}.")
    return data


def fold_folder(root: Path, name: str) -> Path:
    """``root / name``, refusing names that leave ``root`` (``..``, absolute paths, links)."""
    if not isinstance(name, str) or not _FOLD_RE.fullmatch(name):
        raise RunFormatError(f"Fold name {name!r} is not of the form 'fold_<k>': refusing it.")
    base = root.resolve()
    folder = (root / name).resolve()
    if folder.parent != base:
        raise RunFormatError(
            f"Fold '{name}' resolves to '{folder}', outside the run "
            f"directory '{base}': refusing it."
        )
    return root / name


def _check_model(cfg: dict, where: str) -> Any:
    """The [`ModelSpec`][fakezoo.models.registry.ModelSpec] a config names (and its
    architecture)."""
    name = cfg.get("model")
    if not isinstance(name, str):
        raise RunFormatError(f"{where}: 'model' must be a fakezoo model name, got {name!r}.")
    try:
        spec = get_spec(name)
    except UnknownModelError as err:
        raise RunFormatError(f"{where}: {err}") from err
    arch = cfg.get("architecture", spec.architecture)
    if arch != spec.architecture:
        raise RunFormatError(
            f"{where}: architecture {arch!r} is not the architecture of "
            f"fakezoo model '{name}' ({spec.architecture!r}); fakezoo only "
            f"builds its own architectures."
        )
    return spec


def read_run(path: str | os.PathLike[str]) -> dict:
    """Read and validate a run directory's root ``config.json``.

    Args:
        path: a run directory (local, or a snapshot folder from
            [`resolve_run`][fakezoo.runs.loader.resolve_run]).

    Returns:
        The config as a dict: ``model``, ``architecture``, ``finetune``, ``trainable``,
        ``preprocessing``, ``labels``, ``folds``, ``complete``, ``metrics``...

    Raises:
        RunFormatError: no ``config.json``, not a fakezoo run, an unknown model or architecture,
            or a malformed field.

    Example:
        ```python
        from fakezoo.runs import read_run
        cfg = read_run("runs/mobilenet_v2")
        cfg["model"], cfg["folds"]   # ('mobilenet_v2', ['fold_1', 'fold_2', 'fold_3'])
        ```
    """
    root = Path(path)
    if not root.is_dir():
        raise RunFormatError(f"'{root}' is not a directory: expected a fakezoo run directory.")
    where = str(root / INDEX)
    cfg = read_run_file(root / INDEX, "the run's index")
    RunConfig.from_dict(cfg, where)  # labels, folds, preprocessing, fingerprint...
    _check_model(cfg, where)
    for fold in cfg["folds"]:
        fold_folder(root, fold)
    return cfg


def run_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a local run's content: its index and every fold's config and weights.

    A fold finished later, or weights replaced, give another digest (weights are hashed once
    per file version).
    """
    root = Path(path)
    digest = hashlib.sha256()
    for name in (INDEX, *sorted(str(p.relative_to(root)) for p in root.glob(f"fold_*/{INDEX}"))):
        file = root / name
        digest.update(f"{name}\n".encode())
        if file.is_file():
            digest.update(file.read_bytes())
            weights = file.parent / WEIGHTS
            if name != INDEX and weights.is_file():
                digest.update(file_sha256(weights).encode())
    return digest.hexdigest()


# -- resolving a source -------------------------------------------------------------------------


def _parse_source(source: str, revision: str | None) -> tuple[str, str | None]:
    repo = source.removeprefix("hf-hub:").removeprefix("hf://")
    if "@" in repo:
        repo, _, pinned = repo.partition("@")
        if not pinned:
            raise ValueError(f"'{source}': nothing after '@'; give a revision or drop the '@'.")
        if revision is not None and revision != pinned:
            raise ValueError(
                f"'{source}' pins revision '{pinned}' but revision='{revision}' "
                f"was also given; give one."
            )
        revision = pinned
    return repo, revision


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+(@.+)?")


def is_hub_id(source: str) -> bool:
    """Whether ``source`` names a Hub repo rather than a local path: ``hf-hub:`` and
    ``hf://`` ids always; otherwise only ``org/name`` (with an optional ``@revision``) whose
    ``org`` is not a folder here, since ``runs/nope`` beside a ``runs/`` folder is a
    mistyped local run.

    Example:
        ```python
        from fakezoo.runs.loader import is_hub_id
        is_hub_id("my-org/fakezoo-resnet50@v1")  # True
        is_hub_id("./runs/resnet50"), is_hub_id("nope")  # (False, False)
        ```
    """
    if source.startswith(("hf-hub:", "hf://")):
        return True
    return bool(_HUB_ID.fullmatch(source)) and not Path(source.split("/", 1)[0]).is_dir()


def resolve_run(
    source: str | os.PathLike[str], *, revision: str | None = None
) -> tuple[Path, str | None]:
    """Find a run directory locally, or download it from the Hub at a pinned revision.

    A Hub run is fetched with huggingface_hub into its normal cache; only the files in
    [`PULL_PATTERNS`][fakezoo.runs.loader.PULL_PATTERNS] are downloaded (never pickles, code or
    predictions). With ``HF_HUB_OFFLINE=1`` a warm cache is used without any network access.

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
        FileNotFoundError: a file, or a path that does not exist (only ``org/name`` is
            taken for a Hub id, see [`is_hub_id`][fakezoo.runs.loader.is_hub_id]).
        ValueError: two different revisions (``@rev`` and ``revision=``), or a revision for
            a local directory.

    Example:
        ```python
        from fakezoo.runs import resolve_run
        folder, commit = resolve_run("my-org/fakezoo-mobilenet-v2@v1")
        folder, commit = resolve_run("runs/mobilenet_v2")   # (Path('runs/mobilenet_v2'), None)
        ```
    """
    if isinstance(source, str) and source.startswith("~"):
        source = Path(source).expanduser()
    if Path(str(source)).is_file():
        raise FileNotFoundError(
            f"'{source}' is a file: pass the run directory that holds "
            f"config.json and the fold_<k> folders (or, to predict, a file written by "
            f"`fakezoo export RUN --format onnx`)."
        )
    local = isinstance(source, os.PathLike) or Path(source).is_dir()
    if not local and not is_hub_id(source):
        raise FileNotFoundError(
            f"'{source}' does not exist: there is no such run directory or file "
            f"(a Hub repo id has the form 'org/name')."
        )
    if isinstance(source, os.PathLike) or Path(str(source)).is_dir():
        path = Path(source)
        if not path.is_dir():
            raise FileNotFoundError(
                f"'{path}' is not a directory: expected a fakezoo run directory."
            )
        if revision is not None:
            raise ValueError(
                f"revision='{revision}' applies to Hub repos, not to the local directory '{path}'."
            )
        return path, None
    repo, rev = _parse_source(str(source), revision)
    try:
        validate_repo_id(repo)
    except HFValidationError as err:
        raise FileNotFoundError(
            f"'{source}' is neither a run directory nor a Hub repo id "
            f"('org/name', 'hf-hub:org/name@revision')."
        ) from err
    folder = download_snapshot(repo, revision=rev, allow_patterns=PULL_PATTERNS, hint=_PULL_HINT)
    commit = folder.name if re.fullmatch(r"[0-9a-f]{40}", folder.name) else None
    if not (folder / "config.json").is_file():
        found = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        raise RunFormatError(
            f"'{repo}'" + (f" at '{rev}'" if rev else "") + " is not a fakezoo"
            f" run: it has no config.json (found: {found[:5] or 'nothing'}). "
            f"Push one with fakezoo.push_to_hub / `fakezoo push`."
        )
    _refuse_fold_branch(folder / "config.json", repo, rev)
    return folder, commit


def _refuse_fold_branch(config: Path, repo: str, rev: str | None) -> None:
    """A ``fold-<k>`` branch holds one fold for plain timm, not a run: say how to load it."""
    cfg = read_run_file(config, "the run's index")
    if "folds" not in cfg and isinstance(cfg.get("fakezoo"), dict):
        fold = (rev or "").rsplit("fold-", 1)[-1] if (rev or "")[-1:].isdigit() else "K"
        raise RunFormatError(
            f"'{repo}' at '{rev}' holds one fold published for plain timm, not a fakezoo run. "
            f"Load the run's fold with fakezoo.load('{repo}', folds={fold}), or this fold with "
            f"timm.create_model('hf-hub:{repo}@{rev}', pretrained=True)."
        )


# -- loading -----------------------------------------------------------------------------------

_WARNED: set[tuple[str, tuple[str, ...]]] = set()


def _select_folds(
    cfg: dict, root: Path, folds: str | int | Sequence[int], allow_partial: bool = False
) -> list[str]:
    """The folds to load: all the run lists (the folds actually trained), or those asked
    for. Folds without a ``config.json`` are unfinished: an error naming them, unless
    ``allow_partial`` (then they are left out, with one warning)."""
    names: list[str] = list(cfg["folds"])
    if isinstance(folds, str):
        if folds != "all":
            raise ValueError(f"folds={folds!r}: use 'all', a fold number or a list of them.")
        chosen = names
    else:
        wanted = [folds] if isinstance(folds, int) else list(folds)
        if not wanted:
            raise ValueError("folds=[]: give at least one fold number.")
        chosen = []
        for k in wanted:
            if isinstance(k, bool) or not isinstance(k, int) or f"fold_{k}" not in names:
                raise ValueError(
                    f"folds={folds!r}: fold {k!r} is not in this run (folds 1..{len(names)})."
                )
            chosen.append(f"fold_{k}")
    missing = [n for n in chosen if not (root / n / FOLD_CONFIG).is_file()]
    if not missing:
        return chosen
    finished = [n for n in chosen if n not in missing]
    if not allow_partial or not finished:
        raise RunFormatError(
            f"'{root}' is an unfinished run: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not finished (finished: "
            f"{', '.join(finished) or 'none'}). Finish it by running the same command again "
            f"(it resumes), or pass allow_partial=True (--allow-partial) to use the "
            f"finished folds only."
        )
    key = (str(root.resolve()), tuple(missing))
    if key not in _WARNED:
        _WARNED.add(key)
        logger.warning(
            "'%s' is an unfinished run: using %s only (%s missing), as allow_partial=True asks.",
            root,
            ", ".join(finished),
            ", ".join(missing),
        )
    return finished


def read_fold_config(root: Path, fold: str, index: dict) -> dict:
    """A fold's ``config.json``, checked on its own and against the run's ``index``."""
    folder = fold_folder(root, fold)
    path = folder / FOLD_CONFIG
    where = str(path)
    cfg = read_run_file(path, f"the config of {fold}")
    record = FoldConfig.from_dict(cfg, where)
    _check_model({"model": record.model, "architecture": cfg.get("architecture")}, where)
    run = RunConfig.from_dict(index, str(root / INDEX))
    run.check_fold(record, fold, where)
    return cfg


def fold_weights_file(folder: Path) -> Path:
    """A fold folder's ``model.safetensors``; a folder with pickled weights instead is refused
    with a message saying why."""
    path = folder / "model.safetensors"
    if path.is_file():
        return path
    pickles = (
        sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
        if folder.is_dir()
        else []
    )
    if pickles:
        raise RunFormatError(
            f"'{folder}' has {', '.join(pickles)} but no model.safetensors: "
            f"fakezoo loads safetensors only and never pickles (they can run "
            f"code). Convert the weights to safetensors first."
        )
    raise RunFormatError(
        f"'{path}' is missing: each fold needs its model.safetensors. Runs made "
        f"with save_weights=False (the `fakezoo benchmark` demo's default) "
        f"keep metrics only; rerun with --save-weights to keep the weights."
    )


def _build(cfg: dict, where: str) -> torch.nn.Module:
    """A fresh zoo model as the fold config describes it, with ``pretrained=False`` and the
    run's preprocessing record (its normalisation by name, checked against its numbers)."""
    fz = cfg["fakezoo"]
    spec = get_spec(fz["model"])
    pre = Preprocessing.from_dict(fz["preprocessing"], where)
    weights = fz.get("weights", "timm")
    finetune, trainable = fz.get("finetune"), list(fz["trainable"])
    policy: dict[str, Any] = {"finetune": True, "trainable": trainable}
    if isinstance(finetune, bool) and trainable == list(spec.trainable(finetune)):
        policy = {"finetune": finetune, "trainable": None}
    try:
        # Building draws random initial weights: keep the caller's random state untouched.
        with torch.random.fork_rng(devices=[]):
            model = create(
                spec.name,
                pretrained=False,
                num_classes=cfg.get("num_classes", 2),
                image_size=pre.image_size,
                weights=weights,
                normalization=pre.normalization,
                **policy,
            )
    except UnknownModelError as err:
        raise RunFormatError(f"{where}: {err}") from err
    except ValueError as err:  # e.g. an image size the network cannot take
        raise RunFormatError(f"{where}: {err}") from err
    built = model.preprocessing
    if not all(
        math.isclose(a, b, abs_tol=1e-6)
        for a, b in zip(built.mean + built.std, pre.mean + pre.std, strict=True)
    ):
        raise RunFormatError(
            f"{where}: its '{pre.normalization}' normalization is mean={list(pre.mean)} "
            f"std={list(pre.std)}, but {spec.name} with {weights} weights normalizes as "
            f"mean={list(built.mean)} std={list(built.std)}: the record was edited or comes "
            f"from another fakezoo. Train the run again with this one."
        )
    set_preprocessing(model, pre)
    return model


def check_weights(model: torch.nn.Module, path: Path) -> None:
    """Refuse a weights file whose tensors are not the numbers the run trained: a tensor of
    another dtype than the model's own (a cast would hide it) or with NaN or infinite values.

    Each tensor is read once, memory-mapped; names the model lacks are left to the strict load.

    Example:
        ```python
        from fakezoo.runs.loader import check_weights
        check_weights(model, Path("runs/resnet50/fold_1/model.safetensors"))  # silent when fine
        ```
    """
    own = model.state_dict()
    with safe_open(str(path), framework="pt") as handle:
        for name in handle.keys():  # noqa: SIM118 (a safetensors handle is not a dict)
            want = own.get(name)
            if want is None:
                continue
            tensor = handle.get_tensor(name)
            if tensor.dtype != want.dtype:
                raise RunFormatError(
                    f"'{path}': tensor '{name}' is {_dtype(tensor.dtype)}, but the run's "
                    f"{model.spec.name} holds {_dtype(want.dtype)}; fakezoo never casts weights. "
                    f"Train this fold again, or save the tensor as {_dtype(want.dtype)}."
                )
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                nan = int(torch.isnan(tensor).sum())
                inf = int(torch.isinf(tensor).sum())
                raise RunFormatError(
                    f"'{path}': tensor '{name}' is not finite ({nan} NaN, {inf} infinite of "
                    f"{tensor.numel()} values); the fold's weights are broken: train it again."
                )


def _dtype(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _load_weights(model: torch.nn.Module, path: Path) -> None:
    """Load a fold's safetensors file strictly: timm reads it, torch reports what does not fit."""
    try:
        check_weights(model, path)
        timm.models.load_checkpoint(model, str(path), strict=True)
    except (SafetensorError, OSError, ValueError) as err:
        raise RunFormatError(f"Cannot read '{path}' as safetensors: {err}") from err
    except RuntimeError as err:  # missing or unexpected keys, shape mismatches
        raise RunFormatError(f"'{path}' does not fit {model.spec.name}: {load_error(err)}") from err


def load_fold(
    root: str | os.PathLike[str],
    fold: str,
    *,
    index: dict | None = None,
    device: str | torch.device = "auto",
) -> FoldModel:
    """Rebuild and load one fold of a run directory.

    Args:
        root: the run directory.
        fold: the fold's folder name, e.g. ``"fold_2"``.
        index: the run's root config (read with [`read_run`][fakezoo.runs.loader.read_run] when not
            given).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...

    Returns:
        A [`FoldModel`][fakezoo.runs.loader.FoldModel] with the model in eval mode.

    Example:
        ```python
        from fakezoo.runs import load_fold
        fold = load_fold("runs/mobilenet_v2", "fold_1", device="cpu")
        fold.model.preprocessing.image_size
        ```
    """
    from .._device import resolve_device

    root = Path(root)
    index = read_run(root) if index is None else index
    cfg = read_fold_config(root, fold, index)
    folder = fold_folder(root, fold)
    model = _build(cfg, str(folder / "config.json"))
    weights = fold_weights_file(folder)
    _load_weights(model, weights)
    check_digest(
        weights,
        cfg["fakezoo"].get("weights_sha256"),
        str(folder / FOLD_CONFIG),
        "Train the fold again (or put back the file it wrote).",
    )
    return FoldModel(fold=fold, model=model.eval().to(resolve_device(device)), config=cfg)


def load_run(
    source: str | os.PathLike[str],
    *,
    revision: str | None = None,
    folds: str | int | Sequence[int] = "all",
    device: str | torch.device = "auto",
    allow_partial: bool = False,
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
        allow_partial: load the finished folds of an unfinished run (one warning); without
            it, an unfinished run is a [`RunFormatError`][fakezoo.errors.RunFormatError] naming the
            missing folds.

    Returns:
        A [`LoadedRun`][fakezoo.runs.loader.LoadedRun] with the eval-mode models and the commit they
        come from.

    Raises:
        RunFormatError: not a fakezoo run, or content fakezoo refuses.
        HubUnavailableError: offline with a cold cache.
        HubFileNotFoundError: missing repo or revision.

    Example:
        ```python
        import torch
        from fakezoo.runs import load_run
        run = load_run("my-org/fakezoo-mobilenet-v2", revision="v1", device="cpu")
        x = torch.zeros(1, 3, 64, 64)
        probs = [f.model(x).softmax(1)[:, 1] for f in run.folds]
        ```
    """
    path, commit = resolve_run(source, revision=revision)
    cfg = read_run(path)
    names = _select_folds(cfg, path, folds, allow_partial)
    loaded = [load_fold(path, name, index=cfg, device=device) for name in names]
    return LoadedRun(path=path, config=cfg, folds=loaded, revision=commit)
