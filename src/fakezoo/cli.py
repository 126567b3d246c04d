"""The ``fakezoo`` command line.

Exit codes: 0 success, 1 an error (reported in one line, no traceback), 2 bad usage,
3 ``predict`` finished but some inputs could not be read (each is reported).
"""

from __future__ import annotations

import argparse
import csv
import errno
import json
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import FakezooError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


def _add_training(p: argparse.ArgumentParser, lr: bool = False) -> None:
    p.add_argument("data", help="folder with real/ and fake/ (or Kaggle splits), or a CSV")
    p.add_argument("--model", required=True, help="zoo model (see `fakezoo models`)")
    p.add_argument("--no-finetune", dest="finetune", action="store_false",
                   help="train only the new head (the seed's 'without fine-tune' rows)")
    if lr:
        p.add_argument("--lr", type=float, required=True, help="learning rate")
    p.add_argument("--epochs", type=int, default=3, help="epochs per fold (default 3)")
    p.add_argument("--folds", type=int, default=3, help="CV folds (default 3)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0, help="seeds folds, init and batch order")
    p.add_argument("--out", required=True, help="run directory to write (resumes only the "
                   "very same run: same data, folds, model and settings)")
    p.add_argument("--overwrite", action="store_true",
                   help="remove an existing run in --out (for tune: and the stored --study) "
                        "first, instead of refusing one made with other data or settings")
    p.add_argument("--no-pretrained", dest="pretrained", action="store_false",
                   help="random initialisation instead of ImageNet weights")
    p.add_argument("--weights", help="local .safetensors ImageNet weights instead of the Hub")
    p.add_argument("--image-size", type=int,
                   help="override the seed's input size (recorded as a deviation)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1...")


def _parser() -> argparse.ArgumentParser:
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="fakezoo", description="Tell real face images from deepfakes with the study's "
        "seven ImageNet backbones: train, cross-validate, search the LR, publish, predict.")
    parser.add_argument("--version", action="version", version=f"fakezoo {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks (also FAKEZOO_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("models", help="the zoo: architectures, sizes, freeze policies")
    p.add_argument("--format", choices=["table", "json"], default="table")

    p = sub.add_parser("demo-data", help="write the synthetic demo dataset (no download)")
    p.add_argument("dir", help="output folder (real/ and fake/ are created)")
    p.add_argument("--n-per-class", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--image-size", type=int, default=256)

    p = sub.add_parser("cv", help="cross-validate one model at one learning rate")
    _add_training(p, lr=True)

    p = sub.add_parser("tune", help="Optuna LR search, then CV at the best LR")
    _add_training(p)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--protocol", choices=["seed", "nested"], default="seed",
                   help="seed: LR chosen on the reported folds (optimistic); nested: unbiased")
    p.add_argument("--lr-range", type=float, nargs=2, default=(1e-5, 1e-2), metavar=("LOW",
                                                                                      "HIGH"))
    p.add_argument("--storage", help="study.db (SQLite), study.log (Journal, several local "
                   "workers) or a postgresql:// / mysql:// URL (several machines)")
    p.add_argument("--study", help="study name shared by workers")
    p.add_argument("--pruner", choices=["median", "none"], default="median")

    p = sub.add_parser("benchmark", help="the whole study: 12 rows, LR search + CV each")
    p.add_argument("data", nargs="?", help="folder or CSV; omit for the 5-minute demo on "
                   "synthetic data")
    p.add_argument("--models", nargs="+", help="only these models' rows")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--protocol", choices=["seed", "nested"], default="seed")
    p.add_argument("--out", default="fakezoo-study", help="output folder (resumes only the very "
                   "same study: same data and settings)")
    p.add_argument("--overwrite", action="store_true",
                   help="remove the old study in --out first, instead of refusing one made "
                        "with other data or settings")
    p.add_argument("--image-size", type=int)
    p.add_argument("--no-pretrained", dest="pretrained", action="store_false")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--save-weights", action=argparse.BooleanOptionalAction, default=None,
                   help="write every row's fold weights (default: yes with DATA, no for the "
                        "demo)")

    p = sub.add_parser("predict", help="real or fake? for images, folders or lists")
    p.add_argument("paths", nargs="+", help="image files or folders (searched recursively)")
    p.add_argument("--faces", action="store_true", help="find and score each face of whole "
                   "photos and videos (needs fakezoo[faces])")
    p.add_argument("--frames", type=int, default=16, help="with --faces: frames per video")
    p.add_argument("--model", help="run directory, Hub repo id or hf-hub:org/name@rev "
                   "(default: $FAKEZOO_MODEL, else the library's default repo)")
    p.add_argument("--revision", help="Hub revision (commit, tag or branch)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="auto")
    p.add_argument("--explain", metavar="DIR", help="also write a Grad-CAM overlay (NAME.cam.png) "
                   "and the raw map (NAME.cam.npy) per image to DIR (needs fakezoo[explain])")
    p.add_argument("--allow-partial", action="store_true",
                   help="predict with the finished folds of an unfinished run (else an error)")

    p = sub.add_parser("crop", help="face dataset from photos/videos (needs fakezoo[faces])")
    p.add_argument("src", help="folder with real/ and fake/ (photos and/or videos), or a CSV")
    p.add_argument("dst", help="output folder: real/, fake/, manifest.csv, report.csv "
                   "(resumes if present)")
    p.add_argument("--frames", type=int, default=16, help="evenly spaced frames per video")
    p.add_argument("--all-faces", action="store_true", help="every face, not only the largest")
    p.add_argument("--min-size", type=float, default=40, help="smallest face side in px")
    p.add_argument("--min-score", type=float, default=0.9, help="smallest detector score")
    p.add_argument("--margin", type=float, default=0.25, help="context around the face box, "
                   "as a fraction of its side")
    p.add_argument("--size", type=int, default=256, help="output crop side in px")
    p.add_argument("--no-square", dest="square", action="store_false",
                   help="keep the box's aspect before resizing (default: square region)")
    p.add_argument("--workers", type=int, help="sources processed at once")
    p.add_argument("--device", default="cpu", help="face detector device (cpu, cuda, ...)")
    p = sub.add_parser("export", help="write a run as one self-contained ONNX file (shared "
                       "trunk once, fold tails), checked against fakezoo.predict")
    p.add_argument("run", help="run directory, Hub repo id or hf-hub:org/name@rev")
    p.add_argument("--format", choices=["onnx"], default="onnx")
    p.add_argument("--out", help="file to write (default: ./<run name>.onnx)")
    p.add_argument("--revision", help="Hub revision (commit, tag or branch)")
    p.add_argument("--check-images", help="folder of images for the check (default: four "
                   "random images)")
    p.add_argument("--atol", type=float, default=1e-4,
                   help="largest accepted probability difference (default 1e-4)")

    p = sub.add_parser("evaluate", help="score runs on new labelled data, clean and perturbed "
                       "(cross-dataset, robustness)")
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="run directories, Hub ids (org/name[@rev]) or study directories")
    p.add_argument("data", metavar="DATA", help="labelled folder or CSV to score the runs on")
    p.add_argument("--out", required=True, help="folder for evaluate.md, JSON, CSVs and plots")
    p.add_argument("--perturb", nargs="+", metavar="KIND:VALUES",
                   help="also score under perturbations, e.g. jpeg:90,75,50 blur:1,2 "
                        "resize:0.5 noise:0.02 (after the positional arguments)")
    p.add_argument("--bootstrap", type=int, default=1000,
                   help="resamples for the 95%% intervals of ROC-AUC and accuracy (0: none)")
    p.add_argument("--seed", type=int, default=0, help="seeds the bootstrap and the noise")
    p.add_argument("--groups", metavar="COLUMN",
                   help="CSV column with video/identity ids for video-level metrics "
                        "(default: the CSV's group column, if any)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="auto")

    p = sub.add_parser("push", help="upload a run directory to the Hub as one commit")
    p.add_argument("run_dir")
    p.add_argument("repo_id", help="org/name")
    p.add_argument("--private", action="store_true")
    p.add_argument("--tag", help="create this tag on the commit")
    p.add_argument("--message", help="commit message")
    p.add_argument("--data-description", help="what the model was trained on, for the card")
    p.add_argument("--license", default="other")
    p.add_argument("--eval", dest="evaluations", action="append", metavar="DIR",
                   help="a `fakezoo evaluate --out` folder: add its results for this run to "
                        "the card's model-index (repeatable)")

    p = sub.add_parser("pull", help="download a run from the Hub (safetensors only)")
    p.add_argument("repo_id", help="org/name or hf-hub:org/name@revision")
    p.add_argument("--revision")
    p.add_argument("--out", help="copy the run here (default: keep it in the Hub cache)")

    p = sub.add_parser("app", help="a web page to try a run in the browser (fakezoo[app])")
    p.add_argument("--model", help="run directory, Hub repo id or hf-hub:org/name@rev "
                   "(default: $FAKEZOO_MODEL, else the library's default repo)")
    p.add_argument("--revision", help="Hub revision (commit, tag or branch)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to serve on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--max-file-size", default="20mb",
                   help="largest upload, e.g. 20mb (default) or a number of bytes")
    p.add_argument("--queue-size", type=int, default=32,
                   help="requests that may wait for the models (default 32)")
    p.add_argument("--device", default="auto")
    return parser


def _models(args) -> int:
    from .models.registry import get_spec, list_models

    rows = []
    for name in list_models():
        spec = get_spec(name)
        finetune, head, total = spec.param_counts  # static: no torch needed to list the zoo
        counts = {"finetune": finetune, "head": head, "total": total}
        rows.append({"name": name, "architecture": spec.architecture,
                     "weights": spec.pretrained_tag, "input_size": spec.image_size,
                     "finetune_trains": list(spec.finetune), "head_trains": list(spec.head),
                     "trainable_finetune": counts["finetune"],
                     "trainable_head": counts["head"], "total_params": counts["total"]})
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    print(f"{'name':<14}{'timm weights':<34}{'input':>6}{'trainable (finetune)':>22}"
          f"{'trainable (head)':>18}{'total':>13}")
    for r in rows:
        print(f"{r['name']:<14}{r['weights']:<34}{r['input_size']:>6}"
              f"{r['trainable_finetune']:>22,}{r['trainable_head']:>18,}{r['total_params']:>13,}")
    return EXIT_OK


def _demo_data(args) -> int:
    from .synth.demo import make_demo_dataset

    root = make_demo_dataset(args.dir, args.n_per_class, seed=args.seed,
                             image_size=args.image_size)
    print(f"wrote {2 * args.n_per_class} images ({args.n_per_class} real, {args.n_per_class} "
          f"fake) to {root}")
    return EXIT_OK


def _validator(args):
    from .train.cv import CrossValidator

    pretrained = args.weights or args.pretrained
    return CrossValidator(n_splits=args.folds, epochs=args.epochs, batch_size=args.batch_size,
                          seed=args.seed, device=args.device, pretrained=pretrained,
                          image_size=args.image_size)


def _cv(args) -> int:
    result = _validator(args).run(args.model, args.data, finetune=args.finetune, lr=args.lr,
                                  out_dir=args.out, overwrite=args.overwrite)
    print(result.report())
    print(f"\nrun directory: {args.out}")
    return EXIT_OK


def _quiet_optuna() -> None:
    """fakezoo logs each trial itself; keep Optuna's own lines for warnings."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _tune(args) -> int:
    from .train.tune import optuna_lr_search

    _quiet_optuna()

    found = optuna_lr_search(args.model, args.data, args.finetune, n_trials=args.trials,
                             lr_range=tuple(args.lr_range), protocol=args.protocol,
                             storage=args.storage, study_name=args.study, seed=args.seed,
                             pruner=args.pruner, cv=_validator(args), out_dir=args.out,
                             overwrite=args.overwrite)
    print(found.cv_result.report())
    lrs = ", ".join(f"{lr:.3g}" for lr in found.fold_lrs)
    print(f"\nbest lr: {found.best_lr:.4g}" + (f" (per outer fold: {lrs})" if lrs else ""))
    print(f"run directory: {args.out} (trials in {Path(args.out) / 'trials.csv'})")
    return EXIT_OK


def _benchmark(args) -> int:
    from .report.text import table_markdown
    from .study import run_study

    _quiet_optuna()
    table = run_study(args.data, args.out, models=args.models, n_trials=args.trials,
                      epochs=args.epochs, protocol=args.protocol, image_size=args.image_size,
                      pretrained=args.pretrained, batch_size=args.batch_size, seed=args.seed,
                      device=args.device, save_weights=args.save_weights,
                      overwrite=args.overwrite)
    if args.data is None:
        print("DEMONSTRATION on synthetic data with random initial weights: these numbers say "
              "nothing about real deepfakes.\n")
    print(table_markdown(table))
    print(f"\nfull report: {Path(args.out) / 'study.md'}")
    return EXIT_OK


def _model_source(args) -> str:
    import os

    from .inference.api import DEFAULT_MODEL, MODEL_ENV

    return args.model or os.environ.get(MODEL_ENV) or DEFAULT_MODEL


def _explained(args) -> list:
    from .explain import explain_to_folder
    from .inference.api import load

    detector = load(_model_source(args), revision=args.revision, device=args.device,
                    threshold=args.threshold)
    done = explain_to_folder(detector, args.paths, args.explain,
                             batch_size=min(args.batch_size, 8))
    written = sum(png is not None for _, png in done)
    print(f"wrote {written} heatmap overlays and raw maps to {args.explain}", file=sys.stderr)
    return [e.prediction for e, _ in done]


def _predict(args) -> int:
    from .inference.api import predict

    options = dict(model=args.model, device=args.device, batch_size=args.batch_size,
                   threshold=args.threshold, revision=args.revision,
                   allow_partial=args.allow_partial)
    if args.faces:
        options.update(faces=True, frames=args.frames)
    folders = [p for p in args.paths if Path(p).is_dir()]
    files = [p for p in args.paths if not Path(p).is_dir()]
    if args.explain:
        items = _explained(args)
    else:
        items = predict(files, **options) if files else []  # a list: bad files are reported
        for folder in folders:
            items += predict(folder, **options)
    rows = [p.to_dict() for p in items]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["path", "label", "prob_fake", "fold_probs", "error"]
                        + (["faces", "frames"] if args.faces else []))
        for r in rows:
            folds = " ".join(f"{p:.6f}" for p in r["fold_probs"] or [])
            prob = "" if r["prob_fake"] is None else f"{r['prob_fake']:.6f}"
            extra = ([len(r.get("faces") or []), len(r.get("frames") or [])] if args.faces
                     else [])
            writer.writerow([r["path"], r["label"] or "", prob, folds, r["error"] or "",
                             *extra])
    else:
        for r in rows:
            verdict = (f"{r['label']:<5} {r['prob_fake']:.4f}" if r["error"] is None
                       else f"ERROR {r['error']}")
            print(f"{verdict}  {r['path']}{_faces_note(r)}")
    failed = sum(r["error"] is not None for r in rows)
    if failed:
        print(f"{failed} of {len(rows)} inputs could not be read (see above).", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


def _crop(args) -> int:
    from .faces import CropPolicy, crop_dataset

    report = crop_dataset(args.src, args.dst, frames=args.frames, all_faces=args.all_faces,
                          min_size=args.min_size, min_score=args.min_score,
                          policy=CropPolicy(args.margin, args.square, args.size),
                          workers=args.workers, device=args.device)
    print(report.summary())
    print(f"train on it with groups kept in folds: fakezoo cv {report.manifest} ...")
    return EXIT_OK


def _evaluate(args) -> int:
    from .evaluate import evaluate_many
    from .evaluate.report import comparison_markdown

    suite = evaluate_many(args.runs, args.data, perturb=args.perturb, bootstrap=args.bootstrap,
                          seed=args.seed, groups=args.groups, device=args.device,
                          batch_size=args.batch_size)
    out = suite.save(args.out)
    print(comparison_markdown(suite))
    data = suite.results[0].data
    if data["skipped"]:
        print(f"{len(data['skipped'])} files of {data['source']} could not be used (listed in "
              f"the report).", file=sys.stderr)
    for skipped in suite.skipped_runs:
        print(f"not evaluated: {skipped['run']}: {skipped['reason']}", file=sys.stderr)
    print(f"\nreport: {Path(out) / 'evaluate.md'}")
    return EXIT_OK


def _export(args) -> int:
    from .inference.api import load
    from .inference.export import export_onnx

    detector = load(args.run, revision=args.revision, device="cpu")
    images = None
    if args.check_images:
        images = _check_images(args.check_images, detector.image_size)
    out = Path(args.out or f"{Path(str(args.run).split('@')[0].rstrip('/')).name}.onnx")
    try:
        done = export_onnx(detector, out, check_images=images, atol=args.atol)
    except ModuleNotFoundError as err:
        print(f"fakezoo export: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    print(f"wrote {done.path} ({args.format}): {detector.n_folds} folds, {done.trunk_passes} "
          f"trunk pass(es); checked on {done.checked} images, largest probability "
          f"difference from fakezoo.predict {done.max_diff:.1e} (limit {args.atol:g})")
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

    commit = push_to_hub(args.run_dir, args.repo_id, private=args.private, tag=args.tag,
                         commit_message=args.message, data_description=args.data_description,
                         license=args.license, evaluations=args.evaluations)
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

    size = int(args.max_file_size) if args.max_file_size.isdigit() else args.max_file_size
    launch(_model_source(args), host=args.host, port=args.port, max_file_size=size,
           queue_size=args.queue_size, revision=args.revision, device=args.device,
           quiet=args.quiet)
    return EXIT_OK


COMMANDS = {"app": _app, "models": _models, "demo-data": _demo_data, "cv": _cv, "tune": _tune,
            "benchmark": _benchmark, "predict": _predict, "crop": _crop, "evaluate": _evaluate,
            "export": _export, "push": _push, "pull": _pull}


def _user_message(err: BaseException) -> str | None:
    """The one-line message for an expected failure, or None for a bug (shown in full)."""
    from ._optional import install_hint

    if isinstance(err, ModuleNotFoundError) and err.name:
        return f"{err.name} is not installed; to use this, run: {install_hint(err.name)}"
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        where = f" while writing {err.filename}" if err.filename else ""
        return (f"the disk is full{where}. Free some space (or choose another --out) and run "
                "the same command again: finished work is kept.")
    if isinstance(err, OSError) and err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        where = err.filename or "the output folder"
        return f"cannot write {where}: {err.strerror}. Choose a writable --out."
    if isinstance(err, (FakezooError, OSError, ValueError, KeyError, RuntimeError, ImportError)):
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        lines = str(message).strip().splitlines() or [type(err).__name__]
        return lines[0] if len(lines) <= 2 else f"{lines[0]} (--debug shows the details)"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fakezoo`` command; returns the exit code.

    Expected failures (bad input, missing extras, unreachable services, a full disk, Ctrl-C)
    print one line and return 1 (130 for Ctrl-C); ``--debug`` or ``FAKEZOO_DEBUG=1`` shows
    the full traceback instead.
    """
    args = _parser().parse_args(argv)
    debug = args.debug or os.environ.get("FAKEZOO_DEBUG", "").lower() not in ("", "0", "false")
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(message)s")
    logging.getLogger("fakezoo").setLevel(logging.WARNING if args.quiet else logging.INFO)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"fakezoo {args.command}: interrupted. Finished work is kept; run the same "
              "command again to resume.", file=sys.stderr)
        return 130
    except Exception as err:
        message = None if debug else _user_message(err)
        if message is None:
            raise
        print(f"fakezoo {args.command}: error: {message}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
