"""Wall time of one learning-rate search in ``mode="study"`` against ``mode="fast"``, and of the
same study-mode work done the plain way of the study's notebook.

All three do the same trials (the same learning rates, folds, epochs, batch size, Adam and
cross-entropy) on the same demo images:

* **fast**: ``fakezoo.optuna_lr_search(..., cv=CrossValidator(mode="fast"), pruner="none")``:
  decode once, frozen BatchNorm, frozen trunk run once per image and cached, tail trained.
* **study**: the same call with ``CrossValidator(mode="study")``: decode once, BatchNorm in
  train mode everywhere, the whole model on every step (channels_last; autocast on GPUs).
* **plain**: the study-mode work as a notebook writes it: ``ImageFolder`` with
  ``Resize``/``ToTensor``/``Normalize(0.5)`` (PIL decodes every image in every epoch), a
  ``DataLoader(shuffle=True)``, a model built anew per fold with ``requires_grad=False`` on the
  frozen parameters, ``model.train()``, fp32.

Both searches also cross-validate once more at their best rate (``optuna_lr_search`` does);
the plain way does the trials only, which favours it.

Usage:
    ```bash
    python benchmarks/study_mode_speed.py --model mobilenet_v2 --no-finetune --repeats 3
    python benchmarks/study_mode_speed.py --images-per-class 8 --image-size 32 --trials 2 \\
        --epochs 1 --threads 1   # a smoke run
    ```
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

import fakezoo
from fakezoo import CrossValidator, optuna_lr_search


def _search(mode: str, data: Path, args) -> tuple[float, list[float]]:
    cv = CrossValidator(
        n_splits=args.folds,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        pretrained=False,
        image_size=args.image_size,
        mode=mode,
        save_weights=False,
        progress=False,
    )
    start = time.perf_counter()
    found = optuna_lr_search(
        args.model,
        data,
        finetune=args.finetune,
        n_trials=args.trials,
        lr_range=(1e-4, 1e-2),
        pruner="none",
        cv=cv,
    )
    seconds = time.perf_counter() - start
    return seconds, [float(t["lr"]) for t in found.trials]


def _plain(data: Path, lrs: list[float], args) -> float:
    start = time.perf_counter()
    tf = transforms.Compose(
        [
            transforms.Resize((args.image_size, args.image_size)),
            transforms.ToTensor(),
            transforms.Normalize([0.5] * 3, [0.5] * 3),
        ]
    )
    dataset = datasets.ImageFolder(str(data), transform=tf)
    # ImageFolder sorts classes: fake=0, real=1; fakezoo's labels are real=0, fake=1.
    labels = np.array([1 - y for _, y in dataset.samples])
    folds = fakezoo.data.make_folds(labels, args.folds, args.seed)
    device = torch.device(
        args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    for lr in lrs:
        for train_idx, val_idx in folds:
            torch.manual_seed(args.seed)
            model = fakezoo.create(
                args.model,
                finetune=args.finetune,
                pretrained=False,
                image_size=args.image_size,
                freeze_batchnorm=False,
            ).to(device)
            optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
            loss_fn = nn.CrossEntropyLoss()
            loader = DataLoader(
                Subset(dataset, train_idx), batch_size=args.batch_size, shuffle=True
            )
            for _ in range(args.epochs):
                model.train()
                for x, y in loader:
                    optimizer.zero_grad()
                    loss_fn(model(x.to(device)), (1 - y).to(device)).backward()
                    optimizer.step()
            model.eval()
            with torch.no_grad():
                for x, _ in DataLoader(Subset(dataset, val_idx), batch_size=2 * args.batch_size):
                    model(x.to(device))
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mobilenet_v2")
    p.add_argument("--no-finetune", dest="finetune", action="store_false")
    p.add_argument("--images-per-class", type=int, default=40)
    p.add_argument("--source-size", type=int, default=96)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--json", help="write the numbers here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    times: dict[str, list[float]] = {"fast": [], "study": [], "plain": []}
    with tempfile.TemporaryDirectory() as tmp:
        data = fakezoo.make_demo_dataset(
            Path(tmp) / "demo",
            args.images_per_class,
            seed=args.seed,
            image_size=args.source_size,
            progress=False,
        )
        for _ in range(args.repeats):
            seconds, lrs = _search("fast", data, args)
            times["fast"].append(seconds)
            seconds, study_lrs = _search("study", data, args)
            times["study"].append(seconds)
            assert study_lrs == lrs, "both searches must try the same learning rates"
            times["plain"].append(_plain(data, lrs, args))
    median = {k: statistics.median(v) for k, v in times.items()}
    policy = "finetune" if args.finetune else "head"
    print(
        f"{args.model} ({policy}), {2 * args.images_per_class} images at {args.image_size} px,"
        f" {args.trials} trials x {args.folds} folds x {args.epochs} epochs, "
        f"{args.repeats} repeat(s), {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads"
    )
    for k in ("fast", "study", "plain"):
        print(f"{k + ':':<7}{median[k]:8.1f} s (median)")
    print(f"study/fast ratio: {median['study'] / median['fast']:.2f}x")
    print(f"plain/study ratio: {median['plain'] / median['study']:.2f}x")
    report = {
        "args": vars(args),
        "seconds": times,
        "median_seconds": median,
        "study_over_fast": median["study"] / median["fast"],
        "plain_over_study": median["plain"] / median["study"],
    }
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
