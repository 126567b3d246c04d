"""The grammar of the ``fakezoo`` command: subcommands, arguments and their help.

Kept apart from [`fakezoo.cli`][fakezoo.cli] (which runs the commands) and free of heavy imports, so
that ``fakezoo --help`` and ``fakezoo COMMAND --help`` answer at once.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

from ._io import parse_sha256
from .memory import parse_size
from .models.detector_layouts import LAYOUTS
from .models.registry import MAX_IMAGE_SIZE, get_spec, list_models


class Number:
    """An argparse ``type``: an integer (``kind=int``) or a finite float within bounds, so that
    a bad value is argparse's one ``error: argument --FLAG: ...`` line and exit code 2.

    ``low``/``high`` are inclusive bounds, ``above``/``below`` exclusive ones.

    Example:
        ```python
        from fakezoo.cli_parser import Number
        Number(int, 1, 4096)("224")  # 224; "0" raises argparse.ArgumentTypeError
        ```
    """

    def __init__(self, kind=float, low=None, high=None, *, above=None, below=None) -> None:
        self.kind, self.low, self.high, self.above, self.below = kind, low, high, above, below
        bounds = {
            (True, True, False, False): f"from {low} to {high}",
            (True, False, False, False): f"of at least {low}",
            (False, False, True, False): f"above {above}",
            (True, False, False, True): f"from {low} to below {below}",
        }[(low is not None, high is not None, above is not None, below is not None)]
        self.rule = f"{'an integer' if kind is int else 'a finite number'} {bounds}"

    def __call__(self, text: str) -> int | float:
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: use {self.rule}") from None
        if not math.isfinite(value) or not self._fits(value):
            raise argparse.ArgumentTypeError(f"{text}: use {self.rule}")
        return value

    def _fits(self, value) -> bool:
        return not (
            (self.low is not None and value < self.low)
            or (self.high is not None and value > self.high)
            or (self.above is not None and value <= self.above)
            or (self.below is not None and value >= self.below)
        )

    def __repr__(self) -> str:  # argparse names the type in some messages
        return self.rule


LR = Number(float, above=0)
COUNT = Number(int, 1)
SEED = Number(int, 0, 2**32 - 1)  # what numpy's generators take
SIDE = Number(int, 1, MAX_IMAGE_SIZE)  # the loader's cap
FOLDS = Number(int, 2)
PIXELS = Number(float, 0)
PROBABILITY = Number(float, 0, 1)


def file_size(text: str) -> int:
    """An argparse ``type``: ``20mb``, ``512KB`` or a number of bytes, as bytes (Gradio's
    units: 1 kb is 1024 bytes; [`parse_size`][fakezoo.memory.parse_size] reads it).

    Example:
        ```python
        from fakezoo.cli_parser import file_size
        file_size("20mb")  # 20971520
        ```
    """
    try:
        return parse_size(text, bare="B", units="binary", what="file size")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def safetensors_file(text: str) -> str:
    """An argparse ``type``: an existing ``.safetensors`` file (pickles can run code)."""
    path = Path(text)
    if path.suffix != ".safetensors":
        raise argparse.ArgumentTypeError(
            f"{text}: use a .safetensors file (pickled .pth/.bin files can run code; convert "
            f"one with safetensors.torch.save_file(torch.load(f, weights_only=True), ...))"
        )
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    return text


def sha256_hex(text: str) -> str:
    """An argparse ``type``: a whole SHA-256, 64 hex digits (``sha256sum FILE``), lower-cased.

    Example:
        ```python
        from fakezoo.cli_parser import sha256_hex
        sha256_hex("AB" * 32)  # 'abab...ab'; "abc" raises argparse.ArgumentTypeError
        ```
    """
    try:
        return parse_sha256(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _add_training(p: argparse.ArgumentParser, lr: bool = False) -> None:
    p.add_argument("data", help="folder with real/ and fake/ (or Kaggle splits), or a CSV")
    p.add_argument("--model", required=True, help="zoo model (see `fakezoo models`)")
    p.add_argument(
        "--no-finetune",
        dest="finetune",
        action="store_false",
        help="train only the new head (the study's 'without fine-tune' rows)",
    )
    if lr:
        p.add_argument("--lr", type=LR, required=True, help="learning rate (above 0)")
    p.add_argument("--epochs", type=COUNT, default=3, help="epochs per fold (default 3)")
    p.add_argument("--folds", type=FOLDS, default=3, help="CV folds (default 3)")
    p.add_argument("--batch-size", type=COUNT, default=32)
    p.add_argument("--seed", type=SEED, default=0, help="seeds folds, init and batch order")
    p.add_argument(
        "--out",
        required=True,
        help="run directory to write (resumes only the "
        "very same run: same data, folds, model and settings)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="remove an existing run in --out (for tune: and the stored --study) "
        "first, instead of refusing one made with other data or settings",
    )
    p.add_argument(
        "--no-pretrained",
        dest="pretrained",
        action="store_false",
        help="random initialisation instead of ImageNet weights",
    )
    p.add_argument(
        "--weights",
        type=safetensors_file,
        help="local .safetensors ImageNet weights instead of the Hub",
    )
    p.add_argument(
        "--image-size",
        type=SIDE,
        help="override the study's input size (recorded as a deviation; the model's rule, "
        f"at most {MAX_IMAGE_SIZE})",
    )
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1...")
    _add_fidelity(p)
    _add_memory(p)
    _add_fakes(p)


def _add_fakes(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--fakes",
        choices=["dataset", "self-blend"],
        default="dataset",
        help="dataset (default): its own fake images; self-blend: real images only, with "
        "fakes made from them by Self-Blended Images, each face and a fake of it in a batch",
    )
    p.add_argument(
        "--blend-mode",
        choices=["cached", "online"],
        default="cached",
        help="with --fakes self-blend: cached (default; fixed fakes drawn once, the frozen "
        "trunk runs once per image) or online (a fresh fake every epoch, whole model)",
    )
    p.add_argument(
        "--blends-per-image",
        type=COUNT,
        default=4,
        help="with --fakes self-blend --blend-mode cached: fixed fakes per face (default 4)",
    )


def _memory_size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _gigabytes(text: str) -> float:
    """The protocol's ``--memory-budget``: GB (a bare number, as before), read by the same
    parser as ``fakezoo cv``'s, so that ``512MB`` works too."""
    return _memory_size(text) / 1e9


def _add_memory(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--memory-budget",
        type=_memory_size,
        help="decoded images and trunk output held in memory, e.g. 2GB or 512MB; past it "
        "they live in memory-mapped files in the cache (default: half the available memory)",
    )


def _add_fidelity(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mode",
        choices=["fast", "study"],
        default="fast",
        help="fast (default): frozen BatchNorm, frozen trunk run once and cached; "
        "study: the study's plain train() loop, whole model every step",
    )
    p.add_argument(
        "--weights-source",
        dest="weights_source",
        choices=["timm", "torchvision"],
        default="timm",
        help="ImageNet weights: timm's tags (default) or torchvision's, which the study loaded",
    )
    p.add_argument(
        "--drop-rate",
        type=Number(float, 0, below=1),
        help="dropout before the trained layers (default: torchvision's per model)",
    )


def _add_protocol(sub: argparse._SubParsersAction) -> None:
    """``fakezoo protocol`` (``fakezoo.protocol.run_protocol``)."""
    p = sub.add_parser(
        "protocol",
        help="the field's cross-dataset benchmark: train on FF++ c23, choose on its "
        "validation split, test on Celeb-DF v2, DFDC, DFDCP (frame and video level)",
    )
    p.add_argument("--train", default="ff++:c23", help="training benchmark (default ff++:c23)")
    p.add_argument(
        "--test",
        nargs="*",
        default=["celebdf-v2", "dfdc", "dfdcp"],
        help="benchmarks tested on their official test split (NAME or NAME=PATH)",
    )
    p.add_argument("--models", nargs="+", required=True, help="zoo models (`fakezoo models`)")
    p.add_argument("--out", required=True, help="output folder (resumes the same protocol)")
    p.add_argument(
        "--data-root",
        help="folder holding FaceForensics++/, Celeb-DF-v2/, DFDC/, DFDCP/ (else NAME=PATH)",
    )
    p.add_argument(
        "--policy",
        default="deepfakebench",
        choices=["deepfakebench", "sbi", "fakezoo"],
        help="crop policy (default deepfakebench)",
    )
    p.add_argument("--frames", type=COUNT, help="frames per video (default: the policy's, 32)")
    p.add_argument("--crop-size", type=SIDE, help="crop side in px (default: the policy's)")
    p.add_argument("--min-size", type=PIXELS, default=40, help="smallest face side in px")
    p.add_argument("--lr", type=LR, nargs="+", help="learning rates tried (default 1e-4 3e-4 1e-3)")
    p.add_argument(
        "--no-finetune",
        dest="finetune",
        action="store_false",
        help="train only the new head",
    )
    p.add_argument("--epochs", type=COUNT, default=3, help="epochs (default 3)")
    p.add_argument("--batch-size", type=COUNT, default=32)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument(
        "--no-pretrained",
        dest="pretrained",
        action="store_false",
        help="random initialisation instead of ImageNet weights",
    )
    p.add_argument("--image-size", type=SIDE, help="model input side (default: the model's)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1...")
    p.add_argument(
        "--no-c40", dest="c40", action="store_false", help="do not also test FF++ at c40"
    )
    p.add_argument("--crops", help="crop folder, shared between protocol runs (default OUT/crops)")
    p.add_argument(
        "--memory-budget",
        type=_gigabytes,
        help="decoded images held at once, e.g. 4 (GB) or 512MB (default: half the machine's "
        "memory)",
    )
    p.add_argument("--workers", type=COUNT, help="decoding and cropping threads")


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``fakezoo`` command: every subcommand and flag, no heavy import.

    Example:
        ```python
        from fakezoo.cli_parser import build_parser
        args = build_parser().parse_args(["models", "--format", "json"])
        ```
    """
    return _build()[0]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """``fakezoo ARGV`` parsed, each value checked alone and with the others (``--fold`` within
    ``--folds``, ``--lr-range`` in order, ``--image-size`` for each model); a bad one is a
    usage error: one line, exit code 2, before anything is imported or written.

    Example:
        ```python
        from fakezoo.cli_parser import parse_args
        parse_args(["app", "--max-file-size", "2mb"]).max_file_size  # 2097152
        ```
    """
    parser, commands = _build()
    args = parser.parse_args(argv)
    problem = _together(args)
    if problem:
        commands[args.command].error(problem)
    return args


def _convert_problem(args: argparse.Namespace) -> str | None:
    """``convert-weights``: the flags that go with ``--from``, and the model it converts to."""
    if args.layout == "torchvision":
        for flag, value in (("--sha256", args.sha256), ("--out", args.out)):
            if value is not None:
                return (
                    f"argument {flag}: goes with --from sbi or --from deepfakebench (torchvision's "
                    f"files are checked by the hash prefix in their names, and converted into "
                    f"fakezoo's cache)"
                )
        return None
    model = LAYOUTS[args.layout].model
    try:
        name = get_spec(args.model).name
    except KeyError as err:
        return f"argument model: {err.args[0]}"
    if name != model:
        return (
            f"argument model: {args.model}: --from {args.layout} checkpoints convert to "
            f"{model} only"
        )
    if args.sha256 is None:
        return (
            f"argument --sha256: required with --from {args.layout}: give the file's SHA-256 "
            f"(its publisher's, or `sha256sum {args.pth}` on a copy you trust)"
        )
    if args.out is None or Path(args.out).suffix != ".safetensors":
        return f"argument --out: {args.out or 'missing'}: give the .safetensors file to write"
    return None


def _together(args: argparse.Namespace) -> str | None:
    """What is wrong with the values of ``args`` taken together, or None."""
    fold = getattr(args, "fold", None)
    if fold is not None and fold > args.folds:
        return f"argument --fold: {fold}: use a fold from 1 to --folds ({args.folds})"
    if getattr(args, "lr_range", None) is not None and args.lr_range[0] >= args.lr_range[1]:
        low, high = args.lr_range
        return f"argument --lr-range: {low:g} {high:g}: LOW must be below HIGH"
    if args.command == "tune" and args.workers > 1 and _is_sqlite(args.storage):
        return (
            f"argument --storage: {args.storage}: SQLite serves one process at a time; "
            f"--workers needs a Journal file (.log) or a postgresql:// URL"
        )
    if args.command == "convert-weights":
        return _convert_problem(args)
    if args.command in ("cv", "tune"):
        flag, names = "--model", [args.model]
    elif args.command in ("benchmark", "protocol"):
        flag, names = "--models", args.models or list_models()
    else:
        return None
    try:
        specs = [get_spec(name) for name in names]
    except KeyError as err:
        return f"argument {flag}: {err}"
    for spec in specs if args.image_size is not None else ():
        size = args.image_size
        if args.command == "benchmark":  # each row raises it to its model's minimum
            size = max(size, spec.min_image_size)
        try:
            spec.check_image_size(size, argument="--image-size")
        except ValueError as err:
            return str(err)
    return None


def _is_sqlite(storage: str | None) -> bool:
    return storage is not None and (
        storage.startswith("sqlite") or Path(storage).suffix in {".db", ".sqlite", ".sqlite3"}
    )


def _build() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser and its subcommands' parsers by name."""
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="fakezoo",
        description="Tell real face images from deepfakes with the study's "
        "seven ImageNet backbones: train, cross-validate, search the LR, publish, predict.",
    )
    parser.add_argument("--version", action="version", version=f"fakezoo {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks (also FAKEZOO_DEBUG=1)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("models", help="the zoo: architectures, sizes, freeze policies")
    p.add_argument("--format", choices=["table", "json"], default="table")

    p = sub.add_parser("demo-data", help="write the synthetic demo dataset (no download)")
    p.add_argument("dir", help="output folder (real/ and fake/ are created)")
    p.add_argument("--n-per-class", type=COUNT, default=500)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--image-size", type=Number(int, 16, MAX_IMAGE_SIZE), default=256)

    p = sub.add_parser("cv", help="cross-validate one model at one learning rate")
    _add_training(p, lr=True)
    p.add_argument(
        "--fold",
        type=COUNT,
        metavar="K",
        help="train only fold K (1..FOLDS) into --out, e.g. one job of a job array; "
        "the same command without --fold then collects the folds",
    )

    p = sub.add_parser("tune", help="Optuna LR search, then CV at the best LR")
    _add_training(p)
    p.add_argument("--trials", type=COUNT, default=20)
    p.add_argument(
        "--protocol",
        choices=["study", "nested"],
        default="study",
        help="study: LR chosen on the reported folds (optimistic); nested: unbiased",
    )
    p.add_argument(
        "--lr-range",
        type=LR,
        nargs=2,
        default=(1e-5, 1e-2),
        metavar=("LOW", "HIGH"),
        help="learning rates searched, log-uniform (default 1e-5 1e-2)",
    )
    p.add_argument(
        "--storage",
        help="study.db (SQLite), study.log (Journal, several local "
        "workers) or a postgresql:// / mysql:// URL (several machines)",
    )
    p.add_argument("--study", help="study name shared by workers")
    p.add_argument("--pruner", choices=["median", "none"], default="median")
    p.add_argument(
        "--grace-period",
        type=COUNT,
        default=60,
        metavar="SECONDS",
        help="a shared study's trial without a heartbeat for this long is declared "
        "dead, failed and its learning rate run again (default 60)",
    )
    p.add_argument(
        "--workers",
        type=COUNT,
        default=1,
        metavar="N",
        help="start N local worker processes on one study (a Journal file in --out "
        "unless --storage is given); one GPU each when several are visible",
    )
    p.add_argument(
        "--search-only",
        action="store_true",
        help="only run (or join) the trials until the study is complete: no final "
        "CV, nothing in --out (what the --workers processes do)",
    )

    p = sub.add_parser("benchmark", help="the whole study: 12 rows, LR search + CV each")
    p.add_argument(
        "data",
        nargs="?",
        help="folder or CSV; omit for the 5-minute demo on synthetic data (the 12 rows with "
        "random weights, a pipeline check, and pretrained efficientnet_lite0, which learns)",
    )
    p.add_argument(
        "--models",
        nargs="+",
        help="only these models' rows; fakezoo's additions (efficientnet_lite0, "
        "efficientnet_b4, xception, clip_vit_l14) add their two each (default: the study's 12)",
    )
    p.add_argument("--trials", type=COUNT, default=20)
    p.add_argument("--epochs", type=COUNT, default=3)
    p.add_argument("--folds", type=FOLDS, default=3, help="CV folds (default 3)")
    p.add_argument("--protocol", choices=["study", "nested"], default="study")
    p.add_argument(
        "--out",
        default="fakezoo-study",
        help="output folder (resumes only the very same study: same data and settings)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="remove the old study in --out first, instead of refusing one made "
        "with other data or settings",
    )
    p.add_argument("--image-size", type=SIDE)
    p.add_argument("--no-pretrained", dest="pretrained", action="store_false")
    p.add_argument("--batch-size", type=COUNT, default=32)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--save-weights",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write every row's fold weights (default: yes with DATA, no for the demo)",
    )
    _add_fidelity(p)
    _add_memory(p)

    p = sub.add_parser(
        "convert-weights",
        help="convert a file you fetched: torchvision's .pth ImageNet weights (for "
        "--weights-source torchvision), or a trained detector's original checkpoint "
        "(--from sbi, --from deepfakebench)",
    )
    p.add_argument(
        "model",
        help="zoo model: mobilenet_v2 or vit_b_16 for torchvision's weights (the others' come "
        "from the Hub as safetensors); efficientnet_b4 for --from sbi, xception for "
        "--from deepfakebench",
    )
    p.add_argument(
        "pth",
        metavar="FILE",
        help="the file: torchvision's, e.g. mobilenet_v2-b0353104.pth (its SHA-256 prefix is "
        "checked), or the detector's checkpoint, e.g. SBI's FFc23.tar",
    )
    p.add_argument(
        "--from",
        dest="layout",
        choices=["torchvision", *LAYOUTS],
        default="torchvision",
        help="whose file: torchvision (default), sbi (Self-Blended Images' EfficientNet-B4) "
        "or deepfakebench (DeepfakeBench's Xception detector)",
    )
    p.add_argument(
        "--sha256",
        type=sha256_hex,
        help="with --from sbi/deepfakebench: the file's SHA-256 (64 hex digits) as its "
        "publisher gives it, or as you recorded it; checked before the file is read",
    )
    p.add_argument(
        "-o",
        "--out",
        help="with --from sbi/deepfakebench: the .safetensors file to write",
    )

    p = sub.add_parser("predict", help="real or fake? for images, folders or lists")
    p.add_argument("paths", nargs="+", help="image files or folders (searched recursively)")
    p.add_argument(
        "--faces",
        action="store_true",
        help="find and score each face of whole photos and videos (needs fakezoo[faces])",
    )
    p.add_argument(
        "--frames",
        type=COUNT,
        help="with --faces: frames per video (default: the run's crop policy's, else 16)",
    )
    p.add_argument(
        "--model",
        help="run directory, Hub repo id, hf-hub:org/name@rev, an exported .onnx file or a "
        "detector that convert-weights --from wrote (default: $FAKEZOO_MODEL, else the "
        "library's default repo)",
    )
    p.add_argument("--revision", help="Hub revision (commit, tag or branch)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--threshold", type=PROBABILITY, default=0.5)
    p.add_argument("--batch-size", type=COUNT, default=32)
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--explain",
        metavar="DIR",
        help="also write a Grad-CAM overlay (NAME.cam.png) "
        "and the raw map (NAME.cam.npy) per image to DIR (needs fakezoo[explain]); "
        "with --faces one per face (NAME.face1.cam.png, ...) and NAME.faces.png, "
        "the photo with numbered boxes and maps",
    )
    p.add_argument(
        "--allow-partial",
        action="store_true",
        help="predict with the finished folds of an unfinished run (else an error)",
    )

    p = sub.add_parser("crop", help="face dataset from photos/videos (needs fakezoo[faces])")
    p.add_argument(
        "src",
        help="folder with real/ and fake/ (photos and/or videos), a CSV, or a benchmark as "
        "NAME=PATH (ff++[:c23|c40|raw], celebdf-v2, dfdc, dfdcp)",
    )
    p.add_argument(
        "dst", help="output folder: real/, fake/, manifest.csv, report.csv (resumes if present)"
    )
    p.add_argument(
        "--policy",
        default="fakezoo",
        choices=["fakezoo", "deepfakebench", "sbi"],
        help="crop policy: fakezoo (square box, margin 0.25), deepfakebench (5-landmark "
        "alignment, scale 1.3, 256 px, largest face, 32 frames), sbi (box + 1/8 per side, "
        "380 px, faces >= half the largest, 32 frames)",
    )
    p.add_argument(
        "--frames",
        type=COUNT,
        help="evenly spaced frames per video (default: the policy's, else 16)",
    )
    p.add_argument("--all-faces", action="store_true", help="every face, not only the largest")
    p.add_argument("--min-size", type=PIXELS, default=40, help="smallest face side in px")
    p.add_argument(
        "--min-score",
        type=PROBABILITY,
        default=0.9,
        help="smallest face score (MTCNN's confidence)",
    )
    p.add_argument(
        "--margin",
        type=Number(float, 0),
        help="box policies: context around the face box, as a fraction of its side",
    )
    p.add_argument("--size", type=SIDE, help="output crop side in px (default: the policy's)")
    p.add_argument(
        "--no-square",
        dest="square",
        action="store_const",
        const=False,
        help="box policies: keep the box's aspect before resizing",
    )
    p.add_argument(
        "--scale", type=Number(float, above=0), help="deepfakebench policy: crop scale (1.3)"
    )
    p.add_argument("--workers", type=COUNT, help="sources processed at once")
    p.add_argument("--device", default="cpu", help="face finder device (cpu, cuda, ...)")
    _add_protocol(sub)
    p = sub.add_parser(
        "export",
        help="write a run as one self-contained ONNX file (shared "
        "trunk once, fold tails), checked against fakezoo.predict",
    )
    p.add_argument("run", help="run directory, Hub repo id or hf-hub:org/name@rev")
    p.add_argument("--format", choices=["onnx"], default="onnx")
    p.add_argument("--out", help="file to write (default: ./<run name>.onnx)")
    p.add_argument("--revision", help="Hub revision (commit, tag or branch)")
    p.add_argument(
        "--check-images", help="folder of images for the check (default: four random images)"
    )
    p.add_argument(
        "--atol",
        type=Number(float, 0),
        default=1e-4,
        help="largest accepted probability difference (default 1e-4)",
    )

    p = sub.add_parser(
        "evaluate",
        help="score runs on new labelled data, clean and perturbed (cross-dataset, robustness)",
    )
    p.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="run directories, Hub ids (org/name[@rev]), study directories or "
        "files written by fakezoo export",
    )
    p.add_argument("data", metavar="DATA", help="labelled folder or CSV to score the runs on")
    p.add_argument("--out", required=True, help="folder for evaluate.md, JSON, CSVs and plots")
    p.add_argument(
        "--perturb",
        nargs="+",
        metavar="KIND:VALUES",
        help="also score under perturbations, e.g. jpeg:90,75,50 blur:1,2 "
        "resize:0.5 noise:0.02 (after the positional arguments)",
    )
    p.add_argument(
        "--bootstrap",
        type=Number(int, 0),
        default=1000,
        help="resamples for the 95%% intervals of ROC-AUC and accuracy (0: none)",
    )
    p.add_argument("--seed", type=SEED, default=0, help="seeds the bootstrap and the noise")
    p.add_argument(
        "--groups",
        metavar="COLUMN",
        help="CSV column with video/identity ids for video-level metrics "
        "(default: the CSV's group column, if any)",
    )
    p.add_argument("--batch-size", type=COUNT, default=32)
    p.add_argument("--device", default="auto")

    p = sub.add_parser("push", help="upload a run directory to the Hub as one commit")
    p.add_argument("run_dir")
    p.add_argument("repo_id", help="org/name")
    p.add_argument("--private", action="store_true")
    p.add_argument("--tag", help="create this tag on the commit")
    p.add_argument("--message", help="commit message")
    p.add_argument("--data-description", help="what the model was trained on, for the card")
    p.add_argument("--license", default="other")
    p.add_argument(
        "--eval",
        dest="evaluations",
        action="append",
        metavar="DIR",
        help="a `fakezoo evaluate --out` or `fakezoo protocol --out` folder: add its "
        "results for this run to the card (repeatable)",
    )

    p = sub.add_parser("pull", help="download a run from the Hub (safetensors only)")
    p.add_argument("repo_id", help="org/name or hf-hub:org/name@revision")
    p.add_argument("--revision")
    p.add_argument("--out", help="copy the run here (default: keep it in the Hub cache)")

    p = sub.add_parser("app", help="a web page to try a run in the browser (fakezoo[app])")
    p.add_argument(
        "--model",
        help="run directory, Hub repo id, hf-hub:org/name@rev, an exported .onnx file or a "
        "detector that convert-weights --from wrote (default: $FAKEZOO_MODEL, else the "
        "library's default repo)",
    )
    p.add_argument("--revision", help="Hub revision (commit, tag or branch)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to serve on (default 127.0.0.1: this machine only)",
    )
    p.add_argument("--port", type=Number(int, 1, 65535), default=7860, help="port (default 7860)")
    p.add_argument(
        "--max-file-size",
        type=file_size,
        default="20mb",
        help="largest upload, e.g. 20mb (default) or a number of bytes",
    )
    p.add_argument(
        "--queue-size",
        type=COUNT,
        default=32,
        help="requests that may wait for the models (default 32)",
    )
    p.add_argument(
        "--faces",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="find, box and score each face of uploaded photos (default: when the "
        "run was trained on fakezoo crop faces); videos always go by faces",
    )
    p.add_argument("--device", default="auto")
    return parser, dict(sub.choices)
