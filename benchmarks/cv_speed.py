"""Wall time of one learning-rate search, fakezoo against the plain way the study's notebook works.

Both ways do the same work, in one process: the same demo images, model, freeze policy, folds,
learning rates, epochs, batch size, optimiser (Adam) and loss (cross-entropy).

* **fakezoo**: a fresh :class:`fakezoo.train.cv.CrossValidator` (no on-disk cache) decodes every
  image once, runs the frozen trunk once per image (the first ``fit_fold`` does it) and trains only
  the tail, for every fold of every trial, with ``CrossValidator.fit_fold``. The clock runs from
  ``load_dataset`` to the last fold, so decoding and the trunk pass are included.
* **plain**: what the study's notebook does: ``torchvision.datasets.ImageFolder`` with
  ``Resize((S, S))``, ``ToTensor()``, ``Normalize([0.5]*3, [0.5]*3)``, so PIL decodes and resizes
  every image in every epoch; ``Subset`` + ``DataLoader(shuffle=True, num_workers=--workers)``;
  a model from ``fakezoo.create`` (same architecture, same freeze policy: frozen parts have
  ``requires_grad=False`` and frozen BatchNorm layers are ``FrozenBatchNorm2d``), built anew for
  every fold of every trial from the same seed as fakezoo's template; ``model.train()`` and the
  whole model in fp32 on every step; Adam over the trainable parameters; validation accuracy
  once, after the last epoch (fakezoo also scores after every epoch: this favours the plain way).

The learning rates are a fixed list, the same for both ways: for trial ``k``, the first value
that ``optuna.samplers.TPESampler(seed=--seed + k)`` proposes on ``--lr-range`` (log scale);
``fakezoo.optuna_lr_search`` seeds each trial that way, so that a resumed search proposes what
an uninterrupted one would. TPE's first ten proposals are random and do not depend on the
results, so for up to ten trials these are exactly the rates ``optuna_lr_search(seed=--seed)``
tries; beyond that TPE would adapt to each way's results and the two searches would no longer
do the same work.

The folds are fakezoo's seeded stratified folds (``fakezoo.data.make_folds``); the plain way gets
the very same images in each fold (ImageFolder's samples are matched by relative path) and the
script checks that fakezoo's own folds are the same ones.

``--optuna-search`` also times ``fakezoo.optuna_lr_search(..., pruner="none")`` with a fresh
CrossValidator and the same trials. It cross-validates once more at the best rate, so it is shown
on its own line and not used for the ratio.

``--step-ratio`` also times one training step (forward, backward, Adam) on one batch both
ways: the whole model on images, and the tail on the trunk's output. Their ratio bounds what
caching can gain when training steps dominate the search (the fine-tune policies).

Pretrained weights cannot be downloaded on every machine, so ``--no-pretrained`` (random
initialisation) is the default: the work, and so the wall time, is the same; accuracies are then
near chance and only show that both ways learn the same. ``--weights model.safetensors`` loads a
local ImageNet file for both ways.

The order of the two ways alternates between repeats (fakezoo first in the first). Use
``--repeats 3`` and report the medians. Both ways count the images their frozen trunk ran over:
the report gives that count per image (fakezoo: 1; plain: one per training image per epoch
and one per validation image, for every fold of every trial).

Any zoo entry runs, at any input size it takes (``--image-size``): for CLIP ViT-L/14's linear
probe on a CPU, ``--model clip_vit_l14 --no-finetune --image-size 112`` (a multiple of its
patch, 14), with random weights. The plain way normalises with the study's 0.5/0.5 and fakezoo
with the entry's own constants (CLIP's); the work is the same.

Usage:
    ```bash
    python benchmarks/cv_speed.py --model mobilenet_v2 --no-finetune --images-per-class 100 \\
        --repeats 3 --json cv_speed.json
    python benchmarks/cv_speed.py --model clip_vit_l14 --no-finetune --images-per-class 10 \\
        --image-size 112 --repeats 3   # CLIP's linear probe at reduced resolution
    python benchmarks/cv_speed.py --images-per-class 8 --image-size 32 --trials 2 --folds 2 \\
        --epochs 1 --workers 0   # a smoke run, seconds
    ```
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

import fakezoo
from fakezoo.data import LABEL_NAMES, load_dataset, make_folds
from fakezoo.models.stages import split_trunk_tail
from fakezoo.synth.demo import make_demo_dataset
from fakezoo.train.cv import CrossValidator
from fakezoo.train.engine import resolve_device
from fakezoo.train.tune import optuna_lr_search

WAYS = ("fakezoo", "plain")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options.

    Example:
        ```python
        parse_args(["--model", "resnet50", "--finetune"]).finetune  # True
        ```
    """
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--model", default="mobilenet_v2", help="fakezoo model name")
    parser.add_argument(
        "--finetune",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="the study's 'with fine-tune' policy (--finetune) or head only",
    )
    parser.add_argument(
        "--images-per-class", type=int, default=100, help="demo images per class (real and fake)"
    )
    parser.add_argument(
        "--source-size", type=int, default=256, help="side of the demo JPEGs (the study's are 256)"
    )
    parser.add_argument("--image-size", type=int, default=224, help="model input size")
    parser.add_argument("--trials", type=int, default=4, help="learning rates tried")
    parser.add_argument("--folds", type=int, default=3, help="cross-validation folds")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per fold")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--lr-range",
        type=float,
        nargs=2,
        default=(1e-4, 1e-2),
        metavar=("LOW", "HIGH"),
        help="log-uniform learning-rate range",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="timed runs of each way (the docs use 3 and report medians)",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, auto")
    parser.add_argument(
        "--pretrained",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="ImageNet weights from the Hugging Face Hub (needs network or a "
        "filled cache); off by default: same work, random initialisation",
    )
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="a local ImageNet .safetensors file for both ways (overrides --pretrained)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds the demo data, folds, learning rates and initialisation",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="DataLoader num_workers of the plain way (2: one per core of the "
        "2-core target machine)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads for both ways (default: torch's own)",
    )
    parser.add_argument("--only", choices=("both", *WAYS), default="both", help="time one way only")
    parser.add_argument(
        "--optuna-search",
        action="store_true",
        help="also time fakezoo.optuna_lr_search(pruner='none') (not used for "
        "the ratio: it adds a final CV at the best rate)",
    )
    parser.add_argument(
        "--step-ratio",
        action="store_true",
        help="also time one training step, whole model vs tail (medians of 5)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the demo images here (reused when rerun); default: a temporary folder",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the measurements")
    args = parser.parse_args(argv)
    if args.images_per_class < args.folds:
        parser.error("--images-per-class must be at least --folds")
    if args.trials < 1 or args.repeats < 1 or args.epochs < 1:
        parser.error("--trials, --repeats and --epochs must be at least 1")
    if not 0 < args.lr_range[0] < args.lr_range[1]:
        parser.error("--lr-range needs 0 < LOW < HIGH")
    return args


def pretrained_arg(args: argparse.Namespace) -> bool | Path:
    """What both ways pass to ``fakezoo.create`` as ``pretrained``."""
    return args.weights if args.weights is not None else args.pretrained


def draw_lrs(n_trials: int, lr_range: tuple[float, float], seed: int) -> list[float]:
    """The learning rates Optuna's seeded TPE sampler proposes first (random, result-free).

    Example:
        ```python
        draw_lrs(4, (1e-4, 1e-2), 0)  # four rates, the same on every call
        ```
    """
    return [
        optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed + k))
        .ask()
        .suggest_float("lr", lr_range[0], lr_range[1], log=True)
        for k in range(n_trials)
    ]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- fakezoo ----------------------------------------------------------------------------------
def run_fakezoo(
    root: Path, lrs: list[float], args: argparse.Namespace, device: torch.device
) -> dict:
    """The search with fakezoo's building blocks: decode once, trunk once, train the tail.

    Example:
        ```python
        out = run_fakezoo(Path("demo"), [1e-3], parse_args([]), torch.device("cpu"))
        out["seconds"], out["accuracies"]  # wall time, per-trial fold accuracies
        ```
    """
    _sync(device)
    start = time.perf_counter()
    cv = CrossValidator(
        n_splits=args.folds,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        device=device,
        pretrained=pretrained_arg(args),
        image_size=args.image_size,
        progress=False,
    )
    template = cv.template(args.model, args.finetune)
    decoded = cv.decode(load_dataset(root), template.preprocessing.image_size)
    folds = cv.make_folds(decoded)
    accuracies = []
    for lr in lrs:
        trial = []
        for k, (train_idx, val_idx) in enumerate(folds, start=1):
            _, fold = cv.fit_fold(template, decoded, train_idx, val_idx, lr, fold=k)
            trial.append(float(fold.metrics["accuracy"]))
        accuracies.append(trial)
    _sync(device)
    seconds = time.perf_counter() - start
    relpaths = decoded.dataset.relpaths()
    return {
        "seconds": seconds,
        "accuracies": accuracies,
        "val_files": [sorted(relpaths[i] for i in va) for _, va in folds],
        "trunk_images": cv.trunk_images,
        "n_images": len(decoded),
        "trainable": list(template.trainable),
    }


def run_optuna_search(root: Path, args: argparse.Namespace, device: torch.device) -> dict:
    """``fakezoo.optuna_lr_search`` with pruning off, timed from a fresh CrossValidator."""
    _sync(device)
    start = time.perf_counter()
    cv = CrossValidator(
        n_splits=args.folds,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        device=device,
        pretrained=pretrained_arg(args),
        image_size=args.image_size,
        progress=False,
    )
    found = optuna_lr_search(
        args.model,
        root,
        finetune=args.finetune,
        n_trials=args.trials,
        lr_range=tuple(args.lr_range),
        pruner="none",
        cv=cv,
    )
    _sync(device)
    return {
        "seconds": time.perf_counter() - start,
        "best_lr": found.best_lr,
        "best_value": found.best_value,
        "lrs": [t["lr"] for t in found.trials],
        "final_cv_accuracy": float(found.cv_result.mean["accuracy"]),
    }


# -- the plain way ----------------------------------------------------------------------------
class Relabel:
    """ImageFolder's class index (alphabetical: fake=0, real=1) to fakezoo's (real=0, fake=1)."""

    def __init__(self, class_to_idx: dict[str, int]):
        self.table = {idx: LABEL_NAMES.index(name) for name, idx in class_to_idx.items()}

    def __call__(self, target: int) -> int:
        return self.table[target]


def plain_model(args: argparse.Namespace) -> nn.Module:
    """A new model, seeded as fakezoo's ``CrossValidator.template`` seeds its one."""
    torch.manual_seed(args.seed)
    return fakezoo.create(
        args.model,
        finetune=args.finetune,
        pretrained=pretrained_arg(args),
        image_size=args.image_size,
    )


def run_plain(
    root: Path,
    lrs: list[float],
    folds: list[tuple[np.ndarray, np.ndarray]],
    samples: list[tuple[str, int]],
    args: argparse.Namespace,
    device: torch.device,
) -> dict:
    """The search as the study's notebook runs it: ImageFolder, DataLoader, whole model, fp32.

    ``folds`` index ImageFolder's samples; ``samples`` is what ImageFolder must find.

    Example:
        ```python
        out = run_plain(Path("demo"), [1e-3], folds, samples, parse_args([]), torch.device("cpu"))
        ```
    """
    _sync(device)
    start = time.perf_counter()
    size = args.image_size
    transform = transforms.Compose(
        [
            transforms.Resize((size, size)),
            transforms.ToTensor(),
            transforms.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
        ]
    )
    dataset = datasets.ImageFolder(str(root), transform=transform)
    dataset.target_transform = Relabel(dataset.class_to_idx)
    if dataset.samples != samples:
        raise RuntimeError("ImageFolder found other files than the fold plan was made for")
    loss_fn = nn.CrossEntropyLoss()
    accuracies = []
    forwarded = 0  # images the whole model (so its frozen trunk too) ran over
    for lr in lrs:
        trial = []
        for k, (train_idx, val_idx) in enumerate(folds, start=1):
            model = plain_model(args).to(device)
            optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
            order = torch.Generator().manual_seed(args.seed * 1000 + k)
            train_loader = DataLoader(
                Subset(dataset, train_idx.tolist()),
                batch_size=args.batch_size,
                shuffle=True,
                num_workers=args.workers,
                generator=order,
            )
            val_loader = DataLoader(
                Subset(dataset, val_idx.tolist()),
                batch_size=args.batch_size,
                shuffle=False,
                num_workers=args.workers,
            )
            for _ in range(args.epochs):
                model.train()
                for images, labels in train_loader:
                    images, labels = images.to(device), labels.to(device)
                    forwarded += len(images)
                    loss = loss_fn(model(images), labels)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            model.eval()
            correct = 0
            with torch.no_grad():
                for images, labels in val_loader:
                    forwarded += len(images)
                    preds = model(images.to(device)).argmax(dim=1).cpu()
                    correct += int((preds == labels).sum())
            trial.append(correct / len(val_idx))
            del model, optimizer
        accuracies.append(trial)
    _sync(device)
    return {
        "seconds": time.perf_counter() - start,
        "accuracies": accuracies,
        "trunk_images": forwarded,
        "n_images": len(samples),
    }


def step_seconds(
    args: argparse.Namespace, device: torch.device, repeats: int = 5
) -> dict[str, float]:
    """Median time of one training step on one batch: whole model vs the tail alone.

    Example:
        ```python
        step_seconds(parse_args(["--image-size", "32"]), torch.device("cpu"))
        ```
    """
    model = plain_model(args).to(device)
    trunk, tail = split_trunk_tail(model)
    generator = torch.Generator().manual_seed(args.seed)
    size = args.image_size
    images = (torch.rand(args.batch_size, 3, size, size, generator=generator) * 2 - 1).to(device)
    labels = torch.arange(args.batch_size, device=device) % 2
    model.eval()
    with torch.no_grad():
        features = images
        for stage in trunk:
            features = stage.fn(features)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def whole() -> torch.Tensor:
        return model(images)

    def tail_only() -> torch.Tensor:
        x = (
            features.contiguous(memory_format=torch.channels_last)
            if features.ndim == 4
            else features
        )
        for stage in tail:
            x = stage.fn(x)
        return x

    times: dict[str, list[float]] = {"whole": [], "tail": []}
    for r in range(repeats + 1):  # the first round warms up
        for name, forward in (("whole", whole), ("tail", tail_only)):
            model.train()
            _sync(device)
            start = time.perf_counter()
            loss = loss_fn(forward(), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            _sync(device)
            if r:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


# -- setup, checks and the report -------------------------------------------------------------
def fold_plan(root: Path, args: argparse.Namespace):
    """fakezoo's folds, as relative paths and as indices into ImageFolder's samples."""
    ds = load_dataset(root)
    relpaths = ds.relpaths()
    folds = make_folds(ds.labels, args.folds, args.seed, ds.groups)
    val_files = [sorted(relpaths[i] for i in va) for _, va in folds]
    samples = datasets.ImageFolder(str(root)).samples
    position = {Path(path).relative_to(root).as_posix(): i for i, (path, _) in enumerate(samples)}
    if set(position) != set(relpaths):
        raise RuntimeError("ImageFolder and fakezoo.load_dataset found different files")
    everything = np.arange(len(samples))
    plain_folds = []
    for files in val_files:
        val = np.sort(np.array([position[f] for f in files], dtype=np.int64))
        plain_folds.append((np.setdiff1d(everything, val), val))
    return val_files, plain_folds, samples


def same_start(args: argparse.Namespace, device: torch.device) -> tuple[bool, list[str]]:
    """Does the plain way's model start from fakezoo's template (weights and policy)?

    Returns the answer and the template's trainable module names.
    """
    cv = CrossValidator(
        n_splits=args.folds,
        seed=args.seed,
        device=device,
        pretrained=pretrained_arg(args),
        image_size=args.image_size,
        progress=False,
    )
    ours = cv.template(args.model, args.finetune)
    theirs = plain_model(args)
    a, b = ours.state_dict(), theirs.state_dict()
    same_weights = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    grads = [(n, p.requires_grad) for n, p in ours.named_parameters()]
    same_grads = grads == [(n, p.requires_grad) for n, p in theirs.named_parameters()]
    return same_weights and same_grads, list(ours.trainable)


def summarize(accuracies: list[list[float]], lrs: list[float]) -> dict:
    """Mean over trials of the mean fold accuracy, and the best trial."""
    means = [float(np.mean(a)) for a in accuracies]
    best = int(np.argmax(means))
    return {
        "per_trial": means,
        "mean": float(np.mean(means)),
        "best": means[best],
        "best_lr": lrs[best],
    }


def machine_line(device: torch.device) -> str:
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    return (
        f"{platform.platform()}, {platform.processor() or platform.machine()}, "
        f"os.cpu_count()={os.cpu_count()}, python {platform.python_version()}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), torchvision "
        f"{torchvision.__version__}, fakezoo {fakezoo.__version__}, device {device}{gpu}"
    )


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark, print the report and return the measurements.

    Example:
        ```python
        main(["--images-per-class", "8", "--image-size", "32", "--trials", "2", "--folds", "2",
              "--epochs", "1", "--workers", "0"])
        ```
    """
    args = parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    ways = WAYS if args.only == "both" else (args.only,)
    command = "python " + shlex.join(
        sys.argv if argv is None else ["benchmarks/cv_speed.py", *argv]
    )

    with tempfile.TemporaryDirectory(prefix="fakezoo-cv-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        root = make_demo_dataset(
            workdir / f"demo-{args.images_per_class}-{args.source_size}",
            n_per_class=args.images_per_class,
            seed=args.seed,
            image_size=args.source_size,
            progress=False,
        )
        lrs = draw_lrs(args.trials, tuple(args.lr_range), args.seed)
        val_files, plain_folds, samples = fold_plan(root, args)
        n_images = len(samples)
        same_init, trainable = same_start(args, device)

        print(f"machine:  {machine_line(device)}")
        print(f"command:  {command}")
        print(
            f"work:     {args.model}, finetune={args.finetune} (trains {', '.join(trainable)}); "
            f"{n_images} demo JPEGs ({args.source_size}px) at {args.image_size}px; "
            f"{args.trials} trials x {args.folds} folds x {args.epochs} epochs, batch "
            f"{args.batch_size}, Adam; pretrained="
            f"{args.weights if args.weights else args.pretrained}"
        )
        print(
            f"lrs:      {', '.join(f'{lr:.3g}' for lr in lrs)}  (for trial k, "
            f"TPESampler(seed={args.seed} + k)'s first proposal on "
            f"[{args.lr_range[0]:g}, {args.lr_range[1]:g}])"
        )
        print(
            f"plain:    ImageFolder + DataLoader(num_workers={args.workers}), PIL decode every "
            f"epoch, fp32, whole model every step, model re-created per fold"
        )
        print(
            "fakezoo:  CrossValidator.fit_fold: decode once, frozen trunk once, train the "
            "tail (clock includes decoding and the trunk pass)"
        )
        print(
            f"checks:   same folds (by file) for both; same initial weights and trainable "
            f"parameters: {'yes' if same_init else 'NO'}"
        )
        if not same_init:
            print("warning:  the plain way's model does not start from fakezoo's template")
        sys.stdout.flush()

        times: dict[str, list[float]] = {way: [] for way in ways}
        results: dict[str, list[dict]] = {way: [] for way in ways}
        searches: list[dict] = []
        for r in range(args.repeats):
            order = ways if r % 2 == 0 else ways[::-1]
            parts = []
            for way in order:
                gc.collect()
                if way == "fakezoo":
                    out = run_fakezoo(root, lrs, args, device)
                    if out["val_files"] != val_files:
                        raise RuntimeError("fakezoo's folds differ from the fold plan")
                    if out["trunk_images"] != out["n_images"]:
                        raise RuntimeError(
                            f"the frozen trunk ran over {out['trunk_images']} "
                            f"images, not once over {out['n_images']}"
                        )
                else:
                    out = run_plain(root, lrs, plain_folds, samples, args, device)
                times[way].append(out["seconds"])
                results[way].append(out)
                parts.append(f"{way} {out['seconds']:.1f} s")
            if args.optuna_search:
                gc.collect()
                searches.append(run_optuna_search(root, args, device))
                parts.append(f"optuna_lr_search {searches[-1]['seconds']:.1f} s")
            print(f"repeat {r + 1}/{args.repeats}: {' | '.join(parts)}", flush=True)

    medians = {way: statistics.median(times[way]) for way in ways}
    summary = {way: summarize(results[way][-1]["accuracies"], lrs) for way in ways}
    stable = {
        way: all(res["accuracies"] == results[way][0]["accuracies"] for res in results[way])
        for way in ways
    }
    print("median wall time: " + " | ".join(f"{way} {medians[way]:.1f} s" for way in ways))
    ratio = None
    if len(ways) == 2:
        ratio = medians["plain"] / medians["fakezoo"]
        print(f"ratio:    {ratio:.1f}x  (plain / fakezoo, median wall times)")
    passes = {way: results[way][-1]["trunk_images"] / n_images for way in ways}
    print(
        "trunk passes per image: "
        + " | ".join(f"{way} {passes[way]:g}" for way in ways)
        + "  (images the frozen trunk ran over, divided by the "
        f"{n_images} images)"
    )
    print("trial  lr        " + "  ".join(f"{way:>8} acc" for way in ways))
    for t, lr in enumerate(lrs):
        accs = "  ".join(f"{summary[way]['per_trial'][t]:12.4f}" for way in ways)
        print(f"{t + 1:<5}  {lr:<8.3g}  {accs}")
    print(
        "accuracy, mean over trials: "
        + "  ".join(f"{way} {summary[way]['mean']:.4f}" for way in ways)
    )
    print(
        "accuracy, best trial:       "
        + "  ".join(
            f"{way} {summary[way]['best']:.4f} (lr {summary[way]['best_lr']:.3g})" for way in ways
        )
    )
    if len(ways) == 2:
        p = summary["fakezoo"]["mean"]
        se = math.sqrt(max(p * (1 - p), 1e-12) / n_images)
        diff = summary["fakezoo"]["mean"] - summary["plain"]["mean"]
        print(
            f"accuracy difference (fakezoo - plain): {diff:+.4f}; one CV accuracy over "
            f"{n_images} images has a binomial s.e. of about {se:.3f}"
        )
    if not all(stable.values()):
        print(
            "note:     accuracies changed between repeats: "
            + ", ".join(way for way in ways if not stable[way])
        )
    steps = step_seconds(args, device) if args.step_ratio else None
    if steps:
        print(
            f"one step (batch {args.batch_size}, median of 5): whole model "
            f"{steps['whole']:.3f} s, tail {steps['tail']:.3f} s, "
            f"{steps['whole'] / steps['tail']:.1f}x: the most caching can gain where training "
            f"steps dominate"
        )
    if searches:
        s = searches[-1]
        same = all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(s["lrs"], lrs, strict=True))
        median = statistics.median(x["seconds"] for x in searches)
        print(
            f"optuna_lr_search (pruner='none', {args.trials} trials + a final CV at the best "
            f"lr; not in the ratio): median {median:.1f} s; best lr {s['best_lr']:.3g}, "
            f"mean accuracy {s['best_value']:.4f}; "
            f"same lrs as above: {'yes' if same else 'no'}"
        )

    report = {
        "command": command,
        "machine": machine_line(device),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "n_images": n_images,
        "lrs": lrs,
        "same_initial_weights": same_init,
        "seconds": times,
        "median_seconds": medians,
        "ratio": ratio,
        "trunk_passes_per_image": passes,
        "accuracy": {
            way: {
                **summary[way],
                "folds": results[way][-1]["accuracies"],
                "stable_across_repeats": stable[way],
            }
            for way in ways
        },
        "optuna_lr_search": searches,
        "step_seconds": steps,
    }
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
